//! Shared test harness: the moto server as Secrets Manager, the throwaway PostgreSQL and MariaDB
//! servers, and a rotator wired to them as Secrets Manager would drive it.
//!
//! `make test` starts the servers and exports their addresses as `ROTATION_TEST_*` variables.
//! Each test creates its own database users and secrets with unique names, so tests run in
//! parallel without sharing state. Administrator connections log no statements: they create
//! users with passwords, and the log-capture test must only find what the function logs.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use rand::Rng;
use rotation::db::{Connector, Drivers, Session};
use rotation::rds::{AwsRds, RdsDirectory};
use rotation::secret::{Login, SecretValue};
use rotation::store::{AwsSecretStore, SecretMetadata, SecretStore, Staged};
use rotation::{Config, RotationError, RotationEvent, Rotator, Step};
use serde_json::{Value, json};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{ConnectOptions, Connection, Executor};

pub mod pair;

/// Generates one `#[tokio::test]` per engine for each scenario: `scenario(Kind)` must be in
/// scope where the macro is used.
#[allow(unused_macros)]
macro_rules! per_engine {
    ($($scenario:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test] async fn $scenario() { super::$scenario(super::Kind::Postgres).await })*
        }
        mod postgres_new {
            $(#[tokio::test] async fn $scenario() { super::$scenario(super::Kind::PostgresNew).await })*
        }
        mod mariadb {
            $(#[tokio::test] async fn $scenario() { super::$scenario(super::Kind::MariaDb).await })*
        }
    };
}

/// Where `make test` started everything.
#[derive(Debug)]
pub struct TestEnv {
    pub sm_endpoint: String,
    pub ca: PathBuf,
    pub pg_port: u16,
    pub pg_plain_port: u16,
    pub pg_admin: String,
    pub pg_admin_password: String,
    pub pg_log: PathBuf,
    /// The PostgreSQL 16+ server (TLS only), with the same administrator.
    pub pg_new_port: u16,
    pub pg_new_version: u16,
    /// A CA that signed nothing the servers use.
    pub other_ca: PathBuf,
    pub my_port: u16,
    pub my_plain_port: u16,
    pub my_admin: String,
    pub my_admin_password: String,
    pub my_log: PathBuf,
}

pub fn env() -> &'static TestEnv {
    static ENV: OnceLock<TestEnv> = OnceLock::new();
    ENV.get_or_init(|| {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("{name} is not set: run the integration tests through `make test`, which starts the servers")
            })
        };
        let port = |name: &str| var(name).parse::<u16>().expect(name);
        TestEnv {
            sm_endpoint: var("ROTATION_TEST_SM_ENDPOINT"),
            ca: var("ROTATION_TEST_CA").into(),
            pg_port: port("ROTATION_TEST_PG_PORT"),
            pg_plain_port: port("ROTATION_TEST_PG_PLAIN_PORT"),
            pg_admin: var("ROTATION_TEST_PG_ADMIN_USER"),
            pg_admin_password: var("ROTATION_TEST_PG_ADMIN_PASSWORD"),
            pg_log: var("ROTATION_TEST_PG_LOG").into(),
            pg_new_port: port("ROTATION_TEST_PG_NEW_PORT"),
            pg_new_version: port("ROTATION_TEST_PG_NEW_VERSION"),
            other_ca: var("ROTATION_TEST_OTHER_CA").into(),
            my_port: port("ROTATION_TEST_MARIADB_PORT"),
            my_plain_port: port("ROTATION_TEST_MARIADB_PLAIN_PORT"),
            my_admin: var("ROTATION_TEST_MARIADB_ADMIN_USER"),
            my_admin_password: var("ROTATION_TEST_MARIADB_ADMIN_PASSWORD"),
            my_log: var("ROTATION_TEST_MARIADB_LOG").into(),
        }
    })
}

/// A fresh name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{:08x}", rand::rng().random::<u32>())
}

/// A version id, as Secrets Manager makes them.
pub fn new_token() -> String {
    let mut rng = rand::rng();
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        rng.random::<u32>(),
        rng.random::<u16>(),
        rng.random::<u16>() & 0xfff,
        rng.random::<u16>() & 0xfff,
        rng.random::<u64>() & 0xffff_ffff_ffff
    )
}

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
            Self::Postgres | Self::PostgresNew => PgConnection::connect_with(
                &PgConnectOptions::new_without_pgpass()
                    .host("127.0.0.1")
                    .port(port)
                    .username(user)
                    .password(password)
                    .database("postgres")
                    .ssl_mode(PgSslMode::Disable),
            )
            .await
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

/// What the rotator did, as seen from its two outside worlds.
#[derive(Debug, Default)]
pub struct Stats {
    /// Secrets Manager operations, in order.
    pub calls: Vec<&'static str>,
    /// Login attempts: the user, and whether the server accepted the credential.
    pub logins: Vec<(String, bool)>,
}

#[derive(Debug)]
pub struct CountingStore<S> {
    inner: S,
    stats: Arc<Mutex<Stats>>,
}

#[async_trait]
impl<S: SecretStore> SecretStore for CountingStore<S> {
    async fn describe(&self, secret: &str) -> Result<SecretMetadata, RotationError> {
        self.stats.lock().unwrap().calls.push("DescribeSecret");
        self.inner.describe(secret).await
    }
    async fn get(
        &self,
        secret: &str,
        which: Staged<'_>,
    ) -> Result<Option<SecretValue>, RotationError> {
        self.stats.lock().unwrap().calls.push("GetSecretValue");
        self.inner.get(secret, which).await
    }
    async fn put_pending(
        &self,
        secret: &str,
        token: &str,
        value: &SecretValue,
        rotation_token: Option<&str>,
    ) -> Result<(), RotationError> {
        self.stats.lock().unwrap().calls.push("PutSecretValue");
        self.inner
            .put_pending(secret, token, value, rotation_token)
            .await
    }
    async fn promote(
        &self,
        secret: &str,
        version: &str,
        from: Option<&str>,
    ) -> Result<(), RotationError> {
        self.stats
            .lock()
            .unwrap()
            .calls
            .push("UpdateSecretVersionStage");
        self.inner.promote(secret, version, from).await
    }
}

#[derive(Debug)]
pub struct CountingConnector<C> {
    inner: C,
    stats: Arc<Mutex<Stats>>,
}

#[async_trait]
impl<C: Connector> Connector for CountingConnector<C> {
    async fn login(&self, login: &Login) -> Result<Option<Box<dyn Session>>, RotationError> {
        let result = self.inner.login(login).await;
        if let Ok(session) = &result {
            self.stats
                .lock()
                .unwrap()
                .logins
                .push((login.username.clone(), session.is_some()));
        }
        result
    }
}

pub type TestRotator = Rotator<CountingStore<AwsSecretStore>, CountingConnector<Drivers>>;

/// A rotator wired to the test servers, and a client to arrange and inspect secrets.
pub struct Harness {
    pub sm: Client,
    pub rotator: TestRotator,
    pub stats: Arc<Mutex<Stats>>,
}

/// moto's RDS API, where tests create the instances and clusters a master secret names.
pub fn rds_client() -> aws_sdk_rds::Client {
    let config = aws_sdk_rds::Config::builder()
        .behavior_version(aws_sdk_rds::config::BehaviorVersion::latest())
        .region(aws_sdk_rds::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_rds::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .endpoint_url(&env().sm_endpoint)
        .build();
    aws_sdk_rds::Client::from_conf(config)
}

pub fn sm_client() -> Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(&env().sm_endpoint)
        .build();
    Client::from_conf(config)
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(&[])
    }

    /// A harness whose function has these environment variables set, and asks moto's RDS
    /// API where an RDS-managed master secret's database is.
    pub fn with_config(vars: &[(&str, &str)]) -> Self {
        Self::with_rds(vars, AwsRds::from_client(rds_client()))
    }

    /// A harness whose function finds RDS-managed master databases through `rds`.
    pub fn with_rds(vars: &[(&str, &str)], rds: impl RdsDirectory + 'static) -> Self {
        let ca = env().ca.display().to_string();
        let config = Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
                .or_else(|| (name == "DB_CA_BUNDLE").then(|| ca.clone()))
        })
        .expect("test configuration");
        let sm = sm_client();
        let stats = Arc::new(Mutex::new(Stats::default()));
        let rotator = Rotator::new(
            CountingStore {
                inner: AwsSecretStore::from_client(sm.clone()),
                stats: stats.clone(),
            },
            CountingConnector {
                inner: Drivers::from_config(&config),
                stats: stats.clone(),
            },
            config,
        )
        .with_rds(rds);
        Self { sm, rotator, stats }
    }

    /// Forgets what was counted so far.
    pub fn reset_stats(&self) {
        *self.stats.lock().unwrap() = Stats::default();
    }

    pub fn logins(&self) -> Vec<(String, bool)> {
        self.stats.lock().unwrap().logins.clone()
    }

    pub fn calls(&self) -> Vec<&'static str> {
        self.stats.lock().unwrap().calls.clone()
    }

    /// Creates a secret holding `value`; returns its ARN.
    pub async fn create_secret(&self, value: &Value) -> String {
        let out = self
            .sm
            .create_secret()
            .name(unique("rotation-test"))
            .secret_string(value.to_string())
            .send()
            .await
            .expect("CreateSecret");
        out.arn().unwrap().to_owned()
    }

    /// Starts a rotation as the service does: RotateSecret creates the AWSPENDING version (no
    /// value yet) and then fails to invoke a function moto does not know, which leaves exactly
    /// the state in which Secrets Manager calls createSecret.
    pub async fn start_rotation(&self, arn: &str) -> String {
        let token = new_token();
        let result = self
            .sm
            .rotate_secret()
            .secret_id(arn)
            .client_request_token(&token)
            .rotation_lambda_arn("arn:aws:lambda:us-east-1:123456789012:function:not-deployed")
            .rotation_rules(
                aws_sdk_secretsmanager::types::RotationRulesType::builder()
                    .automatically_after_days(30)
                    .build(),
            )
            .send()
            .await;
        assert!(
            result.is_err(),
            "moto should not find the rotation function"
        );
        let stages = self.stages(arn).await;
        assert_eq!(
            stages.get(&token).map(Vec::as_slice),
            Some(&["AWSPENDING".to_owned()][..]),
            "RotateSecret should leave an AWSPENDING version: {stages:?}"
        );
        token
    }

    pub async fn step(&self, arn: &str, token: &str, step: Step) -> Result<(), RotationError> {
        self.rotator
            .handle(&RotationEvent {
                secret_id: arn.to_owned(),
                token: token.to_owned(),
                step,
                rotation_token: None,
            })
            .await
    }

    /// What the service does after a successful finishSecret.
    pub async fn end_rotation(&self, arn: &str, token: &str) {
        self.sm
            .update_secret_version_stage()
            .secret_id(arn)
            .version_stage("AWSPENDING")
            .remove_from_version_id(token)
            .send()
            .await
            .expect("remove AWSPENDING");
    }

    /// A whole rotation; returns the new version's token.
    pub async fn rotate(&self, arn: &str) -> Result<String, (Step, RotationError)> {
        let token = self.start_rotation(arn).await;
        for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
            self.step(arn, &token, step).await.map_err(|e| (step, e))?;
        }
        self.end_rotation(arn, &token).await;
        Ok(token)
    }

    pub async fn stages(&self, arn: &str) -> BTreeMap<String, Vec<String>> {
        let out = self
            .sm
            .describe_secret()
            .secret_id(arn)
            .send()
            .await
            .expect("DescribeSecret");
        out.version_ids_to_stages()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// The version that carries `stage`.
    pub async fn version_with(&self, arn: &str, stage: &str) -> String {
        self.stages(arn)
            .await
            .into_iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .unwrap_or_else(|| panic!("no version is staged {stage}"))
            .0
    }

    /// The value staged `stage`, always asked for by stage.
    pub async fn staged(&self, arn: &str, stage: &str) -> Option<Value> {
        let out = self
            .sm
            .get_secret_value()
            .secret_id(arn)
            .version_stage(stage)
            .send()
            .await
            .ok()?;
        Some(serde_json::from_str(out.secret_string()?).unwrap())
    }

    /// The password staged `stage`.
    pub async fn password(&self, arn: &str, stage: &str) -> String {
        self.staged(arn, stage)
            .await
            .unwrap_or_else(|| panic!("no {stage}"))["password"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}
