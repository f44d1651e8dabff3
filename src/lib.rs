//! auth-service: an OAuth 2.1 authorization server and identity service.
//!
//! `main.rs` only parses the command line; everything else lives in this library so the
//! integration tests drive the same router, services and repositories as production.

pub mod api;
pub mod app;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod http_server;
pub mod metrics;
pub mod repos;
pub mod services;
pub mod telemetry;
