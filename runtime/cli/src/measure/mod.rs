//! `arca measure`: predict a TEE's launch measurements from the firmware,
//! kernel, initrd and command line it will boot.
//!
//! Each TEE's subcommand takes the flag names of the reference tool users
//! already know, prints the same output, and with `--reference-values`
//! prints the `{name: hex}` document `arca kbs config set-reference-values
//! --file` accepts. Exit codes: 0 measured, 2 bad input or a launch that
//! must be refused, 1 the result could not be written.

mod tdx;

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};

/// Exit code for a result that could not be written.
const EXIT_OUTPUT: u8 = 1;
/// Exit code for input that could not be read or a launch that is refused.
const EXIT_INPUT: u8 = 2;

/// Arguments of `arca measure`.
#[derive(Debug, Args)]
pub struct MeasureArgs {
    #[command(subcommand)]
    tee: MeasureCommand,
}

/// The TEEs `arca measure` knows.
#[derive(Debug, Subcommand)]
pub enum MeasureCommand {
    /// Intel TDX: MRTD, RTMR[1] and RTMR[2] of a QEMU direct boot, as JSON
    /// (RTMR[0] is reported as unpredictable), with dstack-mr-like flags.
    Tdx(tdx::TdxArgs),
}

/// Runs `arca measure`.
pub fn run(args: MeasureArgs) -> ExitCode {
    let (name, result) = match args.tee {
        MeasureCommand::Tdx(a) => ("tdx", tdx::run(&a)),
    };
    finish(name, result)
}

/// Why a measurement command failed.
#[derive(Debug)]
pub enum Failure {
    /// Bad input, or a launch that must be refused.
    Input(String),
    /// The result could not be written.
    Output(String),
}

/// Prints the result or the failure and gives the exit code.
pub fn finish(tee: &str, result: Result<String, Failure>) -> ExitCode {
    match result {
        Ok(text) => match std::io::stdout().lock().write_all(text.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("arca measure {tee}: cannot write the result: {e}");
                ExitCode::from(EXIT_OUTPUT)
            }
        },
        Err(Failure::Input(message)) => {
            eprintln!("arca measure {tee}: {message}");
            ExitCode::from(EXIT_INPUT)
        }
        Err(Failure::Output(message)) => {
            eprintln!("arca measure {tee}: {message}");
            ExitCode::from(EXIT_OUTPUT)
        }
    }
}

/// Reads a whole input file of at most `limit` bytes.
pub fn read_input(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, Failure> {
    let fail = |e: std::io::Error| Failure::Input(format!("{what} {}: {e}", path.display()));
    let file = File::open(path).map_err(fail)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(fail)?;
    if bytes.len() as u64 > limit {
        return Err(Failure::Input(format!("{what} {}: larger than the {limit}-byte limit", path.display())));
    }
    Ok(bytes)
}

/// Renders reference values as the JSON document the KBS accepts.
pub fn reference_values_json(values: &std::collections::BTreeMap<String, String>) -> String {
    let mut text = serde_json::to_string_pretty(values).unwrap_or_default();
    text.push('\n');
    text
}
