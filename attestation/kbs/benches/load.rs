//! Load benchmark of `arca-kbs`: concurrent guests each doing a full RCAR
//! handshake (auth, attest with the sample TEE) and a resource GET, against
//! the release `arca-kbs` binary on loopback.
//!
//! Prints attestations per second, p50/p99 latency at 1, 16 and 64 clients,
//! and the server's resident memory, beside the targets (at 64 clients
//! ≥ 1,000 attestations/s and p99 ≤ 50 ms on 2 cores). No assertion: the
//! figures are read, never checked by a timed test.
//!
//! Run by `cargo bench -p arca-kbs --bench load` (or `make bench`).
//! Under `cargo test` (no `--bench` argument) it makes a short smoke run
//! instead, so the whole path is still exercised by the test suite.
//! `ARCA_BENCH_SECONDS` sets the measuring time per level (default 5).
//!
//! Every reply is fetched whole and parsed as a JWE, but the generator
//! decrypts only one in [`OPEN_EVERY`] (always the first of each guest):
//! the guests it stands in for would each run their ECDH on their own
//! CPUs, while here it would take a fifth of the two cores from the server
//! being measured. Opened replies must hold the stored secret.
//!
//! Each level starts its guests together and lets them run one second
//! before measuring: what is reported is the steady state, not the
//! connection set-up and the burst of every guest's first `/auth` at the
//! same instant (attestations of that second are counted in the CPU cost,
//! not in rate or latency).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arca_kbs_client::{
    mint_admin_token, AdminClient, AdminCredential, AdminTokenOptions, ClientOptions, HttpOptions, KbsClient,
    SampleAttester,
};
use arca_kbs_protocol::jws::SigningKey;

// The load generator shares the machine's cores with the server it
// measures, so it should take as little of them as it can: the same
// allocator as the server keeps its own allocation cost low.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One reply in this many is decrypted and checked (see the module doc).
const OPEN_EVERY: usize = 8;

/// Unmeasured start of each level: every guest connects and starts at once.
const WARMUP: Duration = Duration::from_secs(1);

const RESOURCE: &str = "default/bench/secret";
const SECRET: &[u8] = b"bench-secret-value";

/// The server process, killed when dropped.
struct Server {
    child: Child,
    url: String,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start() -> Server {
        let data = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_arca-kbs"))
            .args(["--listen", "127.0.0.1:0", "--allow-sample-tee", "--data-dir"])
            .arg(data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start arca-kbs");
        let stdout = child.stdout.take().expect("server stdout");
        let mut url = None;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("listening on ") {
                url = Some(rest.trim().to_string());
                break;
            }
        }
        let url = url.expect("arca-kbs printed no listening address");
        Server { child, url, _data: data }
    }

    fn admin_key(&self) -> SigningKey {
        let pem = std::fs::read_to_string(self._data.path().join("admin-key.pem")).expect("admin key");
        SigningKey::from_pkcs8_pem(&pem).expect("admin key PEM")
    }

    /// (resident, peak resident) memory in KiB, from /proc.
    fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// CPU time (user + system) used so far by the server and by this load
    /// generator together, from /proc. Dividing its growth by the
    /// attestations done gives the CPU cost of one attestation, a figure
    /// that other load on the machine disturbs far less than latency.
    fn cpu_time(&self) -> Duration {
        cpu_of(&format!("/proc/{}/stat", self.child.id())) + cpu_of("/proc/self/stat")
    }
}

/// utime + stime of the process whose `stat` file is `path`.
fn cpu_of(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line, in clock ticks (USER_HZ = 100
    // on Linux).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let ticks: u64 = rest.split_whitespace().skip(11).take(2).filter_map(|v| v.parse::<u64>().ok()).sum();
    Duration::from_millis(ticks * 10)
}

struct Level {
    clients: usize,
    /// Attestations started after the warm-up (their latencies are kept).
    done: usize,
    /// Attestations completed during the warm-up.
    warm: usize,
    failed: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Level {
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[rank.min(self.latencies.len() - 1)]
    }
    fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// One guest: repeated full RCAR handshakes, each followed by a resource
/// GET. Latencies are kept for attestations started at or after `measure_from`;
/// those before it (connection set-up, the burst of every guest starting
/// at once) are only counted. Returns (latencies, warm-up count, failures).
async fn guest(
    url: Arc<String>,
    measure_from: Instant,
    until: Instant,
    max: Option<usize>,
) -> (Vec<Duration>, usize, usize) {
    let client = KbsClient::new(&url, SampleAttester, ClientOptions::default()).expect("client");
    let (mut latencies, mut warm, mut failed) = (Vec::new(), 0, 0);
    let mut fetched = 0usize;
    while Instant::now() < until && max.is_none_or(|m| latencies.len() + warm + failed < m) {
        let start = Instant::now();
        let open = fetched.is_multiple_of(OPEN_EVERY);
        fetched += 1;
        let result = async {
            client.attest().await?;
            let sealed = client.get_sealed_resource(RESOURCE).await?;
            // An unopened reply counts as right: it parsed as a JWE to our key.
            if open {
                Ok::<_, arca_kbs_client::Error>(sealed.open(client.tee_key())?.as_slice() == SECRET)
            } else {
                Ok(true)
            }
        }
        .await;
        match result {
            Ok(true) if start < measure_from => warm += 1,
            Ok(true) => latencies.push(start.elapsed()),
            Ok(false) => failed += 1,
            Err(e) => {
                failed += 1;
                if failed == 1 {
                    eprintln!("load: a guest's attestation failed: {e}");
                }
            }
        }
    }
    (latencies, warm, failed)
}

/// Runs `clients` guests for `warmup` then `seconds` more; rate and
/// latencies cover the time after the warm-up.
async fn run_level(
    url: &Arc<String>,
    clients: usize,
    warmup: Duration,
    seconds: f64,
    max_per_client: Option<usize>,
) -> Level {
    let measure_from = Instant::now() + warmup;
    let until = measure_from + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> =
        (0..clients).map(|_| tokio::spawn(guest(Arc::clone(url), measure_from, until, max_per_client))).collect();
    let mut level = Level { clients, done: 0, warm: 0, failed: 0, elapsed: Duration::ZERO, latencies: Vec::new() };
    for task in tasks {
        let (lat, warm, failed) = task.await.expect("guest task");
        level.done += lat.len();
        level.warm += warm;
        level.failed += failed;
        level.latencies.extend(lat);
    }
    level.elapsed = measure_from.elapsed();
    level.latencies.sort();
    level
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let seconds: f64 = std::env::var("ARCA_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    // One thread drives every guest: the generator needs about a third of
    // a core, and a multi-threaded runtime's parking and stealing between
    // two workers cost it ~0.2 ms of CPU per attestation on the cores the
    // server needs.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let server = Server::start();
    let url = Arc::new(server.url.clone());
    runtime.block_on(async {
        let token = mint_admin_token(&server.admin_key(), &AdminTokenOptions::default()).expect("admin token");
        let admin = AdminClient::new(&url, &HttpOptions::default(), AdminCredential::Token(token)).expect("admin");
        admin.set_resource(RESOURCE, SECRET).await.expect("store the bench secret");
    });

    if !measuring {
        // Smoke run under `cargo test`: the whole path, a few times, checked.
        let level = runtime.block_on(run_level(&url, 4, Duration::ZERO, 60.0, Some(3)));
        assert_eq!(level.failed, 0, "smoke run: {} of {} attestations failed", level.failed, level.done + level.failed);
        assert_eq!(level.done, 12);
        println!("kbs load smoke run: 12 full attestations with resource fetch, all released the secret");
        return;
    }

    // Warm up connections, policy caches and allocator.
    runtime.block_on(run_level(&url, 8, Duration::ZERO, 1.0, None));
    println!(
        "arca-kbs load, full RCAR (sample TEE) + resource GET per attestation (1 reply in {OPEN_EVERY} decrypted), {seconds} s per level after {} s warm-up",
        WARMUP.as_secs()
    );
    println!(
        "{:>8} {:>10} {:>12} {:>10} {:>10} {:>14} {:>8} {:>12}",
        "clients", "done", "attest/s", "p50 ms", "p99 ms", "CPU ms/attest", "failed", "server RSS"
    );
    // `ARCA_BENCH_CLIENTS=64` (a comma list) runs only those levels.
    let levels: Vec<usize> = std::env::var("ARCA_BENCH_CLIENTS")
        .ok()
        .map(|v| v.split(',').filter_map(|c| c.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 16, 64]);
    let mut last = None;
    for clients in levels {
        let cpu_before = server.cpu_time();
        let level = runtime.block_on(run_level(&url, clients, WARMUP, seconds, None));
        let cpu = server.cpu_time().saturating_sub(cpu_before);
        let (rss, peak) = server.memory_kib();
        println!(
            "{:>8} {:>10} {:>12.0} {:>10.2} {:>10.2} {:>14.3} {:>8} {:>8.1} MiB (peak {:.1} MiB)",
            level.clients,
            level.done,
            level.rate(),
            level.percentile(0.50).as_secs_f64() * 1e3,
            level.percentile(0.99).as_secs_f64() * 1e3,
            cpu.as_secs_f64() * 1e3 / (level.done + level.warm).max(1) as f64,
            level.failed,
            rss as f64 / 1024.0,
            peak as f64 / 1024.0,
        );
        println!(
            "{:>8} latency p90 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
            "",
            level.percentile(0.90).as_secs_f64() * 1e3,
            level.percentile(0.999).as_secs_f64() * 1e3,
            level.latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        );
        last = Some(level);
    }
    if let Some(level) = last {
        println!(
            "target at 64 clients: >= 1000 attest/s ({}), p99 <= 50 ms ({})",
            if level.rate() >= 1000.0 { "met" } else { "NOT met" },
            if level.percentile(0.99) <= Duration::from_millis(50) { "met" } else { "NOT met" },
        );
    }
}
