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

use clap::{Parser, Subcommand};

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
    let cli = Cli::parse();
    match cli.command {
        Command::Verify(args) => verify::run(&args),
        Command::Kbs(args) => kbs::run(args),
        Command::Measure(args) => measure::run(args),
        Command::Firmware(args) => firmware::run(args),
        Command::Image(args) => image::run(args),
    }
}
