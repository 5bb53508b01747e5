//! `arca kbs`: attest to a KBS, fetch resources, administer it.
//!
//! Exit codes: 0 success; 1 the KBS refused or could not be reached; 2 local
//! input (arguments, files, keys) could not be used. Errors are one line on
//! standard error; secrets (resources, tokens) go to standard output or the
//! named file only.

mod args;

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use arca_kbs_client::admin::MAX_RESOURCE_UPLOAD;
use arca_kbs_client::client::MAX_INIT_DATA_SIZE;
use arca_kbs_client::token::MAX_TOKEN_SIZE;
use arca_kbs_client::{
    mint_admin_token, AdminClient, AdminCredential, AdminTokenOptions, ClientOptions, HttpOptions, KbsClient,
    PassportClient, ReferenceValueMessage, SampleAttester, TeeKeyAlgorithm, TeeKeyPair, Token,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use zeroize::Zeroizing;

pub use args::KbsArgs;
use args::{AdminTokenArgs, AttestArgs, ConfigArgs, ConfigCommand, GetResourceArgs, KbsCommand};

/// Exit code when the KBS refused or could not be reached.
const EXIT_REMOTE: u8 = 1;
/// Exit code when local input could not be used.
const EXIT_INPUT: u8 = 2;

/// Largest key or certificate file read.
const MAX_KEY_FILE: u64 = 64 * 1024;
/// Largest policy or reference-value file read.
const MAX_DOCUMENT_FILE: u64 = 4 << 20;

/// Why `arca kbs` failed.
#[derive(Debug)]
enum Failure {
    /// Local input problem.
    Input(String),
    /// An error of the client library (remote or local, as it says).
    Client(arca_kbs_client::Error),
}

impl From<arca_kbs_client::Error> for Failure {
    fn from(e: arca_kbs_client::Error) -> Self {
        Failure::Client(e)
    }
}

type Outcome<T = ()> = Result<T, Failure>;

/// Run `arca kbs`.
pub fn run(args: KbsArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("arca kbs: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_INPUT);
        }
    };
    match runtime.block_on(execute(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(message)) => {
            eprintln!("arca kbs: {message}");
            ExitCode::from(EXIT_INPUT)
        }
        Err(Failure::Client(e)) => {
            eprintln!("arca kbs: {}", e.to_string().replace('\n', " "));
            ExitCode::from(if e.is_remote() { EXIT_REMOTE } else { EXIT_INPUT })
        }
    }
}

async fn execute(args: KbsArgs) -> Outcome {
    let http = HttpOptions {
        extra_root_pem: args
            .cert_file
            .as_deref()
            .map(|p| read_file(p, MAX_KEY_FILE, "certificate file"))
            .transpose()?,
        ..HttpOptions::default()
    };
    match args.command {
        KbsCommand::Config(config) => run_config(&args.url, &http, config).await,
        KbsCommand::GetResource(get) => get_resource(&args.url, &http, get).await,
        KbsCommand::Attest(attest) => run_attest(&args.url, &http, attest).await,
        KbsCommand::AdminToken(mint) => admin_token(mint),
    }
}

async fn run_config(url: &str, http: &HttpOptions, config: ConfigArgs) -> Outcome {
    let credential = match (&config.admin_token_file, &config.auth_private_key) {
        (Some(path), _) => {
            let text = read_secret_text(path, MAX_TOKEN_SIZE as u64, "admin token file")?;
            AdminCredential::token(&text)?
        }
        (None, Some(path)) => AdminCredential::SigningKey {
            key: Box::new(read_signing_key(path)?),
            claims: AdminTokenOptions {
                role: config.role.clone().unwrap_or_else(|| "admin".to_string()),
                ..AdminTokenOptions::default()
            },
        },
        (None, None) => return Err(Failure::Input("--admin-token-file or --auth-private-key is required".into())),
    };
    let admin = AdminClient::new(url, http, credential)?;
    match config.command {
        ConfigCommand::SetResource { path, resource_file } => {
            let value = Zeroizing::new(read_file(&resource_file, MAX_RESOURCE_UPLOAD as u64, "resource file")?);
            admin.set_resource(&path, &value).await?;
            say(&format!("stored resource {path} ({} bytes)", value.len()))
        }
        ConfigCommand::DeleteResource { path } => {
            admin.delete_resource(&path).await?;
            say(&format!("deleted resource {path}"))
        }
        ConfigCommand::SetResourcePolicy { policy_file, allow_all, deny_all, affirming } => {
            let policy = match (policy_file, allow_all, deny_all, affirming) {
                (Some(file), ..) => read_text(&file, MAX_DOCUMENT_FILE, "policy file")?,
                (None, true, _, _) => arca_kbs_client::policies::ALLOW_ALL.to_string(),
                (None, _, true, _) => arca_kbs_client::policies::DENY_ALL.to_string(),
                (None, _, _, true) => arca_kbs_client::policies::AFFIRMING.to_string(),
                (None, false, false, false) => return Err(Failure::Input("no resource policy given".into())),
            };
            admin.set_resource_policy(&policy).await?;
            say("resource policy set")
        }
        ConfigCommand::SetAttestationPolicy { policy_type, id, policy_file } => {
            let policy = read_text(&policy_file, MAX_DOCUMENT_FILE, "policy file")?;
            admin.set_attestation_policy(&policy, Some(&policy_type), Some(&id)).await?;
            say(&format!("attestation policy {id} set"))
        }
        ConfigCommand::GetReferenceValue { name, name_flag } => {
            let name = name.or(name_flag).ok_or_else(|| Failure::Input("a reference value name is required".into()))?;
            let values = admin.get_reference_value(&name).await?;
            let text = serde_json::to_string_pretty(&values).map_err(|e| Failure::Input(e.to_string()))?;
            say(&text)
        }
        ConfigCommand::SetSampleReferenceValue { name, value, as_integer, as_bool, as_single_value } => {
            let parsed = if as_integer {
                serde_json::Value::from(
                    value.parse::<i64>().map_err(|e| Failure::Input(format!("{value:?} is not an integer: {e}")))?,
                )
            } else if as_bool {
                serde_json::Value::from(
                    value
                        .parse::<bool>()
                        .map_err(|e| Failure::Input(format!("{value:?} is not true or false: {e}")))?,
                )
            } else {
                serde_json::Value::String(value)
            };
            let parsed = if as_single_value { parsed } else { serde_json::Value::Array(vec![parsed]) };
            let mut values = serde_json::Map::new();
            values.insert(name.clone(), parsed);
            admin.set_reference_values(&ReferenceValueMessage::sample(&values)).await?;
            say(&format!("reference value {name} registered"))
        }
        ConfigCommand::SetReferenceValues { file } => {
            let text = read_text(&file, MAX_DOCUMENT_FILE, "reference values file")?;
            let document: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Failure::Input(format!("reference values file {}: not JSON: {e}", file.display())))?;
            let count = document.as_object().map_or(0, serde_json::Map::len);
            admin.set_reference_values(&ReferenceValueMessage::arca(&document)?).await?;
            say(&format!("{count} reference values registered"))
        }
    }
}

async fn get_resource(url: &str, http: &HttpOptions, get: GetResourceArgs) -> Outcome {
    let resource = match (&get.tee_key_file, &get.attestation_token) {
        (Some(key_file), Some(token_file)) => {
            let tee_key = read_tee_key(key_file)?;
            let token = Token::parse(&read_secret_text(token_file, MAX_TOKEN_SIZE as u64, "attestation token file")?)?;
            PassportClient::new(url, http)?.get_resource_with_token(&get.path, &token, &tee_key).await?
        }
        (key_file, _) => {
            let init_data = match (&get.init_data, get.init_data_text) {
                (Some(file), _) => Some(read_text(file, MAX_INIT_DATA_SIZE as u64, "init-data file")?),
                (None, text) => text,
            };
            let options = ClientOptions { http: http.clone(), init_data, ..ClientOptions::default() };
            let client = match key_file {
                Some(path) => KbsClient::with_tee_key(url, SampleAttester, read_tee_key(path)?, options)?,
                None => KbsClient::new(url, SampleAttester, options)?,
            };
            client.get_resource(&get.path).await?
        }
    };
    let encoded = Zeroizing::new(STANDARD.encode(&*resource));
    say(&encoded)
}

async fn run_attest(url: &str, http: &HttpOptions, attest: AttestArgs) -> Outcome {
    let init_data =
        attest.init_data.as_deref().map(|f| read_text(f, MAX_INIT_DATA_SIZE as u64, "init-data file")).transpose()?;
    let options = ClientOptions { http: http.clone(), init_data, ..ClientOptions::default() };
    let client = match &attest.tee_key_file {
        Some(path) if path.exists() => KbsClient::with_tee_key(url, SampleAttester, read_tee_key(path)?, options)?,
        Some(path) => {
            let key = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256)
                .map_err(|e| Failure::Input(format!("cannot generate a TEE key: {e}")))?;
            let pem = key.to_pem().map_err(|e| Failure::Input(format!("cannot encode the TEE key: {e}")))?;
            write_private(path, pem.as_bytes())?;
            KbsClient::with_tee_key(url, SampleAttester, key, options)?
        }
        None => KbsClient::new(url, SampleAttester, options)?,
    };
    let token = client.attest().await?;
    say(token.as_str())
}

fn admin_token(mint: AdminTokenArgs) -> Outcome {
    let key = read_signing_key(&mint.auth_private_key)?;
    let options = AdminTokenOptions { role: mint.role, ttl: mint.ttl, iss: mint.iss, aud: mint.aud };
    let token = mint_admin_token(&key, &options)?;
    match &mint.output {
        Some(path) => write_private(path, format!("{}\n", token.as_str()).as_bytes()),
        None => say(&token),
    }
}

/// Print one line on standard output.
fn say(text: &str) -> Outcome {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").and_then(|()| out.flush()).map_err(|e| Failure::Input(format!("cannot write output: {e}")))
}

fn read_file(path: &Path, limit: u64, what: &str) -> Outcome<Vec<u8>> {
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut buf))
        .map_err(|e| Failure::Input(format!("cannot read {what} {}: {e}", path.display())))?;
    if buf.len() as u64 > limit {
        return Err(Failure::Input(format!("{what} {} is larger than {limit} bytes", path.display())));
    }
    Ok(buf)
}

fn read_text(path: &Path, limit: u64, what: &str) -> Outcome<String> {
    String::from_utf8(read_file(path, limit, what)?)
        .map_err(|_| Failure::Input(format!("{what} {} is not UTF-8 text", path.display())))
}

fn read_secret_text(path: &Path, limit: u64, what: &str) -> Outcome<Zeroizing<String>> {
    let bytes = Zeroizing::new(read_file(path, limit, what)?);
    std::str::from_utf8(&bytes)
        .map(|s| Zeroizing::new(s.to_string()))
        .map_err(|_| Failure::Input(format!("{what} {} is not UTF-8 text", path.display())))
}

fn read_signing_key(path: &Path) -> Outcome<arca_kbs_client::admin::SigningKey> {
    let pem = read_secret_text(path, MAX_KEY_FILE, "private key file")?;
    arca_kbs_client::admin::SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| Failure::Input(format!("private key file {}: {e}", path.display())))
}

fn read_tee_key(path: &Path) -> Outcome<TeeKeyPair> {
    let pem = read_secret_text(path, MAX_KEY_FILE, "TEE key file")?;
    TeeKeyPair::from_pem(&pem).map_err(|e| Failure::Input(format!("TEE key file {}: {e}", path.display())))
}

/// Write a secret to a new or truncated file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Outcome {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(path).and_then(|mut f| {
        #[cfg(unix)]
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        f.write_all(bytes)?;
        f.sync_all()
    });
    written.map_err(|e| Failure::Input(format!("cannot write {}: {e}", path.display())))
}
