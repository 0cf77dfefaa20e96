//! MySQL, Aurora MySQL and MariaDB.
//!
//! Neither server takes a bind parameter for a password in `ALTER USER` or `SET PASSWORD`, so
//! the literal is built by [`quote_string`]. How a backslash reads depends on the session's
//! `sql_mode` (`NO_BACKSLASH_ESCAPES`), so each session reads its mode before quoting anything.
//! Which statement changes a user's own password depends on the server: `ALTER USER
//! CURRENT_USER()` on MySQL 5.7.6 and later; `SET PASSWORD = PASSWORD(...)` on MariaDB, where
//! `ALTER USER` needs the CREATE USER privilege, and on older MySQL. Error messages of those
//! statements are never passed on, since a syntax error would quote the password.

use std::path::PathBuf;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlSslMode};
use sqlx::{ConnectOptions, Connection, Executor};

use super::{PRIVILEGE_HINT, Session, connect_failure};
use crate::error::RotationError;
use crate::secret::Login;

/// Quotes a string literal for a session whose `sql_mode` has (or lacks) `NO_BACKSLASH_ESCAPES`.
pub fn quote_string(value: &str, no_backslash_escapes: bool) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('\'');
    for c in value.chars() {
        match c {
            '\'' => quoted.push_str("''"),
            '\\' if !no_backslash_escapes => quoted.push_str("\\\\"),
            '\0' if !no_backslash_escapes => quoted.push_str("\\0"),
            '\u{1a}' if !no_backslash_escapes => quoted.push_str("\\Z"),
            c => quoted.push(c),
        }
    }
    quoted.push('\'');
    quoted
}

/// Quotes an identifier with backticks, which mean the same under every `sql_mode`.
pub fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// MySQL's `ER_ACCESS_DENIED_ERROR` and `ER_ACCESS_DENIED_NO_PASSWORD_ERROR`.
fn is_rejection(error: &dyn sqlx::error::DatabaseError) -> bool {
    error
        .try_downcast_ref::<MySqlDatabaseError>()
        .is_some_and(|e| matches!(e.number(), 1045 | 1698))
}

/// The server family and version, read once per session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    MariaDb,
    MySql(u32, u32, u32),
}

impl Server {
    /// Reads `SELECT VERSION()`, e.g. `8.0.36`, `5.7.44-log` or `10.11.6-MariaDB-0+deb12u1`.
    pub fn from_version(version: &str) -> Self {
        if version.to_ascii_lowercase().contains("mariadb") {
            return Self::MariaDb;
        }
        let mut parts = version
            .split(|c: char| !c.is_ascii_digit())
            .map(|n| n.parse::<u32>().unwrap_or(0));
        let mut next = || parts.next().unwrap_or(0);
        Self::MySql(next(), next(), next())
    }

    /// Whether `ALTER USER CURRENT_USER() IDENTIFIED BY` changes the session user's password.
    pub fn has_alter_user(self) -> bool {
        matches!(self, Self::MySql(major, minor, patch) if (major, minor, patch) >= (5, 7, 6))
    }
}

pub(super) async fn login(
    login: &Login,
    ca_bundle: Option<&PathBuf>,
) -> Result<Option<Box<dyn Session>>, RotationError> {
    let mut options = MySqlConnectOptions::new()
        .host(&login.host)
        .port(login.port)
        .username(&login.username)
        .password(login.password.expose_secret())
        .charset("utf8mb4")
        .log_statements(log::LevelFilter::Off)
        .log_slow_statements(log::LevelFilter::Off, std::time::Duration::MAX);
    if let Some(dbname) = &login.dbname {
        options = options.database(dbname);
    }
    options = match ca_bundle {
        Some(bundle) => options
            .ssl_mode(MySqlSslMode::VerifyIdentity)
            .ssl_ca(bundle),
        None => options.ssl_mode(MySqlSslMode::Disabled),
    };
    let mut conn = match MySqlConnection::connect_with(&options).await {
        Ok(conn) => conn,
        Err(error) => return connect_failure(login, error, is_rejection),
    };
    let probe: Result<(String, String), _> =
        sqlx::query_as("SELECT CAST(@@SESSION.sql_mode AS CHAR), CAST(VERSION() AS CHAR)")
            .fetch_one(&mut conn)
            .await;
    let mut session = MySqlSession {
        conn,
        host: login.host.clone(),
        port: login.port,
        no_backslash_escapes: false,
        server: Server::MySql(0, 0, 0),
    };
    let (sql_mode, version) =
        probe.map_err(|e| session.failure("read its sql_mode and version", e, true))?;
    session.no_backslash_escapes = sql_mode
        .to_ascii_uppercase()
        .contains("NO_BACKSLASH_ESCAPES");
    session.server = Server::from_version(&version);
    Ok(Some(Box::new(session)))
}

struct MySqlSession {
    conn: MySqlConnection,
    host: String,
    port: u16,
    no_backslash_escapes: bool,
    server: Server,
}

impl MySqlSession {
    /// A statement failure; `show_message` is false for statements that carry a password.
    fn failure(
        &self,
        action: &'static str,
        error: sqlx::Error,
        show_message: bool,
    ) -> RotationError {
        let (detail, hint) = match &error {
            sqlx::Error::Database(db) => {
                let number = db
                    .try_downcast_ref::<MySqlDatabaseError>()
                    .map(MySqlDatabaseError::number)
                    .unwrap_or_default();
                let detail = if show_message {
                    format!("{} (error {number})", db.message())
                } else {
                    format!("server error {number} (message withheld: it may quote the password)")
                };
                let denied = matches!(number, 1044 | 1142 | 1227 | 1370 | 1396);
                (detail, if denied { PRIVILEGE_HINT } else { "" })
            }
            other if show_message => (other.to_string(), ""),
            _ => (
                "the connection failed while the statement ran".to_owned(),
                "",
            ),
        };
        RotationError::Database {
            host: self.host.clone(),
            port: self.port,
            action,
            detail,
            hint,
        }
    }
}

#[async_trait]
impl Session for MySqlSession {
    async fn set_own_password(&mut self, password: &SecretString) -> Result<(), RotationError> {
        let literal = quote_string(password.expose_secret(), self.no_backslash_escapes);
        // Both forms name no user: they can only change the account that logged in.
        let sql = if self.server.has_alter_user() {
            format!("ALTER USER CURRENT_USER() IDENTIFIED BY {literal}")
        } else {
            format!("SET PASSWORD = PASSWORD({literal})")
        };
        let result = self.conn.execute(sql.as_str()).await;
        result
            .map(drop)
            .map_err(|e| self.failure("change the password", e, false))
    }

    async fn verify(&mut self) -> Result<(), RotationError> {
        sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(&mut self.conn)
            .await
            .map(drop)
            .map_err(|e| self.failure("run a test query", e, true))
    }

    async fn close(self: Box<Self>) {
        let _ = self.conn.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_with_backslash_escapes() {
        assert_eq!(quote_string("plain", false), "'plain'");
        assert_eq!(quote_string("it's", false), "'it''s'");
        assert_eq!(quote_string("a\\'b", false), "'a\\\\''b'");
        assert_eq!(quote_string("nul\0z\u{1a}", false), "'nul\\0z\\Z'");
        assert_eq!(
            quote_string("\\'; DROP USER x; --", false),
            "'\\\\''; DROP USER x; --'"
        );
    }

    #[test]
    fn strings_without_backslash_escapes() {
        assert_eq!(quote_string("a\\'b", true), "'a\\''b'");
        assert_eq!(quote_string("\\", true), "'\\'");
    }

    #[test]
    fn identifiers_double_backticks() {
        assert_eq!(quote_identifier("a`b"), "`a``b`");
    }

    #[test]
    fn versions_choose_the_statement() {
        assert_eq!(
            Server::from_version("10.11.6-MariaDB-0+deb12u1"),
            Server::MariaDb
        );
        assert!(!Server::MariaDb.has_alter_user());
        assert!(Server::from_version("8.0.36").has_alter_user());
        assert!(Server::from_version("5.7.44-log").has_alter_user());
        assert!(!Server::from_version("5.7.5").has_alter_user());
        assert!(!Server::from_version("5.6.51").has_alter_user());
    }
}
