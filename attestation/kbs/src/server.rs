//! The HTTP(S) server: state, router, listeners.
//!
//! axum on hyper and tokio: the handlers are plain async functions over a
//! shared [`AppState`], request bodies are limited by tower layers, and TLS
//! is rustls with the ring provider (no OpenSSL, no aws-lc) through
//! `axum-server`. Routes are those of trustee's KBS under `/kbs/v0/`, plus
//! `/healthz` and `/metrics`.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arca_kbs_protocol::messages::ErrorKind;
use arca_verifier::{Endorsements, Tee};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use time::OffsetDateTime;

use crate::admin::AdminAuth;
use crate::api_error::ApiError;
use crate::config::{KbsConfig, StorageType};
use crate::keys::{self, KeyFile};
use crate::metrics::Metrics;
use crate::policy::PolicyEngine;
use crate::rvps::ReferenceValues;
use crate::session::SessionStore;
use crate::storage::{FsStore, MemoryStore, Store};
use crate::token::{TokenIssuer, TokenVerifier};
use crate::{admin_api, attest, resource, Error, Result};

/// Test-only knobs, compiled only with the `test-hooks` feature (which only
/// the crate's own tests enable): the binary and the configuration cannot
/// reach them.
#[cfg(feature = "test-hooks")]
#[derive(Debug, Clone, Default)]
pub struct TestHooks {
    /// Verify evidence and tokens at this time instead of now.
    pub fixed_time: Option<OffsetDateTime>,
    /// Expect this report data instead of the runtime-data digest (for
    /// recorded evidence whose report data cannot be made to match).
    pub report_data: Option<Vec<u8>>,
    /// Session lifetime instead of `session_timeout_min` (whole minutes are
    /// too long for an expiry test).
    pub session_timeout: Option<Duration>,
    /// Token lifetime instead of `duration_min` (for a token that expires
    /// while its session is still live).
    pub token_lifetime: Option<Duration>,
}

/// Everything handlers share.
pub struct AppState {
    pub(crate) config: KbsConfig,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) policy: PolicyEngine,
    pub(crate) rvps: ReferenceValues,
    pub(crate) sessions: SessionStore,
    pub(crate) issuer: TokenIssuer,
    pub(crate) verifier: TokenVerifier,
    pub(crate) admin: AdminAuth,
    pub(crate) metrics: Metrics,
    pub(crate) endorsements: HashMap<Tee, Endorsements>,
    /// One permit per core for CPU-bound request work (see [`AppState::run_cpu`]).
    pub(crate) cpu: tokio::sync::Semaphore,
    #[cfg(feature = "test-hooks")]
    pub(crate) hooks: TestHooks,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("sessions", &self.sessions.len()).finish_non_exhaustive()
    }
}

impl AppState {
    /// Verification time: now (or the fixed time of the test hooks).
    pub(crate) fn now(&self) -> OffsetDateTime {
        #[cfg(feature = "test-hooks")]
        if let Some(t) = self.hooks.fixed_time {
            return t;
        }
        OffsetDateTime::now_utc()
    }

    /// Run CPU-bound request work (evidence verification, policy
    /// evaluation, signing, encryption) on the blocking pool, at most one
    /// task per core at a time and in arrival order.
    ///
    /// Without the limit a burst of requests becomes as many busy threads
    /// time-sliced over the cores: every request's work stretches and the
    /// slowest ones (the latency tail) stretch most. Queueing them in a
    /// fair semaphore finishes each in turn at full speed.
    pub(crate) async fn run_cpu<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&AppState) -> T + Send + 'static,
    ) -> std::result::Result<T, String> {
        let _permit = self.cpu.acquire().await.map_err(|e| e.to_string())?;
        self.run_blocking(work).await
    }

    /// Run blocking work (storage I/O, or CPU work under a permit) on the
    /// blocking pool with this state; `Err` when the task panicked.
    pub(crate) async fn run_blocking<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&AppState) -> T + Send + 'static,
    ) -> std::result::Result<T, String> {
        let state = Arc::clone(self);
        tokio::task::spawn_blocking(move || work(&state)).await.map_err(|e| e.to_string())
    }

    /// Run an admin request's store or policy-engine call on the blocking
    /// pool (file writes fsync), its error as the API error.
    pub(crate) async fn admin_task<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&AppState) -> std::result::Result<T, ApiError> + Send + 'static,
    ) -> std::result::Result<T, ApiError> {
        self.run_blocking(work)
            .await
            .map_err(|e| ApiError::new(ErrorKind::PluginInternalError, format!("admin task failed: {e}")))?
    }

    /// Run short CPU work (well under a millisecond: a policy decision and
    /// one ECDH) on the calling worker, under the same per-core permits as
    /// [`AppState::run_cpu`]: handing it to the blocking pool and back
    /// costs two thread wake-ups, a sizeable share of work this small.
    pub(crate) async fn run_cpu_inline<T>(&self, work: impl FnOnce(&AppState) -> T) -> std::result::Result<T, String> {
        let _permit = self.cpu.acquire().await.map_err(|e| e.to_string())?;
        Ok(work(self))
    }

    /// The report data evidence must carry for a runtime-data `digest`.
    pub(crate) fn expected_report_data(&self, digest: Vec<u8>) -> Vec<u8> {
        #[cfg(feature = "test-hooks")]
        if let Some(fixed) = &self.hooks.report_data {
            return fixed.clone();
        }
        digest
    }
}

/// The body of a request, or the error for a body over the limit.
pub(crate) fn body_bytes(
    state: &AppState,
    body: std::result::Result<Bytes, BytesRejection>,
) -> std::result::Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::body_too_large(state.config.http_server.payload_request_size)
        } else {
            ApiError::new(ErrorKind::HTTPFailed, format!("cannot read request body: {e}"))
        }
    })
}

/// Options for building a server beside its configuration.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Test-only knobs.
    #[cfg(feature = "test-hooks")]
    pub hooks: TestHooks,
}

/// A built KBS: state plus the key files it uses.
#[derive(Debug)]
pub struct Kbs {
    state: Arc<AppState>,
    /// The admin key file of the data directory.
    pub admin_key: PathBuf,
    /// Whether this start created the admin key.
    pub admin_key_created: bool,
    /// The token signing key file.
    pub token_key: PathBuf,
    /// Whether this start created the token key.
    pub token_key_created: bool,
}

fn read_endorsement(path: &Option<PathBuf>) -> Result<Option<Vec<u8>>> {
    path.as_ref()
        .map(|p| {
            std::fs::read(p)
                .map_err(|e| Error::Config { path: p.clone(), detail: format!("cannot read endorsement: {e}") })
        })
        .transpose()
}

fn config_error(path: &Path, detail: impl Into<String>) -> Error {
    Error::Config { path: path.to_path_buf(), detail: detail.into() }
}

impl Kbs {
    /// Build the server state from `config` and its data directory.
    pub fn new(config: KbsConfig, data_dir: &Path, options: ServerOptions) -> Result<Kbs> {
        let _ = &options;
        std::fs::create_dir_all(data_dir)
            .map_err(|e| config_error(data_dir, format!("cannot create data directory: {e}")))?;
        let store: Arc<dyn Store> = match config.storage_backend.storage_type {
            StorageType::LocalFs => {
                let mut s = FsStore::open(config.store_dir(data_dir))?;
                if let Some(limit) = config.storage_backend.max_value_size {
                    s = s.with_max_value_size(limit);
                }
                Arc::new(s)
            }
            StorageType::Memory => {
                let mut s = MemoryStore::new();
                if let Some(limit) = config.storage_backend.max_value_size {
                    s = s.with_max_value_size(limit);
                }
                Arc::new(s)
            }
        };
        let admin_key: KeyFile = keys::admin_key(data_dir)?;
        let token_key: KeyFile = keys::token_key(data_dir, config.attestation_token.signer_key_path.as_deref())?;
        let admin = AdminAuth::from_config(&config.admin, Some(admin_key.key.verifying_key()))?;
        let verifier = TokenVerifier::from_config(token_key.key.verifying_key(), &config.attestation_token)?;
        let KeyFile { path: token_key_path, key: token_signing_key, created: token_key_created } = token_key;
        #[allow(unused_mut)]
        let mut issuer = TokenIssuer::new(token_signing_key, config.attestation_token.duration_min);
        #[cfg(feature = "test-hooks")]
        if let Some(t) = options.hooks.token_lifetime {
            issuer = issuer.with_lifetime_s(i64::try_from(t.as_secs()).unwrap_or(i64::MAX));
        }
        let policy =
            PolicyEngine::new(store.clone()).with_allow_sample_tee(config.attestation_service.allow_sample_tee);
        if let Some(path) = &config.attestation_service.attestation_policy_path {
            let rego = std::fs::read_to_string(path).map_err(|e| config_error(path, format!("cannot read: {e}")))?;
            policy.set_attestation_policy("default", &rego)?;
        }
        if let Some(path) = &config.policy.resource_policy_path {
            let rego = std::fs::read_to_string(path).map_err(|e| config_error(path, format!("cannot read: {e}")))?;
            policy.set_resource_policy(&rego)?;
        }
        let rvps = ReferenceValues::new(store.clone());
        let svc = &config.attestation_service;
        let mut endorsements = HashMap::new();
        endorsements.insert(
            Tee::Snp,
            Endorsements { vcek: None, chain: read_endorsement(&svc.snp_chain_path)?, collateral: None },
        );
        endorsements.insert(
            Tee::Tdx,
            Endorsements { vcek: None, chain: None, collateral: read_endorsement(&svc.tdx_collateral_path)? },
        );
        endorsements.insert(
            Tee::Cca,
            Endorsements {
                vcek: None,
                chain: read_endorsement(&svc.cca_trust_anchors_path)?,
                collateral: read_endorsement(&svc.cca_reference_values_path)?,
            },
        );
        endorsements.insert(
            Tee::Se,
            Endorsements { vcek: None, chain: None, collateral: read_endorsement(&svc.se_config_path)? },
        );
        #[allow(unused_mut)]
        let mut session_timeout = Duration::from_secs(svc.session_timeout_min.saturating_mul(60));
        #[cfg(feature = "test-hooks")]
        if let Some(t) = options.hooks.session_timeout {
            session_timeout = t;
        }
        let sessions = SessionStore::new(session_timeout, svc.max_sessions);
        let state = AppState {
            store,
            policy,
            rvps,
            sessions,
            issuer,
            verifier,
            admin,
            metrics: Metrics::new(),
            endorsements,
            cpu: tokio::sync::Semaphore::new(cpu_permits()),
            #[cfg(feature = "test-hooks")]
            hooks: options.hooks,
            config,
        };
        Ok(Kbs {
            state: Arc::new(state),
            admin_key: admin_key.path,
            admin_key_created: admin_key.created,
            token_key: token_key_path,
            token_key_created,
        })
    }

    /// The router over this server's state.
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// Bind every configured socket and serve in background tasks; the
    /// returned handle tells the bound addresses and stops the server. Must
    /// be called inside a tokio runtime. Refuses plain HTTP on a non-loopback
    /// address unless `insecure_http` is set.
    pub fn start(&self) -> Result<Running> {
        let http = &self.state.config.http_server;
        let tls = match (&http.private_key, &http.certificate) {
            (Some(key), Some(cert)) => Some(crate::tls::rustls_config(cert, key)?),
            _ => None,
        };
        if tls.is_none() && !http.insecure_http {
            if let Some(addr) = http.sockets.iter().find(|a| !a.ip().is_loopback()) {
                return Err(config_error(
                    Path::new("[http_server]"),
                    format!(
                        "refusing to serve plain HTTP on non-loopback address {addr}: configure private_key and \
                         certificate, or pass --insecure-http"
                    ),
                ));
            }
        }
        // Bind every socket before serving any, so a bad address leaves nothing running.
        let mut listeners = Vec::new();
        for addr in &http.sockets {
            let listener = TcpListener::bind(addr)
                .map_err(|e| config_error(Path::new("[http_server] sockets"), format!("cannot bind {addr}: {e}")))?;
            listener
                .set_nonblocking(true)
                .map_err(|e| config_error(Path::new("[http_server] sockets"), format!("{addr}: {e}")))?;
            let local = listener
                .local_addr()
                .map_err(|e| config_error(Path::new("[http_server] sockets"), format!("{addr}: {e}")))?;
            listeners.push((listener, local));
        }
        let handle = axum_server::Handle::new();
        let mut addrs = Vec::new();
        for (listener, local) in listeners {
            addrs.push(local);
            let app = self.router().into_make_service();
            let h = handle.clone();
            match &tls {
                Some(cfg) => {
                    let server = axum_server::from_tcp_rustls(listener, cfg.clone()).handle(h);
                    tokio::spawn(async move {
                        if let Err(e) = server.serve(app).await {
                            tracing::error!(%local, error = %e, "server stopped");
                        }
                    });
                }
                None => {
                    let server = axum_server::from_tcp(listener).handle(h);
                    tokio::spawn(async move {
                        if let Err(e) = server.serve(app).await {
                            tracing::error!(%local, error = %e, "server stopped");
                        }
                    });
                }
            }
        }
        Ok(Running { addrs, tls: tls.is_some(), handle })
    }
}

/// A started server.
#[derive(Debug, Clone)]
pub struct Running {
    /// The bound addresses (with the actual port when 0 was configured).
    pub addrs: Vec<SocketAddr>,
    /// Whether the listeners speak TLS.
    pub tls: bool,
    handle: axum_server::Handle,
}

impl Running {
    /// Base URL of the first listener.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addrs.first().copied().unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0))))
    }

    /// Stop accepting and close connections.
    pub fn shutdown(&self) {
        self.handle.shutdown();
    }
}

/// The KBS router.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.http_server.payload_request_size;
    Router::new()
        .route("/kbs/v0/auth", post(attest::auth))
        .route("/kbs/v0/attest", post(attest::attest))
        .route(
            "/kbs/v0/resource/{repo}/{kind}/{tag}",
            get(resource::get_resource).post(resource::put_resource).delete(resource::delete_resource),
        )
        .route("/kbs/v0/resource-policy", post(admin_api::set_resource_policy).get(admin_api::get_resource_policy))
        .route(
            "/kbs/v0/attestation-policy",
            post(admin_api::set_attestation_policy).get(admin_api::list_attestation_policies),
        )
        .route("/kbs/v0/reference-value", post(admin_api::set_reference_values))
        .route("/kbs/v0/reference-value/{name}", get(admin_api::get_reference_value))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), count_requests))
        .with_state(state)
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let body = state.metrics.render(state.sessions.purge_expired());
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

async fn fallback(uri: axum::http::Uri) -> ApiError {
    let path = uri.path();
    match path.strip_prefix("/kbs/v0/") {
        Some(rest) if rest.starts_with("resource/") || rest == "resource" => ApiError::new(
            ErrorKind::InvalidRequestPath,
            format!("resource path must be /kbs/v0/resource/<repository>/<type>/<tag>, found {}", truncate(path)),
        ),
        Some(rest) => ApiError::new(
            ErrorKind::PluginNotFound,
            format!("no plugin {:?} (or method) at {}", rest.split('/').next().unwrap_or(""), truncate(path)),
        ),
        None => ApiError::new(ErrorKind::InvalidRequestPath, format!("no route for {}", truncate(path))),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

async fn count_requests(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let method = request.method().as_str().to_string();
    let response = next.run(request).await;
    state.metrics.request(&route, &method, response.status().as_u16());
    response
}

/// Concurrent CPU-bound request tasks: the cores this process may use
/// (the standard library's count honours affinity masks and cgroup quotas).
fn cpu_permits() -> usize {
    std::thread::available_parallelism().map(usize::from).unwrap_or(1)
}
