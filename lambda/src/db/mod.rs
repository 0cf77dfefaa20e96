//! Database engines behind one trait.
//!
//! Rotation logic sees a [`Connector`] that logs in and a [`Session`] that changes passwords; what
//! is PostgreSQL and what is MySQL/MariaDB lives in [`postgres`] and [`mysql`]. Connections are
//! built field by field (never from a URL holding the password), with statement logging off so no
//! SQL carrying a password reaches a log, and with a connect timeout so an unreachable host
//! fails the step with a message about the network rather than the Lambda timeout.

pub mod mysql;
pub mod postgres;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::error::RotationError;
use crate::secret::{EngineFamily, Login, Tls};

/// An open, authenticated database session.
#[async_trait]
pub trait Session: Send {
    /// Changes the password of the user this session is logged in as.
    async fn set_own_password(&mut self, password: &SecretString) -> Result<(), RotationError>;

    /// The host pattern of the account this session logged in as (`app@'10.0.%'` ->
    /// `10.0.%`), for engines whose accounts have one.
    async fn account_host(&mut self) -> Result<Option<String>, RotationError>;

    /// As a master user: makes `target` a login user with exactly the privileges of
    /// `template` (whose account host is `host`, where the engine has one), with `password`.
    /// Creates `target` when it does not exist; safe to run again.
    async fn clone_user(
        &mut self,
        template: &str,
        host: Option<&str>,
        target: &str,
        password: &SecretString,
    ) -> Result<(), RotationError>;

    /// Runs a query, proving the session can do work.
    async fn verify(&mut self) -> Result<(), RotationError>;

    /// Ends the session politely.
    async fn close(self: Box<Self>);
}

/// Opens sessions.
#[async_trait]
pub trait Connector: Send + Sync {
    /// Logs in with `login`. `Ok(None)` means the server rejected the credential; any other
    /// failure (network, TLS, server errors) is an error, since trying another password
    /// would not help.
    async fn login(&self, login: &Login) -> Result<Option<Box<dyn Session>>, RotationError>;
}

/// The real drivers, compiled in.
#[derive(Debug, Clone)]
pub struct Drivers {
    ca_bundle: PathBuf,
    timeout: Duration,
}

impl Drivers {
    pub fn new(ca_bundle: PathBuf, timeout: Duration) -> Self {
        Self { ca_bundle, timeout }
    }

    /// The CA bundle to verify the server with, checked before any connection is tried.
    fn ca_bundle_for(&self, login: &Login) -> Result<Option<&PathBuf>, RotationError> {
        match login.tls {
            Tls::Disabled => Ok(None),
            Tls::VerifyFull if self.ca_bundle.is_file() => Ok(Some(&self.ca_bundle)),
            Tls::VerifyFull => Err(RotationError::Tls {
                host: login.host.clone(),
                port: login.port,
                detail: format!(
                    "the CA bundle `{}` does not exist (is the driver layer attached?)",
                    self.ca_bundle.display()
                ),
            }),
        }
    }
}

#[async_trait]
impl Connector for Drivers {
    async fn login(&self, login: &Login) -> Result<Option<Box<dyn Session>>, RotationError> {
        let ca_bundle = self.ca_bundle_for(login)?;
        let attempt = async {
            match login.engine.family() {
                EngineFamily::Postgres => postgres::login(login, ca_bundle).await,
                EngineFamily::MySql => mysql::login(login, ca_bundle).await,
            }
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(RotationError::Unreachable {
                host: login.host.clone(),
                port: login.port,
                detail: format!("no answer within {} s", self.timeout.as_secs()),
            }),
        }
    }
}

/// Maps a failed connection attempt: a rejected credential is `Ok(None)`.
fn connect_failure(
    login: &Login,
    error: sqlx::Error,
    is_rejection: impl Fn(&dyn sqlx::error::DatabaseError) -> bool,
) -> Result<Option<Box<dyn Session>>, RotationError> {
    let (host, port) = (login.host.clone(), login.port);
    match error {
        sqlx::Error::Database(db) if is_rejection(db.as_ref()) => Ok(None),
        sqlx::Error::Database(db) => Err(RotationError::Database {
            host,
            port,
            action: "open a session",
            detail: db.message().to_owned(),
            hint: "",
        }),
        sqlx::Error::Tls(e) => Err(RotationError::Tls {
            host,
            port,
            detail: e.to_string(),
        }),
        // rustls reports a refused certificate as an I/O error wrapping its own.
        sqlx::Error::Io(e) if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => {
            Err(RotationError::Tls {
                host,
                port,
                detail: e.to_string(),
            })
        }
        sqlx::Error::Io(e) => Err(RotationError::Unreachable {
            host,
            port,
            detail: e.to_string(),
        }),
        other => Err(RotationError::Database {
            host,
            port,
            action: "open a session",
            detail: other.to_string(),
            hint: "",
        }),
    }
}

/// Hint for a statement that failed for lack of privilege.
const PRIVILEGE_HINT: &str = "; check the user's grants allow it to change its own password \
                              (or, for the master user, to create users and grant privileges)";
