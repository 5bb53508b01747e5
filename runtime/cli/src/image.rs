//! `arca image pull|inspect|erofs`: pull an OCI image from a registry into a
//! rootfs plus an OCI runtime spec, print an image's manifest and config, or
//! build verity-protected EROFS layers of it.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use arca_image::auth::AuthFile;
use arca_image::progress::Progress;
use arca_image::{Platform, PullOptions, RegistryClient, RegistryOptions};
use clap::{Args, Subcommand};

mod erofs;
mod nydus;
mod verity;
mod verity_dm;
mod volume;

/// Exit code when the pull or inspection failed.
const EXIT_FAILED: u8 = 1;

/// Arguments of `arca image`.
#[derive(Debug, Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(Debug, Subcommand)]
enum ImageCommand {
    /// Pull an image into DEST/rootfs and write DEST/config.json (an OCI runtime spec).
    Pull {
        /// The image, `host[:port]/repository[:tag][@digest]`.
        reference: String,
        /// The destination directory (DEST/rootfs must not exist).
        dest: PathBuf,
        #[command(flatten)]
        flags: PullFlags,
    },
    /// Print an image's manifest and config as JSON.
    Inspect {
        /// The image, `host[:port]/repository[:tag][@digest]`.
        reference: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Kata's guest-pull hand-off: decode an `io.katacontainers.volume=` option, or pull as the agent does.
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Build and check dm-verity hash trees (`veritysetup` compatible).
    Verity(verity::VerityArgs),
    /// Build verity-protected EROFS images of an image's layers (or of the whole image) and OUT/layers.json.
    Erofs(erofs::ErofsArgs),
    /// Nydus (RAFS v6) images: pull, unpack, check chunks, read one file.
    Nydus(nydus::NydusArgs),
}

/// How to reach the registry.
#[derive(Debug, Args)]
struct RegistryArgs {
    /// Reach HOST[:PORT] over plain HTTP (repeatable); all others need HTTPS.
    #[arg(long = "plain-http", value_name = "HOST")]
    plain_http: Vec<String>,
    /// PEM bundle of CA certificates to trust for HTTPS registries.
    #[arg(long = "ca-file", value_name = "PEM")]
    ca_file: Vec<PathBuf>,
    /// Registry credentials in auth.json format.
    #[arg(long, value_name = "auth.json")]
    auth: Option<PathBuf>,
    /// Platform to choose from a multi-platform image, os/arch[/variant] (default: this machine's).
    #[arg(long, value_name = "OS/ARCH")]
    platform: Option<String>,
    /// Try MIRROR before the image's own host ORIGIN, as ORIGIN=MIRROR (repeatable, tried in order).
    #[arg(long, value_name = "ORIGIN=MIRROR")]
    mirror: Vec<String>,
}

impl RegistryArgs {
    fn client(&self) -> Result<Arc<RegistryClient>> {
        let mut options = RegistryOptions { insecure_hosts: self.plain_http.clone(), ..Default::default() };
        for file in &self.ca_file {
            options.ca_pem.push(std::fs::read(file).with_context(|| format!("reading {}", file.display()))?);
        }
        if let Some(auth) = &self.auth {
            options.credentials = Some(Arc::new(AuthFile::from_file(auth)?));
        }
        if let Some(platform) = &self.platform {
            options.platform = Some(platform.parse::<Platform>()?);
        }
        let mut mirrors: HashMap<String, Vec<String>> = HashMap::new();
        for m in &self.mirror {
            let Some((origin, mirror)) = m.split_once('=') else { bail!("--mirror {m:?}: expected ORIGIN=MIRROR") };
            mirrors.entry(origin.into()).or_default().push(mirror.into());
        }
        options.mirrors = mirrors;
        Ok(Arc::new(RegistryClient::new(options)?))
    }
}

/// Runs `arca image`.
pub fn run(args: ImageArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("arca image: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let result = runtime.block_on(async {
        match args.command {
            ImageCommand::Pull { reference, dest, flags } => pull(&reference, &dest, &flags).await,
            ImageCommand::Inspect { reference, registry } => inspect(&reference, &registry).await,
            ImageCommand::Volume(command) => volume::run(command).await,
            ImageCommand::Verity(args) => verity::run(args),
            ImageCommand::Erofs(args) => erofs::run(args).await,
            ImageCommand::Nydus(args) => nydus::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("arca image: {e:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

async fn inspect(reference: &str, registry: &RegistryArgs) -> Result<()> {
    let client = registry.client()?;
    let reference = arca_image::parse_reference(reference)?;
    let image = client.resolve(&reference).await?;
    let manifest: serde_json::Value = serde_json::from_slice(&image.manifest_bytes)?;
    let config: serde_json::Value = serde_json::from_slice(&image.config_bytes)?;
    let mut out = serde_json::json!({
        "reference": reference.whole(),
        "source": image.source.whole(),
        "digest": image.top_digest,
        "manifest_digest": image.manifest_digest,
        "media_type": image.manifest_media_type,
        "manifest": manifest,
        "config": config,
    });
    if let Some(index) = &image.index {
        out["index"] = serde_json::from_slice(index)?;
    }
    println!("{out:#}");
    Ok(())
}

async fn pull(reference: &str, dest: &Path, flags: &PullFlags) -> Result<()> {
    let client = flags.registry.client()?;
    let reference = arca_image::parse_reference(reference)?;
    let mut options = flags.options()?;
    let reporter = Arc::new(Reporter::new());
    let r = reporter.clone();
    options.progress = Some(Arc::new(move |event: &Progress| r.event(event)));
    let report = arca_image::pull(&client, &reference, dest, &options).await;
    reporter.finish();
    let report = report?;
    eprintln!(
        "pulled {} ({}): {} layers, {} downloaded ({}), {} from the store",
        reference.whole(),
        report.manifest_digest,
        report.layers,
        report.layers_downloaded,
        human(report.bytes_downloaded),
        report.layers_reused
    );
    Ok(())
}

/// The flags of every command that pulls an image: where the registry is,
/// what the signatures must satisfy, the keys of encrypted layers, and where
/// blobs are kept.
#[derive(Debug, Args)]
struct PullFlags {
    #[command(flatten)]
    registry: RegistryArgs,
    /// containers-policy.json the image's signatures must satisfy.
    #[arg(long, value_name = "policy.json")]
    policy: Option<PathBuf>,
    /// Simple-signing signatures of images under SCOPE (`host[/repo]`) are
    /// at URL (`file:///dir` or `https://…`), as in registries.d (repeatable).
    #[arg(long, value_name = "SCOPE=URL")]
    lookaside: Vec<String>,
    /// Private key for encrypted layers, `jwe:key.pem` (repeatable).
    #[arg(long = "decryption-key", value_name = "jwe:key.pem")]
    decryption_keys: Vec<String>,
    /// Blob store directory kept between pulls (default: a temporary one).
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
    /// Layer downloads running at once.
    #[arg(long, default_value_t = arca_image::pull::DEFAULT_PARALLEL_DOWNLOADS)]
    parallel: usize,
}

impl PullFlags {
    /// The pull options these flags ask for.
    fn options(&self) -> Result<PullOptions> {
        let mut options =
            PullOptions { store: self.store.clone(), parallel_downloads: self.parallel, ..Default::default() };
        if let Some(policy) = &self.policy {
            let bytes = std::fs::read(policy).with_context(|| format!("reading {}", policy.display()))?;
            let mut policy = arca_image::signature::Policy::from_json(&bytes)?;
            for entry in &self.lookaside {
                let Some((scope, base)) = entry.split_once('=') else {
                    bail!("--lookaside {entry:?}: expected SCOPE=URL")
                };
                policy = policy.with_lookaside(scope, arca_image::signature::Lookaside { base: base.into() })?;
            }
            options.policy = Some(Arc::new(policy));
        } else if !self.lookaside.is_empty() {
            bail!("--lookaside needs --policy");
        }
        if !self.decryption_keys.is_empty() {
            options.decrypt = Some(Arc::new(decrypt_config(&self.decryption_keys)?));
        }
        Ok(options)
    }
}

/// The keys of `--decryption-key jwe:key.pem`.
fn decrypt_config(keys: &[String]) -> Result<arca_image::decrypt::DecryptConfig> {
    let mut config = arca_image::decrypt::DecryptConfig::default();
    for key in keys {
        config.add_key_arg(key)?;
    }
    Ok(config)
}

fn human(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / MIB)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.get(..12).unwrap_or(hex)
}

/// Shows progress: an `indicatif` bar on a terminal, one line per layer otherwise.
struct Reporter {
    bar: Option<indicatif::ProgressBar>,
    state: Mutex<(usize, usize)>,
}

impl Reporter {
    fn new() -> Reporter {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Reporter { bar, state: Mutex::new((0, 0)) }
    }

    fn event(&self, event: &Progress) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Progress::Resolved { manifest_digest, layers, total_bytes } => {
                state.1 = *layers;
                match &self.bar {
                    Some(bar) => bar.set_length(*total_bytes),
                    None => eprintln!("manifest {manifest_digest}: {layers} layers, {}", human(*total_bytes)),
                }
            }
            Progress::LayerCached { index, digest, size } => match &self.bar {
                Some(bar) => bar.inc(*size),
                None => eprintln!("layer {}/{} {}: in the store ({})", index + 1, state.1, short(digest), human(*size)),
            },
            Progress::Bytes { bytes, .. } if self.bar.is_some() => {
                self.bar.iter().for_each(|bar| bar.inc(*bytes));
            }
            Progress::LayerDownloaded { index, digest } if self.bar.is_none() => {
                eprintln!("layer {}/{} {}: downloaded", index + 1, state.1, short(digest));
            }
            Progress::LayerApplied { index, digest, entries } => {
                state.0 += 1;
                match &self.bar {
                    Some(bar) => bar.set_message(format!("{}/{} layers applied", state.0, state.1)),
                    None => eprintln!("layer {}/{} {}: applied ({entries} entries)", index + 1, state.1, short(digest)),
                }
            }
            _ => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
