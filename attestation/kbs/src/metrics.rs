//! Prometheus metrics of the KBS, served as text at `GET /metrics`.
//!
//! Counters: HTTP requests by route template and status, attestations by TEE
//! and result, resource reads by result; gauge: live sessions (sampled when
//! scraped). Route labels are the router's templates, never raw paths, so
//! the label space stays bounded whatever clients send.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttestationLabels {
    tee: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

/// The KBS metric set.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    attestations: Family<AttestationLabels, Counter>,
    resource_reads: Family<ResultLabels, Counter>,
    sessions: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Known TEE names; anything else is counted as `other` to bound labels.
const TEE_LABELS: &[&str] = &["snp", "tdx", "cca", "se", "sample", "az-snp-vtpm", "az-tdx-vtpm"];

impl Metrics {
    /// A fresh registry with all KBS metrics.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("arca_kbs");
        let requests = Family::<RequestLabels, Counter>::default();
        let attestations = Family::<AttestationLabels, Counter>::default();
        let resource_reads = Family::<ResultLabels, Counter>::default();
        let sessions = Gauge::default();
        registry.register("http_requests", "HTTP requests by route template, method and status", requests.clone());
        registry.register("attestations", "Attestations by TEE and result", attestations.clone());
        registry.register("resource_reads", "Resource reads by result", resource_reads.clone());
        registry.register("active_sessions", "RCAR sessions currently held", sessions.clone());
        Metrics { registry, requests, attestations, resource_reads, sessions }
    }

    /// Count one HTTP request.
    pub fn request(&self, route: &str, method: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels { route: route.to_string(), method: method.to_string(), status })
            .inc();
    }

    /// Count one attestation outcome (`result` is e.g. `affirming`, `denied`, `error`).
    pub fn attestation(&self, tee: &str, result: &str) {
        let tee = if TEE_LABELS.contains(&tee) { tee } else { "other" };
        self.attestations.get_or_create(&AttestationLabels { tee: tee.to_string(), result: result.to_string() }).inc();
    }

    /// Count one resource read (`released`, `denied`, `not_found`, `error`).
    pub fn resource_read(&self, result: &str) {
        self.resource_reads.get_or_create(&ResultLabels { result: result.to_string() }).inc();
    }

    /// Render the text exposition, with the live session count.
    pub fn render(&self, active_sessions: usize) -> String {
        self.sessions.set(i64::try_from(active_sessions).unwrap_or(i64::MAX));
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            // Writing into a String cannot fail; an empty scrape is the safe fallback.
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_exposition_carries_each_family() {
        let m = Metrics::new();
        m.request("/kbs/v0/auth", "POST", 200);
        m.attestation("sample", "affirming");
        m.attestation("weird", "error");
        m.resource_read("released");
        let text = m.render(7);
        assert!(text.contains(r#"arca_kbs_http_requests_total{route="/kbs/v0/auth",method="POST",status="200"} 1"#));
        assert!(text.contains(r#"arca_kbs_attestations_total{tee="sample",result="affirming"} 1"#));
        assert!(text.contains(r#"arca_kbs_attestations_total{tee="other",result="error"} 1"#));
        assert!(text.contains(r#"arca_kbs_resource_reads_total{result="released"} 1"#));
        assert!(text.contains("arca_kbs_active_sessions 7"));
    }
}
