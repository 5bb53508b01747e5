//! What the RMM hashes into the Realm Initial Measurement.
//!
//! Byte layouts from the Realm Management Monitor specification (Arm
//! DEN0137, interface version 1.0-eac5, which the host tools model):
//! `RmiRealmParams` (RMI_REALM_CREATE, "initialization of RIM"),
//! `RmiRecParams` (RMI_REC_CREATE, "extension of RIM") and the three
//! 256-byte `RmmMeasurementDescriptor*` types (DATA, REC, RIPAS). Every
//! structure is built in one function below; fields not listed are zero.
//!
//! A measurement is always carried in a 64-byte buffer: a SHA-256 digest
//! fills the first 32 bytes and the rest stays zero, which is how the RMM
//! embeds the running RIM and content hashes in the descriptors.

use sha2::{Digest, Sha256, Sha512};

use super::HashAlgo;

/// Size of a granule, the unit of RMM memory management.
pub const GRANULE: u64 = 0x1000;
/// Width of a measurement buffer in the descriptors.
pub const MEASUREMENT_WIDTH: usize = 64;

/// One measurement in its 64-byte buffer.
pub type MeasurementBuf = [u8; MEASUREMENT_WIDTH];

/// `RmiRealmFlags` bits (RmiRealmParams.flags).
pub const REALM_FLAG_LPA2: u64 = 1 << 0;
/// SVE enabled.
pub const REALM_FLAG_SVE: u64 = 1 << 1;
/// PMU enabled.
pub const REALM_FLAG_PMU: u64 = 1 << 2;

/// `RmiRecCreateFlags.runnable`.
const REC_FLAG_RUNNABLE: u64 = 1 << 0;
/// `RmmDataFlags.measure`: the granule's contents are measured.
const DATA_FLAG_MEASURE: u64 = 1 << 0;

const DESC_TYPE_DATA: u8 = 0;
const DESC_TYPE_REC: u8 = 1;
const DESC_TYPE_RIPAS: u8 = 2;
const DESC_SIZE: usize = 0x100;

/// The measured fields of `RmiRealmParams`, as RMI_REALM_CREATE receives
/// them (counts already in the "minus one" encoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealmCreateParams {
    /// `RmiRealmFlags` (LPA2, SVE, PMU).
    pub flags: u64,
    /// IPA width (`s2sz`).
    pub s2sz: u8,
    /// SVE vector length in quadwords minus one (`sve_vl`).
    pub sve_vq: u8,
    /// Breakpoints minus one.
    pub num_bps: u8,
    /// Watchpoints minus one.
    pub num_wps: u8,
    /// PMU counters.
    pub pmu_num_ctrs: u8,
    /// `RmiHashAlgorithm`: 0 SHA-256, 1 SHA-512.
    pub hash_algo: u8,
}

/// `RmiRealmParams` (4 KiB): flags at 0x0, s2sz 0x8, sve_vl 0x10, num_bps
/// 0x18, num_wps 0x20, pmu_num_ctrs 0x28, hash_algo 0x30. The RPV, VMID and
/// RTT fields are not part of the measured copy.
pub fn realm_params_bytes(p: &RealmCreateParams) -> Vec<u8> {
    let mut b = vec![0u8; GRANULE as usize];
    b[0x00..0x08].copy_from_slice(&p.flags.to_le_bytes());
    b[0x08] = p.s2sz;
    b[0x10] = p.sve_vq;
    b[0x18] = p.num_bps;
    b[0x20] = p.num_wps;
    b[0x28] = p.pmu_num_ctrs;
    b[0x30] = p.hash_algo;
    b
}

/// `RmiRecParams` (4 KiB) of a runnable REC: flags at 0x0, pc at 0x200,
/// gprs[0..8] at 0x300. MPIDR and the auxiliary granules are not measured.
pub fn rec_params_bytes(pc: u64, gprs: &[u64; 8]) -> Vec<u8> {
    let mut b = vec![0u8; GRANULE as usize];
    b[0x000..0x008].copy_from_slice(&REC_FLAG_RUNNABLE.to_le_bytes());
    b[0x200..0x208].copy_from_slice(&pc.to_le_bytes());
    for (i, r) in gprs.iter().enumerate() {
        let at = 0x300 + 8 * i;
        b[at..at + 8].copy_from_slice(&r.to_le_bytes());
    }
    b
}

/// Common header of the measurement descriptors: desc_type at 0x0, len at
/// 0x8, the current RIM at 0x10 (64 bytes).
fn descriptor(desc_type: u8, rim: &MeasurementBuf) -> [u8; DESC_SIZE] {
    let mut d = [0u8; DESC_SIZE];
    d[0] = desc_type;
    d[0x08..0x10].copy_from_slice(&(DESC_SIZE as u64).to_le_bytes());
    d[0x10..0x50].copy_from_slice(rim);
    d
}

/// `RmmMeasurementDescriptorData`: ipa at 0x50, flags 0x58, content 0x60.
pub fn data_descriptor(rim: &MeasurementBuf, ipa: u64, content: &MeasurementBuf) -> [u8; DESC_SIZE] {
    let mut d = descriptor(DESC_TYPE_DATA, rim);
    d[0x50..0x58].copy_from_slice(&ipa.to_le_bytes());
    d[0x58..0x60].copy_from_slice(&DATA_FLAG_MEASURE.to_le_bytes());
    d[0x60..0xa0].copy_from_slice(content);
    d
}

/// `RmmMeasurementDescriptorRec`: content (hash of RmiRecParams) at 0x50.
pub fn rec_descriptor(rim: &MeasurementBuf, content: &MeasurementBuf) -> [u8; DESC_SIZE] {
    let mut d = descriptor(DESC_TYPE_REC, rim);
    d[0x50..0x90].copy_from_slice(content);
    d
}

/// `RmmMeasurementDescriptorRipas`: base at 0x50, top at 0x58.
pub fn ripas_descriptor(rim: &MeasurementBuf, base: u64, top: u64) -> [u8; DESC_SIZE] {
    let mut d = descriptor(DESC_TYPE_RIPAS, rim);
    d[0x50..0x58].copy_from_slice(&base.to_le_bytes());
    d[0x58..0x60].copy_from_slice(&top.to_le_bytes());
    d
}

/// Hash `data` with the realm's algorithm into a 64-byte buffer.
pub fn hash(algo: HashAlgo, data: &[u8]) -> MeasurementBuf {
    let mut out = [0u8; MEASUREMENT_WIDTH];
    match algo {
        HashAlgo::Sha256 => out[..32].copy_from_slice(&Sha256::digest(data)),
        HashAlgo::Sha512 => out.copy_from_slice(&Sha512::digest(data)),
    }
    out
}

/// Stage-2 block sizes (bit mask of sizes) the host uses to map realm
/// memory for a given IPA width, with 4 KiB granules and concatenated
/// initial-level tables whenever the initial level would have at most 16
/// entries (what KVM does). RMI_RTT_INIT_RIPAS measures one descriptor per
/// table entry, so these sizes decide how a RAM range is split.
pub fn block_sizes(ipa_bits: u8) -> u64 {
    const PAGE_BITS: u32 = 12;
    const BITS_PER_LEVEL: u32 = PAGE_BITS - 3;
    // Callers validate 32..=52; clamp keeps the arithmetic total anyway.
    let table_bits = u32::from(ipa_bits).clamp(PAGE_BITS + 1, 52) - PAGE_BITS;
    let mut levels = table_bits.div_ceil(BITS_PER_LEVEL);
    if table_bits - BITS_PER_LEVEL * (levels - 1) <= 4 {
        levels -= 1;
    }
    let levels = levels.min(4);
    let mut sizes = 0u64;
    for level in (4 - levels)..4 {
        sizes |= GRANULE << (BITS_PER_LEVEL * (3 - level));
    }
    sizes
}

/// The largest block size in `sizes` that starts at `start` (aligned) and
/// fits below `top`. `start` and `top` are granule aligned, `start < top`.
pub fn block_at(start: u64, top: u64, sizes: u64) -> u64 {
    let mut candidates = sizes | GRANULE;
    while candidates != 0 {
        let size = 1u64 << (63 - candidates.leading_zeros());
        if start.is_multiple_of(size) && top - start >= size {
            return size;
        }
        candidates &= !size;
    }
    GRANULE
}

/// The running Realm Initial Measurement.
#[derive(Debug, Clone)]
pub struct Rim {
    algo: HashAlgo,
    value: MeasurementBuf,
    block_sizes: u64,
}

impl Rim {
    /// RMI_REALM_CREATE: the RIM starts as the hash of RmiRealmParams.
    pub fn create(algo: HashAlgo, params: &RealmCreateParams) -> Self {
        Rim { algo, value: hash(algo, &realm_params_bytes(params)), block_sizes: block_sizes(params.s2sz) }
    }

    /// The current value at the algorithm's digest length.
    pub fn digest(&self) -> &[u8] {
        &self.value[..self.algo.digest_len()]
    }

    fn extend(&mut self, descriptor: &[u8; DESC_SIZE]) {
        self.value = hash(self.algo, descriptor);
    }

    /// RMI_RTT_INIT_RIPAS over `[base, top)`: one descriptor per stage-2
    /// entry. Returns the number of descriptors measured.
    pub fn init_ripas(&mut self, base: u64, top: u64) -> usize {
        let mut cur = base;
        let mut count = 0;
        while cur < top {
            let size = block_at(cur, top, self.block_sizes);
            let d = ripas_descriptor(&self.value, cur, cur + size);
            self.extend(&d);
            cur += size;
            count += 1;
        }
        count
    }

    /// RMI_DATA_CREATE with content measurement, one call per granule of
    /// `bytes` loaded at `ipa`: bytes before `ipa` in its granule and after
    /// the end in the last granule are zero. Returns the granules measured.
    pub fn data_create(&mut self, ipa: u64, bytes: &[u8]) -> usize {
        let granule = GRANULE as usize;
        let lead = (ipa % GRANULE) as usize;
        let mut granule_ipa = ipa - lead as u64;
        let mut page = vec![0u8; granule];
        // The first granule holds `lead` zero bytes then the start of the blob.
        let first = bytes.len().min(granule - lead);
        let (head, mut rest) = bytes.split_at(first);
        if lead + head.len() == 0 {
            return 0;
        }
        page[lead..lead + head.len()].copy_from_slice(head);
        let mut count = 0;
        loop {
            let content = hash(self.algo, &page);
            let d = data_descriptor(&self.value, granule_ipa, &content);
            self.extend(&d);
            count += 1;
            if rest.is_empty() {
                return count;
            }
            granule_ipa += GRANULE;
            let take = rest.len().min(granule);
            page.fill(0);
            page[..take].copy_from_slice(&rest[..take]);
            rest = &rest[take..];
        }
    }

    /// RMI_REC_CREATE of a runnable REC with entry `pc` and `gprs`.
    pub fn rec_create(&mut self, pc: u64, gprs: &[u64; 8]) {
        let content = hash(self.algo, &rec_params_bytes(pc, gprs));
        let d = rec_descriptor(&self.value, &content);
        self.extend(&d);
    }
}
