//! Guest RAM layout of a QEMU q35 TD.
//!
//! QEMU's q35 machine puts RAM below the 32-bit PCI hole and the rest from
//! 4 GiB up: with less than 2.75 GiB all RAM is low; from 2.75 GiB on, low
//! RAM ends at 2 GiB (`pc_q35_init`, default `max-ram-below-4g`). The TD
//! HOB and the initrd placement both depend on this split.

use crate::{Error, Result};

/// From this much RAM on, q35 ends low RAM at [`LOW_RAM_SPLIT`].
pub const SPLIT_THRESHOLD: u64 = 0xb000_0000;
/// End of low RAM when the guest has at least [`SPLIT_THRESHOLD`] bytes.
pub const LOW_RAM_SPLIT: u64 = 0x8000_0000;
/// Start of high RAM.
pub const HIGH_RAM_START: u64 = 1 << 32;
/// Largest guest memory accepted: 64 TiB, beyond any TD today; keeps the
/// arithmetic far from overflow.
pub const MAX_MEMORY: u64 = 1 << 46;

/// Where a q35 guest's RAM lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamLayout {
    /// Bytes of RAM from address 0.
    pub below_4g: u64,
    /// Bytes of RAM from 4 GiB.
    pub above_4g: u64,
}

impl RamLayout {
    /// The layout QEMU's q35 machine gives `memory` bytes of RAM.
    pub fn q35(memory: u64) -> Result<Self> {
        if memory == 0 || !memory.is_multiple_of(0x1000) || memory > MAX_MEMORY {
            return Err(Error::TdxLaunchParameter {
                field: "memory",
                expected: "a non-zero multiple of 4 KiB up to 64 TiB",
                found: format!("{memory:#x} bytes"),
            });
        }
        let low_end = if memory >= SPLIT_THRESHOLD { LOW_RAM_SPLIT } else { SPLIT_THRESHOLD };
        Ok(if memory >= low_end {
            Self { below_4g: low_end, above_4g: memory - low_end }
        } else {
            Self { below_4g: memory, above_4g: 0 }
        })
    }

    /// RAM ranges as `(start, length)`, in address order.
    pub fn ranges(&self) -> Vec<(u64, u64)> {
        let mut r = vec![(0, self.below_4g)];
        if self.above_4g > 0 {
            r.push((HIGH_RAM_START, self.above_4g));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q35_split() {
        let gib = 1u64 << 30;
        assert_eq!(RamLayout::q35(gib).unwrap(), RamLayout { below_4g: gib, above_4g: 0 });
        assert_eq!(RamLayout::q35(5 * gib / 2).unwrap(), RamLayout { below_4g: 5 * gib / 2, above_4g: 0 });
        let r = RamLayout::q35(11 * gib / 4).unwrap();
        assert_eq!(r, RamLayout { below_4g: 2 * gib, above_4g: 3 * gib / 4 });
        assert_eq!(r.ranges(), vec![(0, 2 * gib), (4 * gib, 3 * gib / 4)]);
        assert_eq!(RamLayout::q35(16 * gib).unwrap().above_4g, 14 * gib);
        for bad in [0, 0x1001, MAX_MEMORY + 0x1000] {
            assert!(matches!(RamLayout::q35(bad), Err(Error::TdxLaunchParameter { field: "memory", .. })));
        }
    }
}
