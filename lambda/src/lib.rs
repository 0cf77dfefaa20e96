//! An AWS Secrets Manager rotation function for RDS and Aurora PostgreSQL, MySQL and MariaDB.
//!
//! Secrets Manager calls the function four times per rotation (`createSecret`, `setSecret`,
//! `testSecret`, `finishSecret`). The promise: an interrupted rotation, retried, converges, and
//! at every moment a staged credential (AWSCURRENT or AWSPREVIOUS) logs in; no password is ever
//! written to a log, an error or `Debug` output.
//!
//! The binary (`bootstrap`) only wires things up; the logic lives here so tests can drive it:
//! [`steps`] holds the guard and the four steps, generic over a [`store::SecretStore`] (Secrets
//! Manager) and a [`db::Connector`] (the database engines); [`alternating`] is the
//! alternating-users strategy (partner naming, the master login) with [`rds`], the RDS API it
//! asks where an RDS-managed master secret's database is. [`ops`] holds what operators invoke
//! the function with (preflight, recover, audit), [`refresh`] the applications refreshed after a
//! rotation, and [`metrics`] the metric line of each step.

pub mod alternating;
pub mod cache;
pub mod config;
pub mod db;
/// The engines, their families, ports and limits: shared with the stack through the contract.
pub use rotation_contract::engine;
pub mod error;
pub mod event;
/// Test doubles: only with the `fakes` feature, which the tests enable.
#[cfg(feature = "fakes")]
pub mod fakes;
pub mod metrics;
pub mod ops;
pub mod password;
pub mod rds;
pub mod refresh;
pub mod secret;
pub mod settings;
pub mod steps;
pub mod store;

pub use config::Config;
pub use error::RotationError;
pub use event::{Invocation, RotationEvent, Step};
pub use steps::Rotator;

/// Makes ring the process's rustls provider (the first call wins; later ones do nothing).
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The HTTPS client of the AWS SDK clients: rustls on ring, the provider the database drivers
/// use, with the system's trust roots. The SDK's default client would add aws-lc, a second
/// crypto library (about 2 MB of the binary, and of its resident memory).
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}
