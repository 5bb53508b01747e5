//! `arca`: the operator's command line.
//!
//! It verifies TEE evidence (`arca verify`), predicts launch measurements
//! (`arca measure`) and talks to a KBS (`arca kbs`: attest, fetch resources,
//! administer). Exit codes: 0 success, 1 the evidence did not verify or the
//! KBS refused, 2 the input could not be read, parsed or measured (including
//! bad arguments).

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
    /// Predict launch measurements (reference values) of a confidential guest.
    Measure(measure::MeasureArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Verify(args) => verify::run(&args),
        Command::Kbs(args) => kbs::run(args),
        Command::Measure(args) => measure::run(&args),
    }
}
