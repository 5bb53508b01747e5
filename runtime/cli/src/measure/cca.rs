//! `arca measure cca`: the Realm Initial Measurement of an Arm CCA realm
//! started by QEMU or kvmtool with direct kernel boot.
//!
//! The flags follow the CCA host tool `realm-measurements`: capability
//! files with `-c`, the kernel with `-k`, the initrd with `-i`, then the VMM
//! (`qemu` or `kvmtool`) and the VMM's own command line, from which the RAM
//! size, vCPU count, kernel command line, measurement algorithm,
//! personalization value and CPU limits are read. The DTB that VMM builds
//! for the launch is given with `--dtb` (it is measured as it is).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use arca_measure::cca::{self, CcaLaunch, HashAlgo, HostCapabilities, PersonalizationValue, Vmm};
use clap::{Args, Subcommand};

/// Largest kernel or initrd read.
const MAX_IMAGE_FILE: u64 = 1 << 32;

/// Arguments of `arca measure cca`.
#[derive(Debug, Args)]
pub struct CcaArgs {
    /// Host capability file (TOML); repeat to layer hardware, hypervisor and
    /// RMM files: later files can only lower a capability.
    #[arg(short, long = "config", value_name = "FILE")]
    config: Vec<PathBuf>,
    /// Kernel image (uncompressed arm64 `Image`).
    #[arg(short, long, value_name = "FILE")]
    kernel: PathBuf,
    /// Initrd image.
    #[arg(short, long, value_name = "FILE")]
    initrd: Option<PathBuf>,
    /// The DTB the VMM builds for this launch (e.g. written by
    /// `realm-measurements --output-dtb`, or dumped by the VMM).
    #[arg(long, value_name = "FILE")]
    dtb: PathBuf,
    /// Host capability: IPA width (overrides the files).
    #[arg(long, value_name = "N")]
    ipa_bits: Option<u8>,
    /// Host capability: breakpoints.
    #[arg(long, value_name = "N")]
    num_bps: Option<u8>,
    /// Host capability: watchpoints.
    #[arg(long, value_name = "N")]
    num_wps: Option<u8>,
    /// Host capability: largest SVE vector length in bits (0 disables SVE).
    #[arg(long, value_name = "N")]
    sve_vl: Option<u16>,
    /// Host capability: PMU counters.
    #[arg(long, value_name = "N")]
    pmu_num_ctrs: Option<u8>,
    /// Host capability: PMU available.
    #[arg(long, value_name = "BOOL")]
    pmu: Option<bool>,
    /// Host capability: LPA2 available.
    #[arg(long, value_name = "BOOL")]
    lpa2: Option<bool>,
    /// Print only the reference values ({"cca_rim": hex}) for
    /// `arca kbs config set-reference-values --file`.
    #[arg(long)]
    reference_values: bool,
    /// Include every RIM step (realm creation, RIPAS, data, REC) in the output.
    #[arg(long)]
    trace: bool,
    /// The VMM and its command line.
    #[command(subcommand)]
    vmm: VmmCommand,
}

#[derive(Debug, Subcommand)]
enum VmmCommand {
    /// QEMU `virt` machine: the QEMU options (-m, -smp, -cpu, -object
    /// rme-guest,..., -kernel, -initrd, -append, ...).
    Qemu {
        /// QEMU's arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "QEMU_ARGS")]
        args: Vec<String>,
    },
    /// kvmtool (`lkvm run`): its options (-c, -m, -k, -i, -p, --realm,
    /// --measurement-algo, --realm-pv, ...).
    Kvmtool {
        /// kvmtool's arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "KVMTOOL_ARGS")]
        args: Vec<String>,
    },
}

/// What the VMM command line says about the launch.
#[derive(Debug, Default)]
struct VmmLaunch {
    memory_size: Option<u64>,
    vcpus: Option<u32>,
    cmdline: Option<String>,
    hash_algo: Option<HashAlgo>,
    personalization_value: Option<PersonalizationValue>,
    /// Limits the VMM's CPU options put on the host capabilities.
    limits: HostCapabilities,
    kernel: bool,
    initrd: bool,
}

/// Reads an input file through the subcommands' common reader (size limit,
/// parallel read of large files), with its message as this command's error.
fn read_file(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    super::read_input(path, limit, what).map_err(|f| match f {
        super::Failure::Input(m) | super::Failure::Output(m) => anyhow!(m),
    })
}

/// Run `arca measure cca`; returns the JSON to print.
pub fn run(args: &CcaArgs) -> Result<String> {
    let mut configs = Vec::new();
    for path in &args.config {
        let bytes = read_file(path, cca::MAX_HOST_CONFIG_SIZE as u64, "capability file")?;
        let text = String::from_utf8(bytes).map_err(|_| anyhow!("capability file {}: not UTF-8", path.display()))?;
        cca::parse_host_config(&text).with_context(|| format!("capability file {}", path.display()))?;
        configs.push(text);
    }
    let mut host = HostCapabilities::from_configs(&configs)?;
    host.update(&HostCapabilities {
        ipa_bits: args.ipa_bits,
        num_bps: args.num_bps,
        num_wps: args.num_wps,
        sve_vl: args.sve_vl,
        pmu_num_ctrs: args.pmu_num_ctrs,
        pmu: args.pmu,
        lpa2: args.lpa2,
    });
    host.check()?;

    let (vmm, vmm_launch) = match &args.vmm {
        VmmCommand::Qemu { args } => (Vmm::Qemu, parse_qemu(args, &host).context("QEMU command line")?),
        VmmCommand::Kvmtool { args } => (Vmm::Kvmtool, parse_kvmtool(args).context("kvmtool command line")?),
    };
    if !vmm_launch.kernel {
        bail!("the VMM command line loads no kernel; only direct kernel boot is measured");
    }
    match (vmm_launch.initrd, &args.initrd) {
        (true, None) => bail!("the VMM command line loads an initrd: give its file with --initrd"),
        (false, Some(_)) => bail!("--initrd was given but the VMM command line loads no initrd"),
        _ => {}
    }
    host.restrict(&vmm_launch.limits);

    let launch = CcaLaunch {
        vmm,
        kernel: read_file(&args.kernel, MAX_IMAGE_FILE, "kernel")?,
        initrd: args.initrd.as_deref().map(|p| read_file(p, MAX_IMAGE_FILE, "initrd")).transpose()?,
        dtb: read_file(&args.dtb, cca::MAX_DTB_SIZE as u64, "DTB")?,
        memory_size: vmm_launch.memory_size.ok_or_else(|| anyhow!("the VMM command line gives no memory size"))?,
        vcpus: vmm_launch.vcpus.ok_or_else(|| anyhow!("the VMM command line gives no vCPU count"))?,
        cmdline: vmm_launch.cmdline,
        host,
        hash_algo: vmm_launch.hash_algo,
        personalization_value: vmm_launch.personalization_value,
    };
    let m = cca::measure(&launch)?;
    let value = if args.reference_values {
        serde_json::to_value(m.reference_values())?
    } else {
        let mut v = serde_json::to_value(&m)?;
        if !args.trace {
            if let Some(o) = v.as_object_mut() {
                o.remove("trace");
            }
        }
        v
    };
    Ok(serde_json::to_string_pretty(&value)?)
}

/// `<n>[BKMGTP]`, MiB when no suffix (QEMU's and kvmtool's `-m`).
fn memory_size(s: &str) -> Result<u64> {
    let (digits, shift) = match s.char_indices().last() {
        Some((i, 'B')) => (&s[..i], 0),
        Some((i, 'K' | 'k')) => (&s[..i], 10),
        Some((i, 'M' | 'm')) => (&s[..i], 20),
        Some((i, 'G' | 'g')) => (&s[..i], 30),
        Some((i, 'T' | 't')) => (&s[..i], 40),
        Some((i, 'P' | 'p')) => (&s[..i], 50),
        _ => (s, 20),
    };
    let n: u64 = digits.parse().map_err(|_| anyhow!("memory size {s:?}: expected <number>[B|K|M|G|T|P]"))?;
    n.checked_mul(1 << shift).ok_or_else(|| anyhow!("memory size {s:?} is too large"))
}

fn number<T: std::str::FromStr>(s: &str, what: &str) -> Result<T> {
    s.parse().map_err(|_| anyhow!("{what}: {s:?} is not a number"))
}

/// Pop the next argument as the value of `opt`; `--opt=value` was already split.
fn value(args: &mut VecDeque<String>, opt: &str) -> Result<String> {
    args.pop_front().ok_or_else(|| anyhow!("{opt} needs a value"))
}

/// Split `-opt=value` / `--opt=value` into the option and a queued value.
fn next_option(args: &mut VecDeque<String>) -> Option<String> {
    let arg = args.pop_front()?;
    if arg.starts_with('-') {
        if let Some((opt, v)) = arg.split_once('=') {
            args.push_front(v.to_string());
            return Some(opt.to_string());
        }
    }
    Some(arg)
}

/// QEMU options that do not change the RIM (devices are in the DTB given)
/// and take a value.
const QEMU_IGNORED_WITH_VALUE: &[&str] = &[
    "-device", "-drive", "-fsdev", "-netdev", "-chardev", "-serial", "-monitor", "-display", "-name", "-dtb", "-accel",
    "-global", "-virtfs", "-nic", "-boot", "-rtc", "-qmp", "-mon", "-d", "-D", "-trace",
];
/// QEMU options without value that do not change the RIM.
const QEMU_IGNORED_FLAGS: &[&str] = &["-nographic", "-enable-kvm", "-nodefaults", "-no-reboot", "-S", "-daemonize"];

fn parse_qemu(raw: &[String], host: &HostCapabilities) -> Result<VmmLaunch> {
    // QEMU's defaults for the virt machine.
    let mut l = VmmLaunch { memory_size: Some(128 << 20), vcpus: Some(1), ..VmmLaunch::default() };
    let mut sve_vl = host.sve_vl;
    let mut args: VecDeque<String> = raw.iter().cloned().collect();
    while let Some(opt) = next_option(&mut args) {
        let opt = if opt.starts_with("--") { opt[1..].to_string() } else { opt };
        match opt.as_str() {
            "-m" => {
                let v = value(&mut args, "-m")?;
                let mut size = None;
                for item in v.split(',') {
                    match item.split_once('=') {
                        None => size = Some(item),
                        Some(("size", s)) => size = Some(s),
                        Some((p, _)) => bail!("-m {p}= is not supported (only a fixed RAM size)"),
                    }
                }
                l.memory_size = Some(memory_size(size.ok_or_else(|| anyhow!("-m {v:?} gives no size"))?)?);
            }
            "-smp" => {
                let v = value(&mut args, "-smp")?;
                for item in v.split(',') {
                    match item.split_once('=') {
                        None | Some(("cpus", _)) => {
                            let n = item.split_once('=').map_or(item, |(_, n)| n);
                            l.vcpus = Some(number(n, "-smp")?);
                        }
                        Some((p, _)) => bail!("-smp {p}= is not supported (give the vCPU count only)"),
                    }
                }
            }
            "-object" => {
                let v = value(&mut args, "-object")?;
                let mut items = v.split(',');
                if items.next() != Some("rme-guest") {
                    continue;
                }
                for item in items {
                    match item.split_once('=') {
                        Some(("id", _)) => {}
                        Some(("measurement-algo", a)) => l.hash_algo = Some(a.parse()?),
                        Some(("personalization-value", h)) => {
                            l.personalization_value = Some(PersonalizationValue::from_hex(h)?);
                        }
                        Some(("measurement-log", "off")) => {}
                        Some(("measurement-log", _)) => bail!("rme-guest measurement-log is not supported"),
                        _ => bail!("rme-guest property {item:?} is not supported"),
                    }
                }
            }
            "-M" | "-machine" => {
                let v = value(&mut args, &opt)?;
                for item in v.split(',') {
                    match item.split_once('=') {
                        None if item == "virt" => {}
                        None => bail!("-machine {item:?}: only the virt machine is measured"),
                        Some(("highmem", _)) => bail!("-machine highmem= is not supported"),
                        Some(_) => {}
                    }
                }
            }
            "-cpu" => {
                let v = value(&mut args, "-cpu")?;
                for item in v.split(',') {
                    let Some((p, val)) = item.split_once('=') else {
                        if item == "host" {
                            continue;
                        }
                        bail!("-cpu {item:?}: only -cpu host is measured");
                    };
                    match p {
                        "num-breakpoints" => l.limits.num_bps = Some(number(val, p)?),
                        "num-watchpoints" => l.limits.num_wps = Some(number(val, p)?),
                        "num-pmu-counters" => l.limits.pmu_num_ctrs = Some(number(val, p)?),
                        "sve" if val == "off" => sve_vl = Some(0),
                        "sve" => {}
                        _ if p.starts_with("sve") => {
                            // sve<bits>=on|off: the longest enabled length wins;
                            // turning one off leaves the shorter ones.
                            let bits: u16 = number(&p[3..], p)?;
                            let cur = sve_vl.unwrap_or(0);
                            if val == "off" && cur >= bits {
                                sve_vl = Some(bits / 2);
                            } else if val == "on" && cur < bits {
                                sve_vl = Some(bits);
                            }
                        }
                        _ => {}
                    }
                }
            }
            "-append" => l.cmdline = Some(value(&mut args, "-append")?),
            "-kernel" => {
                value(&mut args, "-kernel")?;
                l.kernel = true;
            }
            "-initrd" => {
                value(&mut args, "-initrd")?;
                l.initrd = true;
            }
            "-bios" | "-pflash" => bail!("{opt}: firmware boot is not measured, only direct kernel boot"),
            o if QEMU_IGNORED_WITH_VALUE.contains(&o) => {
                value(&mut args, o)?;
            }
            o if QEMU_IGNORED_FLAGS.contains(&o) => {}
            o => bail!("unknown option {o:?} (it might change the launch)"),
        }
    }
    if let Some(v) = sve_vl {
        l.limits.sve_vl = Some(v);
    }
    l.limits.check()?;
    Ok(l)
}

/// kvmtool options that do not change the RIM and take a value.
const KVMTOOL_IGNORED_WITH_VALUE: &[&str] = &[
    "--name",
    "-d",
    "--disk",
    "--9p",
    "--console",
    "--vsock",
    "--dev",
    "--tty",
    "--hugetlbfs",
    "--virtio-transport",
    "--loglevel",
    "-n",
    "--network",
    "--vfio-pci",
    "--debug-iodelay",
    "--irqchip",
    "--dtb",
];
/// kvmtool options without value that do not change the RIM.
const KVMTOOL_IGNORED_FLAGS: &[&str] = &[
    "--realm",
    "--balloon",
    "--rng",
    "--nodefaults",
    "--no-dhcp",
    "--debug",
    "--debug-single-step",
    "--debug-ioport",
    "--debug-mmio",
    "--force-pci",
    "--restricted_mem",
];

fn parse_kvmtool(raw: &[String]) -> Result<VmmLaunch> {
    let mut l = VmmLaunch::default();
    let mut args: VecDeque<String> = raw.iter().cloned().collect();
    if args.front().is_some_and(|a| a == "run") {
        args.pop_front();
    }
    while let Some(opt) = next_option(&mut args) {
        match opt.as_str() {
            "-c" | "--cpus" => l.vcpus = Some(number(&value(&mut args, &opt)?, &opt)?),
            "-m" | "--mem" => {
                let v = value(&mut args, &opt)?;
                if v.contains('@') {
                    bail!("{opt} {v:?}: moving the RAM base is not supported");
                }
                l.memory_size = Some(memory_size(&v)?);
            }
            "-k" | "--kernel" => {
                value(&mut args, &opt)?;
                l.kernel = true;
            }
            "-i" | "--initrd" => {
                value(&mut args, &opt)?;
                l.initrd = true;
            }
            "-p" | "--params" => l.cmdline = Some(value(&mut args, &opt)?),
            "--measurement-algo" => l.hash_algo = Some(value(&mut args, &opt)?.parse()?),
            "--realm-pv" => {
                l.personalization_value = Some(PersonalizationValue::from_bytes(value(&mut args, &opt)?.as_bytes())?)
            }
            // Asking for a PMU enables it only if the host has not ruled it out.
            "--pmu" => l.limits.pmu = Some(true),
            "--pmu-counters" => l.limits.pmu_num_ctrs = Some(number(&value(&mut args, &opt)?, &opt)?),
            "--disable-sve" => l.limits.sve_vl = Some(0),
            "--sve-max-vl" => {
                let v = number(&value(&mut args, &opt)?, &opt)?;
                if l.limits.sve_vl != Some(0) {
                    l.limits.sve_vl = Some(v);
                }
            }
            "-f" | "--firmware" | "-F" | "--flash" | "--firmware-address" => {
                bail!("{opt}: firmware boot is not measured, only direct kernel boot")
            }
            "--measurement-log" => bail!("--measurement-log is not supported"),
            o if KVMTOOL_IGNORED_WITH_VALUE.contains(&o) => {
                value(&mut args, o)?;
            }
            o if KVMTOOL_IGNORED_FLAGS.contains(&o) => {}
            o => bail!("unknown option {o:?} (it might change the launch)"),
        }
    }
    l.limits.check()?;
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn memory_sizes_default_to_mib() {
        assert_eq!(memory_size("512").unwrap(), 512 << 20);
        assert_eq!(memory_size("512M").unwrap(), 512 << 20);
        assert_eq!(memory_size("1G").unwrap(), 1 << 30);
        assert_eq!(memory_size("4096K").unwrap(), 4 << 20);
        assert_eq!(memory_size("8192B").unwrap(), 8192);
        assert!(memory_size("lots").is_err());
        assert!(memory_size("").is_err());
        assert!(memory_size("99999999999P").is_err());
    }

    #[test]
    fn qemu_options_become_launch_facts() {
        let host = HostCapabilities { sve_vl: Some(2048), ..HostCapabilities::default() };
        let l = parse_qemu(
            &args(&[
                "-M",
                "virt,confidential-guest-support=rme0,gic-version=3",
                "-object",
                "rme-guest,id=rme0,measurement-algo=sha256,personalization-value=ab",
                "-cpu",
                "host,sve512=off,num-breakpoints=4,num-pmu-counters=3",
                "-smp",
                "cpus=3",
                "-m",
                "size=2G",
                "-kernel",
                "k",
                "-append",
                "a=b c",
                "-device",
                "virtio-net-pci",
                "-nographic",
            ]),
            &host,
        )
        .unwrap();
        assert_eq!((l.vcpus, l.memory_size), (Some(3), Some(2 << 30)));
        assert_eq!(l.cmdline.as_deref(), Some("a=b c"));
        assert_eq!(l.hash_algo, Some(HashAlgo::Sha256));
        assert_eq!(l.personalization_value.map(|p| p.0[0]), Some(0xab));
        // Turning 512-bit vectors off leaves 256-bit ones.
        assert_eq!((l.limits.sve_vl, l.limits.num_bps, l.limits.pmu_num_ctrs), (Some(256), Some(4), Some(3)));
        assert!(l.kernel && !l.initrd);

        // QEMU's defaults: 1 vCPU, 128 MiB.
        let l = parse_qemu(&args(&["-kernel", "k", "-cpu", "host,sve=off"]), &host).unwrap();
        assert_eq!((l.vcpus, l.memory_size, l.limits.sve_vl), (Some(1), Some(128 << 20), Some(0)));
    }

    #[test]
    fn qemu_options_that_change_the_launch_unseen_are_refused() {
        let host = HostCapabilities::default();
        for bad in [
            &["-bios", "fw.fd"][..],
            &["-cpu", "max"],
            &["-M", "virt,highmem=off"],
            &["-M", "sbsa-ref"],
            &["-m", "1G,slots=2"],
            &["-smp", "2,sockets=2"],
            &["-object", "rme-guest,measurement-log=on"],
            &["-object", "rme-guest,measurement-algo=md5"],
            &["-frobnicate"],
            &["-m"],
        ] {
            assert!(parse_qemu(&args(bad), &host).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn kvmtool_options_become_launch_facts() {
        let l = parse_kvmtool(&args(&[
            "run",
            "--cpus=4",
            "-m",
            "512",
            "--realm",
            "--realm-pv",
            "ab",
            "--measurement-algo",
            "sha512",
            "--console",
            "virtio",
            "--irqchip=gicv3",
            "-k",
            "k",
            "-i",
            "i",
            "-p",
            "console=hvc0",
            "--sve-max-vl",
            "512",
            "--pmu",
        ]))
        .unwrap();
        assert_eq!((l.vcpus, l.memory_size), (Some(4), Some(512 << 20)));
        assert_eq!(l.hash_algo, Some(HashAlgo::Sha512));
        assert_eq!(l.personalization_value.map(|p| (p.0[0], p.0[1], p.0[2])), Some((b'a', b'b', 0)));
        assert_eq!((l.limits.sve_vl, l.limits.pmu), (Some(512), Some(true)));
        assert!(l.kernel && l.initrd);
        let l = parse_kvmtool(&args(&["--disable-sve", "--sve-max-vl", "512"])).unwrap();
        assert_eq!(l.limits.sve_vl, Some(0));
        for bad in [&["-f", "fw"][..], &["--measurement-log"], &["-m", "512@0x100000000"], &["--bogus"], &["-c"]] {
            assert!(parse_kvmtool(&args(bad)).is_err(), "{bad:?}");
        }
    }
}
