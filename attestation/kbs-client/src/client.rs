//! The attestation side: RCAR handshake, token cache and resource fetch.

use std::sync::Arc;

use arca_kbs_protocol::messages::{
    Attestation, AttestationToken, Challenge, InitData, Request, Response, RuntimeData, Tee as WireTee, TeeEvidence,
};
use arca_kbs_protocol::tee_key::{TeeKeyAlgorithm, TeeKeyPair};
use arca_kbs_protocol::PROTOCOL_VERSION;
use arca_verifier::binding::{runtime_data_digest, HashAlgorithm};
use reqwest::header::{HeaderValue, AUTHORIZATION};
use tokio::sync::Mutex;
use zeroize::Zeroizing;

use crate::attester::Attester;
use crate::error::{Error, Result};
use crate::http::{build_client, check_status, read_limited, send, HttpOptions, KbsUrl, ResourcePath};
use crate::token::{now_unix, Token, MAX_TOKEN_SIZE};

/// Attempts at a resource before giving up: the first with the cached token
/// (or a fresh one), each further one after a new attestation. A 401 leads
/// to the next attempt, any other refusal (404 in particular) ends at once.
pub const MAX_RESOURCE_ATTEMPTS: u32 = 3;

/// Largest challenge accepted (an IBM SE challenge carries a whole attestation request).
const MAX_CHALLENGE_SIZE: usize = 1 << 20;
/// Largest init-data document sent.
pub const MAX_INIT_DATA_SIZE: usize = 256 * 1024;
/// Default largest resource accepted (plaintext); the JWE around it may be a third larger.
pub const DEFAULT_MAX_RESOURCE_SIZE: usize = 16 << 20;

/// Hash algorithms offered in the request's `supported-hash-algorithms`.
const SUPPORTED_HASH_ALGORITHMS: [&str; 3] = ["sha256", "sha384", "sha512"];

/// Settings of a [`KbsClient`] besides its attester.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// HTTP settings (extra root CA, timeouts).
    pub http: HttpOptions,
    /// Algorithm of the ephemeral TEE key generated when none is given.
    pub tee_key_algorithm: TeeKeyAlgorithm,
    /// Init-data document (TOML) sent with every attestation.
    pub init_data: Option<String>,
    /// Largest resource accepted, in bytes.
    pub max_resource_size: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            http: HttpOptions::default(),
            tee_key_algorithm: TeeKeyAlgorithm::EcP256,
            init_data: None,
            max_resource_size: DEFAULT_MAX_RESOURCE_SIZE,
        }
    }
}

/// A client of one KBS for one TEE: attests with its [`Attester`], caches
/// the token, fetches resources and decrypts them with its TEE key.
///
/// Methods take `&self`; attestations are serialised internally so that
/// concurrent callers share one token.
pub struct KbsClient<A> {
    url: KbsUrl,
    http: reqwest::Client,
    attester: A,
    tee_key: TeeKeyPair,
    init_data: Option<String>,
    max_resource_size: usize,
    token: Mutex<Option<Token>>,
}

impl<A: Attester> KbsClient<A> {
    /// A client with a freshly generated TEE key of `options.tee_key_algorithm`.
    pub fn new(url: &str, attester: A, options: ClientOptions) -> Result<Self> {
        let tee_key =
            TeeKeyPair::generate(options.tee_key_algorithm).map_err(Error::jose("generating the TEE key pair"))?;
        Self::with_tee_key(url, attester, tee_key, options)
    }

    /// A client that uses `tee_key` (e.g. read from a file) for its attestations.
    pub fn with_tee_key(url: &str, attester: A, tee_key: TeeKeyPair, options: ClientOptions) -> Result<Self> {
        if let Some(init_data) = &options.init_data {
            check_init_data(init_data)?;
        }
        let url = KbsUrl::parse(url)?;
        let http = build_client(&options.http, Some(Arc::new(reqwest::cookie::Jar::default())))?;
        Ok(KbsClient {
            url,
            http,
            attester,
            tee_key,
            init_data: options.init_data,
            max_resource_size: options.max_resource_size,
            token: Mutex::new(None),
        })
    }

    /// The TEE key pair whose public half goes into every attestation.
    pub fn tee_key(&self) -> &TeeKeyPair {
        &self.tee_key
    }

    /// Run the RCAR handshake now and cache the token it yields.
    pub async fn attest(&self) -> Result<Token> {
        let mut slot = self.token.lock().await;
        let token = self.handshake().await?;
        *slot = Some(token.clone());
        Ok(token)
    }

    /// The cached token while it is valid, else a new one from [`KbsClient::attest`].
    pub async fn token(&self) -> Result<Token> {
        let mut slot = self.token.lock().await;
        if let Some(token) = slot.as_ref().filter(|t| t.is_usable_at(now_unix())) {
            return Ok(token.clone());
        }
        let token = self.handshake().await?;
        *slot = Some(token.clone());
        Ok(token)
    }

    /// Fetch and decrypt a resource `<repository>/<type>/<tag>`.
    ///
    /// Uses the cached token (attesting first when there is none or it
    /// expired); on HTTP 401 it attests again and retries, up to
    /// [`MAX_RESOURCE_ATTEMPTS`] attempts in all; other refusals end at once.
    pub async fn get_resource(&self, path: &str) -> Result<Zeroizing<Vec<u8>>> {
        self.get_sealed_resource(path).await?.open(&self.tee_key)
    }

    /// Fetch a resource as the KBS sent it, still encrypted to the TEE key,
    /// with the same token handling as [`KbsClient::get_resource`]. For
    /// callers that decrypt later or elsewhere (the component that holds the
    /// TEE key), and for load generators that stand in for many guests whose
    /// decryption would run on their own CPUs.
    pub async fn get_sealed_resource(&self, path: &str) -> Result<SealedResource> {
        let path = ResourcePath::parse(path)?;
        let mut token = self.token().await?;
        let mut attempt = 1;
        loop {
            match fetch_sealed(&self.http, &self.url, &path, &token, self.max_resource_size).await {
                Err(e) if e.status() == Some(401) => {
                    if attempt >= MAX_RESOURCE_ATTEMPTS {
                        return Err(Error::RetriesExhausted {
                            path: path.to_string(),
                            attempts: attempt,
                            last: Box::new(e),
                        });
                    }
                    tracing::debug!(resource = %path, attempt, error = %e, "resource refused with 401; attesting again");
                    attempt += 1;
                    token = self.replace_token(&token).await?;
                }
                result => return result,
            }
        }
    }

    /// A new token in place of `refused`: a fresh attestation, unless a
    /// concurrent caller already replaced it while this one waited.
    async fn replace_token(&self, refused: &Token) -> Result<Token> {
        let mut slot = self.token.lock().await;
        if let Some(current) = slot.as_ref() {
            if current.as_str() != refused.as_str() && current.is_usable_at(now_unix()) {
                return Ok(current.clone());
            }
        }
        let token = self.handshake().await?;
        *slot = Some(token.clone());
        Ok(token)
    }

    /// One RCAR handshake: `/auth`, evidence over the runtime-data digest, `/attest`.
    async fn handshake(&self) -> Result<Token> {
        let tee = self.attester.tee();
        let wire_tee: WireTee = tee.name().parse().map_err(Error::jose("naming the TEE"))?;
        tracing::debug!(kbs = %self.url, tee = tee.name(), "attesting");

        let request = Request {
            version: PROTOCOL_VERSION.to_string(),
            tee: wire_tee,
            extra_params: serde_json::json!({ "supported-hash-algorithms": SUPPORTED_HASH_ALGORITHMS }),
        };
        let what = "POST /kbs/v0/auth";
        let response = send(self.http.post(self.url.route("/auth")).json(&request), what).await?;
        let body = read_limited(check_status(response, what).await?, MAX_CHALLENGE_SIZE, what).await?;
        let challenge: Challenge = serde_json::from_slice(&body)
            .map_err(|e| Error::protocol(what, format!("expected a challenge {{nonce, extra-params}}: {e}")))?;
        let hash = selected_hash_algorithm(&challenge.extra_params)?;

        let tee_pubkey = self.tee_key.public_key();
        let pubkey_json = serde_json::to_value(&tee_pubkey)
            .map_err(|e| Error::protocol("TEE public key", format!("cannot serialise: {e}")))?;
        let additional_evidence = String::new();
        let digest =
            runtime_data_digest(hash, &challenge.nonce, &pubkey_json, &additional_evidence).map_err(Error::Binding)?;
        let evidence = self.attester.evidence(&digest).await?;

        let attestation = Attestation {
            init_data: self.init_data.as_ref().map(|body| InitData { format: "toml".to_string(), body: body.clone() }),
            runtime_data: RuntimeData { nonce: challenge.nonce, tee_pubkey },
            tee_evidence: TeeEvidence { primary_evidence: evidence, additional_evidence },
        };
        let what = "POST /kbs/v0/attest";
        let response = send(self.http.post(self.url.route("/attest")).json(&attestation), what).await?;
        let body =
            Zeroizing::new(read_limited(check_status(response, what).await?, MAX_TOKEN_SIZE + 1024, what).await?);
        let reply: AttestationToken = serde_json::from_slice(&body)
            .map_err(|e| Error::protocol(what, format!("expected {{\"token\": \"<JWT>\"}}: {e}")))?;
        let reply = Zeroizing::new(reply.token);
        Token::parse(&reply)
    }
}

/// Resource fetch with a token obtained elsewhere (passport mode): the
/// client presents the token as a Bearer credential and decrypts the reply
/// with the TEE key whose public half the token carries.
pub struct PassportClient {
    url: KbsUrl,
    http: reqwest::Client,
    max_resource_size: usize,
}

impl PassportClient {
    /// A client of the KBS at `url`.
    pub fn new(url: &str, http: &HttpOptions) -> Result<Self> {
        Ok(PassportClient {
            url: KbsUrl::parse(url)?,
            http: build_client(http, None)?,
            max_resource_size: DEFAULT_MAX_RESOURCE_SIZE,
        })
    }

    /// Fetch and decrypt a resource with `token`; a refusal is returned as is.
    pub async fn get_resource_with_token(
        &self,
        path: &str,
        token: &Token,
        tee_key: &TeeKeyPair,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let path = ResourcePath::parse(path)?;
        fetch_resource(&self.http, &self.url, &path, token, tee_key, self.max_resource_size).await
    }
}

/// A resource reply still encrypted to the TEE key (a JWE).
#[derive(Debug, Clone)]
pub struct SealedResource {
    what: String,
    jwe: Response,
    max_resource_size: usize,
}

impl SealedResource {
    /// The JWE as received.
    pub fn jwe(&self) -> &Response {
        &self.jwe
    }

    /// Decrypt with the TEE key whose public half the token carries.
    pub fn open(&self, tee_key: &TeeKeyPair) -> Result<Zeroizing<Vec<u8>>> {
        let plaintext = tee_key.decrypt(&self.jwe).map_err(Error::jose("decrypting the resource"))?;
        if plaintext.len() > self.max_resource_size {
            return Err(Error::TooLarge { what: self.what.clone(), limit: self.max_resource_size });
        }
        Ok(plaintext)
    }
}

/// `GET /kbs/v0/resource/<path>` with the session cookie (if any) and the
/// token as Bearer, then JWE decryption.
async fn fetch_resource(
    http: &reqwest::Client,
    url: &KbsUrl,
    path: &ResourcePath,
    token: &Token,
    tee_key: &TeeKeyPair,
    max_resource_size: usize,
) -> Result<Zeroizing<Vec<u8>>> {
    fetch_sealed(http, url, path, token, max_resource_size).await?.open(tee_key)
}

/// `GET /kbs/v0/resource/<path>` with the session cookie (if any) and the
/// token as Bearer; the reply parsed as a JWE, not yet decrypted.
async fn fetch_sealed(
    http: &reqwest::Client,
    url: &KbsUrl,
    path: &ResourcePath,
    token: &Token,
    max_resource_size: usize,
) -> Result<SealedResource> {
    let what = format!("GET /kbs/v0/resource/{path}");
    let mut bearer = HeaderValue::try_from(format!("Bearer {}", token.as_str()))
        .map_err(|_| Error::protocol("attestation token", "not usable in an HTTP header"))?;
    bearer.set_sensitive(true);
    let request = http.get(url.route(&format!("/resource/{path}"))).header(AUTHORIZATION, bearer);
    let response = check_status(send(request, &what).await?, &what).await?;
    // base64url inflates by 4/3; the JSON members and header add a little.
    let limit = max_resource_size / 3 * 4 + 64 * 1024;
    let body = read_limited(response, limit, &what).await?;
    let jwe: Response = serde_json::from_slice(&body)
        .map_err(|e| Error::protocol(&what, format!("expected a JWE in flattened JSON serialization: {e}")))?;
    Ok(SealedResource { what, jwe, max_resource_size })
}

/// The runtime-data hash the KBS selected in the challenge's `extra-params`
/// (`selected-hash-algorithm`), SHA-384 when it selected none.
///
/// `extra-params` is `""` from most servers, an object from some, and a
/// string holding a JSON object from others; all three are read.
pub fn selected_hash_algorithm(extra_params: &serde_json::Value) -> Result<HashAlgorithm> {
    let what = "challenge extra-params";
    let object = match extra_params {
        serde_json::Value::Null => return Ok(HashAlgorithm::Sha384),
        serde_json::Value::String(s) if s.trim().is_empty() => return Ok(HashAlgorithm::Sha384),
        serde_json::Value::String(s) => serde_json::from_str::<serde_json::Value>(s).map_err(|e| {
            Error::protocol(what, format!("expected \"\" or a JSON object, found unparsable text: {e}"))
        })?,
        other => other.clone(),
    };
    let Some(map) = object.as_object() else {
        return Err(Error::protocol(what, format!("expected a JSON object, found {object}")));
    };
    match map.get("selected-hash-algorithm") {
        None => Ok(HashAlgorithm::Sha384),
        Some(serde_json::Value::String(name)) => HashAlgorithm::from_name(name).ok_or_else(|| {
            Error::protocol(
                what,
                format!("expected selected-hash-algorithm one of {SUPPORTED_HASH_ALGORITHMS:?}, found {name:?}"),
            )
        }),
        Some(other) => {
            Err(Error::protocol(what, format!("expected selected-hash-algorithm as a string, found {other}")))
        }
    }
}

/// Check an init-data document before sending it: its size. Its content is
/// the KBS's to judge (it hashes the exact text with the declared algorithm
/// and compares the digest with the TEE's init-data field).
pub fn check_init_data(text: &str) -> Result<()> {
    if text.len() > MAX_INIT_DATA_SIZE {
        return Err(Error::Invalid {
            what: "init-data",
            detail: format!("{} bytes, more than the limit of {MAX_INIT_DATA_SIZE}", text.len()),
        });
    }
    if text.trim().is_empty() {
        return Err(Error::Invalid {
            what: "init-data",
            detail: "expected a TOML document, found nothing".to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_algorithm_defaults_to_sha384_and_follows_the_challenge() {
        assert_eq!(selected_hash_algorithm(&serde_json::json!("")).unwrap(), HashAlgorithm::Sha384);
        assert_eq!(selected_hash_algorithm(&serde_json::Value::Null).unwrap(), HashAlgorithm::Sha384);
        assert_eq!(selected_hash_algorithm(&serde_json::json!({})).unwrap(), HashAlgorithm::Sha384);
        assert_eq!(
            selected_hash_algorithm(&serde_json::json!({"selected-hash-algorithm": "sha512"})).unwrap(),
            HashAlgorithm::Sha512
        );
        assert_eq!(
            selected_hash_algorithm(&serde_json::json!("{\"selected-hash-algorithm\":\"sha256\"}")).unwrap(),
            HashAlgorithm::Sha256
        );
        for bad in [
            serde_json::json!({"selected-hash-algorithm": "sm3"}),
            serde_json::json!({"selected-hash-algorithm": 384}),
            serde_json::json!("not json"),
            serde_json::json!([1]),
        ] {
            let err = selected_hash_algorithm(&bad).unwrap_err();
            assert!(matches!(err, Error::Protocol { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn init_data_is_checked_before_sending() {
        check_init_data("version = \"0.1.0\"\nalgorithm = \"sha384\"\n[data]\n").unwrap();
        assert!(check_init_data(" \n").is_err());
        let huge = format!("algorithm = \"sha256\"\n{}", "#".repeat(MAX_INIT_DATA_SIZE));
        assert!(check_init_data(&huge).unwrap_err().to_string().contains("more than the limit"));
    }
}
