//! HTTP tests through the real router (`tower::ServiceExt::oneshot`), one binary for speed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed expectation is the test failing"
)]

mod accounts;
mod admin;
mod authorize;
mod concurrency;
mod forgery;
mod hardening;
mod helpers;
mod limits;
mod login_page;
mod oauth_client;
mod openapi;
mod orgs;
mod outage;
mod platform;
mod postgres_input;
mod redis;
mod token;
