//! `arca image erofs REF OUT`: pull an image (signature policy and
//! decryption as for `arca image pull`) and write a verity-protected EROFS
//! image per layer, or one of the whole image with `--flatten`, plus
//! `OUT/layers.json` recording layer digest → EROFS digest → root hash.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use arca_image::erofs::{ErofsOptions, LAYERS_JSON};
use arca_image::progress::Progress;
use clap::Args;

use super::{human, short, PullFlags, Reporter};

/// Arguments of `arca image erofs`.
#[derive(Debug, Args)]
pub struct ErofsArgs {
    /// The image, `host[:port]/repository[:tag][@digest]`.
    reference: String,
    /// Output directory: one `<digest>.erofs` per layer (EROFS + verity tree) and layers.json.
    out: PathBuf,
    /// One EROFS image of the whole image (layers merged) instead of one per layer.
    #[arg(long)]
    flatten: bool,
    /// mkfs.erofs compressor, `lz4` or `lz4hc[,LEVEL]` (default: uncompressed).
    #[arg(long, value_name = "ALG")]
    compress: Option<String>,
    /// Hash of the verity trees.
    #[arg(long, default_value = "sha256", value_name = "ALG")]
    hash: String,
    /// Verity data block size (512..4096).
    #[arg(long, default_value_t = 4096, value_name = "BYTES")]
    data_block_size: u32,
    /// Verity hash block size (512..4096).
    #[arg(long, default_value_t = 4096, value_name = "BYTES")]
    hash_block_size: u32,
    /// The mkfs.erofs binary (Debian erofs-utils).
    #[arg(long, default_value = "mkfs.erofs", value_name = "PATH")]
    mkfs: PathBuf,
    /// Unpack device nodes and fifos instead of refusing them.
    #[arg(long)]
    allow_devices: bool,
    #[command(flatten)]
    flags: PullFlags,
}

/// Runs `arca image erofs`.
pub async fn run(args: ErofsArgs) -> Result<()> {
    let client = args.flags.registry.client()?;
    let reference = arca_image::parse_reference(&args.reference)?;
    let mut pull = args.flags.options()?;
    pull.unpack.allow_devices = args.allow_devices;
    let reporter = Arc::new(Reporter::new());
    let r = reporter.clone();
    pull.progress = Some(Arc::new(move |event: &Progress| r.event(event)));
    let options = ErofsOptions {
        pull,
        flatten: args.flatten,
        mkfs: args.mkfs.clone(),
        compression: args.compress.clone(),
        hash: arca_verity_hash(&args.hash)?,
        data_block_size: args.data_block_size,
        hash_block_size: args.hash_block_size,
    };
    let record = arca_image::erofs::build(&client, &reference, &args.out, &options).await;
    reporter.finish();
    let record = record.with_context(|| format!("building EROFS images of {}", reference.whole()))?;
    let count = record.layers.len();
    for (i, layer) in record.layers.iter().enumerate() {
        println!(
            "{} {}/{count} {} -> {} ({}, {}) root {}",
            if record.flattened { "image" } else { "layer" },
            i + 1,
            short(&layer.digest),
            layer.file,
            human(layer.erofs_size),
            layer.erofs_digest,
            layer.root_hash
        );
    }
    println!("{}", args.out.join(LAYERS_JSON).display());
    Ok(())
}

fn arca_verity_hash(name: &str) -> Result<arca_image::erofs::HashAlgorithm> {
    Ok(arca_image::erofs::HashAlgorithm::from_name(name)?)
}
