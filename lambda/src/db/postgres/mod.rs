//! PostgreSQL and Aurora PostgreSQL, on tokio-postgres.
//!
//! What this module promises, and why:
//!
//! - **The CA bundle is the only trust anchor.** TLS is rustls with a root store built from the
//!   bundle alone (never the public web PKI, never the system store), the chain and the host
//!   name are verified, and TLS is required, never downgraded; plaintext only when the caller
//!   passes no bundle, which only an explicit setting chooses.
//! - **The new password never reaches the server as text**: the function computes a
//!   SCRAM-SHA-256 verifier (as `psql`'s `\password` does) and sends that, so
//!   `log_statement = all`, pgaudit or `pg_stat_statements` record a salted hash rather than
//!   the password. PostgreSQL takes no bind parameter in `ALTER ROLE`, so statements are built
//!   with [`quote_literal`] and [`quote_identifier`], which are safe whatever
//!   `standard_conforming_strings` is. Errors of those statements never quote the server's
//!   message.
//! - **Only a wrong password is "credential refused"** (SQLSTATE 28P01). Any other refusal at
//!   login (pg_hba rules, `rds.force_ssl`, NOLOGIN, a missing database) is
//!   [`RotationError::LoginRefused`], so the caller does not go on to try other staged
//!   passwords or tell the operator to reset one.
//! - **A session changes the password of its login user**, never of a role it switched to (a
//!   role's `role` setting, which the alternating pairs themselves use, makes every session
//!   start with `SET ROLE`).
//! - **The alternate user is never a user outside the pair**: before any change, a partner that
//!   is the master, that holds more than the pair shares, or that membership does not tie to
//!   the user is refused.
//! - **Every statement is bounded**: `statement_timeout` and `lock_timeout` on the session, and
//!   a client-side backstop, so a lock held by a backup or a long transaction fails the step
//!   with a clear error well inside the Lambda timeout.
//!
//! The module by concern: `tls` (the trust anchor), `connect` (the login and the session's
//! first statement), `errors` (what a failed login means), `session` (the statements of the
//! steps and the catalog reads), `partner` (the pure judgement of a partner and a template),
//! `settings` (role settings carried from user to partner); quoting is here.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use secrecy::{ExposeSecret, SecretString};
use tokio::task::JoinHandle;
use tokio_postgres::config::SslMode;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{ConnectSettings, PRIVILEGE_HINT, Session, StatementBound, server_text};
use crate::error::RotationError;
use crate::secret::Login;

mod connect;
mod errors;
mod partner;
mod session;
mod settings;
mod tls;

// Each part sees the others' items (and the imports above) through `use super::*`.
use self::{connect::*, errors::*, partner::*, session::*, settings::*, tls::*};
pub(crate) use connect::login;
pub use connect::session_start;
pub use settings::setting_value;
pub use tls::client_config;

/// Quotes an identifier: wrapped in double quotes, inner double quotes doubled (libpq's
/// `PQescapeIdentifier`, as `postgres-protocol` ports it).
pub fn quote_identifier(name: &str) -> String {
    postgres_protocol::escape::escape_identifier(name)
}

/// Quotes a string literal (libpq's `PQescapeLiteral`, as `postgres-protocol` ports it): with a
/// backslash inside, the ` E''` form with backslashes doubled, so the literal means the same
/// with `standard_conforming_strings` on or off.
pub fn quote_literal(value: &str) -> String {
    postgres_protocol::escape::escape_literal(value)
}

#[cfg(test)]
mod tests;
