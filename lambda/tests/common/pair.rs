//! Alternating-users fixtures: an application user with privileges on its own schema, a master
//! user able to create its partner, and a secret for each; and application connections over
//! verified TLS to check what each user may do.

use serde_json::{Value, json};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{Connection, Executor};

use super::{Harness, Kind, env, unique};

/// A user's connection over verified TLS, as an application would open it.
pub enum AppConn {
    Pg(PgConnection),
    My(MySqlConnection),
}

pub async fn connect(kind: Kind, user: &str, password: &str) -> Result<AppConn, sqlx::Error> {
    Ok(match kind {
        Kind::Postgres | Kind::PostgresNew => AppConn::Pg(
            PgConnection::connect_with(
                &PgConnectOptions::new_without_pgpass()
                    .host("localhost")
                    .port(kind.tls_port())
                    .username(user)
                    .password(password)
                    .database("postgres")
                    .ssl_mode(PgSslMode::VerifyFull)
                    .ssl_root_cert(&env().ca),
            )
            .await?,
        ),
        Kind::MariaDb => AppConn::My(
            MySqlConnection::connect_with(
                &MySqlConnectOptions::new()
                    .host("localhost")
                    .port(kind.tls_port())
                    .username(user)
                    .password(password)
                    .ssl_mode(MySqlSslMode::VerifyIdentity)
                    .ssl_ca(&env().ca),
            )
            .await?,
        ),
    })
}

impl AppConn {
    pub async fn run(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Self::Pg(c) => c.execute(sql).await.map(drop),
            Self::My(c) => c.execute(sql).await.map(drop),
        }
    }
}

/// One database's fixture: an application user with privileges, a master user, both secrets.
pub struct Fixture {
    pub kind: Kind,
    pub schema: String,
    pub user: String,
    pub arn: String,
    pub h: Harness,
}

pub async fn fixture(kind: Kind, master_value: impl FnOnce(&str, &str) -> Value) -> Fixture {
    let h = Harness::new();
    let schema = unique("alt");
    let user = format!("{schema}_app");
    let master = format!("{schema}_master");
    let mut admin = kind.admin(kind.tls_port()).await;
    admin.create_user(&user, "initial-Pa55").await;
    admin.create_user(&master, "master-Pa55").await;
    match kind {
        Kind::Postgres | Kind::PostgresNew => {
            for sql in [
                format!("ALTER ROLE {master} CREATEROLE"),
                format!("GRANT {user} TO {master} WITH ADMIN OPTION"),
                format!("CREATE SCHEMA {schema}"),
                format!("CREATE TABLE {schema}.orders (id int, note text)"),
                format!("GRANT USAGE, CREATE ON SCHEMA {schema} TO {user}"),
                format!("GRANT SELECT, INSERT ON {schema}.orders TO {user}"),
            ] {
                admin.execute(&sql).await;
            }
        }
        Kind::MariaDb => {
            for sql in [
                format!("GRANT ALL PRIVILEGES ON *.* TO '{master}'@'%' WITH GRANT OPTION"),
                format!("CREATE DATABASE {schema}"),
                format!("CREATE TABLE {schema}.orders (id int, note text)"),
                format!("CREATE TABLE {schema}.salaries (name text, amount int)"),
                format!("CREATE PROCEDURE {schema}.ping() SELECT 1"),
                format!("GRANT SELECT, INSERT ON {schema}.orders TO '{user}'@'%'"),
                format!("GRANT SELECT (name) ON {schema}.salaries TO '{user}'@'%'"),
                format!("GRANT EXECUTE ON PROCEDURE {schema}.ping TO '{user}'@'%'"),
                format!("ALTER USER '{user}'@'%' REQUIRE SSL"),
            ] {
                admin.execute(&sql).await;
            }
        }
    }
    let master_arn = h.create_secret(&master_value(&master, "master-Pa55")).await;
    let mut value = kind.secret(&user, "initial-Pa55");
    value["masterarn"] = json!(master_arn);
    let arn = h.create_secret(&value).await;
    Fixture {
        kind,
        schema,
        user,
        arn,
        h,
    }
}

/// A full master secret (its own host, port and engine). The RDS-managed form, username and
/// password only, is found through the RDS API: tests/rds_master.rs covers it.
pub async fn standard_fixture(kind: Kind) -> Fixture {
    fixture(kind, |user, password| kind.secret(user, password)).await
}

impl Fixture {
    pub async fn staged_login(&self, stage: &str) -> (String, String) {
        let value = self.h.staged(&self.arn, stage).await.unwrap();
        (
            value["username"].as_str().unwrap().to_owned(),
            value["password"].as_str().unwrap().to_owned(),
        )
    }

    /// Runs the same privilege checks as `user`: read and write a table, and on MariaDB a
    /// column grant, a routine grant and the lack of a privilege never given.
    pub async fn check_privileges(&self, user: &str, password: &str) {
        let s = &self.schema;
        let mut conn = connect(self.kind, user, password)
            .await
            .unwrap_or_else(|e| panic!("{user} must log in over TLS: {e}"));
        conn.run(&format!("SELECT count(*) FROM {s}.orders"))
            .await
            .unwrap();
        conn.run(&format!("INSERT INTO {s}.orders VALUES (1, 'by {user}')"))
            .await
            .unwrap();
        assert!(
            conn.run(&format!("DELETE FROM {s}.orders")).await.is_err(),
            "{user} must not delete"
        );
        if self.kind == Kind::MariaDb {
            conn.run(&format!("SELECT name FROM {s}.salaries"))
                .await
                .unwrap();
            assert!(
                conn.run(&format!("SELECT amount FROM {s}.salaries"))
                    .await
                    .is_err()
            );
            conn.run(&format!("CALL {s}.ping()")).await.unwrap();
        }
    }
}
