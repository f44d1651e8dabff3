//! Prometheus metrics: request counts and latency by route and status, and the security
//! events operators alert on. Labels are bounded sets chosen here (route templates, grant
//! types, limit names), never values taken from a request, so no user data can reach a series
//! and no client can grow the number of series.

use std::fmt::Write as _;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::domain::GrantType;

/// The `Content-Type` of [`Metrics::render`]: Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Seconds; from well under a millisecond (a bearer check) to a few seconds (a slow store).
const LATENCY_BUCKETS: [f64; 13] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The route label of a request no route matched: one series for every unknown path.
pub const UNMATCHED_ROUTE: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// A standard method's name or `other`: a bounded set.
    method: &'static str,
    /// The route template (`/users/{id}`), never the path the client sent.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabels {
    /// [`GrantType::as_str`]: a bounded set.
    grant_type: &'static str,
}

/// Which limit refused a request.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)] // The label values are snake_case by Prometheus convention.
pub enum Limit {
    /// Sign-in and sign-up attempts per IP address.
    sign_in_ip,
    /// An account locked out or slowed down after failed passwords.
    account_lockout,
    /// Token requests per IP address.
    token_ip,
    /// Token requests per confidential client.
    token_client,
    /// Authorization requests per IP address.
    authorize_ip,
    /// Sign-ins refused because the password-hashing queue was full.
    sign_in_queue,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: Limit,
}

/// Every metric the service exports. Cheap to update from any task: each is an atomic
/// behind a label lookup.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    tokens_issued: Family<GrantLabels, Counter>,
    login_failures: Counter,
    refresh_reuse: Counter,
    rate_limited: Family<LimitLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A registry with every metric at zero.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("auth");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(LATENCY_BUCKETS)) as fn() -> Histogram,
        );
        // The family's constructor type differs from the counter family's: registered apart.
        registry.register(
            "http_request_duration_seconds",
            "Time from receiving a request to answering it",
            latency.clone(),
        );
        let tokens_issued = Family::<GrantLabels, Counter>::default();
        registry.register(
            "tokens_issued",
            "Token responses issued at /oauth/token, by grant type",
            tokens_issued.clone(),
        );
        let login_failures = Counter::default();
        registry.register(
            "login_failures",
            "Sign-ins refused for a wrong email or password",
            login_failures.clone(),
        );
        let refresh_reuse = Counter::default();
        registry.register(
            "refresh_token_reuse_detected",
            "Refresh tokens presented again after rotation; each revoked its whole family",
            refresh_reuse.clone(),
        );
        let rate_limited = Family::<LimitLabels, Counter>::default();
        registry.register(
            "rate_limit_rejections",
            "Requests refused by a brute-force or rate limit, by limit",
            rate_limited.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            tokens_issued,
            login_failures,
            refresh_reuse,
            rate_limited,
        }
    }

    /// One answered request. `route` is the matched template or [`UNMATCHED_ROUTE`].
    pub fn request(&self, method: &'static str, route: &str, status: u16, elapsed: Duration) {
        let labels = RequestLabels {
            method,
            route: route.to_owned(),
            status,
        };
        self.latency
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        self.requests.get_or_create(&labels).inc();
    }

    /// One token response issued.
    pub fn token_issued(&self, grant: GrantType) {
        self.tokens_issued
            .get_or_create(&GrantLabels {
                grant_type: grant.as_str(),
            })
            .inc();
    }

    /// One sign-in refused for wrong credentials.
    pub fn login_failed(&self) {
        self.login_failures.inc();
    }

    /// One refresh-token reuse detected.
    pub fn refresh_reuse_detected(&self) {
        self.refresh_reuse.inc();
    }

    /// One request refused by `limit`.
    pub fn rate_limited(&self, limit: Limit) {
        self.rate_limited
            .get_or_create(&LimitLabels { limit })
            .inc();
    }

    /// The Prometheus text exposition of every metric.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry).is_err() {
            // Writing to a String cannot fail; say so rather than serve a truncated page.
            out.clear();
            let _ = writeln!(out, "# metrics could not be encoded");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_its_labels() {
        let metrics = Metrics::new();
        metrics.request("GET", "/users/{id}", 200, Duration::from_millis(3));
        metrics.token_issued(GrantType::RefreshToken);
        metrics.login_failed();
        metrics.refresh_reuse_detected();
        metrics.rate_limited(Limit::token_client);
        let text = metrics.render();
        for expected in [
            r#"auth_http_requests_total{method="GET",route="/users/{id}",status="200"} 1"#,
            r#"auth_http_request_duration_seconds_bucket{method="GET",route="/users/{id}",status="200",le="0.005"} 1"#,
            r#"auth_http_request_duration_seconds_bucket{method="GET",route="/users/{id}",status="200",le="0.0025"} 0"#,
            r#"auth_tokens_issued_total{grant_type="refresh_token"} 1"#,
            "auth_login_failures_total 1",
            "auth_refresh_token_reuse_detected_total 1",
            r#"auth_rate_limit_rejections_total{limit="token_client"} 1"#,
        ] {
            assert!(text.contains(expected), "missing {expected} in:\n{text}");
        }
    }
}
