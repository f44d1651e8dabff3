//! The server-rendered sign-in page: `GET /login` and `POST /login`. Plain HTML, no
//! JavaScript. Login CSRF is stopped with a double-submit token: a random value in a
//! `SameSite=Strict` cookie that the form must repeat.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::Deserialize;
use subtle::ConstantTimeEq as _;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, Result};
use super::extract::{AppForm, AppQuery, ClientIp};
use super::{AppState, cookies};
use crate::domain::OpaqueToken;
use crate::services;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_login, post_login))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LoginQuery {
    /// Where to go after signing in: a path on this server (anything else becomes `/`).
    next: Option<String>,
}

/// Every field is optional so that a form missing its CSRF token gets the specified 403,
/// not a generic 422.
#[derive(Deserialize, ToSchema)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<SecretString>,
    #[serde(default)]
    next: String,
    /// The value of the form's CSRF cookie.
    #[serde(default)]
    csrf_token: String,
}

/// The sign-in page.
///
/// The sign-in form; with a live session, straight on to `next`.
#[utoipa::path(get, path = "/login", tag = "accounts",
    params(LoginQuery),
    responses(
        (status = 200, description = "The form, with a fresh CSRF cookie", content_type = "text/html", body = String),
        (status = 303, description = "Already signed in: to `next`"),
    ))]
async fn get_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppQuery(query): AppQuery<LoginQuery>,
) -> Result<Response> {
    let next = safe_next(query.next.as_deref().unwrap_or("/"));
    if let Some(presented) = cookies::read(&headers, state.cookies.session_name())
        && state.sessions.resolve(&presented).await?.is_some()
    {
        return redirect_to(&next, None);
    }
    render(&state, StatusCode::OK, &next, "", None)
}

/// Submit the sign-in page.
///
/// 303 to `next` with a session cookie; 403 with a fresh form on a missing or wrong CSRF
/// token; 401 with the form and one generic message on wrong credentials.
#[utoipa::path(post, path = "/login", tag = "accounts",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in (`Set-Cookie`): to `next`"),
        (status = 401, description = "Wrong email or password: the form again", content_type = "text/html", body = String),
        (status = 403, description = "Missing or wrong CSRF token: a fresh form", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts: the form again, with `Retry-After`", content_type = "text/html", body = String),
    ))]
async fn post_login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: Result<AppForm<LoginForm>, ApiError>,
) -> Result<Response> {
    // A form that does not parse (repeated fields, say) cannot carry a valid CSRF token: the
    // same 403 and fresh form. Other rejections (size, content type) stay problems.
    let form = match form {
        Ok(AppForm(form)) => form,
        Err(rejection)
            if matches!(
                rejection.status(),
                StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY
            ) =>
        {
            return render(
                &state,
                StatusCode::FORBIDDEN,
                "/",
                "",
                Some("Your sign-in form expired. Please try again."),
            );
        }
        Err(rejection) => return Err(rejection),
    };
    let next = safe_next(&form.next);
    let expected = cookies::read(&headers, state.cookies.csrf_name()).unwrap_or_default();
    let csrf_ok =
        !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(form.csrf_token.as_bytes()));
    if !csrf_ok {
        return render(
            &state,
            StatusCode::FORBIDDEN,
            &next,
            &form.email,
            Some("Your sign-in form expired. Please try again."),
        );
    }
    let password = form.password.unwrap_or_else(|| SecretString::from(""));
    match state.accounts.sign_in(ip, &form.email, password).await {
        Ok(user) => {
            let secret = state.sessions.start(user.id).await?;
            let cookie = state
                .cookies
                .set_session(secret.expose(), state.sessions.ttl())?;
            redirect_to(&next, Some(cookie))
        }
        Err(services::Error::InvalidCredentials) => render(
            &state,
            StatusCode::UNAUTHORIZED,
            &next,
            &form.email,
            Some("Invalid email or password."),
        ),
        Err(services::Error::Throttled(throttled)) => retry_after(
            render(
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                &next,
                &form.email,
                Some("Too many sign-in attempts. Please wait a moment and try again."),
            ),
            throttled.retry_after_secs(),
        ),
        Err(services::Error::Overloaded) => retry_after(
            render(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                &next,
                &form.email,
                Some("Too many people are signing in right now. Please try again in a moment."),
            ),
            services::OVERLOADED_RETRY_AFTER_SECS,
        ),
        Err(other) => Err(other.into()),
    }
}

/// The form again, with a `Retry-After` for the browser.
fn retry_after(page: Result<Response>, secs: u64) -> Result<Response> {
    let mut page = page?;
    page.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    Ok(page)
}

/// Where a sign-in may send the browser next: a path on this site, or `/`.
///
/// The check runs on the value after the clean-up a browser does (tabs and newlines dropped,
/// `\` read as `/`), so `/\evil.example` or `/\t/evil.example` cannot become `//evil.example`.
/// Only printable ASCII passes, which also keeps the `Location` header valid.
#[must_use]
pub fn safe_next(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .map(|c| if c == '\\' { '/' } else { c })
        .collect();
    let local = cleaned.starts_with('/')
        && !cleaned.starts_with("//")
        && cleaned.bytes().all(|b| b.is_ascii_graphic());
    if local { cleaned } else { "/".to_owned() }
}

fn redirect_to(next: &str, cookie: Option<HeaderValue>) -> Result<Response> {
    let location =
        HeaderValue::from_str(next).map_err(|_| ApiError::internal("unsafe redirect target"))?;
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = cookie {
        headers.insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// The page with a fresh CSRF token (set in its cookie and repeated in the form).
fn render(
    state: &AppState,
    status: StatusCode,
    next: &str,
    email: &str,
    message: Option<&str>,
) -> Result<Response> {
    let csrf = OpaqueToken::generate().map_err(|e| ApiError::internal(&e.to_string()))?;
    let html = page(next, csrf.expose(), email, message);
    Ok((
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::SET_COOKIE, state.cookies.set_csrf(csrf.expose())?),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                     frame-ancestors 'none'; base-uri 'none'",
                ),
            ),
        ],
        html,
    )
        .into_response())
}

fn page(next: &str, csrf: &str, email: &str, message: Option<&str>) -> String {
    let alert = message.map_or_else(String::new, |m| {
        format!(r#"<p class="alert" role="alert">{}</p>"#, escape(m))
    });
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in</title>
<style>
  body {{ margin: 0; min-height: 100vh; display: grid; place-items: center;
         font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif;
         background: #f3f4f6; color: #111827; }}
  main {{ width: min(22rem, 90vw); background: #fff; padding: 2rem; border-radius: .75rem;
         box-shadow: 0 10px 25px rgba(0,0,0,.08); }}
  h1 {{ margin: 0 0 1.25rem; font-size: 1.4rem; }}
  label {{ display: block; margin: .9rem 0 .3rem; font-weight: 600; font-size: .9rem; }}
  input {{ box-sizing: border-box; width: 100%; padding: .6rem .7rem; font: inherit;
          border: 1px solid #d1d5db; border-radius: .45rem; }}
  input:focus {{ outline: 2px solid #2563eb; border-color: transparent; }}
  button {{ margin-top: 1.4rem; width: 100%; padding: .65rem; font: inherit; font-weight: 600;
           color: #fff; background: #2563eb; border: 0; border-radius: .45rem; cursor: pointer; }}
  button:hover {{ background: #1d4ed8; }}
  .alert {{ margin: 0 0 1rem; padding: .6rem .8rem; border-radius: .45rem;
           background: #fef2f2; color: #991b1b; border: 1px solid #fecaca; }}
</style>
</head>
<body>
<main>
<h1>Sign in</h1>
{alert}
<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required value="{email}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>
"#,
        csrf = escape(csrf),
        next = escape(next),
        email = escape(email),
    )
}

/// Escapes text for HTML element content and double-quoted attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_kept() {
        for ok in [
            "/",
            "/account",
            "/oauth/authorize?client_id=a&state=b%20c",
            "/a/b#frag",
        ] {
            assert_eq!(safe_next(ok), ok);
        }
    }

    #[test]
    fn anything_that_could_leave_the_site_becomes_root() {
        for bad in [
            "",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "\t//evil.example",
            "https://evil.example",
            "http:evil.example",
            "javascript:alert(1)",
            "evil.example",
            " /x",
            "/x y",
            "/caf\u{e9}",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?} was allowed");
        }
    }

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape(r#""><script>alert('x')</script>&"#),
            "&quot;&gt;&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;"
        );
    }
}
