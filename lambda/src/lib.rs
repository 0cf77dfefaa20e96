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
