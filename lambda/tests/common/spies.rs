//! Wrappers around the rotator's two outside worlds, the secret store and the database
//! connector: spies that count what the rotator did (Secrets Manager calls, logins), and fault
//! wrappers that make chosen operations fail, so a test can interrupt a rotation anywhere.
//!
//! They wrap the real implementations (moto, the test servers) or any other, and change nothing
//! else: what a test sees through them is what the function did. Faults are the in-memory
//! fakes' ([`Fault`] on a [`StoreOp`] or a [`DbOp`], before or after the call's effect, with the
//! fakes' errors), armed through a [`FaultPlan`] with the fakes' methods (`fail`,
//! `clear_faults`, `faults_fired`): a fault reads the same, and fails the same way, on a fake
//! and on a real service.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rotation::RotationError;
use rotation::db::{Connector, Session};
use rotation::fakes::{DbFailure, DbOp, Fault, Faults, SmFailure, StoreOp, When};
use rotation::secret::{Login, SecretValue};
use rotation::store::{SecretMetadata, SecretStore, Staged};
use secrecy::SecretString;

/// What the rotator did, as seen from its two outside worlds.
#[derive(Debug, Default)]
pub struct Stats {
    /// Secrets Manager operations, in order.
    pub calls: Vec<&'static str>,
    /// Login attempts: the user, and whether the server accepted the credential.
    pub logins: Vec<(String, bool)>,
}

/// A secret store that records each operation in [`Stats`] before passing it on.
#[derive(Debug)]
pub struct CountingStore<S> {
    inner: S,
    stats: Arc<Mutex<Stats>>,
}

impl<S> CountingStore<S> {
    pub fn new(inner: S, stats: Arc<Mutex<Stats>>) -> Self {
        Self { inner, stats }
    }
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

/// A connector that records each login the server answered, and the answer, in [`Stats`].
#[derive(Debug)]
pub struct CountingConnector<C> {
    inner: C,
    stats: Arc<Mutex<Stats>>,
}

impl<C> CountingConnector<C> {
    pub fn new(inner: C, stats: Arc<Mutex<Stats>>) -> Self {
        Self { inner, stats }
    }
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

/// The faults armed on one fault wrapper, shared by the wrapper, its sessions and the test that
/// arms them (clones share them).
pub struct FaultPlan<Op, E>(Arc<Mutex<Faults<Op, E>>>);

/// The Secrets Manager faults of a [`FaultyStore`].
pub type StoreFaults = FaultPlan<StoreOp, SmFailure>;
/// The database faults of a [`FaultyConnector`] and its sessions.
pub type DbFaults = FaultPlan<DbOp, DbFailure>;

impl<Op, E> Default for FaultPlan<Op, E> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<Op, E> Clone for FaultPlan<Op, E> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<Op, E> fmt::Debug for FaultPlan<Op, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FaultPlan")
    }
}

impl<Op: Copy + PartialEq, E: Clone> FaultPlan<Op, E> {
    /// Arms a fault, as `MemoryStore::fail` and `MemoryConnector::fail` do.
    pub fn fail(&self, fault: Fault<Op, E>) {
        self.0.lock().unwrap().arm(fault);
    }

    pub fn clear_faults(&self) {
        *self.0.lock().unwrap() = Faults::default();
    }

    /// How many times armed faults fired.
    pub fn faults_fired(&self) -> usize {
        self.0.lock().unwrap().fired()
    }

    fn strike(&self, op: Op, target: &str) -> Option<(When, E)> {
        self.0.lock().unwrap().strike(op, target)
    }

    /// Runs `effect` (the wrapped call) as the fakes run a call: a fault before fails it
    /// without the effect, a fault after lets the effect happen and loses its answer.
    async fn call<T>(
        &self,
        op: Op,
        target: &str,
        error: impl FnOnce(E) -> RotationError,
        effect: impl Future<Output = Result<T, RotationError>>,
    ) -> Result<T, RotationError> {
        let fired = self.strike(op, target);
        if let Some((When::Before, failure)) = fired {
            return Err(error(failure));
        }
        let out = effect.await?;
        match fired {
            Some((_, failure)) => Err(error(failure)),
            None => Ok(out),
        }
    }
}

/// A secret store whose operations fail as its [`StoreFaults`] say; the target of a fault is
/// the secret id, as on the in-memory store.
#[derive(Debug)]
pub struct FaultyStore<S> {
    inner: S,
    faults: StoreFaults,
}

impl<S> FaultyStore<S> {
    pub fn new(inner: S, faults: StoreFaults) -> Self {
        Self { inner, faults }
    }
}

#[async_trait]
impl<S: SecretStore> SecretStore for FaultyStore<S> {
    async fn describe(&self, secret: &str) -> Result<SecretMetadata, RotationError> {
        let op = StoreOp::DescribeSecret;
        let error = |f: SmFailure| f.to_error(op, secret);
        let effect = self.inner.describe(secret);
        self.faults.call(op, secret, error, effect).await
    }
    async fn get(
        &self,
        secret: &str,
        which: Staged<'_>,
    ) -> Result<Option<SecretValue>, RotationError> {
        let op = StoreOp::GetSecretValue;
        let error = |f: SmFailure| f.to_error(op, secret);
        let effect = self.inner.get(secret, which);
        self.faults.call(op, secret, error, effect).await
    }
    async fn put_pending(
        &self,
        secret: &str,
        token: &str,
        value: &SecretValue,
        rotation_token: Option<&str>,
    ) -> Result<(), RotationError> {
        let op = StoreOp::PutSecretValue;
        let error = |f: SmFailure| f.to_error(op, secret);
        let effect = self.inner.put_pending(secret, token, value, rotation_token);
        self.faults.call(op, secret, error, effect).await
    }
    async fn promote(
        &self,
        secret: &str,
        version: &str,
        from: Option<&str>,
    ) -> Result<(), RotationError> {
        let op = StoreOp::UpdateSecretVersionStage;
        let error = |f: SmFailure| f.to_error(op, secret);
        let effect = self.inner.promote(secret, version, from);
        self.faults.call(op, secret, error, effect).await
    }
}

/// A connector whose logins, and whose sessions' calls ([`FaultySession`]), fail as its
/// [`DbFaults`] say; the target of a fault is the login user, as on the in-memory databases.
/// A login faulted after its effect closes the session the server opened and answers as the
/// fault says (the error, or "wrong password").
#[derive(Debug)]
pub struct FaultyConnector<C> {
    inner: C,
    faults: DbFaults,
}

impl<C> FaultyConnector<C> {
    pub fn new(inner: C, faults: DbFaults) -> Self {
        Self { inner, faults }
    }
}

#[async_trait]
impl<C: Connector> Connector for FaultyConnector<C> {
    async fn login(&self, login: &Login) -> Result<Option<Box<dyn Session>>, RotationError> {
        let fired = self.faults.strike(DbOp::Login, &login.username);
        if let Some((When::Before, failure)) = &fired {
            return failure.login_answer(login);
        }
        let session = self.inner.login(login).await?;
        if let Some((_, failure)) = fired {
            if let Some(session) = session {
                session.close().await;
            }
            return failure.login_answer(login);
        }
        Ok(session.map(|inner| {
            Box::new(FaultySession {
                inner,
                faults: self.faults.clone(),
                host: login.host.clone(),
                port: login.port,
                user: login.username.clone(),
            }) as Box<dyn Session>
        }))
    }
}

/// A session of a [`FaultyConnector`]: the calls the in-memory sessions count ([`DbOp`]) can
/// fail; the rehearsals, the adoption record and the settings read pass through.
pub struct FaultySession {
    inner: Box<dyn Session>,
    faults: DbFaults,
    host: String,
    port: u16,
    user: String,
}

impl FaultySession {
    fn error(&self, op: DbOp) -> impl FnOnce(DbFailure) -> RotationError + use<> {
        let (host, port, user) = (self.host.clone(), self.port, self.user.clone());
        move |failure| failure.to_error(op, &host, port, &user)
    }
}

#[async_trait]
impl Session for FaultySession {
    async fn set_own_password(
        &mut self,
        username: &str,
        password: &SecretString,
    ) -> Result<(), RotationError> {
        let op = DbOp::SetOwnPassword;
        let (faults, error) = (self.faults.clone(), self.error(op));
        let effect = self.inner.set_own_password(username, password);
        faults.call(op, &self.user, error, effect).await
    }
    async fn account_host(&mut self) -> Result<Option<String>, RotationError> {
        let op = DbOp::AccountHost;
        let (faults, error) = (self.faults.clone(), self.error(op));
        let effect = self.inner.account_host();
        faults.call(op, &self.user, error, effect).await
    }
    async fn clone_user(
        &mut self,
        template: &str,
        host: Option<&str>,
        target: &str,
        password: &SecretString,
    ) -> Result<(), RotationError> {
        let op = DbOp::CloneUser;
        let (faults, error) = (self.faults.clone(), self.error(op));
        let effect = self.inner.clone_user(template, host, target, password);
        faults.call(op, &self.user, error, effect).await
    }
    async fn rehearse_own_password(&mut self, username: &str) -> Result<(), RotationError> {
        self.inner.rehearse_own_password(username).await
    }
    async fn rehearse_clone(
        &mut self,
        template: &str,
        host: Option<&str>,
        target: &str,
    ) -> Result<(), RotationError> {
        self.inner.rehearse_clone(template, host, target).await
    }
    async fn adopt_partner(
        &mut self,
        template: &str,
        host: Option<&str>,
        target: &str,
    ) -> Result<(), RotationError> {
        self.inner.adopt_partner(template, host, target).await
    }
    async fn server_settings(&mut self) -> Result<Vec<String>, RotationError> {
        self.inner.server_settings().await
    }
    async fn verify(&mut self) -> Result<(), RotationError> {
        let op = DbOp::Verify;
        let (faults, error) = (self.faults.clone(), self.error(op));
        let effect = self.inner.verify();
        faults.call(op, &self.user, error, effect).await
    }
    async fn close(self: Box<Self>) {
        self.inner.close().await
    }
}
