//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations as
//! the router is built (every route is registered through them, so the two cannot drift), and
//! the routes that expose it: `/openapi.json` (dev and test), `/docs` (dev) and `/metrics`
//! (`METRICS_ENABLED`). None of them exists in prod unless enabled.

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{OAuthErrorBody, Problem};
use super::login_page::escape;
use crate::metrics;

/// Which of the introspection routes this instance serves.
#[derive(Debug, Clone, Copy, Default)]
pub struct Exposure {
    /// `GET /openapi.json`.
    pub openapi: bool,
    /// `GET /docs`.
    pub docs: bool,
    /// `GET /metrics`.
    pub metrics: bool,
}

impl Exposure {
    /// The OpenAPI document in dev and test, the browsable docs in dev only, metrics when
    /// `METRICS_ENABLED=true`.
    #[must_use]
    pub fn for_env(env: crate::config::AppEnv, metrics: bool) -> Self {
        use crate::config::AppEnv;
        Self {
            openapi: env != AppEnv::Prod,
            docs: env == AppEnv::Dev,
            metrics,
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "auth-service",
        description = "OAuth 2.1 authorization server and identity service. Errors are RFC 9457 \
                       `application/problem+json`, except at the OAuth token-type endpoints, \
                       which answer RFC 6749 error bodies."
    ),
    components(schemas(Problem, OAuthErrorBody)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "accounts", description = "Registration, sign-in, sessions and profiles"),
        (name = "admin", description = "User administration (role `admin`)"),
        (name = "oauth", description = "The OAuth 2.1 authorization server"),
        (name = "orgs", description = "Organizations and their members"),
        (name = "meta", description = "This document, its browsable form, and metrics"),
    )
)]
struct ApiDoc;

/// The three ways a caller proves who it is.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An ES256 access token from /oauth/token"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "client_basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "client_secret_basic: the client id and secret, each form-urlencoded",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "session",
                "The browser session (`__Host-session` in prod)",
            ))),
        );
    }
}

/// Every operation may also answer an error its annotation does not list (413 for an oversized
/// body, 414, 431, 503 when a store is down, and so on): problem+json, or an RFC 6749 body at
/// the OAuth endpoints.
struct ErrorDefaults;

impl Modify for ErrorDefaults {
    fn modify(&self, openapi: &mut Document) {
        let default = ResponseBuilder::new()
            .description("Any other error")
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(Problem::name())))
                    .build(),
            )
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(OAuthErrorBody::name())))
                    .build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                operation
                    .responses
                    .responses
                    .entry("default".to_owned())
                    .or_insert_with(|| default.clone().into());
            }
        }
    }
}

/// An empty document carrying the shared metadata, components and modifiers; the routes add
/// their paths to it.
#[must_use]
pub fn base_document() -> Document {
    ApiDoc::openapi()
}

/// Applies the modifiers that need every path present (run after all routes are merged).
pub fn finish(document: &mut Document) {
    ErrorDefaults.modify(document);
}

/// The rendered document, built once when the router is; each response shares its bytes.
#[derive(Clone)]
pub struct Published {
    json: Bytes,
    html: Bytes,
}

impl Published {
    /// Serializes `document` and renders its browsable page.
    #[must_use]
    pub fn new(document: &Document) -> Self {
        let value = serde_json::to_value(document).unwrap_or(Value::Null);
        Self {
            json: Bytes::from(value.to_string()),
            html: Bytes::from(render_html(&value)),
        }
    }
}

/// `/openapi.json`, `/docs` and `/metrics`, as this instance exposes them.
pub fn router(exposure: Exposure) -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::new();
    if exposure.openapi {
        router = router.routes(routes!(openapi_json));
    }
    if exposure.docs {
        router = router.routes(routes!(docs_page));
    }
    if exposure.metrics {
        router = router.routes(routes!(metrics_text));
    }
    router
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)),
)]
async fn openapi_json(Extension(published): Extension<Published>) -> Response {
    with_type("application/json", published.json)
}

/// This document as a page: every operation with its parameters and responses. Plain HTML,
/// no scripts and nothing fetched from elsewhere.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "meta",
    responses((status = 200, description = "The browsable API reference", content_type = "text/html", body = String)),
)]
async fn docs_page(Extension(published): Extension<Published>) -> Response {
    with_type("text/html; charset=utf-8", published.html)
}

/// Prometheus metrics: request counts and latency by route template and status, tokens issued
/// by grant, failed sign-ins, refresh-token reuse, and rate-limit refusals. No user data.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String)),
)]
async fn metrics_text(State(state): State<AppState>) -> Response {
    with_type(metrics::CONTENT_TYPE, Bytes::from(state.metrics.render()))
}

fn with_type(content_type: &'static str, body: Bytes) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The reference page: one section per path, one collapsible entry per operation.
fn render_html(document: &Value) -> String {
    let text = |value: &Value| value.as_str().map(escape).unwrap_or_default();
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>auth-service API</title></head><body>",
    );
    html += &format!(
        "<h1>{} {}</h1><p>{}</p><p>Machine-readable: <a href=\"/openapi.json\">/openapi.json</a></p>",
        text(&document["info"]["title"]),
        text(&document["info"]["version"]),
        text(&document["info"]["description"]),
    );
    if let Some(paths) = document["paths"].as_object() {
        for (path, item) in paths {
            for method in METHODS {
                let operation = &item[method];
                if operation.is_null() {
                    continue;
                }
                html += &format!(
                    "<details><summary><code>{} {}</code> {}</summary>",
                    method.to_ascii_uppercase(),
                    escape(path),
                    text(&operation["summary"]),
                );
                html += &format!("<p>{}</p>", text(&operation["description"]));
                if let Some(security) = operation["security"].as_array() {
                    let schemes: Vec<String> = security
                        .iter()
                        .filter_map(Value::as_object)
                        .flat_map(|scheme| scheme.keys().map(|k| escape(k)))
                        .collect();
                    html += &format!("<p>Authentication: {}</p>", schemes.join(" or "));
                }
                if let Some(parameters) = operation["parameters"].as_array() {
                    html += "<h4>Parameters</h4><ul>";
                    for parameter in parameters {
                        html += &format!(
                            "<li><code>{}</code> ({}) {}</li>",
                            text(&parameter["name"]),
                            text(&parameter["in"]),
                            text(&parameter["description"]),
                        );
                    }
                    html += "</ul>";
                }
                if let Some(body) = operation["requestBody"]["content"].as_object() {
                    html += "<h4>Request body</h4><ul>";
                    for (media, content) in body {
                        html += &format!(
                            "<li><code>{}</code> {}</li>",
                            escape(media),
                            schema_name(&content["schema"]),
                        );
                    }
                    html += "</ul>";
                }
                if let Some(responses) = operation["responses"].as_object() {
                    html += "<h4>Responses</h4><ul>";
                    for (status, response) in responses {
                        html += &format!(
                            "<li><code>{}</code> {}</li>",
                            escape(status),
                            text(&response["description"]),
                        );
                    }
                    html += "</ul>";
                }
                html += "</details>";
            }
        }
    }
    if let Some(schemas) = document["components"]["schemas"].as_object() {
        html += "<h2>Schemas</h2>";
        for (name, schema) in schemas {
            let pretty = serde_json::to_string_pretty(schema).unwrap_or_default();
            html += &format!(
                "<details><summary><code>{}</code></summary><pre>{}</pre></details>",
                escape(name),
                escape(&pretty),
            );
        }
    }
    html += "</body></html>";
    html
}

/// `Name` for a `$ref` to a component, else the inline schema's type.
fn schema_name(schema: &Value) -> String {
    schema["$ref"]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .or_else(|| schema["type"].as_str())
        .map(escape)
        .unwrap_or_default()
}
