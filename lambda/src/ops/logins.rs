//! The login budget of a run over many secrets (the drift check): at most one login per
//! database user per run, and none after a refusal.
//!
//! A scheduled check that logs in with a wrong password every day, for every secret that
//! names the same user, is how an account gets locked (MySQL 8's `FAILED_LOGIN_ATTEMPTS`, an
//! RDS Proxy's or a directory's lockout): the check would cause the outage it looks for. So
//! every login of the run goes through one [`LoginBudget`]: the first attempt for a user
//! (engine family, host, port, user name and TLS) is made, and its outcome kept; any later
//! attempt for that user in the run gets the outcome instead of a login. A master user's
//! session is kept open for the run and shared by every secret it is the master of, so the
//! master logs in once per run, not once per secret; [`LoginBudget::close`] ends them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::db::{Connector, Session};
use crate::error::RotationError;
use crate::secret::Login;

/// A session shared by the secrets of one master.
pub type SharedSession = Arc<tokio::sync::Mutex<Box<dyn Session>>>;

/// Who a login is, for the budget: never the password.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    family: &'static str,
    host: String,
    port: u16,
    username: String,
    tls: bool,
}

impl Key {
    fn of(login: &Login) -> Self {
        Self {
            family: login.engine.family().product(),
            host: login.host.trim_end_matches('.').to_ascii_lowercase(),
            port: login.port,
            username: login.username.clone(),
            tls: login.tls == crate::secret::Tls::VerifyFull,
        }
    }
}

/// What the first attempt for a user came to, as later attempts are told.
#[derive(Clone)]
pub enum Earlier {
    /// The user logged in (a master's session is kept, shared).
    Accepted(Option<SharedSession>),
    /// The server refused the password: no further attempt in this run.
    Refused,
    /// The login failed otherwise (network, TLS, a refusal for another reason): its error
    /// kind and message, which never carry a password.
    Failed { kind: &'static str, message: String },
}

impl std::fmt::Debug for Earlier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Accepted(_) => f.write_str("Accepted"),
            Self::Refused => f.write_str("Refused"),
            Self::Failed { kind, .. } => write!(f, "Failed({kind})"),
        }
    }
}

/// A login through the budget.
#[allow(missing_debug_implementations)]
pub enum Attempt {
    /// This was the user's first login of the run: the connector's own answer.
    Made(Result<Option<Box<dyn Session>>, RotationError>),
    /// The user was tried before in this run: what came of it, and no login now.
    Before(Earlier),
}

/// Every login of one run (see the module documentation).
#[derive(Default)]
#[allow(missing_debug_implementations)]
pub struct LoginBudget {
    users: Mutex<HashMap<Key, Arc<OnceCell<Earlier>>>>,
    /// Logins actually made, for the report and the tests.
    made: Mutex<usize>,
}

impl LoginBudget {
    pub fn new() -> Self {
        Self::default()
    }

    fn cell(&self, login: &Login) -> Arc<OnceCell<Earlier>> {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        users.entry(Key::of(login)).or_default().clone()
    }

    fn count(&self) {
        *self.made.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }

    /// How many logins the run made.
    pub fn logins_made(&self) -> usize {
        *self.made.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Logs in as `login`'s user if the run has not tried that user yet; the session is the
    /// caller's (a user's session is closed after its checks).
    pub async fn login<C: Connector + ?Sized>(&self, connector: &C, login: &Login) -> Attempt {
        let cell = self.cell(login);
        let mut made = None;
        cell.get_or_init(|| async {
            self.count();
            let result = connector.login(login).await;
            let earlier = earlier_of(&result, None);
            made = Some(result);
            earlier
        })
        .await;
        match made {
            Some(result) => Attempt::Made(result),
            None => Attempt::Before(cell.get().cloned().expect("initialized above")),
        }
    }

    /// The master's session for the run: logged in on the first call, shared after; a
    /// refusal or failure is kept and never retried.
    pub async fn shared<C: Connector + ?Sized>(&self, connector: &C, login: &Login) -> Earlier {
        let cell = self.cell(login);
        cell.get_or_init(|| async {
            self.count();
            let result = connector.login(login).await;
            match result {
                Ok(Some(session)) => {
                    Earlier::Accepted(Some(Arc::new(tokio::sync::Mutex::new(session))))
                }
                other => earlier_of(&other, None),
            }
        })
        .await
        .clone()
    }

    /// Ends every shared session of the run.
    pub async fn close(self) {
        let users = self.users.into_inner().unwrap_or_else(|e| e.into_inner());
        for (_, cell) in users {
            let Some(Earlier::Accepted(Some(shared))) = Arc::try_unwrap(cell)
                .ok()
                .and_then(|cell| cell.into_inner())
            else {
                continue;
            };
            if let Ok(session) = Arc::try_unwrap(shared) {
                session.into_inner().close().await;
            }
        }
    }
}

fn earlier_of(
    result: &Result<Option<Box<dyn Session>>, RotationError>,
    shared: Option<SharedSession>,
) -> Earlier {
    match result {
        Ok(Some(_)) => Earlier::Accepted(shared),
        Ok(None) => Earlier::Refused,
        Err(error) => Earlier::Failed {
            kind: error.kind(),
            message: error.to_string(),
        },
    }
}
