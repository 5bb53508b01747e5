//! `arca measure snp`: the SEV-SNP / SEV-ES / SEV launch digest, with the
//! flags and output of sev-snp-measure.

use std::path::PathBuf;

use arca_measure::snp::{self, SevHashes, SevMode, SnpLaunch, VcpuSpec, VmmType};
use base64::Engine as _;
use clap::{Args, ValueEnum};

use super::digest::FileDigest;
use super::stream::stream_firmware;
use super::{read_input, reference_values_json, Failure};

/// Largest firmware image read (real ones are 2–4 MiB).
const MAX_FIRMWARE: u64 = 256 << 20;
/// Largest kernel or initrd read.
const MAX_BLOB: u64 = 2 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    Hex,
    Base64,
}

/// Arguments of `arca measure snp` (sev-snp-measure's names).
#[derive(Debug, Args)]
pub struct SnpArgs {
    /// Guest mode: sev, seves, snp or snp:ovmf-hash.
    #[arg(long)]
    mode: String,
    /// Number of guest vCPUs (required except for sev).
    #[arg(long, value_name = "N")]
    vcpus: Option<u32>,
    /// Type of guest vCPU (EPYC, EPYC-v1..v4, EPYC-IBPB, EPYC-Rome[-v1..v3], EPYC-Milan[-v1,-v2], EPYC-Genoa[-v1], EPYC-Turin).
    #[arg(long, value_name = "CPUTYPE")]
    vcpu_type: Option<String>,
    /// Guest vCPU signature value (decimal, 0x…, 0o… or 0b…).
    #[arg(long, value_name = "VALUE", value_parser = parse_int::<u32>)]
    vcpu_sig: Option<u32>,
    /// Guest vCPU family.
    #[arg(long, value_name = "FAMILY")]
    vcpu_family: Option<u32>,
    /// Guest vCPU model.
    #[arg(long, value_name = "MODEL")]
    vcpu_model: Option<u32>,
    /// Guest vCPU stepping.
    #[arg(long, value_name = "STEPPING")]
    vcpu_stepping: Option<u32>,
    /// Type of guest VMM (QEMU, ec2, gce).
    #[arg(long, value_name = "VMMTYPE", default_value = "QEMU")]
    vmm_type: String,
    /// OVMF file to calculate the hash from.
    #[arg(long, value_name = "PATH")]
    ovmf: PathBuf,
    /// Kernel file to calculate the hash from.
    #[arg(long, value_name = "PATH")]
    kernel: Option<PathBuf>,
    /// Initrd file to calculate the hash from (use with --kernel).
    #[arg(long, value_name = "PATH")]
    initrd: Option<PathBuf>,
    /// Kernel command line to calculate the hash from (use with --kernel).
    #[arg(long, value_name = "CMDLINE", allow_hyphen_values = true)]
    append: Option<String>,
    /// Guest features (VMSA SEV_FEATURES) for SNP: 0x1 SNPActive, 0x21 adds DebugSwap.
    #[arg(long, value_name = "VALUE", default_value = "0x1", value_parser = parse_int::<u64>)]
    guest_features: u64,
    /// Measurement output format.
    #[arg(long, value_enum, default_value = "hex")]
    output_format: OutputFormat,
    /// Precalculated GCTX digest of the OVMF pages (hex, from --mode snp:ovmf-hash).
    #[arg(long, value_name = "HASH")]
    snp_ovmf_hash: Option<String>,
    /// Write the measured VMSA pages to vmsa<N>.bin (seves and snp).
    #[arg(long)]
    dump_vmsa: bool,
    /// Print "Calculated <mode> guest measurement: …".
    #[arg(short, long)]
    verbose: bool,
    /// Print the KBS reference values ({"snp_launch_measurement": hex}) instead (snp only).
    #[arg(long)]
    reference_values: bool,
}

/// Parses an integer as Python's `int(text, 0)` does: decimal, or with a
/// 0x, 0o or 0b prefix; underscores between digits allowed.
fn parse_int<T: TryFrom<u128>>(text: &str) -> Result<T, String> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let (digits, radix) = match lower.get(..2) {
        // Python allows one underscore right after a base prefix.
        Some("0x") => (lower[2..].strip_prefix('_').unwrap_or(&lower[2..]), 16),
        Some("0o") => (lower[2..].strip_prefix('_').unwrap_or(&lower[2..]), 8),
        Some("0b") => (lower[2..].strip_prefix('_').unwrap_or(&lower[2..]), 2),
        _ => (lower.as_str(), 10),
    };
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return Err(format!("{text:?} is not an integer"));
    }
    let value = u128::from_str_radix(&clean, radix).map_err(|e| format!("{text:?} is not an integer: {e}"))?;
    T::try_from(value).map_err(|_| format!("{text:?} is out of range"))
}

fn verbose_name(mode: SevMode) -> &'static str {
    match mode {
        SevMode::Sev => "SEV",
        SevMode::SevEs => "SEV_ES",
        SevMode::Snp | SevMode::SnpOvmfHash => "SEV_SNP",
    }
}

fn vcpu_spec(args: &SnpArgs) -> Result<Option<VcpuSpec>, Failure> {
    // The same precedence as sev-snp-measure: family/model/stepping, then
    // the raw signature, then the named type.
    if let Some(family) = args.vcpu_family {
        let (Some(model), Some(stepping)) = (args.vcpu_model, args.vcpu_stepping) else {
            return Err(Failure::Input("--vcpu-family needs --vcpu-model and --vcpu-stepping".into()));
        };
        return Ok(Some(VcpuSpec::FamilyModelStepping { family, model, stepping }));
    }
    if let Some(sig) = args.vcpu_sig {
        return Ok(Some(VcpuSpec::Signature(sig)));
    }
    Ok(args.vcpu_type.clone().map(VcpuSpec::Type))
}

/// Measures and renders the output text.
pub fn run(args: &SnpArgs) -> Result<String, Failure> {
    if args.mode == "snp:svsm" {
        return Err(Failure::Input("--mode snp:svsm (SNP with an SVSM image) is not supported".into()));
    }
    let mode: SevMode = args.mode.parse().map_err(|e: arca_measure::Error| Failure::Input(e.to_string()))?;
    // The kernel and initrd are hashed while the firmware is read (a large
    // one on a thread of its own); only the hashes table needs them.
    let hashes_inputs = mode != SevMode::SnpOvmfHash && args.kernel.is_some();
    let (streamed, firmware, kernel_digest, initrd_digest) = std::thread::scope(|s| {
        let kernel =
            args.kernel.as_deref().filter(|_| hashes_inputs).map(|p| FileDigest::start(s, p, MAX_BLOB, "--kernel"));
        let initrd =
            args.initrd.as_deref().filter(|_| hashes_inputs).map(|p| FileDigest::start(s, p, MAX_BLOB, "--initrd"));
        // The SNP modes need the image's pages only through their digest,
        // so large images are streamed; SEV and SEV-ES hash the image whole.
        let streamed = match mode {
            SevMode::Snp | SevMode::SnpOvmfHash => stream_firmware(&args.ovmf, MAX_FIRMWARE)?,
            SevMode::Sev | SevMode::SevEs => None,
        };
        let firmware = match streamed {
            Some(_) => Vec::new(),
            None => read_input(&args.ovmf, MAX_FIRMWARE, "--ovmf")?,
        };
        let kernel = kernel.map(FileDigest::finish).transpose()?;
        let initrd = initrd.map(FileDigest::finish).transpose()?;
        Ok::<_, Failure>((streamed, firmware, kernel, initrd))
    })?;
    let measure = |launch: &SnpLaunch| {
        match &streamed {
            Some(s) => snp::measure_streamed(launch, s),
            None => snp::measure(launch),
        }
        .map_err(|e| Failure::Input(e.to_string()))
    };
    let mut launch = SnpLaunch::new(mode, firmware);
    if mode == SevMode::SnpOvmfHash {
        // Like sev-snp-measure: only the firmware matters, always printed as hex.
        return Ok(format!("{}\n", measure(&launch)?.digest_hex()));
    }
    if args.kernel.is_none() {
        if args.initrd.is_some() {
            return Err(Failure::Input("--kernel required when using --initrd".into()));
        }
        if args.append.as_deref().is_some_and(|a| !a.is_empty()) {
            return Err(Failure::Input("--kernel required when using --append".into()));
        }
    }
    if mode != SevMode::Sev {
        launch.vcpus =
            args.vcpus.ok_or_else(|| Failure::Input(format!("missing --vcpus N in guest mode '{}'", args.mode)))?;
    }
    launch.vmm_type = args.vmm_type.parse::<VmmType>().map_err(|e| Failure::Input(e.to_string()))?;
    launch.vcpu = vcpu_spec(args)?;
    if mode != SevMode::Sev && launch.vcpu.is_none() && launch.vmm_type == VmmType::Qemu {
        return Err(Failure::Input(format!(
            "missing --vcpu-type or --vcpu-sig or --vcpu-family in guest mode '{}'",
            args.mode
        )));
    }
    launch.guest_features = args.guest_features;
    launch.kernel_hashes =
        kernel_digest.map(|k| SevHashes::from_digests(k, initrd_digest, args.append.as_deref().map(str::as_bytes)));
    if let Some(h) = &args.snp_ovmf_hash {
        let bytes = hex::decode(h.trim()).ok().and_then(|b| <[u8; snp::LD_LEN]>::try_from(b).ok());
        launch.snp_ovmf_hash = Some(bytes.ok_or_else(|| {
            Failure::Input(format!("--snp-ovmf-hash: expected 96 hex digits (a SHA-384 digest), found {h:?}"))
        })?);
    }
    if args.dump_vmsa && mode == SevMode::Sev {
        return Err(Failure::Input("--dump-vmsa is not available in mode sev".into()));
    }
    if args.reference_values && mode != SevMode::Snp {
        return Err(Failure::Input(format!(
            "--reference-values: an attestation report carries the SNP measurement only; mode {mode} has none"
        )));
    }
    launch.trace = args.dump_vmsa;

    let m = measure(&launch)?;
    for (i, page) in m.vmsa_pages.iter().enumerate() {
        let path = format!("vmsa{i}.bin");
        std::fs::write(&path, &page[..]).map_err(|e| Failure::Output(format!("cannot write {path}: {e}")))?;
    }
    if args.reference_values {
        return Ok(reference_values_json(&m.reference_values()));
    }
    let text = match args.output_format {
        OutputFormat::Hex => m.digest_hex(),
        OutputFormat::Base64 => base64::engine::general_purpose::STANDARD.encode(&m.launch_digest),
    };
    Ok(if args.verbose {
        format!("Calculated {} guest measurement: {text}\n", verbose_name(mode))
    } else {
        format!("{text}\n")
    })
}

#[cfg(test)]
mod tests {
    use super::parse_int;

    #[test]
    fn python_style_integers() {
        assert_eq!(parse_int::<u64>("0x21"), Ok(0x21));
        assert_eq!(parse_int::<u64>("0X21"), Ok(0x21));
        assert_eq!(parse_int::<u64>("33"), Ok(33));
        assert_eq!(parse_int::<u64>("0b101"), Ok(5));
        assert_eq!(parse_int::<u64>("0o17"), Ok(15));
        assert_eq!(parse_int::<u64>("1_000"), Ok(1000));
        assert_eq!(parse_int::<u64>("0x_21"), Ok(0x21));
        assert_eq!(parse_int::<u32>("0x800f12"), Ok(0x800f12));
        for bad in ["", "0x", "x1", "1__0", "_1", "1_", "0x1g", "-1"] {
            assert!(parse_int::<u64>(bad).is_err(), "{bad}");
        }
        assert!(parse_int::<u32>("0x100000000").is_err());
    }
}
