//! `arca verify`: check evidence and its endorsements, print the claims.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use arca_verifier::{Endorsements, Evidence, EvidenceFormat, Tee, VerifyOptions, MAX_EVIDENCE_SIZE};
use clap::{Args, ValueEnum};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Largest endorsement file read (certificates, chains, collateral).
const MAX_ENDORSEMENT_SIZE: u64 = 8 << 20;

/// Exit code for evidence that was read but did not verify.
const EXIT_REJECTED: u8 = 1;
/// Exit code for input that could not be read or parsed.
const EXIT_MALFORMED: u8 = 2;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TeeArg {
    Snp,
    Tdx,
    Cca,
    Se,
    Sample,
}

impl From<TeeArg> for Tee {
    fn from(t: TeeArg) -> Self {
        match t {
            TeeArg::Snp => Tee::Snp,
            TeeArg::Tdx => Tee::Tdx,
            TeeArg::Cca => Tee::Cca,
            TeeArg::Se => Tee::Se,
            TeeArg::Sample => Tee::Sample,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    /// The TEE's binary structure.
    Raw,
    /// Hex text of the binary structure.
    Hex,
    /// The JSON evidence shape of the KBS protocol.
    Json,
}

/// Arguments of `arca verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The TEE that produced the evidence.
    #[arg(long, value_enum)]
    tee: TeeArg,
    /// Evidence file (`-` for standard input).
    #[arg(long)]
    evidence: PathBuf,
    /// Encoding of the evidence file; guessed when absent (JSON, hex text, else raw).
    #[arg(long, value_enum)]
    evidence_format: Option<FormatArg>,
    /// SNP: VCEK or VLEK certificate (DER or PEM).
    #[arg(long)]
    vcek: Option<PathBuf>,
    /// Certificate chain (PEM) or trust-anchor store (CCA), per TEE.
    #[arg(long)]
    chain: Option<PathBuf>,
    /// Collateral: TDX DCAP collateral JSON, CCA reference values, SE configuration.
    #[arg(long)]
    collateral: Option<PathBuf>,
    /// Verification time (RFC 3339); defaults to now.
    #[arg(long)]
    at: Option<String>,
    /// Expected report data (hex); compared after zero-padding to the TEE's field.
    #[arg(long)]
    report_data: Option<String>,
    /// Expected init-data digest (hex).
    #[arg(long)]
    init_data_digest: Option<String>,
    /// Accept evidence of the software `sample` TEE (never for production).
    #[arg(long)]
    allow_sample: bool,
}

/// Input problems found before verification starts.
#[derive(Debug)]
struct InputError(String);

fn read_limited(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, InputError> {
    let mut buf = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin().take(limit + 1).read_to_end(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(limit + 1).read_to_end(&mut buf))
    };
    read.map_err(|e| InputError(format!("cannot read {what} {}: {e}", path.display())))?;
    if buf.len() as u64 > limit {
        return Err(InputError(format!("{what} {} is larger than {limit} bytes", path.display())));
    }
    Ok(buf)
}

fn read_optional(path: &Option<PathBuf>, what: &str) -> Result<Option<Vec<u8>>, InputError> {
    path.as_deref().map(|p| read_limited(p, MAX_ENDORSEMENT_SIZE, what)).transpose()
}

fn parse_hex_arg(value: &Option<String>, name: &str) -> Result<Option<Vec<u8>>, InputError> {
    value
        .as_deref()
        .map(|v| {
            let v = v.trim().trim_start_matches("0x");
            hex::decode(v).map_err(|e| InputError(format!("--{name}: not hex: {e}")))
        })
        .transpose()
}

/// True when `bytes` is hex text (digits and letters a-f, optional whitespace).
fn looks_like_hex(bytes: &[u8]) -> bool {
    let mut digits = 0usize;
    for b in bytes {
        if b.is_ascii_hexdigit() {
            digits += 1;
        } else if !b.is_ascii_whitespace() {
            return false;
        }
    }
    digits > 0 && digits.is_multiple_of(2)
}

fn decode_hex_text(bytes: &[u8]) -> Result<Vec<u8>, InputError> {
    let compact: Vec<u8> = bytes.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    hex::decode(compact).map_err(|e| InputError(format!("evidence is not hex: {e}")))
}

fn prepare(args: &VerifyArgs) -> Result<(Vec<u8>, EvidenceFormat, Endorsements, VerifyOptions), InputError> {
    let raw = read_limited(&args.evidence, MAX_EVIDENCE_SIZE as u64 * 2 + 64, "evidence")?;
    let (bytes, format) = match args.evidence_format {
        Some(FormatArg::Raw) => (raw, EvidenceFormat::Raw),
        Some(FormatArg::Json) => (raw, EvidenceFormat::Json),
        Some(FormatArg::Hex) => (decode_hex_text(&raw)?, EvidenceFormat::Raw),
        None => {
            let detected = Evidence::detect(&raw).format;
            if detected == EvidenceFormat::Raw && looks_like_hex(&raw) {
                (decode_hex_text(&raw)?, EvidenceFormat::Raw)
            } else {
                (raw, detected)
            }
        }
    };
    let endorsements = Endorsements {
        vcek: read_optional(&args.vcek, "VCEK")?,
        chain: read_optional(&args.chain, "chain")?,
        collateral: read_optional(&args.collateral, "collateral")?,
    };
    let at = match &args.at {
        Some(text) => OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|e| InputError(format!("--at {text:?} is not an RFC 3339 time: {e}")))?,
        None => OffsetDateTime::now_utc(),
    };
    let options = VerifyOptions {
        at,
        report_data: parse_hex_arg(&args.report_data, "report-data")?,
        init_data_digest: parse_hex_arg(&args.init_data_digest, "init-data-digest")?,
        allow_sample: args.allow_sample,
    };
    Ok((bytes, format, endorsements, options))
}

/// Run `arca verify`.
pub fn run(args: &VerifyArgs) -> ExitCode {
    let (bytes, format, endorsements, options) = match prepare(args) {
        Ok(prepared) => prepared,
        Err(InputError(message)) => {
            eprintln!("arca verify: {message}");
            return ExitCode::from(EXIT_MALFORMED);
        }
    };
    let tee = Tee::from(args.tee);
    let evidence = Evidence { bytes: &bytes, format };
    match arca_verifier::verify(tee, &evidence, &endorsements, &options) {
        Ok(claims) => {
            let mut out = std::io::stdout().lock();
            let written = serde_json::to_writer_pretty(&mut out, &claims.to_json())
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out));
            match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("arca verify: cannot write claims: {e}");
                    ExitCode::from(EXIT_REJECTED)
                }
            }
        }
        Err(err) => {
            let code = if err.is_malformed() { EXIT_MALFORMED } else { EXIT_REJECTED };
            let verdict = if err.is_malformed() { "malformed input" } else { "rejected" };
            eprintln!("arca verify: {} evidence {verdict}: {err}", tee.name());
            ExitCode::from(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_detection() {
        assert!(looks_like_hex(b"00ff\nAB cd\n"));
        assert!(!looks_like_hex(b"abc"));
        assert!(!looks_like_hex(b"{\"a\":1}"));
        assert!(!looks_like_hex(b""));
        assert_eq!(decode_hex_text(b"00 ff\n").unwrap(), vec![0, 255]);
    }
}
