//! RCAR sessions: one per `/auth` call, named by the `kbs-session-id` cookie.
//!
//! A session holds the challenge nonce the guest must echo in `/attest`, the
//! TEE it announced, and once attested the token issued to it. The store is
//! bounded twice: every session expires after the configured timeout, and
//! the number of live sessions is capped (when full, expired sessions are
//! dropped first, then the oldest), so a flood of `/auth` calls cannot grow
//! memory without limit.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use rand::RngCore;
use serde_json::Value;

/// Name of the session cookie, as trustee's KBS names it.
pub const SESSION_COOKIE: &str = "kbs-session-id";

/// Length of the challenge nonce in bytes (before base64).
pub const NONCE_LEN: usize = 32;

/// Where an RCAR session stands.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionState {
    /// `/auth` done, waiting for `/attest`.
    Challenged,
    /// `/attest` succeeded; the token issued then.
    Attested {
        /// The EAR token (compact JWS).
        token: String,
        /// The claims this server signed into `token`. A resource request
        /// on the attested session uses them as they are: the server made
        /// the token moments ago, so checking its own signature again would
        /// only cost time (its `exp` is still checked on every use).
        claims: Arc<Value>,
    },
}

/// A snapshot of one session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Session id (uuid v4, simple hex).
    pub id: String,
    /// TEE named in the `/auth` request.
    pub tee: String,
    /// Challenge nonce (standard base64 of [`NONCE_LEN`] random bytes).
    pub nonce: String,
    /// Wall-clock expiry, for the cookie.
    pub expires_at: SystemTime,
    /// Where the session stands.
    pub state: SessionState,
}

#[derive(Debug)]
struct Entry {
    session: Session,
    deadline: Instant,
    seq: u64,
}

#[derive(Debug, Default)]
struct Inner {
    by_id: HashMap<String, Entry>,
    /// Creation order: sequence number → id, oldest first.
    order: BTreeMap<u64, String>,
    next_seq: u64,
}

impl Inner {
    fn remove(&mut self, id: &str) -> Option<Entry> {
        let entry = self.by_id.remove(id)?;
        self.order.remove(&entry.seq);
        Some(entry)
    }

    /// Drop the expired sessions. Every session lives the same timeout from
    /// its creation, so creation order is deadline order: the expired ones
    /// are a prefix of `order`, and the walk stops at the first live one
    /// instead of scanning the whole map (which, with a full store, would
    /// be done under the lock on every `/auth`).
    fn purge_expired(&mut self, now: Instant) {
        while let Some(entry) = self.order.first_entry() {
            let expired = self.by_id.get(entry.get()).is_none_or(|e| e.deadline <= now);
            if !expired {
                break;
            }
            let id = entry.remove();
            self.by_id.remove(&id);
        }
    }
}

/// Why a session could not be used.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionLookup {
    /// The session exists and is live.
    Live(Session),
    /// No session by that id (never created, evicted, or expired and purged).
    Unknown,
    /// The session existed but its timeout passed.
    Expired,
}

/// The bounded, expiring session store.
#[derive(Debug)]
pub struct SessionStore {
    inner: Mutex<Inner>,
    timeout: Duration,
    max_sessions: usize,
}

impl SessionStore {
    /// A store whose sessions live `timeout` and of which at most
    /// `max_sessions` (at least 1) exist at once.
    pub fn new(timeout: Duration, max_sessions: usize) -> Self {
        SessionStore { inner: Mutex::new(Inner::default()), timeout, max_sessions: max_sessions.max(1) }
    }

    /// Session timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps inconsistent
        // in a way that matters more than losing sessions; keep serving.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Open a session for `tee` with a fresh nonce.
    pub fn create(&self, tee: &str) -> Session {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let session = Session {
            id: uuid::Uuid::new_v4().simple().to_string(),
            tee: tee.to_string(),
            nonce: base64::engine::general_purpose::STANDARD.encode(nonce),
            expires_at: SystemTime::now() + self.timeout,
            state: SessionState::Challenged,
        };
        let now = Instant::now();
        let mut inner = self.lock();
        if inner.by_id.len() >= self.max_sessions {
            inner.purge_expired(now);
        }
        while inner.by_id.len() >= self.max_sessions {
            let Some((_, oldest)) = inner.order.pop_first() else { break };
            inner.by_id.remove(&oldest);
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.order.insert(seq, session.id.clone());
        inner.by_id.insert(session.id.clone(), Entry { session: session.clone(), deadline: now + self.timeout, seq });
        session
    }

    /// Look a session up; an expired one is removed and reported as such.
    pub fn get(&self, id: &str) -> SessionLookup {
        let now = Instant::now();
        let mut inner = self.lock();
        match inner.by_id.get(id) {
            None => SessionLookup::Unknown,
            Some(e) if e.deadline <= now => {
                inner.remove(id);
                SessionLookup::Expired
            }
            Some(e) => SessionLookup::Live(e.session.clone()),
        }
    }

    /// Record the token of a successful attestation. Returns false when the
    /// session is gone (expired or evicted meanwhile).
    pub fn mark_attested(&self, id: &str, token: String, claims: Arc<Value>) -> bool {
        let now = Instant::now();
        let mut inner = self.lock();
        match inner.by_id.get_mut(id) {
            Some(e) if e.deadline > now => {
                e.session.state = SessionState::Attested { token, claims };
                true
            }
            _ => false,
        }
    }

    /// Number of sessions held (expired ones not yet purged included).
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop every expired session; returns how many remain.
    pub fn purge_expired(&self) -> usize {
        let mut inner = self.lock();
        inner.purge_expired(Instant::now());
        inner.by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_is_32_random_bytes_in_standard_base64() {
        let store = SessionStore::new(Duration::from_secs(60), 10);
        let a = store.create("sample");
        let b = store.create("sample");
        let raw = base64::engine::general_purpose::STANDARD.decode(&a.nonce).unwrap();
        assert_eq!(raw.len(), NONCE_LEN);
        assert_ne!(a.nonce, b.nonce);
        assert_eq!(a.id.len(), 32);
        assert!(a.id.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn cap_evicts_oldest_first() {
        let store = SessionStore::new(Duration::from_secs(60), 3);
        let ids: Vec<String> = (0..5).map(|_| store.create("sample").id).collect();
        assert_eq!(store.len(), 3);
        assert_eq!(store.get(&ids[0]), SessionLookup::Unknown);
        assert_eq!(store.get(&ids[1]), SessionLookup::Unknown);
        assert!(matches!(store.get(&ids[4]), SessionLookup::Live(_)));
    }

    #[test]
    fn expired_sessions_are_reported_and_removed() {
        let store = SessionStore::new(Duration::from_millis(20), 10);
        let s = store.create("sample");
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(store.get(&s.id), SessionLookup::Expired);
        assert_eq!(store.get(&s.id), SessionLookup::Unknown);
        assert!(!store.mark_attested(&s.id, "t".into(), Arc::new(Value::Null)));
    }

    #[test]
    fn purge_drops_exactly_the_expired_prefix() {
        let store = SessionStore::new(Duration::from_millis(300), 100);
        let old: Vec<String> = (0..5).map(|_| store.create("sample").id).collect();
        std::thread::sleep(Duration::from_millis(350));
        let young: Vec<String> = (0..3).map(|_| store.create("sample").id).collect();
        assert_eq!(store.purge_expired(), 3);
        for id in &old {
            assert_eq!(store.get(id), SessionLookup::Unknown);
        }
        for id in &young {
            assert!(matches!(store.get(id), SessionLookup::Live(_)));
        }
    }

    #[test]
    fn full_store_purges_expired_before_evicting_live() {
        let store = SessionStore::new(Duration::from_millis(300), 3);
        let a = store.create("sample").id;
        std::thread::sleep(Duration::from_millis(350));
        let b = store.create("sample").id;
        let c = store.create("sample").id;
        // Full: the expired `a` goes, the live `b` and `c` stay.
        let d = store.create("sample").id;
        assert_eq!(store.len(), 3);
        assert_eq!(store.get(&a), SessionLookup::Unknown);
        for id in [&b, &c, &d] {
            assert!(matches!(store.get(id), SessionLookup::Live(_)));
        }
    }

    #[test]
    fn attested_state_keeps_the_token() {
        let store = SessionStore::new(Duration::from_secs(60), 10);
        let s = store.create("snp");
        let claims = Arc::new(serde_json::json!({"exp": 1}));
        assert!(store.mark_attested(&s.id, "tok".into(), claims.clone()));
        match store.get(&s.id) {
            SessionLookup::Live(s) => assert_eq!(s.state, SessionState::Attested { token: "tok".into(), claims }),
            other => panic!("{other:?}"),
        }
    }
}
