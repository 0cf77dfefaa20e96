//! Database engines behind one trait.
//!
//! Rotation logic sees a [`Connector`] that logs in and a [`Session`] that changes passwords; what
//! is PostgreSQL and what is MySQL/MariaDB lives in [`postgres`] and [`mysql`]. Connections are
//! built field by field (never from a URL holding the password), verify the server against the
//! CA bundle alone (never the public web PKI or the system store: that is why the drivers are
//! tokio-postgres and mysql_async, not sqlx), and have a connect timeout and a bound on every
//! statement, so an unreachable host or a held lock fails the step with a message rather than
//! the Lambda timeout. The drivers log statement text at debug level; the binary keeps them at
//! warnings (see `main.rs`), since a statement may carry a password or its verifier.

pub mod mysql;
pub mod postgres;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::config::Config;
use crate::error::RotationError;
use crate::secret::{EngineFamily, Login, Tls};

/// An open, authenticated database session.
#[async_trait]
pub trait Session: Send {
    /// Changes the password of the user this session logged in as: the login (session) user,
    /// never a role the session switched to (PostgreSQL's `SET ROLE`, a role's default `role`
    /// setting, MySQL proxy users). Refuses when the session's login user is not `username`.
    async fn set_own_password(
        &mut self,
        username: &str,
        password: &SecretString,
    ) -> Result<(), RotationError>;

    /// The host pattern of the account this session logged in as (`app@'10.0.%'` ->
    /// `10.0.%`), for engines whose accounts have one.
    async fn account_host(&mut self) -> Result<Option<String>, RotationError>;

    /// As a master user: makes `target` a login user with exactly the privileges of
    /// `template` (whose account host is `host`, where the engine has one), with `password`.
    /// Creates `target` when it does not exist; safe to run again.
    ///
    /// Before any change it refuses ([`RotationError::UnsafePartner`]) a `target` that is the
    /// session's own (master) user, that holds anything the pair does not share (superuser,
    /// CREATEROLE, admin options, global privileges, grants `template` lacks), or that the
    /// engine records as unrelated to `template` (PostgreSQL membership).
    async fn clone_user(
        &mut self,
        template: &str,
        host: Option<&str>,
        target: &str,
        password: &SecretString,
    ) -> Result<(), RotationError>;

    /// Read-only rehearsal of [`Session::set_own_password`] for preflight: refuses as it would
    /// (a login user that is not `username`) and, where the engine can undo it (PostgreSQL:
    /// inside a transaction that is rolled back), makes the change with a throwaway password
    /// to prove the server allows it. Changes nothing.
    async fn rehearse_own_password(&mut self, username: &str) -> Result<(), RotationError>;

    /// Read-only rehearsal of [`Session::clone_user`] for preflight: every check it makes
    /// before a change, and that this session's (master) user holds what the change needs.
    /// PostgreSQL runs the whole clone with a throwaway password inside a transaction that is
    /// rolled back; MySQL, whose user statements cannot be rolled back, compares grants.
    /// Changes nothing.
    async fn rehearse_clone(
        &mut self,
        template: &str,
        host: Option<&str>,
        target: &str,
    ) -> Result<(), RotationError>;

    /// As a master user, records an existing `target` as the partner of `template` (whose
    /// account host is `host`), after every check [`Session::clone_user`] makes but the
    /// record itself: the operator's explicit word that a pair made elsewhere (by hand, or by
    /// AWS's rotation templates) is the function's to rotate. Changes no account.
    ///
    /// Engines that record the pair in the database itself (PostgreSQL role membership) have
    /// nothing to adopt, and refuse.
    async fn adopt_partner(
        &mut self,
        template: &str,
        host: Option<&str>,
        target: &str,
    ) -> Result<(), RotationError> {
        let _ = (template, host);
        Err(RotationError::UnsafePartner {
            user: target.to_owned(),
            problem: "this engine records the pair itself (PostgreSQL: the clone is a member \
                      of the user's role), so there is nothing to adopt"
                .into(),
        })
    }

    /// As a master user: retires `target`, the previous user of the pair whose current user
    /// is `template` (account host `host` where the engine has one; `None` lets the engine find
    /// it in its own record of the pair), so that `target` no longer logs in from `at` (seconds
    /// since the epoch). PostgreSQL says it natively (`VALID UNTIL`), and never moves a
    /// retirement already set later (a retry does not extend the grace). MySQL and MariaDB
    /// have no such clause: they lock the account now (`ACCOUNT LOCK`), and the caller calls
    /// only once `at` has passed. Refuses, before any change, a `target` that is `template`,
    /// the session's own user, or not `template`'s partner in a pair the function may act on.
    /// Safe to run again; the next [`Session::clone_user`] of `target` undoes it.
    async fn retire_partner(
        &mut self,
        template: &str,
        host: Option<&str>,
        target: &str,
        at: i64,
    ) -> Result<(), RotationError> {
        let _ = (template, host, at);
        Err(RotationError::UnsafePartner {
            user: target.to_owned(),
            problem: "this engine cannot retire a user".into(),
        })
    }

    /// Read-only: how many sessions `user` has open on the server, as this session may see
    /// them (`None`: it may not see other users' sessions). A retired user's sessions are an
    /// application that still holds AWSPREVIOUS and fails at its next login.
    async fn sessions_of(&mut self, user: &str) -> Result<Option<u64>, RotationError> {
        let _ = user;
        Ok(None)
    }

    /// Server settings a rotation works around, each with what it means, for preflight to
    /// report (MariaDB's `old_passwords`, for one). Read-only.
    async fn server_settings(&mut self) -> Result<Vec<String>, RotationError> {
        Ok(Vec::new())
    }

    /// Runs a query, proving the session can do work.
    async fn verify(&mut self) -> Result<(), RotationError>;

    /// Ends the session politely.
    async fn close(self: Box<Self>);
}

/// Opens sessions.
#[async_trait]
pub trait Connector: Send + Sync {
    /// Logs in with `login`. `Ok(None)` means the server rejected the password (PostgreSQL's
    /// 28P01, MySQL's 1045); any other failure (network, TLS, a login refused for another
    /// reason, server errors) is an error, since trying another password would not help.
    async fn login(&self, login: &Login) -> Result<Option<Box<dyn Session>>, RotationError>;
}

/// What every connection is opened with.
#[derive(Debug, Clone, Copy)]
pub struct ConnectSettings<'a> {
    /// The PEM bundle that is the only trust anchor for the server's certificate; `None` for
    /// plaintext, which only an explicit setting chooses.
    pub ca_bundle: Option<&'a Path>,
    /// The bound on each statement and each lock wait, set on the server session and enforced
    /// by the function as a backstop.
    pub statement_timeout: Duration,
}

/// The bound on each statement and lock wait in the units each engine's settings take, one
/// rounding for both: whole seconds rounded up (MySQL's lock waits, MariaDB's
/// `max_statement_time`, the seconds an error names) and milliseconds (PostgreSQL's
/// `statement_timeout` and `lock_timeout`, MySQL's `max_execution_time`), never below 1, which
/// would mean "no bound" to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementBound(pub Duration);

impl StatementBound {
    pub fn seconds(self) -> u64 {
        self.0.as_millis().div_ceil(1000).max(1) as u64
    }

    pub fn millis(self) -> u128 {
        self.0.as_millis().max(1)
    }
}

/// The real drivers, compiled in.
#[derive(Debug, Clone)]
pub struct Drivers {
    ca_bundle: PathBuf,
    timeout: Duration,
    statement_timeout: Duration,
}

impl Drivers {
    pub fn new(ca_bundle: PathBuf, timeout: Duration) -> Self {
        // MySQL's driver builds its TLS configuration with the process's default provider;
        // make it ring, the one provider of the binary, wherever the drivers are made (a second
        // provider compiled in, as in the tests, would otherwise leave it unchosen).
        crate::install_tls_provider();
        Self {
            ca_bundle,
            timeout,
            statement_timeout: Duration::from_secs(
                rotation_contract::env::DB_STATEMENT_TIMEOUT.default,
            ),
        }
    }

    /// Drivers as the function's configuration sets them up.
    pub fn from_config(config: &Config) -> Self {
        Self::new(config.ca_bundle.clone(), config.connect_timeout)
            .with_statement_timeout(config.statement_timeout)
    }

    pub fn with_statement_timeout(mut self, statement_timeout: Duration) -> Self {
        self.statement_timeout = statement_timeout;
        self
    }

    /// The CA bundle to verify the server with, checked before any connection is tried.
    fn ca_bundle_for(&self, login: &Login) -> Result<Option<&Path>, RotationError> {
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
        let settings = ConnectSettings {
            ca_bundle: self.ca_bundle_for(login)?,
            statement_timeout: self.statement_timeout,
        };
        let attempt = async {
            match login.engine.family() {
                EngineFamily::Postgres => postgres::login(login, settings).await,
                EngineFamily::MySql => mysql::login(login, settings).await,
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

/// The most characters of a server's text that reach a log line or a report.
pub const SERVER_TEXT_MAX: usize = 300;

/// A server's text (an error message, a notice) as it may be shown: every value the function
/// sent to that server (the login password, which a server asking for it in clear receives)
/// masked, and bounded, so a hostile server can neither echo a secret into the logs nor flood
/// them.
pub fn server_text(text: &str, sent: &[&str]) -> String {
    let mut shown = text.to_owned();
    for value in sent.iter().filter(|value| !value.is_empty()) {
        shown = shown.replace(value, "***");
    }
    match shown.char_indices().nth(SERVER_TEXT_MAX) {
        Some((cut, _)) => format!("{}... (cut at {SERVER_TEXT_MAX} characters)", &shown[..cut]),
        None => shown,
    }
}

/// Hint for a statement that failed for lack of privilege.
const PRIVILEGE_HINT: &str = "Check that the user's grants allow it to change its own password \
                              (or, for the master user, to create users and grant privileges).";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_rounds_up_and_is_never_zero() {
        let bound = |ms| StatementBound(Duration::from_millis(ms));
        assert_eq!(
            (bound(10_000).seconds(), bound(10_000).millis()),
            (10, 10_000)
        );
        assert_eq!((bound(1_500).seconds(), bound(1_500).millis()), (2, 1_500));
        assert_eq!((bound(0).seconds(), bound(0).millis()), (1, 1));
    }

    #[test]
    fn server_text_masks_what_was_sent_and_is_bounded() {
        let shown = server_text(
            "password authentication failed: got s3cret-Pa55 back",
            &["s3cret-Pa55", ""],
        );
        assert_eq!(shown, "password authentication failed: got *** back");
        let flood = "é".repeat(10_000);
        let shown = server_text(&flood, &[]);
        assert!(
            shown.chars().count() < SERVER_TEXT_MAX + 40,
            "{}",
            shown.len()
        );
        assert!(shown.ends_with("(cut at 300 characters)"));
    }
}
