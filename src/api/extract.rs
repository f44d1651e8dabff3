//! Wrappers around axum's body and query extractors whose rejections use the problem+json
//! format. Their details never quote the request: a serde message may contain a password.

use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// `axum::Json` with problem+json rejections.
pub struct AppJson<T>(pub T);

/// `axum::Form` (urlencoded body) with problem+json rejections.
pub struct AppForm<T>(pub T);

/// `axum::extract::Query` with problem+json rejections.
pub struct AppQuery<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

impl<S, T> FromRequest<S> for AppForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(value)) => Ok(Self(value)),
            Err(rejection) => Err(form_rejection(&rejection)),
        }
    }
}

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(_)) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "the query string is malformed or lacks a required parameter",
            )),
            Err(other) => Err(ApiError::new(
                other.status(),
                "the query string is malformed",
            )),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    let status = rejection.status();
    let detail = match rejection {
        JsonRejection::MissingJsonContentType(_) => "expected Content-Type: application/json",
        JsonRejection::JsonSyntaxError(_) => "the request body is not valid JSON",
        JsonRejection::JsonDataError(_) => {
            "the JSON body lacks a required field or has a field of the wrong type"
        }
        _ => body_problem(status),
    };
    ApiError::new(status, detail)
}

fn form_rejection(rejection: &FormRejection) -> ApiError {
    let status = rejection.status();
    let detail = match rejection {
        FormRejection::InvalidFormContentType(_) => {
            "expected Content-Type: application/x-www-form-urlencoded"
        }
        FormRejection::FailedToDeserializeForm(_)
        | FormRejection::FailedToDeserializeFormBody(_) => {
            "the form is malformed or lacks a required field"
        }
        _ => body_problem(status),
    };
    ApiError::new(status, detail)
}

fn body_problem(status: StatusCode) -> &'static str {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        "the request body is larger than 64 KiB"
    } else {
        "the request body could not be read"
    }
}
