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

/// How long the function waits past the server's own bound before it gives up on a
/// statement itself (a server that stopped answering, a bound the server ignored).
const BACKSTOP_GRACE: Duration = Duration::from_secs(2);

/// The TLS connector for a CA bundle, built once per bundle: a step logs in two or three
/// times, and a warm Lambda container serves many steps.
fn tls_connector(bundle: &Path) -> Result<MakeRustlsConnect, String> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, MakeRustlsConnect>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(connector) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(bundle) {
        return Ok(connector.clone());
    }
    let connector = MakeRustlsConnect::new(client_config(bundle)?);
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(bundle.to_owned(), connector.clone());
    Ok(connector)
}

/// A rustls configuration whose only trust anchors are the certificates of `bundle`.
///
/// The root store starts empty and is never given the web PKI or the system store: whoever
/// holds a publicly trusted certificate for the database's host name must not pass.
pub fn client_config(bundle: &Path) -> Result<ClientConfig, String> {
    let name = bundle.display();
    let pem =
        std::fs::read(bundle).map_err(|e| format!("cannot read the CA bundle `{name}`: {e}"))?;
    let mut certificates = Vec::new();
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        certificates.push(
            certificate.map_err(|e| format!("the CA bundle `{name}` is not valid PEM: {e}"))?,
        );
    }
    let mut roots = rustls::RootCertStore::empty();
    // A bundle with one odd certificate among many (RDS ships dozens) still serves; a bundle
    // with none usable is an error.
    let (_, unusable) = roots.add_parsable_certificates(certificates);
    if roots.is_empty() {
        return Err(format!(
            "the CA bundle `{name}` holds no usable certificate{}",
            if unusable > 0 {
                format!(" ({unusable} could not be parsed)")
            } else {
                String::new()
            }
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// What a failed connection attempt means for the caller.
fn connect_failure(
    login: &Login,
    error: tokio_postgres::Error,
) -> Result<Option<Box<dyn Session>>, RotationError> {
    if let Some(db) = error.as_db_error() {
        let code = db.code().code();
        // 28P01 (invalid_password) is the only answer that means "this password is wrong";
        // everything else the server says at login (28000 from pg_hba.conf or a NOLOGIN role,
        // 3D000, 53300...) is not fixed by another password.
        if code == "28P01" {
            return Ok(None);
        }
        return Err(RotationError::LoginRefused {
            host: login.host.clone(),
            port: login.port,
            user: login.username.clone(),
            detail: format!(
                "{} (SQLSTATE {code})",
                server_text(db.message(), &[login.password.expose_secret()])
            ),
        });
    }
    // tokio-postgres keeps its error kinds private; its message names the stage that failed.
    // No message of these kinds can hold the password: it is only ever sent inside SCRAM or
    // a password message, never echoed.
    let text = server_text(&error_chain(&error), &[login.password.expose_secret()]);
    if text.starts_with("error performing TLS handshake") {
        return Err(RotationError::Tls {
            host: login.host.clone(),
            port: login.port,
            detail: text,
        });
    }
    if text.starts_with("authentication error") {
        return Err(RotationError::LoginRefused {
            host: login.host.clone(),
            port: login.port,
            user: login.username.clone(),
            detail: text,
        });
    }
    Err(RotationError::Unreachable {
        host: login.host.clone(),
        port: login.port,
        detail: text,
    })
}

/// An error and its causes, one after the other. `io::Error` hides the error it wraps from
/// `source()`, so the rustls error under a failed handshake is fetched explicitly.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut current = error.source();
    while let Some(cause) = current {
        let part = match cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => inner.to_string(),
            None => cause.to_string(),
        };
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        current = cause.source();
    }
    text
}

pub(super) async fn login(
    login: &Login,
    settings: ConnectSettings<'_>,
) -> Result<Option<Box<dyn Session>>, RotationError> {
    // tokio-postgres reads a host starting with `/` as a Unix socket directory: the function
    // connects over the network only.
    if login.host.starts_with('/') || login.host.is_empty() {
        return Err(RotationError::Unreachable {
            host: login.host.clone(),
            port: login.port,
            detail: "the host must be a network host name or address".into(),
        });
    }
    let mut config = tokio_postgres::Config::new();
    config
        .host(&login.host)
        .port(login.port)
        .user(&login.username)
        .password(login.password.expose_secret().as_bytes())
        .dbname(login.dbname.as_deref().unwrap_or("postgres"))
        .application_name("secrets-manager-rotation");
    let spawned = match settings.ca_bundle {
        Some(bundle) => {
            let tls = tls_connector(bundle).map_err(|detail| RotationError::Tls {
                host: login.host.clone(),
                port: login.port,
                detail,
            })?;
            // Require: a server that answers the TLS request with "no" fails the login; the
            // rustls connector verifies chain and host name (verify-full).
            config.ssl_mode(SslMode::Require);
            config.connect(tls).await.map(|(client, connection)| {
                let task = tokio::spawn(async move {
                    // The connection's end (closed, reset) is seen by the next statement.
                    let _ = connection.await;
                });
                (client, task)
            })
        }
        None => {
            config.ssl_mode(SslMode::Disable);
            config.connect(NoTls).await.map(|(client, connection)| {
                let task = tokio::spawn(async move {
                    let _ = connection.await;
                });
                (client, task)
            })
        }
    };
    drop(config);
    let (client, task) = match spawned {
        Ok(pair) => pair,
        Err(error) => return connect_failure(login, error),
    };
    let session = PgSession {
        client,
        connection: ConnectionTask(task),
        host: login.host.clone(),
        port: login.port,
        statement_timeout: settings.statement_timeout,
        password: login.password.clone(),
    };
    // The first statement of every session, before anything that calls a function: the
    // search path is the catalog's alone. A role's or a database's `search_path` setting (the
    // application owns its database, and its own role's settings) would otherwise let
    // functions, operators or casts the application wrote run in this session, the master's
    // included. Set after login rather than as startup options, which some proxies
    // (PgBouncer, RDS Proxy) refuse or treat specially; a session-level SET also overrides
    // role-level settings such as `statement_timeout = 0`. Every statement the function sends
    // is schema-qualified as well.
    let millis = StatementBound(settings.statement_timeout).millis();
    session
        .run(
            &session_start(millis),
            "set the search path and bound statements and lock waits",
        )
        .await?;
    Ok(Some(Box::new(session)))
}

/// The statement every session starts with: the catalog search path first, then the bounds.
pub fn session_start(statement_timeout_millis: u128) -> String {
    format!(
        "SET search_path = pg_catalog, pg_temp; \
         SET statement_timeout = {statement_timeout_millis}; \
         SET lock_timeout = {statement_timeout_millis}"
    )
}

/// The spawned task that drives a connection; aborted when the session goes away.
struct ConnectionTask(JoinHandle<()>);

impl Drop for ConnectionTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct PgSession {
    client: Client,
    connection: ConnectionTask,
    host: String,
    port: u16,
    statement_timeout: Duration,
    /// The password this session logged in with, masked in any server text shown.
    password: SecretString,
}

/// Whether an error message may be shown: not for statements that carry a password verifier,
/// whose text a server message could quote.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Message {
    Show,
    Withhold,
}

impl PgSession {
    fn seconds(&self) -> u64 {
        StatementBound(self.statement_timeout).seconds()
    }

    fn failure(
        &self,
        action: &'static str,
        error: &tokio_postgres::Error,
        message: Message,
    ) -> RotationError {
        let Some(db) = error.as_db_error() else {
            let detail = match message {
                Message::Show => server_text(&error_chain(error), &[self.password.expose_secret()]),
                Message::Withhold => "the connection failed while the statement ran".to_owned(),
            };
            return RotationError::Database {
                host: self.host.clone(),
                port: self.port,
                action,
                detail,
                hint: "",
            };
        };
        let code = db.code().code();
        let detail = match message {
            Message::Show => format!(
                "{} (SQLSTATE {code})",
                server_text(db.message(), &[self.password.expose_secret()])
            ),
            Message::Withhold => format!(
                "server error SQLSTATE {code} (message withheld: the statement carried a \
                 password verifier)"
            ),
        };
        match code {
            // lock_not_available (lock_timeout) and query_canceled (statement_timeout).
            "55P03" | "57014" => RotationError::DatabaseTimeout {
                host: self.host.clone(),
                port: self.port,
                action,
                seconds: self.seconds(),
                detail,
            },
            _ => RotationError::Database {
                host: self.host.clone(),
                port: self.port,
                action,
                detail,
                hint: if code == "42501" { PRIVILEGE_HINT } else { "" },
            },
        }
    }

    /// The client-side bound: the server's own bound plus a grace period.
    async fn bounded<T>(
        &self,
        action: &'static str,
        message: Message,
        work: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, RotationError> {
        match tokio::time::timeout(self.statement_timeout + BACKSTOP_GRACE, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.failure(action, &error, message)),
            Err(_) => Err(RotationError::DatabaseTimeout {
                host: self.host.clone(),
                port: self.port,
                action,
                seconds: self.seconds(),
                detail: "the server did not answer within the bound".into(),
            }),
        }
    }

    /// Runs statements without parameters (simple protocol).
    async fn run(&self, sql: &str, action: &'static str) -> Result<(), RotationError> {
        self.bounded(action, Message::Show, self.client.batch_execute(sql))
            .await
    }

    /// Runs a statement that carries a password verifier: its error never quotes the server.
    async fn run_secret(&self, sql: &str, action: &'static str) -> Result<(), RotationError> {
        self.bounded(action, Message::Withhold, self.client.batch_execute(sql))
            .await
    }

    /// A query with bind parameters.
    async fn rows(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        action: &'static str,
    ) -> Result<Vec<Row>, RotationError> {
        self.bounded(action, Message::Show, self.client.query(sql, params))
            .await
    }

    /// A query that must return one row.
    async fn row(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        action: &'static str,
    ) -> Result<Row, RotationError> {
        self.bounded(action, Message::Show, self.client.query_one(sql, params))
            .await
    }

    fn database_error(&self, action: &'static str, detail: String) -> RotationError {
        RotationError::Database {
            host: self.host.clone(),
            port: self.port,
            action,
            detail,
            hint: "",
        }
    }

    /// A role's attributes, `None` when it does not exist.
    async fn role(&self, name: &str) -> Result<Option<RoleInfo>, RotationError> {
        let rows = self
            .rows(
                "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication, \
                 rolconnlimit, COALESCE(rolvaliduntil::pg_catalog.text, 'infinity'), \
                 rolcanlogin \
                 FROM pg_catalog.pg_roles \
                 WHERE rolname OPERATOR(pg_catalog.=) $1::pg_catalog.text",
                &[&name],
                "look up a role",
            )
            .await?;
        Ok(rows.first().map(|r| RoleInfo {
            superuser: r.get(0),
            createrole: r.get(1),
            createdb: r.get(2),
            bypassrls: r.get(3),
            replication: r.get(4),
            connection_limit: r.get(5),
            valid_until: r.get(6),
            can_login: r.get(7),
        }))
    }

    /// The roles `name` is a direct member of, with the membership's options (on 16+ a
    /// membership may have several rows, one per grantor, and holds what any of them grants;
    /// before 16 every membership may SET and INHERIT).
    async fn memberships(
        &self,
        name: &str,
        version: i32,
    ) -> Result<Vec<Membership>, RotationError> {
        let options = if version >= 160000 {
            "pg_catalog.bool_or(m.set_option), pg_catalog.bool_or(m.inherit_option)"
        } else {
            "true, true"
        };
        let rows = self
            .rows(
                &format!(
                    "SELECT g.rolname::pg_catalog.text, pg_catalog.bool_or(m.admin_option), \
                     {options} \
                     FROM pg_catalog.pg_auth_members m \
                     JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid \
                     JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) m.member \
                     WHERE r.rolname OPERATOR(pg_catalog.=) $1::pg_catalog.text \
                     GROUP BY g.rolname ORDER BY g.rolname"
                ),
                &[&name],
                "read role memberships",
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Membership {
                role: r.get(0),
                admin: r.get(1),
                set: r.get(2),
                inherit: r.get(3),
            })
            .collect())
    }

    /// What the cluster records as depending on `name` (pg_shdepend covers every database and
    /// the shared catalogs): objects it owns, privileges granted to it (database ACLs
    /// included), policies naming it. Empty for a role that holds nothing of its own.
    async fn dependencies(&self, name: &str) -> Result<Vec<String>, RotationError> {
        let rows = self
            .rows(
                "SELECT d.deptype::pg_catalog.text, pg_catalog.count(*)::pg_catalog.int8, \
                 COALESCE(pg_catalog.string_agg(DISTINCT \
                   COALESCE(db.datname::pg_catalog.text, '(cluster)'), ', '), '') \
                 FROM pg_catalog.pg_shdepend d \
                 LEFT JOIN pg_catalog.pg_database db ON db.oid OPERATOR(pg_catalog.=) d.dbid \
                 WHERE d.refclassid OPERATOR(pg_catalog.=) \
                       'pg_catalog.pg_authid'::pg_catalog.regclass::pg_catalog.oid \
                   AND d.refobjid OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles \
                       WHERE rolname OPERATOR(pg_catalog.=) $1::pg_catalog.text) \
                 GROUP BY d.deptype ORDER BY d.deptype",
                &[&name],
                "read what the alternate user holds",
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let kind: String = r.get(0);
                let count: i64 = r.get(1);
                let where_: String = r.get(2);
                let what = match kind.as_str() {
                    "o" => "owns",
                    "a" => "is granted privileges on",
                    "r" => "is named in policies on",
                    "i" => "has initial privileges on",
                    _ => "is recorded as depending on",
                };
                format!("{what} {count} object(s) (in {where_})")
            })
            .collect())
    }

    /// A role's settings: (database name, "" for all databases) -> name -> stored value.
    async fn settings(&self, name: &str) -> Result<Settings, RotationError> {
        let rows = self
            .rows(
                "SELECT COALESCE(d.datname::pg_catalog.text, ''), c.entry \
                 FROM pg_catalog.pg_db_role_setting s \
                 LEFT JOIN pg_catalog.pg_database d \
                   ON d.oid OPERATOR(pg_catalog.=) s.setdatabase \
                 CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS c(entry) \
                 WHERE s.setrole OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles \
                       WHERE rolname OPERATOR(pg_catalog.=) $1::pg_catalog.text)",
                &[&name],
                "read role settings",
            )
            .await?;
        let mut settings = Settings::new();
        for row in &rows {
            let database: String = row.get(0);
            let entry: String = row.get(1);
            // Stored as `name=value`; a GUC name holds no `=`.
            if let Some((key, value)) = entry.split_once('=') {
                settings
                    .entry(database)
                    .or_default()
                    .insert(key.to_owned(), value.to_owned());
            }
        }
        Ok(settings)
    }

    /// Makes `target`'s settings those of `template`, except `role`, which stays `template`
    /// (the pair's marker: the clone's sessions act as the original).
    async fn carry_settings(&self, template: &str, target: &str) -> Result<(), RotationError> {
        let mut wanted = self.settings(template).await?;
        for values in wanted.values_mut() {
            values.retain(|name, _| !name.eq_ignore_ascii_case("role"));
        }
        wanted
            .entry(String::new())
            .or_default()
            .insert("role".to_owned(), template.to_owned());
        let actual = self.settings(target).await?;
        let target_id = quote_identifier(target);
        let scope = |database: &str| {
            if database.is_empty() {
                String::new()
            } else {
                format!(" IN DATABASE {}", quote_identifier(database))
            }
        };
        for (database, values) in &wanted {
            for (name, value) in values {
                let have = actual.get(database).and_then(|v| v.get(name));
                if have == Some(value) {
                    continue;
                }
                let sql = format!(
                    "ALTER ROLE {target_id}{} SET {} TO {}",
                    scope(database),
                    quote_identifier(name),
                    setting_value(name, value)
                );
                self.run(
                    &sql,
                    "carry a setting of the user over to the alternate user",
                )
                .await
                .map_err(|e| name_setting(e, name, database))?;
            }
        }
        for (database, values) in &actual {
            for name in values.keys() {
                if wanted.get(database).is_some_and(|v| v.contains_key(name)) {
                    continue;
                }
                let sql = format!(
                    "ALTER ROLE {target_id}{} RESET {}",
                    scope(database),
                    quote_identifier(name)
                );
                self.run(&sql, "remove a setting the user does not have")
                    .await
                    .map_err(|e| name_setting(e, name, database))?;
            }
        }
        Ok(())
    }

    /// Gives `target` the login attributes of `template` that membership does not carry:
    /// CONNECTION LIMIT, VALID UNTIL and REPLICATION apply to the login role itself, while
    /// CREATEDB and BYPASSRLS follow the current role, which the clone's `role` setting makes
    /// the original.
    async fn carry_attributes(
        &self,
        template: &str,
        from: &RoleInfo,
        target: &str,
        to: &RoleInfo,
        master: &Master,
    ) -> Result<(), RotationError> {
        let target_id = quote_identifier(target);
        if from.replication != to.replication {
            // Before PostgreSQL 16 only a superuser may change REPLICATION; from 16 a
            // CREATEROLE user that has REPLICATION itself may.
            if !(master.superuser || master.version >= 160000 && master.replication) {
                return Err(self.database_error(
                    "carry the user's REPLICATION attribute over to the alternate user",
                    format!(
                        "`{template}` has {}REPLICATION and `{target}` does not match, and the \
                         master user `{}` may not change REPLICATION (it takes SUPERUSER, or on \
                         PostgreSQL 16+ REPLICATION itself); change it by hand",
                        if from.replication { "" } else { "NO" },
                        master.name
                    ),
                ));
            }
            let attribute = if from.replication {
                "REPLICATION"
            } else {
                "NOREPLICATION"
            };
            self.run(
                &format!("ALTER ROLE {target_id} WITH {attribute}"),
                "carry the user's REPLICATION attribute over to the alternate user",
            )
            .await?;
        }
        if from.connection_limit != to.connection_limit {
            self.run(
                &format!(
                    "ALTER ROLE {target_id} WITH CONNECTION LIMIT {}",
                    from.connection_limit
                ),
                "carry the user's CONNECTION LIMIT over to the alternate user",
            )
            .await?;
        }
        if from.valid_until != to.valid_until {
            self.run(
                &format!(
                    "ALTER ROLE {target_id} WITH VALID UNTIL {}",
                    quote_literal(&from.valid_until)
                ),
                "carry the user's VALID UNTIL over to the alternate user",
            )
            .await?;
        }
        Ok(())
    }

    /// Everything [`Session::clone_user`] does, inside the transaction it opened.
    async fn clone_in_transaction(
        &self,
        template: &str,
        target: &str,
        verifier: &str,
    ) -> Result<(), RotationError> {
        let refuse = |problem: String| RotationError::UnsafePartner {
            user: target.to_owned(),
            problem,
        };
        let row = self
            .row(
                "SELECT session_user::pg_catalog.text, current_user::pg_catalog.text, \
                 pg_catalog.current_setting('server_version_num')::pg_catalog.int4",
                &[],
                "read the session's user",
            )
            .await?;
        let session_user: String = row.get(0);
        let current_user: String = row.get(1);
        let version: i32 = row.get(2);
        if target == session_user || target == current_user {
            return Err(refuse(format!(
                "`{target}` is the master user this function logs in as"
            )));
        }
        let master_info = self.role(&session_user).await?.ok_or_else(|| {
            self.database_error("read the master user", "it has no row in pg_roles".into())
        })?;
        let template_info = self.role(template).await?.ok_or_else(|| {
            self.database_error(
                "read the user",
                format!("`{template}` does not exist; AWSCURRENT names a user that is gone"),
            )
        })?;
        // A VALID UNTIL that has passed is never copied: the copy could not log in. (A
        // retirement is only ever on the previous user, the target here, never the template:
        // the target's is replaced by the template's below.)
        let expired: bool = self
            .row(
                "SELECT COALESCE(rolvaliduntil OPERATOR(pg_catalog.<) pg_catalog.now(), false) \
                 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1::pg_catalog.text",
                &[&template],
                "read the user's VALID UNTIL",
            )
            .await?
            .get(0);
        if expired {
            return Err(RotationError::UnsafeTemplate {
                user: template.to_owned(),
                problem: format!(
                    "`{template}`'s VALID UNTIL has passed: it no longer logs in, and the \
                     function never copies an expiry that has passed (nor a retirement); set \
                     it to the date you mean (ALTER ROLE ... VALID UNTIL) or 'infinity'"
                ),
            });
        }
        let template_memberships = self.memberships(template, version).await?;
        let target_info = self.role(target).await?;
        let target_memberships = match target_info {
            Some(_) => self.memberships(target, version).await?,
            None => Vec::new(),
        };
        let plan = plan_partner(
            &[session_user.as_str(), current_user.as_str()],
            &RoleFacts {
                name: template,
                info: &template_info,
                memberships: &template_memberships,
            },
            target,
            target_info.as_ref().map(|info| RoleFacts {
                name: target,
                info,
                memberships: &target_memberships,
            }),
        )?;
        let master = Master {
            name: session_user,
            superuser: master_info.superuser,
            replication: master_info.replication,
            version,
        };
        let target_id = quote_identifier(target);
        let set_password = format!(
            "ALTER ROLE {target_id} WITH LOGIN PASSWORD {}",
            quote_literal(verifier)
        );
        let set_password = || self.run_secret(&set_password, "set the alternate user's password");
        match (plan, target_info) {
            (PartnerPlan::Create, _) | (_, None) => {
                // A new partner: created, made a member of the user and set to act as it,
                // with the user's login attributes and settings, in this one transaction.
                self.run_secret(
                    &format!(
                        "CREATE ROLE {target_id} WITH LOGIN PASSWORD {}",
                        quote_literal(verifier)
                    ),
                    "create the alternate user",
                )
                .await?;
                self.run(
                    &format!("GRANT {} TO {target_id}", quote_identifier(template)),
                    "grant the user's role to the alternate user",
                )
                .await?;
                let created = self.role(target).await?.ok_or_else(|| {
                    self.database_error("create the alternate user", "it is not in pg_roles".into())
                })?;
                self.carry_attributes(template, &template_info, target, &created, &master)
                    .await?;
                self.carry_settings(template, target).await
            }
            // The original: its privileges are the pair's. Its password changes (it already
            // logs in: a NOLOGIN original was refused), and its VALID UNTIL becomes the
            // user's, which ends a retirement (`retire_previous_after`) the original had as
            // the previous user; its settings stay its own.
            (PartnerPlan::Original, Some(target_info)) => {
                if target_info.valid_until != template_info.valid_until {
                    self.run(
                        &format!(
                            "ALTER ROLE {target_id} WITH VALID UNTIL {}",
                            quote_literal(&template_info.valid_until)
                        ),
                        "give the alternate user the user's VALID UNTIL",
                    )
                    .await?;
                }
                set_password().await
            }
            (PartnerPlan::Clone, Some(target_info)) => {
                // What the cluster records beyond the catalog rows the plan looked at.
                let held = self.dependencies(target).await?;
                if !held.is_empty() {
                    return Err(RotationError::UnsafePartner {
                        user: target.to_owned(),
                        problem: format!(
                            "`{target}` holds more than the pair shares: it {}",
                            held.join("; it ")
                        ),
                    });
                }
                self.carry_attributes(template, &template_info, target, &target_info, &master)
                    .await?;
                self.carry_settings(template, target).await?;
                set_password().await
            }
        }
    }
}

/// What the clone does with the partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartnerPlan {
    /// It does not exist: create it as a member of the user.
    Create,
    /// It is the original the user (a clone) is a member of: set its password only.
    Original,
    /// It is the user's clone: make its attributes and settings the user's, set its password.
    Clone,
}

/// A role as the catalog describes it.
struct RoleFacts<'a> {
    name: &'a str,
    info: &'a RoleInfo,
    memberships: &'a [Membership],
}

/// Decides, from catalog rows alone (so every case is tested offline), whether `template` may
/// be copied and what `target`, the partner, is. `masters` are the session's login and current
/// users. Refuses a template an application user would never be (the master, a superuser, a
/// role manager) and a partner that is not tied to the template, or holds more than the pair
/// shares; what the cluster records beyond these rows (owned objects, grants) is checked after.
fn plan_partner(
    masters: &[&str],
    template: &RoleFacts<'_>,
    target: &str,
    partner: Option<RoleFacts<'_>>,
) -> Result<PartnerPlan, RotationError> {
    let unsafe_template = |problem: String| RotationError::UnsafeTemplate {
        user: template.name.to_owned(),
        problem,
    };
    let refuse = |problem: String| RotationError::UnsafePartner {
        user: target.to_owned(),
        problem,
    };
    if masters.contains(&template.name) {
        return Err(unsafe_template(format!(
            "`{}` is the master user this function logs in as",
            template.name
        )));
    }
    if template.info.superuser {
        return Err(unsafe_template(format!(
            "`{}` is a superuser",
            template.name
        )));
    }
    if template.info.createrole {
        return Err(unsafe_template(format!(
            "`{}` has CREATEROLE (it may create and change other roles)",
            template.name
        )));
    }
    let administered = admin_of(template.memberships);
    if !administered.is_empty() {
        return Err(unsafe_template(format!(
            "`{}` holds ADMIN OPTION on {}",
            template.name,
            backticked(&administered)
        )));
    }
    if masters.contains(&target) {
        return Err(refuse(format!(
            "`{target}` is the master user this function logs in as"
        )));
    }
    let Some(partner) = partner else {
        return Ok(PartnerPlan::Create);
    };
    if partner.info.superuser {
        return Err(refuse(format!("`{target}` is a superuser")));
    }
    if partner.info.createrole {
        return Err(refuse(format!(
            "`{target}` has CREATEROLE (it may create and change other roles)"
        )));
    }
    let administered = admin_of(partner.memberships);
    if !administered.is_empty() {
        return Err(refuse(format!(
            "`{target}` holds ADMIN OPTION on {}",
            backticked(&administered)
        )));
    }
    let template_in_partner = template.memberships.iter().find(|m| m.role == target);
    let partner_in_template = partner.memberships.iter().any(|m| m.role == template.name);

    if let Some(membership) = template_in_partner {
        // `target` is the original and the user its clone. The clone must really act as it
        // (on 16+ a membership may grant neither), and the original must be a login user that
        // holds nothing its clone does not: else its password, which the secret's writer will
        // read, opens more than the pair.
        if !(membership.set && membership.inherit) {
            return Err(refuse(format!(
                "`{}` is a member of `{target}` without {}: the pair's clone must SET and \
                 INHERIT the original",
                template.name,
                match (membership.set, membership.inherit) {
                    (false, false) => "SET or INHERIT",
                    (false, true) => "SET",
                    _ => "INHERIT",
                }
            )));
        }
        if !partner.info.can_login {
            return Err(refuse(format!(
                "`{target}` is NOLOGIN (a group role); the function never makes a role a login \
                 user"
            )));
        }
        let beyond = attributes_beyond(partner.info, template.info);
        if !beyond.is_empty() {
            return Err(refuse(format!(
                "`{target}` has {}, which `{}` does not",
                beyond.join(", "),
                template.name
            )));
        }
        return Ok(PartnerPlan::Original);
    }
    if !partner_in_template {
        return Err(refuse(format!(
            "`{target}` is not this pair's partner: neither it nor `{}` is a member of the other",
            template.name
        )));
    }
    // `target` is the clone: it must hold nothing but its membership in `template`.
    let mut found = Vec::new();
    let others: Vec<&str> = partner
        .memberships
        .iter()
        .filter(|m| m.role != template.name)
        .map(|m| m.role.as_str())
        .collect();
    if !others.is_empty() {
        found.push(format!("is a member of {}", backticked(&others)));
    }
    let beyond = attributes_beyond(partner.info, template.info);
    if !beyond.is_empty() {
        found.push(format!(
            "has {}, which `{}` does not",
            beyond.join(", "),
            template.name
        ));
    }
    if !found.is_empty() {
        return Err(refuse(format!(
            "`{target}` holds more than the pair shares: it {}",
            found.join("; it ")
        )));
    }
    Ok(PartnerPlan::Clone)
}

/// The roles a membership list holds with ADMIN OPTION.
fn admin_of(memberships: &[Membership]) -> Vec<&str> {
    memberships
        .iter()
        .filter(|m| m.admin)
        .map(|m| m.role.as_str())
        .collect()
}

/// The role attributes `role` has and `other` does not, among those that reach beyond the
/// pair's own objects.
fn attributes_beyond(role: &RoleInfo, other: &RoleInfo) -> Vec<&'static str> {
    [
        (role.createdb, other.createdb, "CREATEDB"),
        (role.bypassrls, other.bypassrls, "BYPASSRLS"),
        (role.replication, other.replication, "REPLICATION"),
        (role.createrole, other.createrole, "CREATEROLE"),
    ]
    .into_iter()
    .filter(|(has, other_has, _)| *has && !other_has)
    .map(|(_, _, name)| name)
    .collect()
}

/// Settings per database name ("" for all databases), then per setting name.
type Settings = BTreeMap<String, BTreeMap<String, String>>;

#[derive(Debug)]
struct RoleInfo {
    superuser: bool,
    createrole: bool,
    createdb: bool,
    bypassrls: bool,
    replication: bool,
    connection_limit: i32,
    valid_until: String,
    can_login: bool,
}

/// A direct membership of a role in another, with its options.
#[derive(Debug)]
struct Membership {
    role: String,
    admin: bool,
    /// PostgreSQL 16+: the member may `SET ROLE` to it (always before 16).
    set: bool,
    /// PostgreSQL 16+: the member holds its privileges (always before 16).
    inherit: bool,
}

/// What decides whether the master may carry an attribute over.
struct Master {
    name: String,
    superuser: bool,
    replication: bool,
    version: i32,
}

fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Adds the setting a failed statement was about to the error.
fn name_setting(error: RotationError, name: &str, database: &str) -> RotationError {
    match error {
        RotationError::Database {
            host,
            port,
            action,
            detail,
            hint,
        } => RotationError::Database {
            host,
            port,
            action,
            detail: format!(
                "setting `{name}`{}: {detail}",
                if database.is_empty() {
                    String::new()
                } else {
                    format!(" in database `{database}`")
                }
            ),
            hint,
        },
        other => other,
    }
}

/// Settings whose stored value is a list of identifiers, each quoted by the server when it
/// needs quotes (GUC_LIST_QUOTE; the list pg_dump keeps for the same purpose).
const LIST_QUOTE_SETTINGS: [&str; 6] = [
    "local_preload_libraries",
    "search_path",
    "session_preload_libraries",
    "shared_preload_libraries",
    "temp_tablespaces",
    "unix_socket_directories",
];

/// The value part of `SET name TO ...` that makes the server store `stored` again.
///
/// For most settings the stored text is taken as it is from one literal. For list settings
/// such as `search_path` the server quotes each element of a literal as an identifier, so
/// `'a, b'` would become the one schema `"a, b"`: the stored list is split (as pg_dump does)
/// and each element given as its own literal, which the server quotes back the same way.
pub fn setting_value(name: &str, stored: &str) -> String {
    if !LIST_QUOTE_SETTINGS
        .iter()
        .any(|s| s.eq_ignore_ascii_case(name))
    {
        return quote_literal(stored);
    }
    let elements = split_guc_list(stored);
    if elements.is_empty() {
        return "''".to_owned();
    }
    elements
        .iter()
        .map(|e| quote_literal(e))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Splits a stored list setting into its elements: separated by commas, surrounding
/// whitespace dropped, double-quoted elements unquoted (`""` inside is one `"`). Unquoted
/// elements are kept as they are (the server already downcased them when it stored them).
fn split_guc_list(stored: &str) -> Vec<String> {
    let mut elements = Vec::new();
    let mut chars = stored.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut element = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        element.push('"');
                    } else {
                        break;
                    }
                } else {
                    element.push(c);
                }
            }
            while chars.peek().is_some_and(|c| *c != ',') {
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                element.push(c);
                chars.next();
            }
            element.truncate(element.trim_end().len());
        }
        elements.push(element);
        if chars.next().is_none() {
            break;
        }
    }
    elements
}

impl PgSession {
    /// Makes the session act as its login user again and checks that it is `username`.
    ///
    /// A role's `role` setting (or anything else) may have switched the session to another
    /// role. SET ROLE NONE (not RESET ROLE, which goes back to the setting) makes the current
    /// user the login user again, and the password statement names SESSION_USER: the role
    /// that authenticated, whatever the session did since.
    async fn become_login_user(
        &self,
        username: &str,
        consequence: &str,
    ) -> Result<(), RotationError> {
        self.run("SET ROLE NONE", "switch back to the login user")
            .await?;
        let session_user: String = self
            .row(
                "SELECT session_user::pg_catalog.text",
                &[],
                "read the login user",
            )
            .await?
            .get(0);
        if session_user != username {
            return Err(self.database_error(
                "change the password",
                format!(
                    "the session's login user is `{session_user}`, not `{username}`; \
                     {consequence}"
                ),
            ));
        }
        Ok(())
    }
}

/// A time as a `timestamptz` literal's text, in UTC (`2026-12-05T21:00:00Z`).
fn rotation_time(at: i64) -> String {
    let date = aws_smithy_types::DateTime::from_secs(at);
    date.fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| "infinity".into())
}

impl PgSession {
    async fn retire_in_transaction(
        &self,
        template: &str,
        target: &str,
        until: &str,
    ) -> Result<(), RotationError> {
        let refuse = |problem: String| RotationError::UnsafePartner {
            user: target.to_owned(),
            problem,
        };
        let row = self
            .row(
                "SELECT session_user::pg_catalog.text, current_user::pg_catalog.text, \
                 pg_catalog.current_setting('server_version_num')::pg_catalog.int4",
                &[],
                "read the session's user",
            )
            .await?;
        let (session_user, current_user, version): (String, String, i32) =
            (row.get(0), row.get(1), row.get(2));
        if target == template || target == session_user || target == current_user {
            return Err(refuse(format!(
                "`{target}` is the current user or the master user; never retired"
            )));
        }
        let (Some(template_info), Some(target_info)) =
            (self.role(template).await?, self.role(target).await?)
        else {
            return Err(refuse(format!(
                "`{template}` or `{target}` does not exist; nothing to retire"
            )));
        };
        let template_memberships = self.memberships(template, version).await?;
        let target_memberships = self.memberships(target, version).await?;
        // The same test a rotation makes before it changes the partner: the pair's own user,
        // holding nothing more.
        plan_partner(
            &[session_user.as_str(), current_user.as_str()],
            &RoleFacts {
                name: template,
                info: &template_info,
                memberships: &template_memberships,
            },
            target,
            Some(RoleFacts {
                name: target,
                info: &target_info,
                memberships: &target_memberships,
            }),
        )?;
        let later: bool = self
            .row(
                "SELECT COALESCE(rolvaliduntil OPERATOR(pg_catalog.>) $2::pg_catalog.text::pg_catalog.timestamptz, true) \
                 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1::pg_catalog.text",
                &[&target, &until],
                "read the previous user's VALID UNTIL",
            )
            .await?
            .get(0);
        if later {
            self.run(
                &format!(
                    "ALTER ROLE {} WITH VALID UNTIL {}",
                    quote_identifier(target),
                    quote_literal(until)
                ),
                "retire the previous user (VALID UNTIL)",
            )
            .await?;
        }
        Ok(())
    }
}

/// The SCRAM verifier of a random password no one will ever know, for rehearsals inside a
/// transaction that is always rolled back.
fn throwaway_verifier() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    let password = Alphanumeric.sample_string(&mut rand::rng(), 32);
    postgres_protocol::password::scram_sha_256(password.as_bytes())
}

#[async_trait]
impl Session for PgSession {
    async fn set_own_password(
        &mut self,
        username: &str,
        password: &SecretString,
    ) -> Result<(), RotationError> {
        self.become_login_user(username, "no password was changed")
            .await?;
        let verifier =
            postgres_protocol::password::scram_sha_256(password.expose_secret().as_bytes());
        self.run_secret(
            &format!(
                "ALTER ROLE SESSION_USER WITH PASSWORD {}",
                quote_literal(&verifier)
            ),
            "change the password",
        )
        .await
    }

    async fn account_host(&mut self) -> Result<Option<String>, RotationError> {
        Ok(None)
    }

    async fn rehearse_own_password(&mut self, username: &str) -> Result<(), RotationError> {
        self.become_login_user(username, "a rotation would refuse to change the password")
            .await?;
        let verifier = throwaway_verifier();
        self.run("BEGIN", "start a transaction").await?;
        let result = self
            .run_secret(
                &format!(
                    "ALTER ROLE SESSION_USER WITH PASSWORD {}",
                    quote_literal(&verifier)
                ),
                "change the password",
            )
            .await;
        // Always undone; should ROLLBACK itself fail, closing the session aborts the
        // transaction.
        let undone = self.run("ROLLBACK", "roll back the rehearsal").await;
        result.and(undone)
    }

    async fn rehearse_clone(
        &mut self,
        template: &str,
        _host: Option<&str>,
        target: &str,
    ) -> Result<(), RotationError> {
        let verifier = throwaway_verifier();
        self.run("BEGIN", "start a transaction").await?;
        let result = self.clone_in_transaction(template, target, &verifier).await;
        let undone = self.run("ROLLBACK", "roll back the rehearsal").await;
        result.and(undone)
    }

    /// The pair shares one set of privileges: the user that existed first (the template of the
    /// first rotation) keeps them, and the other is made a member of it whose sessions start
    /// with `SET ROLE` to it. Whatever either user creates is then owned by the first, so tables
    /// created by `name_clone` stay usable by `name` and the other way round, and a grant added
    /// to the first later reaches both without a rotation.
    ///
    /// Everything runs in one transaction: the checks see one state, a refusal or a failure
    /// changes nothing, and a new partner never exists half made (a member without its `role`
    /// setting).
    ///
    /// On PostgreSQL 16+ the master needs ADMIN OPTION on the user's role to grant it; a role
    /// it creates is granted back to it with ADMIN OPTION, which lets it change that role
    /// later.
    async fn clone_user(
        &mut self,
        template: &str,
        _host: Option<&str>,
        target: &str,
        password: &SecretString,
    ) -> Result<(), RotationError> {
        let verifier =
            postgres_protocol::password::scram_sha_256(password.expose_secret().as_bytes());
        self.run("BEGIN", "start a transaction").await?;
        match self.clone_in_transaction(template, target, &verifier).await {
            Ok(()) => self.run("COMMIT", "commit the alternate user").await,
            Err(error) => {
                // Best effort: the session is closed right after, which rolls back anyway.
                let _ = self.run("ROLLBACK", "roll back").await;
                Err(error)
            }
        }
    }

    /// `VALID UNTIL` the retirement's time, in one transaction with the checks: `target`
    /// must be `template`'s partner (one a member of the other, as the pair's clone is), not
    /// the session's user, and hold nothing the pair does not share. A retirement already set
    /// sooner stands: a retry never extends the grace.
    async fn retire_partner(
        &mut self,
        template: &str,
        _host: Option<&str>,
        target: &str,
        at: i64,
    ) -> Result<(), RotationError> {
        let until = rotation_time(at);
        self.run("BEGIN", "start a transaction").await?;
        let result = self.retire_in_transaction(template, target, &until).await;
        match result {
            Ok(()) => self.run("COMMIT", "commit the retirement").await,
            Err(error) => {
                let _ = self.run("ROLLBACK", "roll back").await;
                Err(error)
            }
        }
    }

    async fn sessions_of(&mut self, user: &str) -> Result<Option<u64>, RotationError> {
        // Every role sees every session's user name in pg_stat_activity (only the query text
        // of other roles' sessions is hidden).
        let count: i64 = self
            .row(
                "SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity \
                 WHERE usename OPERATOR(pg_catalog.=) $1::pg_catalog.text",
                &[&user],
                "count the user's sessions",
            )
            .await?
            .get(0);
        Ok(Some(count.max(0) as u64))
    }

    async fn verify(&mut self) -> Result<(), RotationError> {
        self.row("SELECT 1", &[], "run a test query")
            .await
            .map(drop)
    }

    async fn close(self: Box<Self>) {
        let PgSession {
            client,
            mut connection,
            ..
        } = *self;
        // Dropping the client sends Terminate; the task then ends on its own. A server that
        // does not answer is cut off by the abort in ConnectionTask's drop.
        drop(client);
        let _ = tokio::time::timeout(Duration::from_secs(1), &mut connection.0).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(adjust: impl FnOnce(&mut RoleInfo)) -> RoleInfo {
        let mut info = RoleInfo {
            superuser: false,
            createrole: false,
            createdb: false,
            bypassrls: false,
            replication: false,
            connection_limit: -1,
            valid_until: "infinity".into(),
            can_login: true,
        };
        adjust(&mut info);
        info
    }

    fn member_of(role: &str, set: bool, inherit: bool, admin: bool) -> Membership {
        Membership {
            role: role.into(),
            admin,
            set,
            inherit,
        }
    }

    /// Plans the partner `target` of `template` (`app` <-> `app_clone`) from catalog rows.
    fn plan(
        template: (&RoleInfo, &[Membership]),
        target: Option<(&RoleInfo, &[Membership])>,
    ) -> Result<PartnerPlan, String> {
        plan_partner(
            &["admin"],
            &RoleFacts {
                name: "app",
                info: template.0,
                memberships: template.1,
            },
            "app_clone",
            target.map(|(info, memberships)| RoleFacts {
                name: "app_clone",
                info,
                memberships,
            }),
        )
        .map_err(|e| format!("{}: {e}", e.kind()))
    }

    #[test]
    fn a_missing_partner_is_created_and_a_member_partner_is_the_clone() {
        let plain = role(|_| {});
        assert_eq!(plan((&plain, &[]), None), Ok(PartnerPlan::Create));
        let clone_of_app = [member_of("app", true, true, false)];
        assert_eq!(
            plan((&plain, &[]), Some((&plain, &clone_of_app))),
            Ok(PartnerPlan::Clone)
        );
    }

    #[test]
    fn a_template_that_may_manage_roles_or_is_the_master_is_refused() {
        for (info, memberships, named) in [
            (role(|r| r.superuser = true), vec![], "superuser"),
            (role(|r| r.createrole = true), vec![], "CREATEROLE"),
            (
                role(|_| {}),
                vec![member_of("payroll", true, true, true)],
                "ADMIN OPTION on `payroll`",
            ),
        ] {
            let error = plan((&info, &memberships), None).unwrap_err();
            assert!(
                error.starts_with("UnsafeTemplate") && error.contains(named),
                "{error}"
            );
        }
        let error = plan_partner(
            &["app"],
            &RoleFacts {
                name: "app",
                info: &role(|_| {}),
                memberships: &[],
            },
            "app_clone",
            None,
        )
        .unwrap_err();
        assert_eq!(error.kind(), "UnsafeTemplate");
    }

    #[test]
    fn an_original_must_really_be_acted_as_log_in_and_hold_no_more() {
        let plain = role(|_| {});
        // The template `app` is a member of its partner: the partner is the original.
        for (membership, original, named) in [
            (member_of("app_clone", true, true, false), role(|_| {}), ""),
            (
                member_of("app_clone", false, true, false),
                role(|_| {}),
                "without SET",
            ),
            (
                member_of("app_clone", true, false, false),
                role(|_| {}),
                "without INHERIT",
            ),
            (
                member_of("app_clone", false, false, false),
                role(|_| {}),
                "without SET or INHERIT",
            ),
            (
                member_of("app_clone", true, true, false),
                role(|r| r.can_login = false),
                "NOLOGIN",
            ),
            (
                member_of("app_clone", true, true, false),
                role(|r| r.createdb = true),
                "CREATEDB",
            ),
            (
                member_of("app_clone", true, true, false),
                role(|r| r.bypassrls = true),
                "BYPASSRLS",
            ),
            (
                member_of("app_clone", true, true, false),
                role(|r| r.replication = true),
                "REPLICATION",
            ),
        ] {
            let template_memberships = [membership];
            let planned = plan((&plain, &template_memberships), Some((&original, &[])));
            if named.is_empty() {
                assert_eq!(planned, Ok(PartnerPlan::Original));
            } else {
                let error = planned.unwrap_err();
                assert!(
                    error.starts_with("UnsafePartner") && error.contains(named),
                    "{named}: {error}"
                );
            }
        }
    }

    #[test]
    fn a_partner_tied_to_nothing_or_holding_more_is_refused() {
        let plain = role(|_| {});
        for (info, memberships, named) in [
            (role(|_| {}), vec![], "not this pair's partner"),
            (role(|r| r.superuser = true), vec![], "superuser"),
            (role(|r| r.createrole = true), vec![], "CREATEROLE"),
            (
                role(|_| {}),
                vec![
                    member_of("app", true, true, false),
                    member_of("payroll", true, true, false),
                ],
                "member of `payroll`",
            ),
            (
                role(|_| {}),
                vec![member_of("app", true, true, true)],
                "ADMIN OPTION",
            ),
            (
                role(|r| r.bypassrls = true),
                vec![member_of("app", true, true, false)],
                "BYPASSRLS",
            ),
        ] {
            let error = plan((&plain, &[]), Some((&info, &memberships))).unwrap_err();
            assert!(
                error.starts_with("UnsafePartner") && error.contains(named),
                "{named}: {error}"
            );
        }
        // The master is never the partner.
        let error = plan_partner(
            &["app_clone"],
            &RoleFacts {
                name: "app",
                info: &plain,
                memberships: &[],
            },
            "app_clone",
            None,
        )
        .unwrap_err();
        assert!(error.to_string().contains("master user"), "{error}");
    }

    /// A hostile "server" on loopback: asks for the password in clear (which the protocol
    /// allows), then answers with an error that quotes it back, padded to flood a log.
    async fn echoing_server() -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let length = stream.read_i32().await.unwrap() as usize;
            let mut startup = vec![0; length - 4];
            stream.read_exact(&mut startup).await.unwrap();
            // AuthenticationCleartextPassword.
            stream
                .write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3])
                .await
                .unwrap();
            assert_eq!(stream.read_u8().await.unwrap(), b'p');
            let length = stream.read_i32().await.unwrap() as usize;
            let mut password = vec![0; length - 4];
            stream.read_exact(&mut password).await.unwrap();
            let password = String::from_utf8_lossy(&password[..password.len() - 1]).into_owned();
            let message = format!("you sent {password} {}", "x".repeat(5000));
            let mut fields = Vec::new();
            for (code, value) in [(b'S', "FATAL"), (b'C', "28000"), (b'M', message.as_str())] {
                fields.push(code);
                fields.extend_from_slice(value.as_bytes());
                fields.push(0);
            }
            fields.push(0);
            let mut reply = vec![b'E'];
            reply.extend_from_slice(&((fields.len() + 4) as i32).to_be_bytes());
            reply.extend_from_slice(&fields);
            stream.write_all(&reply).await.unwrap();
        });
        port
    }

    #[tokio::test]
    async fn a_server_never_echoes_the_password_into_an_error() {
        let port = echoing_server().await;
        let login = Login {
            engine: crate::secret::Engine::Postgres,
            host: "127.0.0.1".into(),
            port,
            username: "app".into(),
            password: SecretString::from("the-app-Pa55word"),
            dbname: None,
            tls: crate::secret::Tls::Disabled,
        };
        let settings = ConnectSettings {
            ca_bundle: None,
            statement_timeout: Duration::from_secs(5),
        };
        let error = match super::login(&login, settings).await {
            Err(error) => error,
            Ok(_) => panic!("the hostile server let the login through"),
        };
        assert_eq!(error.kind(), "LoginRefused");
        let text = format!("{error} {error:?}");
        assert!(!text.contains("the-app-Pa55word"), "{text}");
        assert!(text.contains("you sent ***"), "{text}");
        let shown = error.to_string();
        assert!(shown.len() < 700, "bounded: {} characters", shown.len());
    }

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
        assert_eq!(quote_literal("back\\slash'"), " E'back\\\\slash'''");
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

    #[test]
    fn list_settings_are_given_element_by_element() {
        assert_eq!(
            setting_value("search_path", "\"$user\", public"),
            "'$user', 'public'"
        );
        assert_eq!(
            setting_value("search_path", "schema_x, \"My \"\"odd\"\" schema\", public"),
            "'schema_x', 'My \"odd\" schema', 'public'"
        );
        assert_eq!(setting_value("search_path", "\"\""), "''");
        assert_eq!(setting_value("search_path", ""), "''");
        assert_eq!(setting_value("Search_Path", "a,b"), "'a', 'b'");
        assert_eq!(setting_value("search_path", "\"a,b\", c"), "'a,b', 'c'");
    }

    #[test]
    fn other_settings_are_one_literal() {
        assert_eq!(setting_value("statement_timeout", "7s"), "'7s'");
        assert_eq!(setting_value("datestyle", "iso, mdy"), "'iso, mdy'");
        assert_eq!(setting_value("app.x", "it's"), "'it''s'");
    }

    #[test]
    fn a_bundle_without_certificates_is_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("pg-bundle-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let error = client_config(&empty).unwrap_err();
        assert!(
            error.contains("empty.pem") && error.contains("no usable"),
            "{error}"
        );
        let broken = dir.join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let error = client_config(&broken).unwrap_err();
        assert!(error.contains("broken.pem"), "{error}");
        let missing = dir.join("missing.pem");
        assert!(client_config(&missing).unwrap_err().contains("missing.pem"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
