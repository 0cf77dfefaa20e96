//! The login: TLS or plaintext as configured, the session's first statement (the catalog's
//! search path, the bounds), the task that drives the connection.

use super::*;

pub(crate) async fn login(
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
pub(super) struct ConnectionTask(pub(super) JoinHandle<()>);

impl Drop for ConnectionTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}
