//! MySQL, Aurora MySQL and MariaDB.
//!
//! Neither server takes a bind parameter for a password in `ALTER USER` or `SET PASSWORD`, so
//! the literal is built by [`quote_string`]. How a backslash reads depends on the session's
//! `sql_mode` (`NO_BACKSLASH_ESCAPES`), so a session reads its mode (once) before quoting anything.
//! Which statement changes a user's own password depends on the server: `ALTER USER
//! CURRENT_USER()` on MySQL 5.7.6 and later; `SET PASSWORD = PASSWORD(...)` on MariaDB, where
//! `ALTER USER` needs the CREATE USER privilege, and on older MySQL. Error messages of those
//! statements are never passed on, since a syntax error would quote the password.

use std::path::PathBuf;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlSslMode};
use sqlx::{ConnectOptions, Connection, Executor, Row};

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
    match MySqlConnection::connect_with(&options).await {
        Ok(conn) => Ok(Some(Box::new(MySqlSession {
            conn,
            host: login.host.clone(),
            port: login.port,
            dialect: None,
        }))),
        Err(error) => connect_failure(login, error, is_rejection),
    }
}

/// What a session's SQL text must respect: how literals are read, and which server it is.
#[derive(Debug, Clone, Copy)]
struct Dialect {
    no_backslash_escapes: bool,
    server: Server,
}

impl Dialect {
    fn quote(self, value: &str) -> String {
        quote_string(value, self.no_backslash_escapes)
    }
}

struct MySqlSession {
    conn: MySqlConnection,
    host: String,
    port: u16,
    /// Read on first need: a session that only runs a test query never asks.
    dialect: Option<Dialect>,
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

/// Rewrites one line of `SHOW GRANTS` for `user`@`host` so that it grants to `new_account`
/// instead, without the password hash that MariaDB shows in it. `None` when the grantee cannot
/// be found in the line.
pub fn rewrite_grant(line: &str, user: &str, host: &str, new_account: &str) -> Option<String> {
    let backtick = |s: &str| format!("`{}`", s.replace('`', "``"));
    // MariaDB also doubles backslashes inside the backticks of SHOW GRANTS.
    let backtick_escaped = |s: &str| format!("`{}`", s.replace('\\', "\\\\").replace('`', "``"));
    let single = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
    let candidates = [
        format!("{}@{}", backtick(user), backtick(host)),
        format!("{}@{}", backtick_escaped(user), backtick_escaped(host)),
        format!("{}@{}", single(user), single(host)),
    ];
    for candidate in &candidates {
        for keyword in [" TO ", " FOR "] {
            let needle = format!("{keyword}{candidate}");
            if let Some(at) = line.rfind(&needle) {
                let mut rest = &line[at + needle.len()..];
                if rest.starts_with(" IDENTIFIED ") {
                    let end = [" REQUIRE ", " WITH "]
                        .iter()
                        .filter_map(|k| rest.find(k))
                        .min()
                        .unwrap_or(rest.len());
                    rest = &rest[end..];
                }
                return Some(format!("{}{keyword}{new_account}{rest}", &line[..at]));
            }
        }
    }
    None
}

impl MySqlSession {
    /// Runs a statement; `show_message` is false when it carries a password.
    async fn run(
        &mut self,
        sql: &str,
        action: &'static str,
        show_message: bool,
    ) -> Result<(), RotationError> {
        let result = self.conn.execute(sql).await;
        result
            .map(drop)
            .map_err(|e| self.failure(action, e, show_message))
    }

    /// The grants of `account` (`'user'@'host'`), one statement per line.
    async fn grants(&mut self, account: &str) -> Result<Vec<String>, RotationError> {
        let sql = format!("SHOW GRANTS FOR {account}");
        let result = self.conn.fetch_all(sql.as_str()).await;
        // The lines may carry a password hash: their text never goes into an error.
        let rows = result.map_err(|e| self.failure("read the user's grants", e, false))?;
        rows.iter()
            .map(|row| {
                row.try_get::<String, _>(0)
                    .or_else(|_| {
                        row.try_get::<Vec<u8>, _>(0)
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                    })
                    .map_err(|e| self.failure("read the user's grants", e, true))
            })
            .collect()
    }

    /// The session's dialect, read from the server once.
    async fn dialect(&mut self) -> Result<Dialect, RotationError> {
        if let Some(dialect) = self.dialect {
            return Ok(dialect);
        }
        let probe: Result<(String, String), _> =
            sqlx::query_as("SELECT CAST(@@SESSION.sql_mode AS CHAR), CAST(VERSION() AS CHAR)")
                .fetch_one(&mut self.conn)
                .await;
        let (sql_mode, version) =
            probe.map_err(|e| self.failure("read its sql_mode and version", e, true))?;
        let dialect = Dialect {
            no_backslash_escapes: sql_mode
                .to_ascii_uppercase()
                .contains("NO_BACKSLASH_ESCAPES"),
            server: Server::from_version(&version),
        };
        self.dialect = Some(dialect);
        Ok(dialect)
    }
}

#[async_trait]
impl Session for MySqlSession {
    async fn set_own_password(&mut self, password: &SecretString) -> Result<(), RotationError> {
        let dialect = self.dialect().await?;
        let literal = dialect.quote(password.expose_secret());
        // Both forms name no user: they can only change the account that logged in.
        let sql = if dialect.server.has_alter_user() {
            format!("ALTER USER CURRENT_USER() IDENTIFIED BY {literal}")
        } else {
            format!("SET PASSWORD = PASSWORD({literal})")
        };
        let result = self.conn.execute(sql.as_str()).await;
        result
            .map(drop)
            .map_err(|e| self.failure("change the password", e, false))
    }

    async fn account_host(&mut self) -> Result<Option<String>, RotationError> {
        let result = sqlx::query_scalar::<_, String>(
            "SELECT CAST(SUBSTRING_INDEX(CURRENT_USER(), '@', -1) AS CHAR)",
        )
        .fetch_one(&mut self.conn)
        .await;
        result
            .map(Some)
            .map_err(|e| self.failure("read the account's host", e, true))
    }

    /// Replays every grant of the template (SHOW GRANTS: table, column and routine privileges,
    /// roles, `REQUIRE SSL/X509`, `WITH GRANT OPTION`) for the same host pattern, on every
    /// rotation, so grants added since the last one follow. Grants the target holds beyond the
    /// template's are revoked, but only when the two sets differ, so an unchanged pair is not
    /// touched.
    async fn clone_user(
        &mut self,
        template: &str,
        host: Option<&str>,
        target: &str,
        password: &SecretString,
    ) -> Result<(), RotationError> {
        let dialect = self.dialect().await?;
        let host = host.unwrap_or("%");
        let template_account = format!("{}@{}", dialect.quote(template), dialect.quote(host));
        let target_account = format!("{}@{}", dialect.quote(target), dialect.quote(host));
        let password = dialect.quote(password.expose_secret());

        let mut wanted = Vec::new();
        for line in self.grants(&template_account).await? {
            let grant = rewrite_grant(&line, template, host, &target_account).ok_or_else(|| {
                RotationError::Database {
                    host: self.host.clone(),
                    port: self.port,
                    action: "copy the user's grants",
                    detail: "a SHOW GRANTS line does not name the user as grantee".into(),
                    hint: "",
                }
            })?;
            wanted.push(grant);
        }

        let create = format!("CREATE USER IF NOT EXISTS {target_account} IDENTIFIED BY {password}");
        self.run(&create, "create the alternate user", false)
            .await?;
        let set_password = if dialect.server.has_alter_user() || dialect.server == Server::MariaDb {
            format!("ALTER USER {target_account} IDENTIFIED BY {password}")
        } else {
            format!("SET PASSWORD FOR {target_account} = PASSWORD({password})")
        };
        self.run(&set_password, "set the alternate user's password", false)
            .await?;

        let mut held = Vec::new();
        for line in self.grants(&target_account).await? {
            held.extend(rewrite_grant(&line, target, host, &target_account));
        }
        let (mut wanted_sorted, mut held_sorted) = (wanted.clone(), held);
        wanted_sorted.sort();
        held_sorted.sort();
        if wanted_sorted != held_sorted {
            let revoke = format!("REVOKE ALL PRIVILEGES, GRANT OPTION FROM {target_account}");
            self.run(&revoke, "reset the alternate user's grants", true)
                .await?;
            for grant in &wanted {
                self.run(grant, "copy a grant to the alternate user", false)
                    .await?;
            }
        }

        // MySQL 8 keeps REQUIRE out of SHOW GRANTS: copy it from the account itself.
        if matches!(dialect.server, Server::MySql(major, _, _) if major >= 8) {
            let result = sqlx::query_scalar::<_, String>(
                "SELECT CAST(ssl_type AS CHAR) FROM mysql.user WHERE User = ? AND Host = ?",
            )
            .bind(template)
            .bind(host)
            .fetch_one(&mut self.conn)
            .await;
            let ssl_type =
                result.map_err(|e| self.failure("read the user's TLS requirement", e, true))?;
            let require = match ssl_type.as_str() {
                "ANY" => "SSL",
                "X509" => "X509",
                _ => "NONE",
            };
            let sql = format!("ALTER USER {target_account} REQUIRE {require}");
            self.run(&sql, "copy the user's TLS requirement", true)
                .await?;
        }
        Ok(())
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
    fn grants_are_rewritten_for_the_new_account() {
        let new = "'app_clone'@'%'";
        assert_eq!(
            rewrite_grant(
                "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*D821809F' REQUIRE SSL",
                "app",
                "%",
                new
            )
            .unwrap(),
            "GRANT USAGE ON *.* TO 'app_clone'@'%' REQUIRE SSL"
        );
        assert_eq!(
            rewrite_grant(
                "GRANT SELECT (`a`), INSERT ON `d`.`t` TO `app`@`%` WITH GRANT OPTION",
                "app",
                "%",
                new
            )
            .unwrap(),
            "GRANT SELECT (`a`), INSERT ON `d`.`t` TO 'app_clone'@'%' WITH GRANT OPTION"
        );
        assert_eq!(
            rewrite_grant(
                "GRANT EXECUTE ON PROCEDURE `d`.`p` TO 'app'@'10.0.%'",
                "app",
                "10.0.%",
                "x"
            )
            .unwrap(),
            "GRANT EXECUTE ON PROCEDURE `d`.`p` TO x"
        );
        assert_eq!(
            rewrite_grant("SET DEFAULT ROLE `r` FOR `app`@`%`", "app", "%", new).unwrap(),
            "SET DEFAULT ROLE `r` FOR 'app_clone'@'%'"
        );
        // MariaDB's rendering of a hostile name.
        assert_eq!(
            rewrite_grant(
                "GRANT SELECT ON `d1`.* TO `we``i'rd\\\\x`@`%`",
                "we`i'rd\\x",
                "%",
                new
            )
            .unwrap(),
            "GRANT SELECT ON `d1`.* TO 'app_clone'@'%'"
        );
        assert_eq!(
            rewrite_grant("GRANT SELECT ON *.* TO `other`@`%`", "app", "%", new),
            None
        );
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
