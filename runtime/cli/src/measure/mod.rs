//! `arca measure`: predict the launch measurements of a confidential guest.

mod cca;

use std::process::ExitCode;

use clap::{Args, Subcommand};

/// Exit code for input that could not be read, parsed or measured.
const EXIT_MALFORMED: u8 = 2;

/// Arguments of `arca measure`.
#[derive(Debug, Args)]
pub struct MeasureArgs {
    #[command(subcommand)]
    tee: MeasureCommand,
}

#[derive(Debug, Subcommand)]
enum MeasureCommand {
    /// Arm CCA: the Realm Initial Measurement of a QEMU or kvmtool launch.
    Cca(cca::CcaArgs),
}

/// Run `arca measure`.
pub fn run(args: &MeasureArgs) -> ExitCode {
    let (tee, result) = match &args.tee {
        MeasureCommand::Cca(a) => ("cca", cca::run(a)),
    };
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("arca measure {tee}: {e:#}");
            ExitCode::from(EXIT_MALFORMED)
        }
    }
}
