//! `arca image volume decode|pull`: Kata's guest-pull hand-off from the
//! command line. `decode` shows what an `io.katacontainers.volume=` mount
//! option carries (and the dm-verity tree it describes); `pull` does what the
//! agent does with a rootfs mount and the container annotations: pull the
//! image into BUNDLE, or copy the pause bundle for a sandbox, and print the
//! agent storage it stands for.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Result};
use arca_image::volume::{guest_pull, GuestPullOptions, GuestPullOutcome, GuestPullRequest, KataVirtualVolume};
use clap::Subcommand;

use super::PullFlags;

/// `arca image volume ...`.
// Parsed once per process: the size of the larger variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub(super) enum VolumeCommand {
    /// Decode and check a volume: print its JSON and any dm-verity parameters.
    Decode {
        /// `io.katacontainers.volume=<base64>`, or the base64 alone.
        value: String,
    },
    /// Pull what a rootfs mount and the container annotations ask for into BUNDLE
    /// (BUNDLE/rootfs + BUNDLE/config.json), and print the agent storage as JSON.
    Pull {
        /// The bundle directory (BUNDLE/rootfs must not exist).
        bundle: PathBuf,
        /// The rootfs mount's options (repeatable); one must be `io.katacontainers.volume=`.
        #[arg(long = "mount-option", value_name = "OPTION", required = true)]
        mount_options: Vec<String>,
        /// A container annotation (repeatable), e.g. `io.kubernetes.cri.image-name=IMAGE`.
        #[arg(long = "annotation", value_name = "KEY=VALUE")]
        annotations: Vec<String>,
        /// The pause bundle (config.json + rootfs/) copied for a sandbox container.
        #[arg(long = "pause-bundle", value_name = "DIR")]
        pause_bundle: Option<PathBuf>,
        #[command(flatten)]
        flags: PullFlags,
    },
}

/// Runs `arca image volume`.
pub(super) async fn run(command: VolumeCommand) -> Result<()> {
    match command {
        VolumeCommand::Decode { value } => decode(&value),
        VolumeCommand::Pull { bundle, mount_options, annotations, pause_bundle, flags } => {
            let mut map = BTreeMap::new();
            for a in &annotations {
                let Some((k, v)) = a.split_once('=') else { bail!("--annotation {a:?}: expected KEY=VALUE") };
                map.insert(k.to_string(), v.to_string());
            }
            let volumes = KataVirtualVolume::from_mount_options(&mount_options)?;
            let [volume] = volumes.as_slice() else {
                bail!("expected one io.katacontainers.volume= mount option, found {}", volumes.len())
            };
            let request = GuestPullRequest::new(volume, &map)?;
            let client = flags.registry.client()?;
            let options = GuestPullOptions { pull: flags.options()?, pause_bundle };
            match guest_pull(&client, &request, &bundle, &options).await? {
                GuestPullOutcome::Pulled { reference, report } => eprintln!(
                    "pulled {reference} ({}) into {}: {} layers",
                    report.manifest_digest,
                    bundle.display(),
                    report.layers
                ),
                GuestPullOutcome::Sandbox => eprintln!("sandbox: copied the pause bundle into {}", bundle.display()),
            }
            let storage = serde_json::json!({
                "driver": arca_image::volume::GUEST_PULL_DRIVER,
                "driver_options": [request.driver_option()?],
                "source": request.source(),
                "fstype": "overlay",
                "mount_point": bundle.join("rootfs"),
            });
            println!("{storage:#}");
            Ok(())
        }
    }
}

fn decode(value: &str) -> Result<()> {
    let volume = match KataVirtualVolume::from_mount_option(value)? {
        Some(volume) => volume,
        None => KataVirtualVolume::from_base64(value)?,
    };
    let mut out = serde_json::json!({ "volume": serde_json::from_str::<serde_json::Value>(&volume.to_json()?)? });
    if let Some((params, root)) = volume.verity()? {
        out["verity"] = serde_json::json!({
            "hash": params.hash.name(),
            "data_block_size": params.data_block_size,
            "hash_block_size": params.hash_block_size,
            "data_blocks": params.data_blocks,
            "hash_offset": params.hash_offset,
            "superblock": params.superblock,
            "salt": hex::encode(&params.salt),
            "root_hash": hex::encode(root),
        });
    }
    println!("{out:#}");
    Ok(())
}
