//! `arca-kbs`: the Arca Key Broker Service.
//!
//! With no arguments it serves plain HTTP on 127.0.0.1:8080 with its data
//! under `$XDG_DATA_HOME/arca-kbs` (`/var/lib/arca-kbs` as root). On first
//! start it creates `<data-dir>/admin-key.pem` (Ed25519, trusted for role
//! `admin`) and `<data-dir>/token-key.pem` (ES256 token signer) and prints
//! both paths. It refuses a non-loopback address without TLS unless told
//! `--insecure-http`.

/// The server allocates many small, short-lived objects per request (JSON
/// values, policy-engine values, JOSE buffers) from several threads; glibc's
/// allocator cost 17-19 % of the CPU in the load profile, mimalloc's
/// thread-local free lists much less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use arca_kbs::config::KbsConfig;
use arca_kbs::server::{Kbs, ServerOptions};
use clap::Parser;

/// Arca Key Broker Service (RCAR 0.4.0, wire-compatible with trustee's KBS).
#[derive(Debug, Parser)]
#[command(name = "arca-kbs", version)]
struct Args {
    /// Configuration file (TOML, sections as trustee's KBS).
    #[arg(long, value_name = "F")]
    config: Option<PathBuf>,
    /// Listen address; replaces [http_server] sockets.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Data directory (keys and store).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Allow plain HTTP on non-loopback addresses.
    #[arg(long)]
    insecure_http: bool,
    /// Accept the software sample TEE (development only).
    #[arg(long)]
    allow_sample_tee: bool,
    /// Log JSON lines instead of text.
    #[arg(long)]
    log_json: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if args.log_json {
        tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    }
    let mut config = match &args.config {
        Some(path) => KbsConfig::from_file(path)?,
        None => KbsConfig::default(),
    };
    if let Some(addr) = args.listen {
        config.http_server.sockets = vec![addr];
    }
    if args.insecure_http {
        config.http_server.insecure_http = true;
    }
    if args.allow_sample_tee {
        config.attestation_service.allow_sample_tee = true;
    }
    let data_dir = config.resolve_data_dir(args.data_dir.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    runtime.block_on(async move {
        let kbs = Kbs::new(config, &data_dir, ServerOptions::default())?;
        let note = |created: bool| if created { "created" } else { "existing" };
        println!("data directory: {}", data_dir.display());
        println!("admin key: {} ({})", kbs.admin_key.display(), note(kbs.admin_key_created));
        println!("token key: {} ({})", kbs.token_key.display(), note(kbs.token_key_created));
        let running = kbs.start()?;
        let scheme = if running.tls { "https" } else { "http" };
        for addr in &running.addrs {
            println!("listening on {scheme}://{addr}");
        }
        tracing::info!(addrs = ?running.addrs, tls = running.tls, "arca-kbs started");
        shutdown_signal().await;
        running.shutdown();
        anyhow::Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = ctrl_c.await;
}
