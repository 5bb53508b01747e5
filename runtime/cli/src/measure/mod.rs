//! `arca measure`: predict the launch measurements of a confidential guest.
//!
//! Each TEE has a subcommand with the flags of the reference tool users
//! already know. Exit codes: 0 success, 2 the input could not be read or
//! cannot be measured (bad arguments, malformed firmware or kernel, a
//! launch the VMM would refuse).

mod tdx;

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};

/// Exit code for input that could not be read, parsed or measured.
const EXIT_INPUT: u8 = 2;

/// Largest file read (firmware, kernel, initrd): 1 GiB.
const MAX_INPUT_FILE: u64 = 1 << 30;

/// Arguments of `arca measure`.
#[derive(Debug, Args)]
pub struct MeasureArgs {
    #[command(subcommand)]
    tee: MeasureCommand,
}

#[derive(Debug, Subcommand)]
enum MeasureCommand {
    /// Intel TDX: MRTD, RTMR[1], RTMR[2] of a QEMU direct boot (RTMR[0] is
    /// reported as unpredictable).
    Tdx(tdx::TdxArgs),
}

/// Runs `arca measure`.
pub fn run(args: &MeasureArgs) -> ExitCode {
    let (name, result) = match &args.tee {
        MeasureCommand::Tdx(a) => ("tdx", tdx::run(a)),
    };
    match result {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("arca measure {name}: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::from(EXIT_INPUT)
        }
    }
}

/// Reads a whole input file, refusing anything larger than the limit.
fn read_file(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context as _;
    let size = std::fs::metadata(path).with_context(|| format!("{what} {}", path.display()))?.len();
    if size > MAX_INPUT_FILE {
        anyhow::bail!("{what} {}: {size} bytes, more than the {MAX_INPUT_FILE}-byte limit", path.display());
    }
    std::fs::read(path).with_context(|| format!("{what} {}", path.display()))
}
