//! PostgreSQL and Aurora PostgreSQL.
//!
//! The new password never reaches the server as text: the function computes a SCRAM-SHA-256
//! verifier (as `psql`'s `\password` does) and sends that, so `log_statement = all`, pgaudit or
//! `pg_stat_statements` record a salted hash rather than the password. PostgreSQL takes no bind
//! parameter in `ALTER ROLE`, so the statement is built with [`quote_literal`] and
//! [`quote_identifier`], which are safe whatever `standard_conforming_strings` is.

use std::path::PathBuf;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgDatabaseError, PgSslMode};
use sqlx::{ConnectOptions, Connection, Executor};

use super::{PRIVILEGE_HINT, Session, connect_failure};
use crate::error::RotationError;
use crate::secret::Login;

/// Quotes an identifier: wrapped in double quotes, inner double quotes doubled.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal. With a backslash inside, the `E''` form is used and backslashes
/// doubled, so the literal means the same with `standard_conforming_strings` on or off.
pub fn quote_literal(value: &str) -> String {
    let doubled = value.replace('\'', "''");
    if value.contains('\\') {
        format!("E'{}'", doubled.replace('\\', "\\\\"))
    } else {
        format!("'{doubled}'")
    }
}

/// SQLSTATEs of a refused login: `invalid_password` and `invalid_authorization_specification`.
fn is_rejection(error: &dyn sqlx::error::DatabaseError) -> bool {
    error
        .try_downcast_ref::<PgDatabaseError>()
        .is_some_and(|e| matches!(e.code(), "28P01" | "28000"))
}

pub(super) async fn login(
    login: &Login,
    ca_bundle: Option<&PathBuf>,
) -> Result<Option<Box<dyn Session>>, RotationError> {
    let mut options = PgConnectOptions::new_without_pgpass()
        .host(&login.host)
        .port(login.port)
        .username(&login.username)
        .password(login.password.expose_secret())
        .database(login.dbname.as_deref().unwrap_or("postgres"))
        .application_name("secrets-manager-rotation")
        .log_statements(log::LevelFilter::Off)
        .log_slow_statements(log::LevelFilter::Off, std::time::Duration::MAX);
    options = match ca_bundle {
        Some(bundle) => options
            .ssl_mode(PgSslMode::VerifyFull)
            .ssl_root_cert(bundle),
        None => options.ssl_mode(PgSslMode::Disable),
    };
    match PgConnection::connect_with(&options).await {
        Ok(conn) => Ok(Some(Box::new(PgSession {
            conn,
            host: login.host.clone(),
            port: login.port,
        }))),
        Err(error) => connect_failure(login, error, is_rejection),
    }
}

struct PgSession {
    conn: PgConnection,
    host: String,
    port: u16,
}

impl PgSession {
    fn failure(&self, action: &'static str, error: sqlx::Error) -> RotationError {
        let (detail, hint) = match &error {
            sqlx::Error::Database(db) => (
                format!(
                    "{} (SQLSTATE {})",
                    db.message(),
                    db.code().unwrap_or_default()
                ),
                if db.code().as_deref() == Some("42501") {
                    PRIVILEGE_HINT
                } else {
                    ""
                },
            ),
            other => (other.to_string(), ""),
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

impl PgSession {
    async fn run(&mut self, sql: &str, action: &'static str) -> Result<(), RotationError> {
        let result = self.conn.execute(sql).await;
        result.map(drop).map_err(|e| self.failure(action, e))
    }

    /// A yes-or-no question about roles, with the names as bind parameters.
    async fn ask(
        &mut self,
        sql: &str,
        names: &[&str],
        action: &'static str,
    ) -> Result<bool, RotationError> {
        let mut query = sqlx::query_scalar::<_, bool>(sql);
        for name in names {
            query = query.bind(*name);
        }
        let result = query.fetch_one(&mut self.conn).await;
        result.map_err(|e| self.failure(action, e))
    }
}

#[async_trait]
impl Session for PgSession {
    async fn set_own_password(&mut self, password: &SecretString) -> Result<(), RotationError> {
        let verifier =
            postgres_protocol::password::scram_sha_256(password.expose_secret().as_bytes());
        // CURRENT_USER: the statement can only ever change the user that logged in.
        let sql = format!(
            "ALTER ROLE CURRENT_USER WITH PASSWORD {}",
            quote_literal(&verifier)
        );
        self.conn
            .execute(sql.as_str())
            .await
            .map(drop)
            .map_err(|e| self.failure("change the password", e))
    }

    async fn account_host(&mut self) -> Result<Option<String>, RotationError> {
        Ok(None)
    }

    /// The pair shares one set of privileges: the user that existed first (the template of the
    /// first rotation) keeps them, and the other is made a member of it whose sessions start
    /// with `SET ROLE` to it. Whatever either user creates is then owned by the first, so tables
    /// created by `name_clone` stay usable by `name` and the other way round, and a grant added
    /// to the first later reaches both without a rotation.
    async fn clone_user(
        &mut self,
        template: &str,
        _host: Option<&str>,
        target: &str,
        password: &SecretString,
    ) -> Result<(), RotationError> {
        let verifier =
            postgres_protocol::password::scram_sha_256(password.expose_secret().as_bytes());
        let exists = self
            .ask(
                "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)",
                &[target],
                "look up the alternate user",
            )
            .await?;
        let verb = if exists { "ALTER" } else { "CREATE" };
        let sql = format!(
            "{verb} ROLE {} WITH LOGIN PASSWORD {}",
            quote_identifier(target),
            quote_literal(&verifier)
        );
        self.run(&sql, "create or update the alternate user")
            .await?;
        // When the template is a member of the target, the target holds the pair's privileges.
        let target_holds = self
            .ask(
                "SELECT pg_has_role($1, $2, 'MEMBER')",
                &[template, target],
                "read role membership",
            )
            .await?;
        if target_holds {
            return Ok(());
        }
        let grant = format!(
            "GRANT {} TO {}",
            quote_identifier(template),
            quote_identifier(target)
        );
        self.run(&grant, "grant the user's role to the alternate user")
            .await?;
        let set_role = format!(
            "ALTER ROLE {} SET role = {}",
            quote_identifier(target),
            quote_literal(template)
        );
        self.run(&set_role, "make the alternate user act as the user")
            .await
    }

    async fn verify(&mut self) -> Result<(), RotationError> {
        sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(&mut self.conn)
            .await
            .map(drop)
            .map_err(|e| self.failure("run a test query", e))
    }

    async fn close(self: Box<Self>) {
        let _ = self.conn.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_double_their_quotes() {
        assert_eq!(quote_identifier("app"), "\"app\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
        assert_eq!(
            quote_identifier("x\"; DROP ROLE y; --"),
            "\"x\"\"; DROP ROLE y; --\""
        );
        assert_eq!(quote_identifier("ünï'cødé\\"), "\"ünï'cødé\\\"");
    }

    #[test]
    fn literals_are_safe_in_either_string_mode() {
        assert_eq!(quote_literal("plain"), "'plain'");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("back\\slash'"), "E'back\\\\slash'''");
        assert_eq!(
            quote_literal("'; DROP TABLE t; --"),
            "'''; DROP TABLE t; --'"
        );
    }

    #[test]
    fn scram_verifier_is_quoted_plainly() {
        let verifier = postgres_protocol::password::scram_sha_256(b"p'a\\ss");
        assert!(verifier.starts_with("SCRAM-SHA-256$4096:"));
        assert_eq!(quote_literal(&verifier), format!("'{verifier}'"));
        assert!(!verifier.contains("p'a"));
    }
}
