//! `arca measure tdx`: MRTD and RTMRs of a TDX guest booted by QEMU.
//!
//! Flags follow dstack-mr (`--cpu`, `--memory` with size suffixes,
//! `--two-pass-add-pages`) with the QEMU names for the boot files
//! (`--firmware`/`--bios`, `--kernel`, `--initrd`, `--append`).

use std::path::PathBuf;

use arca_measure::tdx::{self, PageAddOrder, TdxLaunch};
use clap::{Args, ValueEnum};
use serde_json::json;

use super::{read_input, reference_values_json, Failure};

/// Largest firmware, kernel or initrd read: 1 GiB.
const MAX_INPUT_FILE: u64 = 1 << 30;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OrderArg {
    /// Add a page, then extend it (upstream QEMU 10.1+ with Linux 6.16+).
    SinglePass,
    /// Add all pages of a section, then extend them (QEMU 8.x, older TDX patch sets).
    TwoPass,
}

/// Arguments of `arca measure tdx`.
#[derive(Debug, Args)]
pub struct TdxArgs {
    /// TDVF firmware image (QEMU `-bios`, or the unified OVMF image).
    #[arg(long, visible_alias = "bios", visible_alias = "ovmf")]
    firmware: PathBuf,
    /// Kernel (bzImage with EFI stub, QEMU `-kernel`); without it only MRTD is predicted.
    #[arg(long)]
    kernel: Option<PathBuf>,
    /// Initrd (QEMU `-initrd`).
    #[arg(long, requires = "kernel")]
    initrd: Option<PathBuf>,
    /// Kernel command line (QEMU `-append`).
    #[arg(long, visible_alias = "cmdline", requires = "kernel")]
    append: Option<String>,
    /// Guest memory: bytes, or with a K/M/G/T suffix (binary units, e.g. 2G, 2.75G, 512MiB).
    #[arg(short, long, default_value = "2G", value_parser = parse_size)]
    memory: u64,
    /// Number of vCPUs (reaches only RTMR[0], which is not predicted).
    #[arg(short, long, visible_alias = "vcpus", default_value_t = 1)]
    cpu: u32,
    /// Order in which the VMM adds and extends firmware pages.
    #[arg(long, value_enum, default_value = "single-pass", conflicts_with = "two_pass_add_pages")]
    page_add_order: OrderArg,
    /// Same as `--page-add-order two-pass` (dstack-mr's flag).
    #[arg(long)]
    two_pass_add_pages: bool,
    /// ACPI data QEMU reserves below the top of low RAM; the initrd is placed under it.
    #[arg(long, default_value = "0x28000", value_parser = parse_size)]
    acpi_data_size: u64,
    /// The kernel's EFI stub does not measure into the TDX CC protocol (kernels
    /// before the 2024 libstub change without its backport, e.g. Linux 6.1):
    /// RTMR[2] stays zero.
    #[arg(long, requires = "kernel")]
    no_efi_stub_measurement: bool,
    /// Print the reference values the KBS stores ({mr_td, rtmr_1, rtmr_2}) instead.
    #[arg(long)]
    reference_values: bool,
    /// Also print the intermediate values (TDVF sections, TD HOB, events, patched header).
    #[arg(long, conflicts_with = "reference_values")]
    trace: bool,
}

/// Parses a size: decimal or `0x` hex bytes, or a decimal number (with an
/// optional fraction) followed by K, M, G or T (optionally `iB` or `B`),
/// in binary units. The result must be a whole number of bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).map_err(|e| format!("{text:?}: {e}"));
    }
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let shift = match unit.trim().to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        other => return Err(format!("{text:?}: unknown unit {other:?} (expected K, M, G or T)")),
    };
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() && frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 12 {
        return Err(format!("{text:?}: expected a number with an optional K/M/G/T suffix"));
    }
    let parse =
        |s: &str| if s.is_empty() { Ok(0u128) } else { s.parse::<u128>().map_err(|e| format!("{text:?}: {e}")) };
    let scale = 10u128.pow(frac.len() as u32);
    let scaled = parse(int)?
        .checked_mul(scale)
        .and_then(|v| v.checked_add(parse(frac).ok()?))
        .and_then(|v| v.checked_mul(1u128 << shift))
        .ok_or_else(|| format!("{text:?}: too large"))?;
    if scaled % scale != 0 {
        return Err(format!("{text:?}: not a whole number of bytes"));
    }
    u64::try_from(scaled / scale).map_err(|_| format!("{text:?}: too large"))
}

/// Measures the launch and renders the output JSON.
pub fn run(args: &TdxArgs) -> Result<String, Failure> {
    let mut launch = TdxLaunch::new(read_input(&args.firmware, MAX_INPUT_FILE, "firmware")?);
    launch.kernel = args.kernel.as_deref().map(|p| read_input(p, MAX_INPUT_FILE, "kernel")).transpose()?;
    launch.initrd = args.initrd.as_deref().map(|p| read_input(p, MAX_INPUT_FILE, "initrd")).transpose()?;
    launch.cmdline = args.append.clone();
    launch.memory = args.memory;
    launch.vcpus = args.cpu;
    launch.acpi_data_size = args.acpi_data_size;
    launch.efi_stub_measures = !args.no_efi_stub_measurement;
    launch.page_add_order = match (args.two_pass_add_pages, args.page_add_order) {
        (true, _) | (false, OrderArg::TwoPass) => PageAddOrder::TwoPass,
        (false, OrderArg::SinglePass) => PageAddOrder::SinglePass,
    };
    let m = tdx::measure(&launch).map_err(|e| Failure::Input(format!("cannot measure this launch: {e}")))?;
    if args.reference_values {
        return Ok(reference_values_json(&m.reference_values()));
    }
    let output = {
        let mut out = json!({
            "mrtd": m.mrtd,
            "rtmr0": m.rtmr0,
            "rtmr1": m.rtmr1,
            "rtmr2": m.rtmr2,
            "unpredictable": m.unpredictable,
            "page_add_order": m.page_add_order,
        });
        if args.trace {
            out["trace"] = serde_json::to_value(&m.trace).map_err(|e| Failure::Output(e.to_string()))?;
        }
        out
    };
    let mut text = serde_json::to_string_pretty(&output).map_err(|e| Failure::Output(e.to_string()))?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("2.75G"), Ok(0xb000_0000));
        assert_eq!(parse_size("2.5GiB"), Ok(0xa000_0000));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1073741824"), Ok(1 << 30));
        assert_eq!(parse_size("0x28000"), Ok(0x28000));
        assert_eq!(parse_size("16gb"), Ok(16 << 30));
        for bad in ["", "G", "2X", "1.5", "0x", "-1G", "99999999999T", "1.0000000000001K"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
