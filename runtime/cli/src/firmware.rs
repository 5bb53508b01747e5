//! `arca firmware inspect`: what an OVMF/TDVF image declares to the VMM
//! (GUIDed footer table, SEV layout and metadata sections), as JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use arca_firmware::footer::TDX_METADATA_OFFSET_GUID;
use arca_firmware::{parse_sev_layout, SevLayout};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha384};

use crate::measure::{read_input, Failure};

/// Largest image read.
const MAX_IMAGE: u64 = 256 << 20;

/// Arguments of `arca firmware`.
#[derive(Debug, Args)]
pub struct FirmwareArgs {
    #[command(subcommand)]
    command: FirmwareCommand,
}

#[derive(Debug, Subcommand)]
enum FirmwareCommand {
    /// Print the footer table and the SEV/TDX metadata of an image as JSON.
    Inspect {
        /// The firmware image (OVMF.fd, OVMF.amdsev.fd, …).
        file: PathBuf,
    },
}

/// Runs `arca firmware`.
pub fn run(args: FirmwareArgs) -> ExitCode {
    match args.command {
        FirmwareCommand::Inspect { file } => {
            let result = read_input(&file, MAX_IMAGE, "firmware image").and_then(|image| inspect(&image));
            crate::measure::finish("firmware inspect", result.map(|v| format!("{v:#}\n")))
        }
    }
}

fn hex32(v: u32) -> String {
    format!("{v:#x}")
}

/// The JSON description of an image.
pub fn inspect(image: &[u8]) -> Result<Value, Failure> {
    let layout = parse_sev_layout(image).map_err(|e| Failure::Input(e.to_string()))?;
    Ok(json!({
        "size": image.len(),
        "sha256": hex::encode(Sha256::digest(image)),
        "sha384": hex::encode(Sha384::digest(image)),
        "load_gpa": format!("{:#x}", layout.load_gpa),
        "footer_table": footer_json(&layout),
        "sev": sev_json(&layout),
        "tdx": tdx_json(image, &layout),
    }))
}

fn footer_json(layout: &SevLayout) -> Value {
    Value::Array(
        layout
            .footer
            .entries
            .iter()
            .map(|e| {
                json!({
                    "guid": e.guid.to_string(),
                    "name": e.name,
                    "data_offset": format!("{:#x}", e.data_offset),
                    "data_hex": hex::encode(&e.data),
                })
            })
            .collect(),
    )
}

fn sev_json(layout: &SevLayout) -> Value {
    let range = |r: Option<arca_firmware::GpaRange>| r.map(|r| json!({"gpa": hex32(r.gpa), "size": hex32(r.size)}));
    let metadata = layout.metadata.as_ref().map(|m| {
        json!({
            "offset": format!("{:#x}", m.offset),
            "version": m.version,
            "sections": m.sections.iter().map(|s| json!({
                "gpa": hex32(s.gpa),
                "size": hex32(s.size),
                "type": s.raw_type,
                "type_name": s.kind,
            })).collect::<Vec<_>>(),
        })
    });
    json!({
        "sev_es_reset_eip": layout.sev_es_reset_eip.map(hex32),
        "hashes_table": range(layout.hashes_table),
        "secret_block": range(layout.secret_block),
        "kernel_hashes_supported": layout.kernel_hashes_supported(),
        "metadata": metadata,
    })
}

/// TDX: where the TDVF metadata sits. The TDVF descriptor sections are
/// added here from `arca_firmware`'s TDVF parser.
/// The TDVF part: the metadata offset the footer states and the parsed
/// descriptor (`null` for an image not built for TDX; the parse error, for
/// one whose TDVF metadata is damaged, so the SEV part is still shown).
fn tdx_json(image: &[u8], layout: &SevLayout) -> Value {
    let offset = layout
        .footer
        .data(&TDX_METADATA_OFFSET_GUID)
        .and_then(|d| d.first_chunk::<4>())
        .map(|b| u32::from_le_bytes(*b));
    let metadata = match arca_firmware::parse_tdvf_metadata(image) {
        Ok(m) => serde_json::to_value(m).unwrap_or(Value::Null),
        Err(arca_firmware::Error::NoTdvfMetadata) => Value::Null,
        Err(e) => json!({ "error": e.to_string() }),
    };
    json!({ "metadata_offset": offset.map(hex32), "metadata": metadata })
}
