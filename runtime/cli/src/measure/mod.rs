//! `arca measure`: predict a TEE's launch measurements from the firmware,
//! kernel, initrd and command line it will boot.
//!
//! Each TEE's subcommand takes the flag names of the reference tool users
//! already know, prints the same output, and with `--reference-values`
//! prints the `{name: hex}` document `arca kbs config set-reference-values
//! --file` accepts. Exit codes: 0 measured, 2 bad input or a launch that
//! must be refused, 1 the result could not be written.

mod cca;
mod digest;
mod snp;
mod stream;
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
    /// AMD SEV-SNP launch measurement (also SEV-ES and SEV launch digests),
    /// with sev-snp-measure's flags and output.
    Snp(snp::SnpArgs),
    /// Intel TDX: MRTD, RTMR[1] and RTMR[2] of a QEMU direct boot, as JSON
    /// (RTMR[0] is reported as unpredictable), with dstack-mr-like flags.
    Tdx(tdx::TdxArgs),
    /// Arm CCA: the Realm Initial Measurement of a QEMU or kvmtool launch,
    /// with realm-measurements' flags.
    Cca(cca::CcaArgs),
}

/// Runs `arca measure`.
pub fn run(args: MeasureArgs) -> ExitCode {
    let (name, result) = match args.tee {
        MeasureCommand::Snp(a) => ("snp", snp::run(&a)),
        MeasureCommand::Tdx(a) => ("tdx", tdx::run(&a)),
        MeasureCommand::Cca(a) => ("cca", cca::run(&a).map_err(|e| Failure::Input(format!("{e:#}")))),
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

/// An input file opened for reading, refused if larger than its limit;
/// errors name it (`--kernel vmlinuz: ...`).
pub struct Input<'a> {
    /// The open file.
    pub file: File,
    /// Its size (0 for what has none, such as a pipe).
    pub size: u64,
    /// Whether it is a regular file.
    pub is_file: bool,
    path: &'a Path,
    what: &'a str,
    limit: u64,
}

impl<'a> Input<'a> {
    /// Opens `path`, which may hold at most `limit` bytes; `what` names it
    /// in errors.
    pub fn open(path: &'a Path, limit: u64, what: &'a str) -> Result<Self, Failure> {
        let fail = |e: std::io::Error| Failure::Input(format!("{what} {}: {e}", path.display()));
        let file = File::open(path).map_err(fail)?;
        let meta = file.metadata().map_err(fail)?;
        let input = Self { file, size: meta.len(), is_file: meta.is_file(), path, what, limit };
        if input.size > limit {
            return Err(input.too_large());
        }
        Ok(input)
    }

    /// The failure for an I/O error on this input.
    pub fn fail(&self, e: std::io::Error) -> Failure {
        Failure::Input(format!("{} {}: {e}", self.what, self.path.display()))
    }

    /// The failure for more bytes than the limit.
    pub fn too_large(&self) -> Failure {
        Failure::Input(format!("{} {}: larger than the {}-byte limit", self.what, self.path.display(), self.limit))
    }
}

/// Reads a whole input file of at most `limit` bytes.
pub fn read_input(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, Failure> {
    let input = Input::open(path, limit, what)?;
    if input.size < PARALLEL_READ_MIN || !input.is_file {
        let mut bytes = Vec::with_capacity(usize::try_from(input.size).unwrap_or(0));
        (&input.file).take(limit + 1).read_to_end(&mut bytes).map_err(|e| input.fail(e))?;
        if bytes.len() as u64 > limit {
            return Err(input.too_large());
        }
        return Ok(bytes);
    }
    read_parallel(&input.file, input.size).map_err(|e| input.fail(e))
}

/// Files at least this large are read by two threads.
const PARALLEL_READ_MIN: u64 = 1 << 20;

/// Reads a regular file of `size` bytes, its two halves on two threads.
/// Most of the cost of reading a firmware image is the kernel zero-filling
/// and mapping the fresh buffer's pages, which parallelizes.
fn read_parallel(file: &File, size: u64) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let len = usize::try_from(size).map_err(|_| std::io::Error::other("file too large for memory"))?;
    let mut bytes = vec![0u8; len];
    let half = (len / 2) & !0xfff;
    let (low, high) = bytes.split_at_mut(half);
    std::thread::scope(|s| {
        let upper = s.spawn(|| file.read_exact_at(high, half as u64));
        let lower = file.read_exact_at(low, 0);
        let upper = upper.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        lower.and(upper)
    })?;
    // A file that grew while being read is measured as it was at open time
    // plus nothing more; one that shrank fails read_exact_at above.
    Ok(bytes)
}

/// Renders reference values as the JSON document the KBS accepts.
pub fn reference_values_json(values: &std::collections::BTreeMap<String, String>) -> String {
    let mut text = serde_json::to_string_pretty(values).unwrap_or_default();
    text.push('\n');
    text
}
