//! `arca`: the operator's command line.
//!
//! It verifies TEE evidence (`arca verify`), talks to a KBS (`arca kbs`:
//! attest, fetch resources, administer), predicts launch measurements
//! (`arca measure snp|…`) and shows what a firmware image declares
//! (`arca firmware inspect`), and pulls OCI images
//! into a rootfs (`arca image pull`). Exit codes: 0 success, 1 the evidence did not
//! verify, the KBS refused or a result could not be written, 2 the input
//! could not be read or parsed (including bad arguments and launches that
//! cannot be measured).

mod firmware;
mod image;
mod kbs;
mod measure;
mod verify;

use std::process::ExitCode;

use std::ffi::OsString;

use clap::{Args, FromArgMatches, Parser, Subcommand};

/// Arca: confidential sandboxes, measured launches and attestation.
#[derive(Debug, Parser)]
#[command(name = "arca", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify TEE evidence and print its claims as JSON.
    Verify(verify::VerifyArgs),
    /// Talk to a Key Broker Service: attest, fetch resources, administer.
    Kbs(kbs::KbsArgs),
    /// Predict launch measurements (reference values) of a TEE guest.
    Measure(measure::MeasureArgs),
    /// Inspect firmware images.
    Firmware(firmware::FirmwareArgs),
    /// Pull OCI images into a rootfs and runtime spec; inspect images in a registry.
    Image(image::ImageArgs),
}

fn main() -> ExitCode {
    let cli = parse_command_line();
    match cli.command {
        Command::Verify(args) => verify::run(&args),
        Command::Kbs(args) => kbs::run(args),
        Command::Measure(args) => measure::run(args),
        Command::Firmware(args) => firmware::run(args),
        Command::Image(args) => image::run(args),
    }
}

/// The command line parsed with only the named subcommand's arguments built.
///
/// clap builds the arguments of every subcommand before parsing; for the
/// whole CLI that is a good part of the start-up of a short command such as
/// `arca measure snp`, which scripts run in loops. When the first argument
/// names a subcommand, only that subcommand is built. Help, and any line that
/// does not parse that way, goes through the full parser, so messages and
/// help text are the same as without this path.
fn parse_command_line() -> Cli {
    parse_from(std::env::args_os().collect())
}

/// [`parse_command_line`] of `args` (the program name first).
fn parse_from(args: Vec<OsString>) -> Cli {
    let full = || Cli::parse_from(&args);
    let asks_for_help = args.iter().skip(1).any(|a| a == "-h" || a == "--help" || a == "help" || a == "-V");
    let Some(name) = args.get(1).and_then(|a| a.to_str()).filter(|_| !asks_for_help) else {
        return full();
    };
    let sub = match name {
        "verify" => verify::VerifyArgs::augment_args(clap::Command::new("verify")),
        "kbs" => kbs::KbsArgs::augment_args(clap::Command::new("kbs")),
        "measure" => measure::MeasureArgs::augment_args(clap::Command::new("measure")),
        "firmware" => firmware::FirmwareArgs::augment_args(clap::Command::new("firmware")),
        "image" => image::ImageArgs::augment_args(clap::Command::new("image")),
        _ => return full(),
    };
    let only = clap::Command::new("arca").subcommand_required(true).subcommand(sub);
    match only.try_get_matches_from(&args).and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(cli) => cli,
        Err(_) => full(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The subcommand-only parse gives what the full parser gives.
    #[test]
    fn the_short_parse_equals_the_full_one() {
        let lines = [
            "arca measure snp --mode snp --vcpus 2 --vcpu-type EPYC-v4 --ovmf f.fd --kernel k --append a=b",
            "arca measure tdx --firmware f.fd --kernel k",
            "arca firmware inspect f.fd",
            "arca verify --tee snp --evidence evidence.bin",
            "arca image verity format data.img hash.img --salt - --hash sha512",
            "arca image pull 127.0.0.1:5000/a:v1 dest --plain-http 127.0.0.1:5000 --parallel 2",
            "arca kbs --url http://127.0.0.1:8080 get-resource --path a/b/c",
        ];
        for line in lines {
            let args: Vec<OsString> = line.split(' ').map(OsString::from).collect();
            let full = Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(format!("{:?}", parse_from(args)), format!("{full:?}"), "{line}");
        }
    }
}
