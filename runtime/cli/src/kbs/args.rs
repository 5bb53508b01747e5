//! Arguments of `arca kbs`, named like trustee's `kbs-client` where it has
//! the same command, so that its scripts keep working.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, Subcommand};

/// Arguments of `arca kbs`.
#[derive(Debug, Args)]
pub struct KbsArgs {
    /// The KBS root URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Extra root certificate (PEM) trusted for the KBS's HTTPS server.
    #[arg(long)]
    pub cert_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: KbsCommand,
}

/// The `arca kbs` subcommands.
#[derive(Debug, Subcommand)]
pub enum KbsCommand {
    /// Administer the KBS: resources, policies, reference values.
    Config(ConfigArgs),
    /// Attest (unless given a token) and fetch a resource; prints it base64-encoded.
    GetResource(GetResourceArgs),
    /// Attest and print the attestation token.
    Attest(AttestArgs),
    /// Mint an admin token (EdDSA JWT) from an Ed25519 private key.
    AdminToken(AdminTokenArgs),
}

/// Arguments of `arca kbs config`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("admin_auth").required(true).args(["admin_token_file", "auth_private_key"])))]
pub struct ConfigArgs {
    /// File holding a ready admin token (JWT), sent as Bearer.
    #[arg(long)]
    pub admin_token_file: Option<PathBuf>,
    /// Ed25519 private key (PKCS#8 PEM): each call sends a fresh 5-minute token signed with it.
    #[arg(long)]
    pub auth_private_key: Option<PathBuf>,
    /// `role` claim of the tokens signed with --auth-private-key [default: admin].
    #[arg(long, conflicts_with = "admin_token_file")]
    pub role: Option<String>,
    #[command(subcommand)]
    pub command: ConfigCommand,
}

/// The `arca kbs config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Store a resource.
    SetResource {
        /// Resource path <repository>/<type>/<tag>, e.g. default/key/1.
        #[arg(long)]
        path: String,
        /// File with the resource's bytes.
        #[arg(long)]
        resource_file: PathBuf,
    },
    /// Delete a resource.
    DeleteResource {
        /// Resource path <repository>/<type>/<tag>.
        #[arg(long)]
        path: String,
    },
    /// Set the resource policy (Rego) from a file or a built-in one.
    #[command(group(ArgGroup::new("resource_policy").required(true).args(["policy_file", "allow_all", "deny_all", "affirming"])))]
    SetResourcePolicy {
        /// Rego policy file.
        #[arg(long)]
        policy_file: Option<PathBuf>,
        /// Built-in policy releasing every resource to any token (development only).
        #[arg(long)]
        allow_all: bool,
        /// Built-in policy releasing nothing.
        #[arg(long)]
        deny_all: bool,
        /// Built-in policy releasing only when every token submodule is affirming.
        #[arg(long)]
        affirming: bool,
    },
    /// Set an attestation policy (Rego).
    SetAttestationPolicy {
        /// Policy type.
        #[arg(long = "type", default_value = "rego")]
        policy_type: String,
        /// Policy id.
        #[arg(long, default_value = "default")]
        id: String,
        /// Rego policy file.
        #[arg(long)]
        policy_file: PathBuf,
    },
    /// Print the reference values stored under a name (JSON).
    #[command(group(ArgGroup::new("rv_name").required(true).args(["name", "name_flag"])))]
    GetReferenceValue {
        /// Reference value name.
        name: Option<String>,
        /// Reference value name (same as the positional NAME).
        #[arg(long = "name", value_name = "NAME")]
        name_flag: Option<String>,
    },
    /// Register one reference value with the `sample` extractor.
    SetSampleReferenceValue {
        /// Reference value name.
        name: String,
        /// The value (a string unless --as-integer or --as-bool).
        value: String,
        /// Parse the value as an integer.
        #[arg(long, conflicts_with = "as_bool")]
        as_integer: bool,
        /// Parse the value as a boolean.
        #[arg(long)]
        as_bool: bool,
        /// Register the value itself rather than a one-element list.
        #[arg(long)]
        as_single_value: bool,
    },
    /// Register reference values from a JSON document of measurements
    /// ({name: value | [values]}, e.g. the output of `arca measure`).
    SetReferenceValues {
        /// The JSON file.
        #[arg(long)]
        file: PathBuf,
    },
}

/// Arguments of `arca kbs get-resource`.
#[derive(Debug, Args)]
pub struct GetResourceArgs {
    /// Resource path <repository>/<type>/<tag>.
    #[arg(long)]
    pub path: String,
    /// TEE private key (PEM) to attest with instead of a fresh one; with
    /// --attestation-token, the key the token was issued for.
    #[arg(long)]
    pub tee_key_file: Option<PathBuf>,
    /// Attestation token file: fetch with it (passport mode) instead of attesting.
    #[arg(long, requires = "tee_key_file")]
    pub attestation_token: Option<PathBuf>,
    /// Init-data TOML file sent with the attestation.
    #[arg(long, conflicts_with_all = ["attestation_token", "init_data_text"])]
    pub init_data: Option<PathBuf>,
    /// Init-data TOML text sent with the attestation (trustee's positional form).
    #[arg(value_name = "INIT_DATA", conflicts_with = "attestation_token")]
    pub init_data_text: Option<String>,
}

/// Arguments of `arca kbs attest`.
#[derive(Debug, Args)]
pub struct AttestArgs {
    /// TEE private key (PEM) whose public half goes into the token; created
    /// (EC P-256, mode 0600) when the file does not exist.
    #[arg(long)]
    pub tee_key_file: Option<PathBuf>,
    /// Init-data TOML file sent with the attestation.
    #[arg(long)]
    pub init_data: Option<PathBuf>,
}

/// Arguments of `arca kbs admin-token`.
#[derive(Debug, Args)]
pub struct AdminTokenArgs {
    /// Ed25519 private key (PKCS#8 PEM) that signs the token.
    #[arg(long)]
    pub auth_private_key: PathBuf,
    /// `role` claim.
    #[arg(long, default_value = "admin")]
    pub role: String,
    /// Lifetime: seconds, or a number with s, m, h or d.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub ttl: Duration,
    /// `iss` claim.
    #[arg(long)]
    pub iss: Option<String>,
    /// `aud` claim.
    #[arg(long)]
    pub aud: Option<String>,
    /// Write the token to this file (mode 0600) instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// Parse `90`, `90s`, `15m`, `1h`, `2d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = number.parse().map_err(|_| format!("expected a number with s, m, h or d, found {text:?}"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        other => return Err(format!("expected the unit s, m, h or d, found {other:?}")),
    };
    let secs = n
        .checked_mul(scale)
        .filter(|s| *s > 0)
        .ok_or_else(|| format!("expected a positive lifetime, found {text:?}"))?;
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        kbs: KbsArgs,
    }

    fn parse(args: &[&str]) -> Result<KbsArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("arca-kbs").chain(args.iter().copied())).map(|c| c.kbs)
    }

    #[test]
    fn trustee_config_commands_parse_with_their_flag_names() {
        let a = parse(&[
            "--url",
            "https://kbs.example:8080",
            "--cert-file",
            "ca.pem",
            "config",
            "--auth-private-key",
            "admin.pem",
            "set-resource",
            "--path",
            "default/key/1",
            "--resource-file",
            "key.bin",
        ])
        .unwrap();
        assert_eq!(a.url, "https://kbs.example:8080");
        assert_eq!(a.cert_file, Some(PathBuf::from("ca.pem")));
        let KbsCommand::Config(c) = a.command else { panic!("not config") };
        assert_eq!(c.auth_private_key, Some(PathBuf::from("admin.pem")));
        assert_eq!(c.role, None);
        assert!(matches!(c.command, ConfigCommand::SetResource { ref path, .. } if path == "default/key/1"));

        let a = parse(&["config", "--admin-token-file", "t.jwt", "set-attestation-policy", "--policy-file", "p.rego"])
            .unwrap();
        let KbsCommand::Config(c) = a.command else { panic!("not config") };
        assert_eq!(a.url, "http://127.0.0.1:8080");
        assert!(matches!(
            c.command,
            ConfigCommand::SetAttestationPolicy { ref policy_type, ref id, .. } if policy_type == "rego" && id == "default"
        ));

        let a = parse(&[
            "config",
            "--admin-token-file",
            "t",
            "set-attestation-policy",
            "--type",
            "rego",
            "--id",
            "snp",
            "--policy-file",
            "p",
        ])
        .unwrap();
        let KbsCommand::Config(c) = a.command else { panic!("not config") };
        assert!(matches!(c.command, ConfigCommand::SetAttestationPolicy { ref id, .. } if id == "snp"));

        let a = parse(&["config", "--admin-token-file", "t", "set-sample-reference-value", "svn", "3", "--as-integer"])
            .unwrap();
        let KbsCommand::Config(c) = a.command else { panic!("not config") };
        assert!(matches!(
            c.command,
            ConfigCommand::SetSampleReferenceValue { ref name, ref value, as_integer: true, as_bool: false, as_single_value: false }
                if name == "svn" && value == "3"
        ));
    }

    #[test]
    fn admin_authentication_is_required_and_exclusive() {
        assert!(parse(&["config", "delete-resource", "--path", "a/b/c"]).is_err());
        assert!(parse(&[
            "config",
            "--admin-token-file",
            "t",
            "--auth-private-key",
            "k",
            "delete-resource",
            "--path",
            "a/b/c"
        ])
        .is_err());
        assert!(
            parse(&["config", "--admin-token-file", "t", "--role", "x", "delete-resource", "--path", "a/b/c"]).is_err()
        );
        parse(&["config", "--auth-private-key", "k", "--role", "ops", "delete-resource", "--path", "a/b/c"]).unwrap();
    }

    #[test]
    fn resource_policy_needs_exactly_one_source() {
        for ok in [["--allow-all"], ["--deny-all"], ["--affirming"]] {
            let mut args = vec!["config", "--admin-token-file", "t", "set-resource-policy"];
            args.extend(ok);
            parse(&args).unwrap();
        }
        parse(&["config", "--admin-token-file", "t", "set-resource-policy", "--policy-file", "p.rego"]).unwrap();
        assert!(parse(&["config", "--admin-token-file", "t", "set-resource-policy"]).is_err());
        assert!(
            parse(&["config", "--admin-token-file", "t", "set-resource-policy", "--allow-all", "--deny-all"]).is_err()
        );
    }

    #[test]
    fn reference_value_name_is_positional_or_flag() {
        for args in [["get-reference-value", "svn"], ["get-reference-value", "--name=svn"]] {
            let mut all = vec!["config", "--admin-token-file", "t"];
            all.extend(args);
            let KbsCommand::Config(c) = parse(&all).unwrap().command else { panic!("not config") };
            let ConfigCommand::GetReferenceValue { name, name_flag } = c.command else { panic!("wrong command") };
            assert_eq!(name.or(name_flag).as_deref(), Some("svn"));
        }
        assert!(parse(&["config", "--admin-token-file", "t", "get-reference-value"]).is_err());
        assert!(parse(&["config", "--admin-token-file", "t", "get-reference-value", "a", "--name", "b"]).is_err());
    }

    #[test]
    fn get_resource_passport_mode_needs_key_and_token() {
        let a = parse(&["get-resource", "--path", "a/b/c"]).unwrap();
        assert!(matches!(a.command, KbsCommand::GetResource(ref g) if g.attestation_token.is_none()));
        parse(&["get-resource", "--path", "a/b/c", "--tee-key-file", "k", "--attestation-token", "t"]).unwrap();
        assert!(parse(&["get-resource", "--path", "a/b/c", "--attestation-token", "t"]).is_err());
        let a = parse(&["get-resource", "--path", "a/b/c", "--tee-key-file", "k"]).unwrap();
        assert!(matches!(a.command, KbsCommand::GetResource(ref g) if g.tee_key_file.is_some()));
        parse(&["get-resource", "--path", "a/b/c", "--init-data", "init.toml"]).unwrap();
        let a = parse(&["get-resource", "--path", "a/b/c", "algorithm = \"sha384\""]).unwrap();
        assert!(matches!(a.command, KbsCommand::GetResource(ref g) if g.init_data_text.is_some()));
        assert!(parse(&["get-resource", "--path", "a/b/c", "--init-data", "f", "text"]).is_err());
        assert!(parse(&[
            "get-resource",
            "--tee-key-file",
            "k",
            "--attestation-token",
            "t",
            "--path",
            "a/b/c",
            "--init-data",
            "f"
        ])
        .is_err());
    }

    #[test]
    fn admin_token_defaults_and_ttl_units() {
        let a = parse(&["admin-token", "--auth-private-key", "k.pem"]).unwrap();
        let KbsCommand::AdminToken(t) = a.command else { panic!("not admin-token") };
        assert_eq!((t.role.as_str(), t.ttl, t.output), ("admin", Duration::from_secs(3600), None));
        let a =
            parse(&["admin-token", "--auth-private-key", "k", "--ttl", "15m", "--iss", "me", "--aud", "kbs"]).unwrap();
        let KbsCommand::AdminToken(t) = a.command else { panic!("not admin-token") };
        assert_eq!((t.ttl, t.iss.as_deref(), t.aud.as_deref()), (Duration::from_secs(900), Some("me"), Some("kbs")));
        assert!(parse(&["admin-token", "--auth-private-key", "k", "--ttl", "0"]).is_err());
        assert!(parse(&["admin-token", "--auth-private-key", "k", "--ttl", "1w"]).is_err());
        assert!(parse(&["admin-token"]).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
