//! `arca image nydus pull|unpack|check|cat`: nydus (RAFS v6) images, every
//! data chunk checked against the bootstrap's digest before it is used.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use arca_image::nydus::Rafs;
use arca_image::unpack::UnpackOptions;
use arca_image::PullOptions;
use clap::{Args, Subcommand};

use super::RegistryArgs;

/// Arguments of `arca image nydus`.
#[derive(Debug, Args)]
pub struct NydusArgs {
    #[command(subcommand)]
    command: NydusCommand,
}

#[derive(Debug, Subcommand)]
enum NydusCommand {
    /// Pull a nydus image into DEST/rootfs (+ DEST/config.json, DEST/nydus/ with bootstrap and blobs).
    Pull {
        /// The image, `host[:port]/repository[:tag][@digest]`.
        reference: String,
        /// The destination directory (DEST/rootfs must not exist).
        dest: PathBuf,
        #[command(flatten)]
        registry: RegistryArgs,
        /// Create device nodes and fifos the image holds.
        #[arg(long)]
        allow_devices: bool,
    },
    /// Unpack a local bootstrap and its blobs (files named by blob id) into DEST.
    Unpack {
        /// The RAFS v6 bootstrap.
        bootstrap: PathBuf,
        /// Directory holding the blobs.
        blobs: PathBuf,
        /// Destination directory (created; should be empty).
        dest: PathBuf,
        /// Create device nodes and fifos the image holds.
        #[arg(long)]
        allow_devices: bool,
    },
    /// Check every chunk of every blob against the bootstrap; exit 1 naming the first bad one.
    Check {
        /// The RAFS v6 bootstrap.
        bootstrap: PathBuf,
        /// Directory holding the blobs.
        blobs: PathBuf,
    },
    /// Write one file of the image to stdout, reading only its chunks.
    Cat {
        /// The RAFS v6 bootstrap.
        bootstrap: PathBuf,
        /// Directory holding the blobs.
        blobs: PathBuf,
        /// Path of the file inside the image.
        path: String,
    },
}

/// Runs `arca image nydus`.
pub async fn run(args: NydusArgs) -> Result<()> {
    match args.command {
        NydusCommand::Pull { reference, dest, registry, allow_devices } => {
            let client = registry.client()?;
            let reference = arca_image::parse_reference(&reference)?;
            let options = PullOptions {
                unpack: UnpackOptions { allow_devices, ..UnpackOptions::default() },
                ..PullOptions::default()
            };
            let report = arca_image::nydus::pull::pull_nydus(&client, &reference, &dest, &options).await?;
            eprintln!(
                "pulled nydus image {} ({}): {} blobs, {} entries",
                reference.whole(),
                report.manifest_digest,
                report.blobs,
                report.entries
            );
        }
        NydusCommand::Unpack { bootstrap, blobs, dest, allow_devices } => {
            let options = UnpackOptions { allow_devices, ..UnpackOptions::default() };
            let stats = tokio::task::spawn_blocking(move || -> Result<_> {
                std::fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
                Ok(Rafs::open(&bootstrap, &blobs)?.unpack(&dest, &options)?)
            })
            .await??;
            eprintln!("unpacked {} entries", stats.entries);
        }
        NydusCommand::Check { bootstrap, blobs } => {
            let (chunks, blob_count) = tokio::task::spawn_blocking(move || -> Result<_> {
                let rafs = Rafs::open(&bootstrap, &blobs)?;
                Ok((rafs.verify_chunks()?, rafs.bootstrap().blobs().len()))
            })
            .await??;
            println!("{chunks} chunks in {blob_count} blobs match their digests");
        }
        NydusCommand::Cat { bootstrap, blobs, path } => {
            tokio::task::spawn_blocking(move || -> Result<()> {
                let rafs = Rafs::open(&bootstrap, &blobs)?;
                let mut reader = rafs.open_file(&path)?;
                let mut out = std::io::stdout().lock();
                std::io::copy(&mut reader, &mut out).with_context(|| format!("reading {path}"))?;
                out.flush()?;
                Ok(())
            })
            .await??;
        }
    }
    Ok(())
}
