//! The in-memory databases: users, passwords, logins and password changes.

use super::*;

/// The [`Connector`] and [`Session`] operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DbOp {
    Login,
    SetOwnPassword,
    AccountHost,
    CloneUser,
    Verify,
    /// Not in [`DbOp::ALL`], the calls of a rotation without a retirement.
    RetirePartner,
    /// Not in [`DbOp::ALL`]: a read of the drift check.
    SessionsOf,
}

impl DbOp {
    pub const ALL: [DbOp; 5] = [
        Self::Login,
        Self::SetOwnPassword,
        Self::AccountHost,
        Self::CloneUser,
        Self::Verify,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::SetOwnPassword => "set_own_password",
            Self::AccountHost => "account_host",
            Self::CloneUser => "clone_user",
            Self::Verify => "verify",
            Self::RetirePartner => "retire_partner",
            Self::SessionsOf => "sessions_of",
        }
    }

    /// What the call does, as the real sessions name it in [`RotationError::Database`].
    fn action(self) -> &'static str {
        match self {
            Self::Login => "log in",
            Self::SetOwnPassword => "change the password",
            Self::AccountHost => "read the account host",
            Self::CloneUser => "create the alternate user",
            Self::Verify => "run a test query",
            Self::RetirePartner => "retire the previous user",
            Self::SessionsOf => "count the user's sessions",
        }
    }
}

/// A failure of a database call, as the real drivers report it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum DbFailure {
    /// The connection broke ([`RotationError::Database`]).
    #[default]
    ConnectionLost,
    /// [`RotationError::Unreachable`].
    Unreachable,
    /// [`RotationError::Tls`].
    Tls,
    /// [`RotationError::LoginRefused`].
    LoginRefused,
    /// [`RotationError::DatabaseTimeout`]: a lock held by another session.
    Timeout,
    /// A login answered "wrong password" (`Ok(None)`); on other calls, a lost connection.
    WrongPassword,
}

impl DbFailure {
    /// What a login this failure strikes answers: `Ok(None)` for a wrong password, else the
    /// error the driver gives.
    pub fn login_answer<T>(&self, login: &Login) -> Result<Option<T>, RotationError> {
        match self {
            Self::WrongPassword => Ok(None),
            other => Err(other.to_error(DbOp::Login, &login.host, login.port, &login.username)),
        }
    }

    /// The error the real drivers give for this failure of `op`, on `host:port` as `user`.
    pub fn to_error(&self, op: DbOp, host: &str, port: u16, user: &str) -> RotationError {
        let (host, user) = (host.to_owned(), user.to_owned());
        match self {
            Self::ConnectionLost | Self::WrongPassword => RotationError::Database {
                host,
                port,
                action: op.action(),
                detail: "the connection was closed (injected)".into(),
                hint: "",
            },
            Self::Unreachable => RotationError::Unreachable {
                host,
                port,
                detail: "connection timed out (injected)".into(),
            },
            Self::Tls => RotationError::Tls {
                host,
                port,
                detail: "invalid peer certificate: UnknownIssuer (injected)".into(),
            },
            Self::LoginRefused => RotationError::LoginRefused {
                host,
                port,
                user,
                detail: "no pg_hba.conf entry (injected)".into(),
            },
            Self::Timeout => RotationError::DatabaseTimeout {
                host,
                port,
                action: op.action(),
                seconds: rotation_contract::env::DB_STATEMENT_TIMEOUT.default,
                detail: "canceling statement due to lock timeout (injected)".into(),
            },
        }
    }
}

/// One database user.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DbUser {
    pub password: String,
    /// `false`: the password is checked, then the login refused (NOLOGIN, a locked account).
    pub can_login: bool,
    /// May create users and grant (the master user).
    pub master: bool,
    /// Roles this user is a member of: a clone is a member of the user it was cloned from.
    pub member_of: BTreeSet<String>,
    /// Privileges of its own (`SUPERUSER`, `CREATEROLE`, a grant); a partner may hold none its
    /// user lacks.
    pub privileges: BTreeSet<String>,
    /// Retired (`retire_previous_after`): no login from this time on the database's clock
    /// ([`MemoryDatabase::clock`]). PostgreSQL answers such a login as a wrong password
    /// (its `VALID UNTIL`); MySQL refuses it as a locked account.
    pub retired_from: Option<i64>,
    /// Sessions an application holds open as this user, for the drift check to count.
    pub held_sessions: u64,
}

impl fmt::Debug for DbUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbUser")
            .field("password", &"***")
            .field("can_login", &self.can_login)
            .field("master", &self.master)
            .field("member_of", &self.member_of)
            .field("privileges", &self.privileges)
            .field("retired_from", &self.retired_from)
            .finish()
    }
}

impl DbUser {
    pub fn new(password: &str) -> Self {
        Self {
            password: password.to_owned(),
            can_login: true,
            master: false,
            member_of: BTreeSet::new(),
            privileges: BTreeSet::new(),
            retired_from: None,
            held_sessions: 0,
        }
    }
}

/// One database server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemoryDatabase {
    pub family: EngineFamily,
    pub users: BTreeMap<String, DbUser>,
    /// The server has no TLS: a verified-TLS login fails with [`RotationError::Tls`].
    pub plaintext_only: bool,
    /// The server refuses plaintext logins (`rds.force_ssl`): [`RotationError::LoginRefused`].
    pub require_tls: bool,
    /// Stopped: every login is [`RotationError::Unreachable`].
    pub down: bool,
    /// Bumped by a restart; sessions opened before fail their next call.
    pub generation: u64,
    /// The server's clock (seconds since the epoch), set by the test: nothing here reads
    /// a real one. A retired user stops logging in once it reaches the retirement.
    pub clock: i64,
}

impl MemoryDatabase {
    pub fn new(family: EngineFamily) -> Self {
        Self {
            family,
            users: BTreeMap::new(),
            plaintext_only: false,
            require_tls: false,
            down: false,
            generation: 0,
            clock: 0,
        }
    }

    /// With a login user.
    pub fn with_user(mut self, name: &str, password: &str) -> Self {
        self.users.insert(name.to_owned(), DbUser::new(password));
        self
    }

    /// With a master user (creates users, grants).
    pub fn with_master(mut self, name: &str, password: &str) -> Self {
        let mut user = DbUser::new(password);
        user.master = true;
        self.users.insert(name.to_owned(), user);
        self
    }

    pub fn password(&self, user: &str) -> Option<&str> {
        self.users.get(user).map(|u| u.password.as_str())
    }

    /// Whether `user` logs in with `password`.
    pub fn accepts(&self, user: &str, password: &str) -> bool {
        self.users.get(user).is_some_and(|u| {
            u.can_login && u.password == password && u.retired_from.is_none_or(|t| t > self.clock)
        })
    }
}

/// How a login attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginOutcome {
    Accepted,
    /// Wrong password or unknown user: `Ok(None)`.
    Rejected,
    /// Any error (unreachable, TLS, refused, injected).
    Failed,
}

/// One login attempt.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoginAttempt {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Whether the login asked for verified TLS.
    pub tls: bool,
    pub outcome: LoginOutcome,
}

impl LoginAttempt {
    pub fn accepted(&self) -> bool {
        self.outcome == LoginOutcome::Accepted
    }
}

/// One password a session set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PasswordChange {
    pub host: String,
    pub port: u16,
    /// The user whose password changed.
    pub user: String,
    /// The session's login user that changed it.
    pub by: String,
    /// The user was created by this change (a new alternate user).
    pub created: bool,
}

/// One call the connector or a session answered (or failed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DbCall {
    pub op: DbOp,
    /// The login user.
    pub user: String,
}

/// Everything a [`MemoryConnector`] holds. `databases` alone is the servers' state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ConnectorState {
    /// By host (lowercase, without a trailing dot) and port.
    pub databases: BTreeMap<(String, u16), MemoryDatabase>,
    pub logins: Vec<LoginAttempt>,
    pub password_changes: Vec<PasswordChange>,
    pub calls: Vec<DbCall>,
    pub faults: Faults<DbOp, DbFailure>,
    /// Sessions opened and not yet closed.
    pub open_sessions: usize,
}

fn key(host: &str, port: u16) -> (String, u16) {
    (host.trim_end_matches('.').to_ascii_lowercase(), port)
}

/// In-memory database servers behind the [`Connector`] trait (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct MemoryConnector {
    state: Arc<Mutex<ConnectorState>>,
    gate: SharedGate,
}

impl MemoryConnector {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, ConnectorState> {
        lock(&self.state)
    }

    pub fn snapshot(&self) -> ConnectorState {
        self.state().clone()
    }

    pub fn restore(&self, state: &ConnectorState) {
        *self.state() = state.clone();
    }

    pub fn set_gate(&self, gate: Option<Arc<dyn Gate>>) {
        *lock(&self.gate) = gate;
    }

    /// Adds (or replaces) the server at `host`:`port`.
    pub fn add_database(&self, host: &str, port: u16, database: MemoryDatabase) {
        self.state().databases.insert(key(host, port), database);
    }

    /// A copy of the server at `host`:`port`.
    pub fn database(&self, host: &str, port: u16) -> Option<MemoryDatabase> {
        self.state().databases.get(&key(host, port)).cloned()
    }

    /// Changes the server at `host`:`port` as an operator would (nothing is recorded).
    pub fn update<T>(
        &self,
        host: &str,
        port: u16,
        change: impl FnOnce(&mut MemoryDatabase) -> T,
    ) -> Option<T> {
        self.state().databases.get_mut(&key(host, port)).map(change)
    }

    /// A user's password on `host`:`port`.
    pub fn password(&self, host: &str, port: u16, user: &str) -> Option<String> {
        self.database(host, port)?.password(user).map(str::to_owned)
    }

    /// Restarts the server: sessions opened before fail their next call.
    pub fn restart(&self, host: &str, port: u16) {
        self.update(host, port, |db| db.generation += 1);
    }

    /// Every login attempt, in order.
    pub fn logins(&self) -> Vec<LoginAttempt> {
        self.state().logins.clone()
    }

    /// Every password set, in order.
    pub fn password_changes(&self) -> Vec<PasswordChange> {
        self.state().password_changes.clone()
    }

    pub fn open_sessions(&self) -> usize {
        self.state().open_sessions
    }

    pub fn fail(&self, fault: Fault<DbOp, DbFailure>) {
        self.state().faults.arm(fault);
    }

    pub fn clear_faults(&self) {
        self.state().faults = Faults::default();
    }

    pub fn faults_fired(&self) -> usize {
        self.state().faults.fired()
    }

    /// Every call, in order.
    pub fn calls(&self) -> Vec<DbCall> {
        self.state().calls.clone()
    }

    pub fn calls_of(&self, op: DbOp) -> usize {
        self.state().calls.iter().filter(|c| c.op == op).count()
    }

    /// Forgets the calls, logins and password changes recorded so far.
    pub fn reset_records(&self) {
        let mut state = self.state();
        state.calls.clear();
        state.logins.clear();
        state.password_changes.clear();
    }

    async fn enter(
        &self,
        op: DbOp,
        user: &str,
    ) -> (MutexGuard<'_, ConnectorState>, Option<(When, DbFailure)>) {
        pass(&self.gate, || Call {
            service: Service::Database,
            op: op.name(),
            target: user.to_owned(),
        })
        .await;
        let mut state = self.state();
        state.calls.push(DbCall {
            op,
            user: user.to_owned(),
        });
        let fired = state.faults.strike(op, user);
        (state, fired)
    }
}

/// What a login comes to, before faults after it.
enum Answer {
    Session(u64),
    Rejected,
    Failed(RotationError),
}

fn answer(state: &ConnectorState, login: &Login) -> Answer {
    let (host, port) = (login.host.clone(), login.port);
    let Some(db) = state
        .databases
        .get(&key(&login.host, login.port))
        .filter(|db| !db.down)
    else {
        return Answer::Failed(RotationError::Unreachable {
            host,
            port,
            detail: "Connection refused (os error 111)".into(),
        });
    };
    if db.family != login.engine.family() {
        return Answer::Failed(RotationError::Unreachable {
            host,
            port,
            detail: format!(
                "the server does not speak the {} protocol",
                login.engine.family().product()
            ),
        });
    }
    match login.tls {
        Tls::VerifyFull if db.plaintext_only => {
            return Answer::Failed(RotationError::Tls {
                host,
                port,
                detail: "the server does not support TLS".into(),
            });
        }
        Tls::Disabled if db.require_tls => {
            return Answer::Failed(RotationError::LoginRefused {
                host,
                port,
                user: login.username.clone(),
                detail: "the server requires TLS (SQLSTATE 28000)".into(),
            });
        }
        _ => {}
    }
    // The password is checked first (an unknown user looks the same as a wrong password), then
    // whether the user may log in.
    match db.users.get(&login.username) {
        Some(user)
            if user.password == login.password.expose_secret()
                && user.retired_from.is_some_and(|t| t <= db.clock)
                && db.family == EngineFamily::Postgres =>
        {
            // PostgreSQL answers a login past VALID UNTIL as a wrong password (28P01).
            Answer::Rejected
        }
        Some(user) if user.password == login.password.expose_secret() => {
            if user.retired_from.is_some_and(|t| t <= db.clock) {
                Answer::Failed(RotationError::LoginRefused {
                    host,
                    port,
                    user: login.username.clone(),
                    detail: "Access denied: account is locked (error 3118)".into(),
                })
            } else if user.can_login {
                Answer::Session(db.generation)
            } else {
                Answer::Failed(RotationError::LoginRefused {
                    host,
                    port,
                    user: login.username.clone(),
                    detail: format!(
                        "role \"{}\" is not permitted to log in (SQLSTATE 28000)",
                        login.username
                    ),
                })
            }
        }
        _ => Answer::Rejected,
    }
}

#[async_trait]
impl Connector for MemoryConnector {
    async fn login(&self, login: &Login) -> Result<Option<Box<dyn Session>>, RotationError> {
        let (mut state, fired) = self.enter(DbOp::Login, &login.username).await;
        let record = |state: &mut ConnectorState, outcome| {
            state.logins.push(LoginAttempt {
                host: login.host.clone(),
                port: login.port,
                user: login.username.clone(),
                tls: login.tls == Tls::VerifyFull,
                outcome,
            })
        };
        let injected = |failure: DbFailure| failure.login_answer(login);
        if let Some((When::Before, failure)) = fired {
            let result = injected(failure);
            let outcome = if result.is_ok() {
                LoginOutcome::Rejected
            } else {
                LoginOutcome::Failed
            };
            record(&mut state, outcome);
            return result;
        }
        match answer(&state, login) {
            Answer::Failed(error) => {
                record(&mut state, LoginOutcome::Failed);
                Err(error)
            }
            Answer::Rejected => {
                record(&mut state, LoginOutcome::Rejected);
                if let Some((_, failure)) = fired {
                    return injected(failure);
                }
                Ok(None)
            }
            Answer::Session(generation) => {
                record(&mut state, LoginOutcome::Accepted);
                // A fault after: the server let the user in, the answer was lost.
                if let Some((_, failure)) = fired {
                    return injected(failure);
                }
                state.open_sessions += 1;
                Ok(Some(Box::new(MemorySession {
                    connector: self.clone(),
                    key: key(&login.host, login.port),
                    host: login.host.clone(),
                    port: login.port,
                    user: login.username.clone(),
                    generation,
                })))
            }
        }
    }
}

/// A session on a [`MemoryDatabase`].
#[derive(Debug)]
struct MemorySession {
    connector: MemoryConnector,
    key: (String, u16),
    host: String,
    port: u16,
    user: String,
    generation: u64,
}

impl MemorySession {
    fn database_error(&self, action: &'static str, detail: String) -> RotationError {
        RotationError::Database {
            host: self.host.clone(),
            port: self.port,
            action,
            detail,
            hint: "",
        }
    }

    /// Runs one call on the session's server: faults before and after, and a server that
    /// restarted or stopped since the login fails it.
    async fn call<T>(
        &self,
        op: DbOp,
        effect: impl FnOnce(&mut ConnectorState) -> Result<T, RotationError>,
    ) -> Result<T, RotationError> {
        let (mut state, fired) = self.connector.enter(op, &self.user).await;
        let failure = |failure: DbFailure| failure.to_error(op, &self.host, self.port, &self.user);
        if let Some((When::Before, f)) = fired {
            return Err(failure(f));
        }
        let alive = state
            .databases
            .get(&self.key)
            .is_some_and(|db| !db.down && db.generation == self.generation);
        if !alive {
            return Err(self.database_error(
                op.action(),
                "terminating connection due to administrator command (the server restarted)".into(),
            ));
        }
        let result = effect(&mut state)?;
        match fired {
            Some((_, f)) => Err(failure(f)),
            None => Ok(result),
        }
    }
}

#[async_trait]
impl Session for MemorySession {
    async fn set_own_password(
        &mut self,
        username: &str,
        password: &SecretString,
    ) -> Result<(), RotationError> {
        let password = password.expose_secret().to_owned();
        self.call(DbOp::SetOwnPassword, |state| {
            if username != self.user {
                return Err(self.database_error(
                    DbOp::SetOwnPassword.action(),
                    format!(
                        "the session's login user is `{}`, not `{username}`; no password was \
                         changed",
                        self.user
                    ),
                ));
            }
            let db = state.databases.get_mut(&self.key).expect("checked alive");
            let Some(user) = db.users.get_mut(username) else {
                return Err(self.database_error(
                    DbOp::SetOwnPassword.action(),
                    format!("role `{username}` does not exist"),
                ));
            };
            user.password = password;
            state.password_changes.push(PasswordChange {
                host: self.host.clone(),
                port: self.port,
                user: username.to_owned(),
                by: self.user.clone(),
                created: false,
            });
            Ok(())
        })
        .await
    }

    async fn account_host(&mut self) -> Result<Option<String>, RotationError> {
        self.call(DbOp::AccountHost, |_| Ok(None)).await
    }

    async fn clone_user(
        &mut self,
        template: &str,
        _host: Option<&str>,
        target: &str,
        password: &SecretString,
    ) -> Result<(), RotationError> {
        let password = password.expose_secret().to_owned();
        let action = DbOp::CloneUser.action();
        self.call(DbOp::CloneUser, |state| {
            let refuse = |problem: String| RotationError::UnsafePartner {
                user: target.to_owned(),
                problem,
            };
            let db = state.databases.get_mut(&self.key).expect("checked alive");
            if !db.users.get(&self.user).is_some_and(|u| u.master) {
                return Err(RotationError::Database {
                    host: self.host.clone(),
                    port: self.port,
                    action,
                    detail: format!("permission denied: `{}` may not create users", self.user),
                    hint: "; check the master user may create users and grant privileges",
                });
            }
            if target == self.user {
                return Err(refuse(format!(
                    "`{target}` is the master user this function logs in as"
                )));
            }
            let Some(template_user) = db.users.get(template).cloned() else {
                return Err(self.database_error(
                    action,
                    format!("`{template}` does not exist; AWSCURRENT names a user that is gone"),
                ));
            };
            if template_user.retired_from.is_some_and(|t| t <= db.clock) {
                return Err(RotationError::UnsafeTemplate {
                    user: template.to_owned(),
                    problem: format!(
                        "`{template}` no longer logs in (retired); the function never copies \
                         a retirement"
                    ),
                });
            }
            if template_user.master || template == self.user {
                return Err(RotationError::UnsafeTemplate {
                    user: template.to_owned(),
                    problem: format!("`{template}` is a master user"),
                });
            }
            let created = match db.users.get_mut(target) {
                None => {
                    let mut user = DbUser::new(&password);
                    user.member_of.insert(template.to_owned());
                    db.users.insert(target.to_owned(), user);
                    true
                }
                Some(user) => {
                    if user.master {
                        return Err(refuse(format!("`{target}` is a master user")));
                    }
                    let extra: Vec<&str> = user
                        .privileges
                        .difference(&template_user.privileges)
                        .map(String::as_str)
                        .collect();
                    if !extra.is_empty() {
                        return Err(refuse(format!(
                            "`{target}` holds {} which `{template}` does not",
                            extra.join(", ")
                        )));
                    }
                    let target_is_clone = user.member_of.contains(template);
                    let template_is_clone = template_user.member_of.contains(target);
                    if !target_is_clone && !template_is_clone {
                        return Err(refuse(format!(
                            "`{target}` is not this pair's partner: neither it nor `{template}` \
                             is a member of the other"
                        )));
                    }
                    if target_is_clone && user.member_of.len() > 1 {
                        return Err(refuse(format!(
                            "`{target}` is a member of other roles than `{template}`"
                        )));
                    }
                    user.password = password;
                    user.can_login = true;
                    // The user that gets the new password logs in again: its retirement
                    // (VALID UNTIL, ACCOUNT LOCK) is cleared, never copied.
                    user.retired_from = None;
                    false
                }
            };
            state.password_changes.push(PasswordChange {
                host: self.host.clone(),
                port: self.port,
                user: target.to_owned(),
                by: self.user.clone(),
                created,
            });
            Ok(())
        })
        .await
    }

    async fn rehearse_own_password(&mut self, username: &str) -> Result<(), RotationError> {
        if username != self.user {
            return Err(self.database_error(
                DbOp::SetOwnPassword.action(),
                format!(
                    "the session's login user is `{}`, not `{username}`; a rotation would refuse \
                     to change the password",
                    self.user
                ),
            ));
        }
        Ok(())
    }

    /// The whole clone, then the users and the change log put back as they were: the
    /// PostgreSQL rehearsal's rolled-back transaction.
    async fn rehearse_clone(
        &mut self,
        template: &str,
        host: Option<&str>,
        target: &str,
    ) -> Result<(), RotationError> {
        let saved = {
            let state = self.connector.state();
            (state.databases.clone(), state.password_changes.len())
        };
        let throwaway = SecretString::from("rehearsal-only-password");
        let result = self.clone_user(template, host, target, &throwaway).await;
        let mut state = self.connector.state();
        state.databases = saved.0;
        state.password_changes.truncate(saved.1);
        result
    }

    async fn retire_partner(
        &mut self,
        template: &str,
        _host: Option<&str>,
        target: &str,
        at: i64,
    ) -> Result<(), RotationError> {
        self.call(DbOp::RetirePartner, |state| {
            let refuse = |problem: String| RotationError::UnsafePartner {
                user: target.to_owned(),
                problem,
            };
            let db = state.databases.get_mut(&self.key).expect("checked alive");
            if !db.users.get(&self.user).is_some_and(|u| u.master) {
                return Err(self.database_error(
                    DbOp::RetirePartner.action(),
                    format!("permission denied: `{}` may not alter users", self.user),
                ));
            }
            if target == self.user || target == template {
                return Err(refuse(format!(
                    "`{target}` is the master user or the current user; never retired"
                )));
            }
            let template_user = db.users.get(template).cloned();
            let family = db.family;
            let clock = db.clock;
            let Some(user) = db.users.get_mut(target) else {
                return Err(refuse(format!("`{target}` does not exist")));
            };
            let paired = user.member_of.contains(template)
                || template_user.is_some_and(|t| t.member_of.contains(target));
            if !paired || user.master {
                return Err(refuse(format!(
                    "`{target}` is not `{template}`'s partner in a pair of the function's"
                )));
            }
            let from = match family {
                EngineFamily::Postgres => at,
                // Locked now: the caller calls once `at` has passed.
                EngineFamily::MySql => clock,
            };
            // A retirement already set sooner stands (a retry never extends the grace).
            user.retired_from = Some(user.retired_from.map_or(from, |t| t.min(from)));
            Ok(())
        })
        .await
    }

    async fn sessions_of(&mut self, user: &str) -> Result<Option<u64>, RotationError> {
        self.call(DbOp::SessionsOf, |state| {
            let db = state.databases.get(&self.key).expect("checked alive");
            Ok(Some(db.users.get(user).map_or(0, |u| u.held_sessions)))
        })
        .await
    }

    async fn verify(&mut self) -> Result<(), RotationError> {
        self.call(DbOp::Verify, |_| Ok(())).await
    }

    async fn close(self: Box<Self>) {
        let mut state = self.connector.state();
        state.open_sessions = state.open_sessions.saturating_sub(1);
    }
}
