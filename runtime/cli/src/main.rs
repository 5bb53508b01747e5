//! `arca`: the operator's command line.
//!
//! Today it verifies TEE evidence (`arca verify`); measuring launches and
//! administering the KBS join it as those parts land. Exit codes: 0 success,
//! 1 the evidence was read but did not verify, 2 the input could not be read
//! or parsed (including bad arguments).

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Verify(args) => verify::run(&args),
    }
}
