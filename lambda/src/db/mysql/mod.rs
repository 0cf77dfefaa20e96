//! MySQL, Aurora MySQL and MariaDB, over `mysql_async`.
//!
//! A login is one connection (no pool), built field by field, over TLS verified against the CA
//! bundle alone (built-in roots off, host name checked), or over plaintext only when the
//! secret or configuration chose it: a server without TLS fails the login, it is never a
//! silent downgrade. Right after login the session pins its `sql_mode` and bounds every lock
//! wait and statement ([`server::Server::session_setup`]), and the function bounds every
//! statement again itself, so a lock held elsewhere fails the step with a clear error well
//! inside the Lambda timeout.
//!
//! MariaDB logs password statements verbatim, so it is only ever sent the native hash
//! ([`account`]); MySQL 5.7.6+ rewrites them before logging and gets the password where no hash
//! form keeps the account's plugin. Neither server takes a bind parameter for a password in
//! `ALTER USER` or `SET PASSWORD`, so a literal is built by [`quote_string`] for the pinned mode.
//! Error messages of statements that carry a password or its hash are never passed on, since a
//! syntax error would quote it.
//!
//! Copying a user to its alternate reads both users' `SHOW GRANTS` into a structure
//! ([`grants`]) and refuses, before any change, a partner that is the master user, holds
//! anything the user does not, is a role or locked, or (when it exists) belongs to no pair the
//! function recorded or an operator adopted ([`account`]): otherwise a secret naming `X_clone`
//! would let its writer reset the password of `X`, or of another team's `X_clone`, and take
//! it. Whatever differs between server versions lives in [`server`].

pub mod account;
pub mod grants;
pub mod server;

use std::time::Duration;

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row, SslOpts, Value};
use secrecy::{ExposeSecret, SecretString};

use self::account::{AccountInfo, Plugin};
use self::grants::{Line, Requirement};
use self::server::{RequireSource, Server};
use super::{ConnectSettings, PRIVILEGE_HINT, Session};
use crate::error::RotationError;
use crate::secret::Login;

pub use self::grants::redacted;

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

/// Quotes an identifier with backticks, which mean the same under every `sql_mode` the
/// function's sessions run with.
pub fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// MySQL's `ER_ACCESS_DENIED_ERROR`: the password (or user) is wrong.
const ACCESS_DENIED: u16 = 1045;
/// `ER_NONEXISTING_GRANT`: `SHOW GRANTS` for an account that does not exist.
const NO_SUCH_GRANT: u16 = 1141;

/// How long past the server-side bound the function waits before giving up on a statement.
const BACKSTOP: Duration = Duration::from_secs(2);

pub(super) async fn login(
    login: &Login,
    settings: ConnectSettings<'_>,
) -> Result<Option<Box<dyn Session>>, RotationError> {
    let ssl = settings.ca_bundle.map(|bundle| {
        SslOpts::default()
            .with_root_certs(vec![bundle.to_path_buf().into()])
            .with_disable_built_in_roots(true)
            .with_danger_skip_domain_validation(false)
            .with_danger_accept_invalid_certs(false)
    });
    let opts = OptsBuilder::default()
        .ip_or_hostname(login.host.clone())
        .tcp_port(login.port)
        .user(Some(login.username.clone()))
        .pass(Some(login.password.expose_secret().to_owned()))
        .db_name(login.dbname.clone())
        .ssl_opts(ssl)
        // A loopback host would otherwise switch to the server's Unix socket, without TLS.
        .prefer_socket(false)
        .enable_cleartext_plugin(false)
        .stmt_cache_size(0);
    let conn = match Conn::new(opts).await {
        Ok(conn) => conn,
        Err(error) => return login_failure(login, error),
    };
    let mut session = MySqlSession {
        conn,
        host: login.host.clone(),
        port: login.port,
        timeout: settings.statement_timeout,
        server: Server::MySql(0, 0, 0),
        current_user: (String::new(), String::new()),
        login_user: String::new(),
        login_password: login.password.clone(),
    };
    session.prepare().await?;
    Ok(Some(Box::new(session)))
}

/// Sorts a failed login into the error that says what to check.
fn login_failure(
    login: &Login,
    error: mysql_async::Error,
) -> Result<Option<Box<dyn Session>>, RotationError> {
    use mysql_async::{DriverError, Error, IoError};
    let (host, port) = (login.host.clone(), login.port);
    let tls = |detail: String| RotationError::Tls {
        host: login.host.clone(),
        port: login.port,
        detail,
    };
    let unreachable = |detail: String| RotationError::Unreachable {
        host: login.host.clone(),
        port: login.port,
        detail,
    };
    match error {
        Error::Server(e) if e.code == ACCESS_DENIED => Ok(None),
        // 1698 (no password), 1130 (host not allowed), 3118/4151 (account locked), 1862
        // (password expired), 1226 (too many connections): another password would not help.
        Error::Server(e) => Err(RotationError::LoginRefused {
            host,
            port,
            user: login.username.clone(),
            detail: format!("{} (error {})", e.message, e.code),
        }),
        Error::Driver(DriverError::NoClientSslFlagFromServer) => Err(tls(
            "the server does not offer TLS; the function does not fall back to plaintext".into(),
        )),
        Error::Io(IoError::Tls(e)) => Err(tls(e.to_string())),
        Error::Io(IoError::Io(e)) if is_tls_failure(&e) => Err(tls(e.to_string())),
        Error::Io(IoError::Io(e)) => Err(unreachable(e.to_string())),
        Error::Driver(
            e @ (DriverError::UnknownAuthPlugin { .. }
            | DriverError::CleartextPluginDisabled
            | DriverError::MysqlOldPasswordDisabled),
        ) => Err(RotationError::LoginRefused {
            host,
            port,
            user: login.username.clone(),
            detail: e.to_string(),
        }),
        Error::Driver(e) => Err(unreachable(e.to_string())),
        Error::Other(e) => Err(unreachable(e.to_string())),
        Error::Url(e) => Err(unreachable(e.to_string())),
    }
}

/// Whether an I/O error is rustls refusing the server (tokio-rustls wraps its errors in I/O).
fn is_tls_failure(error: &std::io::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = error
        .get_ref()
        .map(|e| e as &(dyn std::error::Error + 'static));
    while let Some(e) = source {
        if e.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        source = e.source();
    }
    false
}

struct MySqlSession {
    conn: Conn,
    host: String,
    port: u16,
    timeout: Duration,
    server: Server,
    /// `CURRENT_USER()`: the account the server matched (the proxied one for a proxy user).
    current_user: (String, String),
    /// The user name of `USER()`: the name the client logged in with.
    login_user: String,
    /// The password this session logged in with, for MySQL 8's `REPLACE` clause.
    login_password: SecretString,
}

/// What [`MySqlSession::check_partner`] found, for the change that follows it.
struct PartnerPlan {
    template_lines: Vec<Line>,
    template_plugin: Plugin,
    /// The partner's plugin, when the partner exists.
    target: Option<Plugin>,
    /// The partner is locked by the function's own retirement: the rotation lifts it.
    retired: bool,
    /// The pair's user without `_clone`, its key in the record of pairs.
    base: String,
}

/// Why the function reads an existing partner: to change it in a rotation (its pair must be
/// recorded), or to adopt it (it is about to be).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Rotate,
    Adopt,
}

/// Splits `user@host` at the last `@` (a user name may hold one, a host may not).
fn split_account(account: &str) -> (String, String) {
    match account.rsplit_once('@') {
        Some((user, host)) => (user.to_owned(), host.to_owned()),
        None => (account.to_owned(), String::new()),
    }
}

/// The first column of the first row, as a number (`SELECT COUNT(*)`).
fn count(rows: &[Vec<Option<String>>]) -> u64 {
    rows.first()
        .and_then(|row| row.first().cloned().flatten())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        other => Some(other.as_sql(true).trim_matches('\'').to_owned()),
    }
}

impl MySqlSession {
    /// Reads the server and the session's identity, then pins the session's mode and bounds.
    async fn prepare(&mut self) -> Result<(), RotationError> {
        // Names are quoted, and SHOW GRANTS read, in one known character set, whatever the
        // server's default.
        self.run("SET NAMES utf8mb4", "set the session's character set", true)
            .await?;
        let rows = self
            .rows(
                "SELECT VERSION(), CURRENT_USER(), USER()",
                "read its version and user",
            )
            .await?;
        let row = rows.first().cloned().unwrap_or_default();
        let column = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        self.server = Server::from_version(&column(0));
        self.current_user = split_account(&column(1));
        self.login_user = split_account(&column(2)).0;
        let setup = self.server.session_setup(self.timeout);
        self.run(&setup, "set the session's sql_mode and time bounds", true)
            .await
    }

    /// A statement failure; `show_message` is false for statements that carry a password.
    fn failure(
        &self,
        action: &'static str,
        error: mysql_async::Error,
        show_message: bool,
    ) -> RotationError {
        let (detail, hint) = match &error {
            mysql_async::Error::Server(e) => {
                let detail = if show_message {
                    format!("{} (error {})", e.message, e.code)
                } else {
                    format!(
                        "server error {} (message withheld: it may quote the password)",
                        e.code
                    )
                };
                if server::is_timeout(e.code) {
                    return self.timed_out(action, detail);
                }
                let denied = matches!(e.code, 1044 | 1142 | 1227 | 1370 | 1698);
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

    fn timed_out(&self, action: &'static str, detail: String) -> RotationError {
        RotationError::DatabaseTimeout {
            host: self.host.clone(),
            port: self.port,
            action,
            seconds: crate::db::StatementBound(self.timeout).seconds(),
            detail,
        }
    }

    fn bound(&self) -> Duration {
        self.timeout + BACKSTOP
    }

    /// Runs a statement; `show_message` is false when it carries a password.
    async fn run(
        &mut self,
        sql: &str,
        action: &'static str,
        show_message: bool,
    ) -> Result<(), RotationError> {
        let bound = self.bound();
        match tokio::time::timeout(bound, self.conn.query_drop(sql)).await {
            Ok(result) => result.map_err(|e| self.failure(action, e, show_message)),
            Err(_) => Err(self.timed_out(action, "no answer from the server".into())),
        }
    }

    /// Runs a query without parameters; every column as text.
    async fn rows(
        &mut self,
        sql: &str,
        action: &'static str,
    ) -> Result<Vec<Vec<Option<String>>>, RotationError> {
        let bound = self.bound();
        let answer = tokio::time::timeout(bound, self.conn.query::<Row, _>(sql)).await;
        self.texts(action, answer)
    }

    /// A bounded query's answer, every column as text, or the failure it names.
    fn texts(
        &self,
        action: &'static str,
        answer: Result<Result<Vec<Row>, mysql_async::Error>, tokio::time::error::Elapsed>,
    ) -> Result<Vec<Vec<Option<String>>>, RotationError> {
        let rows = match answer {
            Ok(result) => result.map_err(|e| self.failure(action, e, true))?,
            Err(_) => return Err(self.timed_out(action, "no answer from the server".into())),
        };
        Ok(rows
            .into_iter()
            .map(|row| row.unwrap().iter().map(text).collect())
            .collect())
    }

    /// Runs a prepared query with text parameters; every column as text.
    async fn rows_with(
        &mut self,
        sql: &str,
        params: Vec<String>,
        action: &'static str,
    ) -> Result<Vec<Vec<Option<String>>>, RotationError> {
        let bound = self.bound();
        let query = self.conn.exec::<Row, _, _>(sql, params);
        let answer = tokio::time::timeout(bound, query).await;
        self.texts(action, answer)
    }

    /// The plugin and lock state of `user`@`host` (`None`: this session's own account), from
    /// `SHOW CREATE USER`, which any user may run for itself. The line holds the password
    /// hash: it is parsed here and never shown.
    async fn account_info(
        &mut self,
        account: Option<(&str, &str)>,
    ) -> Result<AccountInfo, RotationError> {
        let sql = match account {
            Some((user, host)) => format!("SHOW CREATE USER {}", self.server.account(user, host)),
            None => "SHOW CREATE USER CURRENT_USER()".to_owned(),
        };
        let action = "read the account's authentication";
        if !self.server.has_show_create_user() {
            return Err(self.database(
                action,
                "the server is older than MariaDB 10.2 or MySQL 5.7.6 and has no SHOW CREATE \
                 USER, which the function reads an account's plugin and lock state from; \
                 upgrade the server (both versions are past their end of life)"
                    .into(),
            ));
        }
        let rows = self.rows(&sql, action).await?;
        let line = rows
            .first()
            .and_then(|row| row.first().cloned().flatten())
            .unwrap_or_default();
        account::parse_create_user(&line).map_err(|problem| {
            self.database(
                action,
                format!(
                    "the SHOW CREATE USER line `{}` is not one the function understands \
                     ({problem})",
                    redacted(&line)
                ),
            )
        })
    }

    /// Refuses, before any change, an own password the function cannot set without the
    /// password reaching the server's logs; returns the account's plugin.
    async fn own_plugin(&mut self, action: &'static str) -> Result<Plugin, RotationError> {
        let info = self.account_info(None).await?;
        let (user, host) = self.current_user.clone();
        self.server.check_plugin(&info.plugin).map_err(|problem| {
            self.database(action, format!("the account `{user}`@`{host}`: {problem}"))
        })?;
        Ok(info.plugin)
    }

    /// The session's own account must be the login user's, not an anonymous or proxied one.
    fn own_account(&self, username: &str, purpose: &str) -> Result<(), RotationError> {
        let (account_user, account_host) = &self.current_user;
        if account_user != username || self.login_user != username {
            return Err(self.database(
                "change the password",
                format!(
                    "the session logged in as `{}` is the account `{account_user}`@`{account_host}`, \
                     not the user `{username}`; {purpose} (check for anonymous accounts or proxy \
                     grants matching the user)",
                    self.login_user
                ),
            ));
        }
        Ok(())
    }

    /// Whether the pair of `base`@`host` is in the function's record of pairs. A server
    /// where the record does not exist yet has none.
    async fn pair_recorded(&mut self, base: &str, host: &str) -> Result<bool, RotationError> {
        self.recorded(
            "alternating_pairs",
            account::MARK_QUERY,
            base,
            host,
            "read the record of alternating pairs",
        )
        .await
    }

    /// Whether `query` (on one of the function's record tables, `table`) finds `user`@`host`.
    /// A server where the table does not exist yet records nothing.
    async fn recorded(
        &mut self,
        table: &str,
        query: &str,
        user: &str,
        host: &str,
        action: &'static str,
    ) -> Result<bool, RotationError> {
        let exists = self
            .rows_with(
                "SELECT COUNT(*) FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                vec![account::MARK_SCHEMA.to_owned(), table.to_owned()],
                action,
            )
            .await?;
        if count(&exists) == 0 {
            return Ok(false);
        }
        let rows = self
            .rows_with(query, vec![user.to_owned(), host.to_owned()], action)
            .await?;
        Ok(!rows.is_empty())
    }

    /// Records the pair of `base`@`host` (`how`: created or adopted), creating the record's
    /// table on first use.
    async fn record_pair(
        &mut self,
        base: &str,
        host: &str,
        how: &str,
    ) -> Result<(), RotationError> {
        let action = "record the alternating pair";
        for sql in account::MARK_SETUP {
            self.run(sql, action, true).await?;
        }
        self.rows_with(
            account::MARK_INSERT,
            vec![base.to_owned(), host.to_owned(), how.to_owned()],
            action,
        )
        .await
        .map(drop)
    }

    /// The grants of `user`@`host`, parsed; `None` when the account does not exist.
    async fn grants(&mut self, user: &str, host: &str) -> Result<Option<Vec<Line>>, RotationError> {
        let account = self.server.account(user, host);
        let sql = format!("SHOW GRANTS FOR {account}");
        let bound = self.bound();
        let action = "read a user's grants";
        let rows = match tokio::time::timeout(bound, self.conn.query::<Row, _>(sql.as_str())).await
        {
            Ok(Ok(rows)) => rows,
            Ok(Err(mysql_async::Error::Server(e))) if e.code == NO_SUCH_GRANT => return Ok(None),
            Ok(Err(e)) => return Err(self.failure(action, e, true)),
            Err(_) => return Err(self.timed_out(action, "no answer from the server".into())),
        };
        let mut lines = Vec::new();
        for row in rows {
            let line = row.unwrap().first().and_then(text).unwrap_or_default();
            let parsed = grants::parse(&line).map_err(|problem| RotationError::Database {
                host: self.host.clone(),
                port: self.port,
                action: "copy the user's grants",
                detail: format!(
                    "the SHOW GRANTS line `{}` is not one the function understands ({problem})",
                    redacted(&line)
                ),
                hint: "",
            })?;
            if !parsed.grantee().is(user, host) {
                return Err(RotationError::Database {
                    host: self.host.clone(),
                    port: self.port,
                    action: "copy the user's grants",
                    detail: format!(
                        "the SHOW GRANTS line `{}` does not name `{user}`@`{host}` as grantee",
                        redacted(&line)
                    ),
                    hint: "",
                });
            }
            lines.push(parsed);
        }
        Ok(Some(lines))
    }

    /// The TLS requirement of `user`@`host`, from where this server keeps it.
    async fn requirement(
        &mut self,
        user: &str,
        host: &str,
        lines: &[Line],
    ) -> Result<Requirement, RotationError> {
        let action = "read the user's TLS requirement";
        match self.server.require_source() {
            RequireSource::ShowGrants => Ok(lines
                .iter()
                .find_map(|line| match line {
                    Line::Grant {
                        require: Some(r), ..
                    } => Some(r.clone()),
                    _ => None,
                })
                .unwrap_or_default()),
            RequireSource::UserTable => {
                let bound = self.bound();
                let query = self
                    .conn
                    .exec::<Row, _, _>(server::USER_TLS_QUERY, (user.to_owned(), host.to_owned()));
                let rows = match tokio::time::timeout(bound, query).await {
                    Ok(result) => result.map_err(|e| self.failure(action, e, true))?,
                    Err(_) => {
                        return Err(self.timed_out(action, "no answer from the server".into()));
                    }
                };
                let row: Vec<String> = rows
                    .into_iter()
                    .next()
                    .map(|row| {
                        row.unwrap()
                            .iter()
                            .map(|v| text(v).unwrap_or_default())
                            .collect()
                    })
                    .ok_or_else(|| self.database(action, "the user is not in mysql.user".into()))?;
                let column = |i: usize| row.get(i).map(String::as_str).unwrap_or_default();
                Server::requirement_from_user_table(column(0), column(1), column(2), column(3))
                    .map_err(|problem| self.database(action, problem))
            }
        }
    }

    /// The checks before any change to the partner: the two users are each other's partners;
    /// the partner is not the master user, not a role or granted to other accounts, not
    /// locked, holds nothing the user lacks, has a plugin the function can set a password for
    /// without logging it, and (when it exists and the purpose is a rotation) belongs to a
    /// pair the function recorded.
    async fn check_partner(
        &mut self,
        template: &str,
        host: &str,
        target: &str,
        purpose: Purpose,
    ) -> Result<PartnerPlan, RotationError> {
        let refuse = |problem: String| RotationError::UnsafePartner {
            user: target.to_owned(),
            problem,
        };
        let base = account::pair_base(template, target).map_err(refuse)?;
        if target == self.current_user.0 || target == self.login_user {
            return Err(refuse(format!(
                "`{target}` is the master user this function logs in as"
            )));
        }
        let template_lines = self.grants(template, host).await?.ok_or_else(|| {
            self.database(
                "copy the user's grants",
                format!("the account `{template}`@`{host}` does not exist"),
            )
        })?;
        // The record of pairs decides which existing accounts may be changed: a user that can
        // write it could have another team's account taken as its partner.
        if let Some(grant) = grants::writes_schema(&template_lines, account::MARK_SCHEMA) {
            return Err(refuse(format!(
                "`{template}` holds {grant}, so whoever holds its password can write the \
                 function's record of pairs ({}) and have any account taken as its partner; \
                 revoke it (only the master user writes the record)",
                account::MARK_TABLE
            )));
        }
        let template_plugin = self.account_info(Some((template, host))).await?.plugin;
        self.server
            .check_plugin(&template_plugin)
            .map_err(|problem| refuse(format!("the user `{template}`@`{host}`: {problem}")))?;
        if let Some(query) = self.server.role_query() {
            let rows = self
                .rows_with(query, vec![target.to_owned()], "read the server's roles")
                .await?;
            if count(&rows) > 0 {
                return Err(refuse(format!(
                    "`{target}` is a role, or is granted to other accounts as one; the \
                     partner must be a login user of its own"
                )));
            }
        }
        let Some(target_lines) = self.grants(target, host).await? else {
            return Ok(PartnerPlan {
                template_lines,
                template_plugin,
                target: None,
                retired: false,
                base,
            });
        };
        let beyond = grants::excess(&template_lines, &target_lines);
        if !beyond.is_empty() {
            return Err(refuse(format!(
                "`{target}`@`{host}` holds {}, which `{template}` lacks",
                beyond.join(", ")
            )));
        }
        let info = self.account_info(Some((target, host))).await?;
        // The partner's TLS requirement becomes the user's; never a weaker one, since the
        // partner's owner (or an operator) may have set it on purpose.
        let template_requirement = self.requirement(template, host, &template_lines).await?;
        let target_requirement = self.requirement(target, host, &target_lines).await?;
        if !template_requirement.at_least(&target_requirement) {
            let clause = |r: &Requirement| r.clause(self.server.no_backslash_escapes());
            return Err(refuse(format!(
                "`{target}`@`{host}` requires TLS `REQUIRE {}`, and `{template}` only \
                 `REQUIRE {}`: the function never lowers a partner's requirement. Give \
                 `{template}` the same requirement (ALTER USER ... REQUIRE), or change the \
                 partner's by hand if the weaker one is meant",
                clause(&target_requirement),
                clause(&template_requirement)
            )));
        }
        let retired = info.locked && self.retired_recorded(target, host).await?;
        if info.locked && !retired {
            return Err(refuse(format!(
                "`{target}`@`{host}` is locked (ACCOUNT LOCK): someone disabled it on \
                 purpose; unlock it (ALTER USER ... ACCOUNT UNLOCK) if it is the pair's, or \
                 drop it"
            )));
        }
        self.server
            .check_plugin(&info.plugin)
            .map_err(|problem| refuse(format!("`{target}`@`{host}`: {problem}")))?;
        if purpose == Purpose::Rotate && !self.pair_recorded(&base, host).await? {
            return Err(refuse(format!(
                "`{target}`@`{host}` exists, but this function did not create it and no \
                 operator adopted it (the pair `{base}`/`{base}{}` is not in \
                 {}), so it may be another team's account. If the pair is yours (for example \
                 made by an earlier rotation function or AWS's rotation template), adopt it: \
                 invoke the function with {{\"Action\": \"adopt-partner\", \"SecretId\": \
                 \"<this secret's ARN>\"}}",
                crate::alternating::CLONE_SUFFIX,
                account::MARK_TABLE,
            )));
        }
        Ok(PartnerPlan {
            template_lines,
            template_plugin,
            target: Some(info.plugin),
            retired,
            base,
        })
    }

    /// Whether `user`@`host`'s lock is the function's retirement.
    async fn retired_recorded(&mut self, user: &str, host: &str) -> Result<bool, RotationError> {
        self.recorded(
            "retired_users",
            account::RETIRED_QUERY,
            user,
            host,
            "read the record of retired users",
        )
        .await
    }

    fn database(&self, action: &'static str, detail: String) -> RotationError {
        RotationError::Database {
            host: self.host.clone(),
            port: self.port,
            action,
            detail,
            hint: "",
        }
    }
}

#[async_trait]
impl Session for MySqlSession {
    async fn set_own_password(
        &mut self,
        username: &str,
        password: &SecretString,
    ) -> Result<(), RotationError> {
        // Both statements change the account the server matched (CURRENT_USER()): refuse
        // unless that is the login user itself, not an anonymous or proxied account.
        self.own_account(
            username,
            "the function only changes the login user's own password",
        )?;
        let action = "change the password";
        let plugin = self.own_plugin(action).await?;
        let sql = self
            .server
            .set_own_password(
                &plugin,
                password.expose_secret(),
                self.login_password.expose_secret(),
            )
            .map_err(|problem| self.database(action, problem))?;
        self.run(&sql, action, false).await
    }

    /// The template of an alternating pair is the account the server matched: refused, like
    /// an own password change, unless that is the login user's (a proxy or an anonymous
    /// account shadowing the user must not become the template).
    async fn account_host(&mut self) -> Result<Option<String>, RotationError> {
        let login_user = self.login_user.clone();
        self.own_account(
            &login_user,
            "the function copies only the login user's own account",
        )?;
        Ok(Some(self.current_user.1.clone()))
    }

    async fn rehearse_own_password(&mut self, username: &str) -> Result<(), RotationError> {
        self.own_account(username, "a rotation would refuse to change the password")?;
        self.own_plugin("change the password").await.map(drop)
    }

    async fn rehearse_clone(
        &mut self,
        template: &str,
        host: Option<&str>,
        target: &str,
    ) -> Result<(), RotationError> {
        let host = host.unwrap_or("%");
        let template_lines = self
            .check_partner(template, host, target, Purpose::Rotate)
            .await?
            .template_lines;
        // The master creates the partner and grants it the user's privileges: it needs CREATE
        // USER and the grant option, and every privilege the user holds.
        let (master, master_host) = self.current_user.clone();
        let master_lines = self
            .grants(&master, &master_host)
            .await?
            .unwrap_or_default();
        let global = |wanted: &dyn Fn(&grants::Privilege) -> bool| {
            master_lines.iter().any(|line| match line {
                Line::Grant {
                    privileges, object, ..
                } => object.is_global() && privileges.iter().any(wanted),
                _ => false,
            })
        };
        let is_all = |p: &grants::Privilege| p.name == "ALL PRIVILEGES" || p.name == "ALL";
        let mut missing = Vec::new();
        if !global(&|p| is_all(p) || p.name == "CREATE USER") {
            missing.push("CREATE USER on *.*".to_owned());
        }
        let grant_option = master_lines.iter().any(|line| match line {
            Line::Grant {
                object,
                grant_option,
                ..
            } => object.is_global() && *grant_option,
            _ => false,
        });
        if !grant_option {
            missing.push("GRANT OPTION on *.*".to_owned());
        }
        // The record of pairs: created on first use, then read and written.
        let schema = quote_identifier(account::MARK_SCHEMA);
        for name in ["CREATE", "SELECT", "INSERT"] {
            let held = master_lines.iter().any(|line| match line {
                Line::Grant {
                    privileges, object, ..
                } => {
                    (object.is_global() || (object.kind.is_none() && object.db == schema))
                        && privileges.iter().any(|p| is_all(p) || p.name == name)
                }
                _ => false,
            });
            if !held {
                missing.push(format!("{name} on {schema}.* (the record of pairs)"));
            }
        }
        missing.extend(
            grants::ungrantable(&master_lines, &template_lines)
                .into_iter()
                .map(|what| format!("{what} (which `{template}` holds)")),
        );
        if !missing.is_empty() {
            return Err(self.database(
                "rehearse creating the alternate user",
                format!(
                    "the master user `{master}`@`{master_host}` lacks {}; grant it to the \
                     master user, or use a master user that has it",
                    missing.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// Refuses an unsafe partner (see [`MySqlSession::check_partner`]), then: a new partner
    /// is recorded as the function's, and created with its password (a hash where the server
    /// would log the password) and the user's TLS requirement in one statement; an existing
    /// one gets the user's TLS requirement first, then its password. Every grant of the user
    /// is then replayed (GRANT lines, then partial revokes, then the default role) for the
    /// same host pattern. Grants added to the user since the last rotation follow; a grant
    /// added to the partner by hand stops the rotation (it is never silently revoked, since
    /// that is what a takeover of another user would look like, too).
    async fn clone_user(
        &mut self,
        template: &str,
        host: Option<&str>,
        target: &str,
        password: &SecretString,
    ) -> Result<(), RotationError> {
        let host = host.unwrap_or("%");
        let plan = self
            .check_partner(template, host, target, Purpose::Rotate)
            .await?;
        let requirement = self
            .requirement(template, host, &plan.template_lines)
            .await?;
        let clause = requirement.clause(self.server.no_backslash_escapes());
        let target_account = self.server.account(target, host);
        match &plan.target {
            None => {
                // Recorded first: a retry after a crash between the two finds the pair its own.
                self.record_pair(&plan.base, host, "created").await?;
                let statements = self
                    .server
                    .create_user(
                        &target_account,
                        &plan.template_plugin,
                        &clause,
                        password.expose_secret(),
                    )
                    .map_err(|problem| self.database("create the alternate user", problem))?;
                for sql in statements {
                    self.run(&sql, "create the alternate user", false).await?;
                }
            }
            Some(plugin) => {
                let require = self.server.require_statement(
                    &target_account,
                    &requirement,
                    self.server.no_backslash_escapes(),
                );
                self.run(&require, "copy the user's TLS requirement", true)
                    .await?;
                let action = "set the alternate user's password";
                let sql = self
                    .server
                    .set_password_for(&target_account, plugin, password.expose_secret())
                    .map_err(|problem| self.database(action, problem))?;
                self.run(&sql, action, false).await?;
                if plan.retired {
                    // The retirement ends with the new password: the user logs in again.
                    self.run(
                        &format!("ALTER USER {target_account} ACCOUNT UNLOCK"),
                        "lift the previous user's retirement",
                        true,
                    )
                    .await?;
                    // Best effort: a record left behind only means the function would take
                    // a later lock of this user for its own, and the user has just been
                    // given a new password by the master anyway.
                    if let Err(error) = self
                        .rows_with(
                            account::RETIRED_DELETE,
                            vec![target.to_owned(), host.to_owned()],
                            "forget the previous user's retirement",
                        )
                        .await
                    {
                        tracing::warn!(%error, "the record of the lifted retirement stays");
                    }
                }
                if let Some(discard) = self.server.discard_old_password(&target_account) {
                    self.run(
                        &discard,
                        "discard the alternate user's secondary password",
                        true,
                    )
                    .await?;
                }
            }
        }

        // GRANT is additive and the partner holds nothing beyond the user (checked above), so
        // replaying the user's lines makes the two equal; partial revokes come after the grants
        // they narrow, and the default role after the role grants.
        let order = |line: &Line| match line {
            Line::Grant { .. } | Line::Roles { .. } | Line::Proxy { .. } => 0,
            Line::Revoke { .. } => 1,
            Line::DefaultRole { .. } => 2,
        };
        let mut replay: Vec<&Line> = plan.template_lines.iter().collect();
        replay.sort_by_key(|line| order(line));
        for line in replay {
            let sql = line.replay_for(&target_account);
            self.run(&sql, "copy a grant to the alternate user", true)
                .await?;
        }
        Ok(())
    }

    async fn adopt_partner(
        &mut self,
        template: &str,
        host: Option<&str>,
        target: &str,
    ) -> Result<(), RotationError> {
        let host = host.unwrap_or("%");
        let plan = self
            .check_partner(template, host, target, Purpose::Adopt)
            .await?;
        if plan.target.is_none() {
            return Err(RotationError::UnsafePartner {
                user: target.to_owned(),
                problem: format!(
                    "`{target}`@`{host}` does not exist, so there is nothing to adopt: the \
                     next rotation creates it"
                ),
            });
        }
        self.record_pair(&plan.base, host, "adopted").await
    }

    /// `ACCOUNT LOCK`, now (MySQL and MariaDB have no login expiry by date): the caller calls
    /// once the grace has passed. Only a partner of a pair the function recorded, after the
    /// checks a rotation makes; the lock is recorded first, so that the next rotation knows
    /// it for the function's own and lifts it.
    async fn retire_partner(
        &mut self,
        template: &str,
        host: Option<&str>,
        target: &str,
        _at: i64,
    ) -> Result<(), RotationError> {
        let refuse = |problem: String| RotationError::UnsafePartner {
            user: target.to_owned(),
            problem,
        };
        let base = account::pair_base(template, target).map_err(refuse)?;
        let host = match host {
            Some(host) => host.to_owned(),
            None => {
                let rows = self
                    .rows_with(
                        account::PAIR_HOSTS,
                        vec![base.clone()],
                        "read the record of alternating pairs",
                    )
                    .await
                    .unwrap_or_default();
                match rows.as_slice() {
                    [row] => row.first().cloned().flatten().unwrap_or_default(),
                    _ => {
                        return Err(refuse(format!(
                            "the pair `{base}` is recorded for {} hosts, so the account to \
                             lock is not known; not retired",
                            rows.len()
                        )));
                    }
                }
            }
        };
        if !self.server.has_account_lock() {
            return Err(refuse(
                "the server has no ALTER USER ... ACCOUNT LOCK (MySQL 5.7.6+, MariaDB 10.4.2+)"
                    .into(),
            ));
        }
        // Every check a rotation makes before it changes the partner (the pair recorded, not
        // the master, nothing beyond the user's grants).
        let plan = self
            .check_partner(template, &host, target, Purpose::Rotate)
            .await?;
        if plan.target.is_none() {
            return Err(refuse(format!("`{target}`@`{host}` does not exist")));
        }
        let action = "record the previous user's retirement";
        self.run(account::RETIRED_SETUP, action, true).await?;
        self.rows_with(
            account::RETIRED_INSERT,
            vec![target.to_owned(), host.clone()],
            action,
        )
        .await?;
        let account = self.server.account(target, &host);
        self.run(
            &format!("ALTER USER {account} ACCOUNT LOCK"),
            "retire the previous user (ACCOUNT LOCK)",
            true,
        )
        .await
    }

    /// The user's connections in the process list: the master sees other users' only with
    /// the PROCESS privilege; without it the count is unknown (`None`), never a false 0.
    async fn sessions_of(&mut self, user: &str) -> Result<Option<u64>, RotationError> {
        let (master, master_host) = self.current_user.clone();
        let lines = self
            .grants(&master, &master_host)
            .await?
            .unwrap_or_default();
        let process = lines.iter().any(|line| match line {
            Line::Grant {
                privileges, object, ..
            } => {
                object.is_global()
                    && privileges.iter().any(|p| {
                        p.name == "PROCESS" || p.name == "ALL PRIVILEGES" || p.name == "ALL"
                    })
            }
            _ => false,
        });
        if !process {
            return Ok(None);
        }
        let rows = self
            .rows_with(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?",
                vec![user.to_owned()],
                "count the user's sessions",
            )
            .await?;
        Ok(Some(count(&rows)))
    }

    async fn server_settings(&mut self) -> Result<Vec<String>, RotationError> {
        let names = self.server.reported_settings();
        let columns: Vec<String> = names.iter().map(|n| format!("@@GLOBAL.{n}")).collect();
        let sql = format!("SELECT {}", columns.join(", "));
        let rows = self.rows(&sql, "read the server's settings").await?;
        let row = rows.into_iter().next().unwrap_or_default();
        let mut notes: Vec<String> = names
            .iter()
            .zip(row)
            .filter_map(|(name, value)| {
                Server::setting_note(name, value.as_deref().unwrap_or_default())
            })
            .collect();
        if let Some(query) = self.server.secondary_password_query() {
            match self.rows(query, "look for a secondary password").await {
                Ok(rows)
                    if rows
                        .first()
                        .and_then(|r| r.first())
                        .cloned()
                        .flatten()
                        .as_deref()
                        == Some("1") =>
                {
                    notes.push(
                        "the account keeps a secondary password (dual passwords): it logs in \
                         beside the rotated one; discard it (ALTER USER ... DISCARD OLD \
                         PASSWORD); alternating users discard it at every rotation"
                            .into(),
                    )
                }
                Ok(_) => {}
                Err(_) => notes.push(
                    "cannot tell whether the account keeps a secondary password (reading it \
                     takes SELECT on mysql.user); check it by hand"
                        .into(),
                ),
            }
        }
        Ok(notes)
    }

    async fn verify(&mut self) -> Result<(), RotationError> {
        self.rows("SELECT 1", "run a test query").await.map(drop)
    }

    async fn close(self: Box<Self>) {
        let _ = tokio::time::timeout(BACKSTOP, self.conn.disconnect()).await;
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
    fn accounts_split_at_the_last_at_sign() {
        assert_eq!(
            split_account("a@b@10.0.%"),
            ("a@b".to_owned(), "10.0.%".to_owned())
        );
        assert_eq!(split_account("@%"), (String::new(), "%".to_owned()));
    }
}
