//! The database servers as an administrator sees them: which server a test means ([`Kind`]),
//! the secret value that names it, and administrator connections that arrange users and check
//! logins independently of the function's own drivers.
//!
//! Administrator connections are plaintext and log no statements: they create users with
//! passwords, and the log-capture test must only find what the function logs. Statements are
//! quoted by the server itself, so a quoting bug in the function cannot hide behind the same bug
//! here.

use serde_json::{Value, json};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{ConnectOptions, Connection, Executor};

use super::env;

/// The database servers under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// PostgreSQL from the machine's packages (15 on Debian 12).
    Postgres,
    /// PostgreSQL 16 or later (CREATEROLE changed in 16), from a registry package.
    PostgresNew,
    MariaDb,
}

impl Kind {
    pub fn engine(self) -> &'static str {
        match self {
            Self::Postgres | Self::PostgresNew => "postgres",
            Self::MariaDb => "mariadb",
        }
    }

    pub fn is_postgres(self) -> bool {
        matches!(self, Self::Postgres | Self::PostgresNew)
    }

    pub fn tls_port(self) -> u16 {
        match self {
            Self::Postgres => env().pg_port,
            Self::PostgresNew => env().pg_new_port,
            Self::MariaDb => env().my_port,
        }
    }

    /// The plaintext server of the engine. The 16+ server runs with TLS only: its plaintext
    /// scenarios use the packaged server's plaintext twin.
    pub fn plain_port(self) -> u16 {
        match self {
            Self::Postgres | Self::PostgresNew => env().pg_plain_port,
            Self::MariaDb => env().my_plain_port,
        }
    }

    /// The secret value for `user` on the TLS server.
    pub fn secret(self, user: &str, password: &str) -> Value {
        let mut value = json!({
            "engine": self.engine(),
            "host": "localhost",
            "port": self.tls_port(),
            "username": user,
            "password": password,
        });
        if self.is_postgres() {
            value["dbname"] = json!("postgres");
        }
        value
    }

    /// An administrator's plaintext connection, for arranging and checking the database.
    pub async fn admin(self, port: u16) -> Admin {
        let e = env();
        match self {
            Self::Postgres | Self::PostgresNew => Admin::Pg(
                PgConnection::connect_with(
                    &PgConnectOptions::new_without_pgpass()
                        .host("127.0.0.1")
                        .port(port)
                        .username(&e.pg_admin)
                        .password(&e.pg_admin_password)
                        .database("postgres")
                        .ssl_mode(PgSslMode::Disable)
                        .log_statements(log::LevelFilter::Off),
                )
                .await
                .expect("admin login to PostgreSQL"),
            ),
            Self::MariaDb => Admin::My(
                MySqlConnection::connect_with(
                    &MySqlConnectOptions::new()
                        .host("127.0.0.1")
                        .port(port)
                        .username(&e.my_admin)
                        .password(&e.my_admin_password)
                        .ssl_mode(MySqlSslMode::Disabled)
                        .log_statements(log::LevelFilter::Off),
                )
                .await
                .expect("admin login to MariaDB"),
            ),
        }
    }

    /// Whether `user` logs in with `password` (plaintext, on the TLS server's port).
    pub async fn can_login(self, user: &str, password: &str) -> bool {
        self.can_login_on(self.tls_port(), user, password).await
    }

    pub async fn can_login_on(self, port: u16, user: &str, password: &str) -> bool {
        match self {
            // tokio-postgres, not sqlx: sqlx writes the user name into its SCRAM messages
            // unescaped, so a name with a comma never logs in through it.
            Self::Postgres | Self::PostgresNew => tokio_postgres::Config::new()
                .host("127.0.0.1")
                .port(port)
                .user(user)
                .password(password)
                .dbname("postgres")
                .connect(tokio_postgres::NoTls)
                .await
                .map(|(client, connection)| {
                    drop(client);
                    drop(connection);
                })
                .is_ok(),
            Self::MariaDb => MySqlConnection::connect_with(
                &MySqlConnectOptions::new()
                    .host("127.0.0.1")
                    .port(port)
                    .username(user)
                    .password(password)
                    .ssl_mode(MySqlSslMode::Disabled),
            )
            .await
            .is_ok(),
        }
    }

    /// Creates a login user on the TLS server (and the plain one when asked).
    pub async fn create_user(self, user: &str, password: &str) {
        self.create_user_on(self.tls_port(), user, password).await;
    }

    pub async fn create_user_on(self, port: u16, user: &str, password: &str) {
        let mut admin = self.admin(port).await;
        admin.create_user(user, password).await;
    }

    /// Sets a user's password as an administrator would by hand.
    pub async fn reset_password(self, user: &str, password: &str) {
        let mut admin = self.admin(self.tls_port()).await;
        admin.reset_password(user, password).await;
    }
}

/// An administrator's connection. Statements are quoted by the server itself (`format('%I')`,
/// `QUOTE()`), independently of the quoting the function uses.
pub enum Admin {
    Pg(PgConnection),
    My(MySqlConnection),
}

impl Admin {
    async fn server_quoted(&mut self, template: &str, user: &str, password: &str) -> String {
        match self {
            Self::Pg(conn) => sqlx::query_scalar::<_, String>(&format!(
                "SELECT format('{template}', $1::text, $2::text)"
            ))
            .bind(user)
            .bind(password)
            .fetch_one(conn)
            .await
            .expect("format"),
            Self::My(conn) => {
                let (u, p): (String, String) =
                    sqlx::query_as("SELECT CAST(QUOTE(?) AS CHAR), CAST(QUOTE(?) AS CHAR)")
                        .bind(user)
                        .bind(password)
                        .fetch_one(conn)
                        .await
                        .expect("quote");
                template.replacen("%s", &u, 1).replacen("%s", &p, 1)
            }
        }
    }

    pub async fn execute(&mut self, sql: &str) {
        match self {
            Self::Pg(conn) => conn.execute(sql).await.map(drop),
            Self::My(conn) => conn.execute(sql).await.map(drop),
        }
        .unwrap_or_else(|e| panic!("admin statement failed: {e}"));
    }

    pub async fn create_user(&mut self, user: &str, password: &str) {
        let sql = match self {
            Self::Pg(_) => {
                self.server_quoted("CREATE ROLE %I LOGIN PASSWORD %L", user, password)
                    .await
            }
            Self::My(_) => {
                self.server_quoted("CREATE USER %s@'%' IDENTIFIED BY %s", user, password)
                    .await
            }
        };
        self.execute(&sql).await;
    }

    /// The first column of the first row of `sql`, as text (PostgreSQL: cast in the query).
    pub async fn text(&mut self, sql: &str) -> String {
        match self {
            Self::Pg(conn) => sqlx::query_scalar::<_, String>(sql)
                .fetch_one(conn)
                .await
                .unwrap_or_else(|e| panic!("admin query failed: {e}")),
            Self::My(conn) => sqlx::query_scalar::<_, String>(sql)
                .fetch_one(conn)
                .await
                .unwrap_or_else(|e| panic!("admin query failed: {e}")),
        }
    }

    /// Whether a user (role, account) named `user` exists.
    pub async fn user_exists(&mut self, user: &str) -> bool {
        match self {
            Self::Pg(conn) => sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)",
            )
            .bind(user)
            .fetch_one(conn)
            .await
            .expect("read pg_roles"),
            Self::My(conn) => {
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM mysql.user WHERE User = ?")
                    .bind(user)
                    .fetch_one(conn)
                    .await
                    .expect("read mysql.user")
                    > 0
            }
        }
    }

    pub async fn reset_password(&mut self, user: &str, password: &str) {
        let sql = match self {
            Self::Pg(_) => {
                self.server_quoted("ALTER ROLE %I PASSWORD %L", user, password)
                    .await
            }
            Self::My(_) => {
                self.server_quoted("ALTER USER %s@'%' IDENTIFIED BY %s", user, password)
                    .await
            }
        };
        self.execute(&sql).await;
    }
}
