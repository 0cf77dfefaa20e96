//! An AWS Secrets Manager rotation function for RDS and Aurora PostgreSQL, MySQL and MariaDB.
//!
//! Secrets Manager calls the function four times per rotation (`createSecret`, `setSecret`,
//! `testSecret`, `finishSecret`). The promise: an interrupted rotation, retried, converges, and
//! at every moment a staged credential (AWSCURRENT or AWSPREVIOUS) logs in; no password is ever
//! written to a log, an error or `Debug` output.
//!
//! The binary (`bootstrap`) only wires things up; the logic lives here so tests can drive it:
//! [`rotation`] holds the steps, generic over a [`store::SecretStore`] (Secrets Manager) and a
//! [`db::Connector`] (the database engines).

pub mod config;
pub mod db;
/// The engines, their families, ports and limits: shared with the stack through the contract.
pub use rotation_contract::engine;
pub mod error;
pub mod event;
pub mod master;
pub mod password;
pub mod rotation;
pub mod secret;
pub mod store;

pub use config::Config;
pub use error::RotationError;
pub use event::{RotationEvent, Step};
pub use rotation::Rotator;
