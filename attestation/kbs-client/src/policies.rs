//! Ready-made resource policies (Rego) for `arca kbs config set-resource-policy
//! --allow-all | --deny-all | --affirming`.
//!
//! Input is the attestation token's claims (EAR JSON); the KBS releases a
//! resource when `data.policy.allow` is true.

/// Release every resource to every caller with a token (development only).
pub const ALLOW_ALL: &str = include_str!("../policies/allow_all.rego");

/// Release nothing.
pub const DENY_ALL: &str = include_str!("../policies/deny_all.rego");

/// Release only when every submodule of the token has `ear.status` `affirming`.
pub const AFFIRMING: &str = include_str!("../policies/affirming.rego");
