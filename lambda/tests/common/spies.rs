//! Wrappers around the rotator's two outside worlds, the secret store and the database
//! connector: spies that count what the rotator did (Secrets Manager calls, logins), and fault
//! wrappers that make one chosen operation fail, so a test can interrupt a rotation anywhere.
//!
//! They wrap the real implementations (moto, the test servers) or any other, and change nothing
//! else: what a test sees through them is what the function did.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rotation::RotationError;
use rotation::db::{Connector, Session};
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

/// Fails the `fail_at`-th operation, once. Shared by the fault wrappers of one rotator, so
/// operations are counted across Secrets Manager calls, logins and database changes alike.
#[derive(Debug, Default)]
pub struct Faults {
    seen: AtomicUsize,
    fail_at: AtomicUsize,
    fired: AtomicBool,
}

impl Faults {
    /// Starts counting afresh: the `at`-th operation from now fails (operations count from 1).
    pub fn arm(&self, at: usize) {
        self.seen.store(0, Ordering::SeqCst);
        self.fail_at.store(at, Ordering::SeqCst);
        self.fired.store(false, Ordering::SeqCst);
    }

    /// Counts one operation, `what`, and fails it if it is the armed one.
    pub fn strike(&self, what: &str) -> Result<(), RotationError> {
        let n = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.fail_at.load(Ordering::SeqCst) {
            self.fired.store(true, Ordering::SeqCst);
            return Err(RotationError::Unreachable {
                host: format!("injected fault at {what}"),
                port: 0,
                detail: "injected".into(),
            });
        }
        Ok(())
    }

    /// Whether the armed operation came, since [`Faults::arm`]: if not, the rotation had fewer.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

/// A secret store whose operations can fail *after* they took effect: the work is done, the
/// answer is lost (the worst case for a retry).
#[derive(Debug)]
pub struct FaultyStore<S> {
    inner: S,
    faults: Arc<Faults>,
}

impl<S> FaultyStore<S> {
    pub fn new(inner: S, faults: Arc<Faults>) -> Self {
        Self { inner, faults }
    }
}

#[async_trait]
impl<S: SecretStore> SecretStore for FaultyStore<S> {
    async fn describe(&self, secret: &str) -> Result<SecretMetadata, RotationError> {
        let out = self.inner.describe(secret).await?;
        self.faults.strike("DescribeSecret").map(|()| out)
    }
    async fn get(
        &self,
        secret: &str,
        which: Staged<'_>,
    ) -> Result<Option<SecretValue>, RotationError> {
        let out = self.inner.get(secret, which).await?;
        self.faults.strike("GetSecretValue").map(|()| out)
    }
    async fn put_pending(
        &self,
        secret: &str,
        token: &str,
        value: &SecretValue,
        rotation_token: Option<&str>,
    ) -> Result<(), RotationError> {
        self.inner
            .put_pending(secret, token, value, rotation_token)
            .await?;
        self.faults.strike("PutSecretValue")
    }
    async fn promote(
        &self,
        secret: &str,
        version: &str,
        from: Option<&str>,
    ) -> Result<(), RotationError> {
        self.inner.promote(secret, version, from).await?;
        self.faults.strike("UpdateSecretVersionStage")
    }
}

/// A connector whose logins can fail before they happen, and whose sessions ([`FaultySession`])
/// can fail a password change or a clone after it took effect.
#[derive(Debug)]
pub struct FaultyConnector<C> {
    inner: C,
    faults: Arc<Faults>,
}

impl<C> FaultyConnector<C> {
    pub fn new(inner: C, faults: Arc<Faults>) -> Self {
        Self { inner, faults }
    }
}

#[async_trait]
impl<C: Connector> Connector for FaultyConnector<C> {
    async fn login(&self, login: &Login) -> Result<Option<Box<dyn Session>>, RotationError> {
        self.faults.strike("login")?;
        Ok(self.inner.login(login).await?.map(|inner| {
            Box::new(FaultySession {
                inner,
                faults: self.faults.clone(),
            }) as Box<dyn Session>
        }))
    }
}

/// A session of a [`FaultyConnector`].
pub struct FaultySession {
    inner: Box<dyn Session>,
    faults: Arc<Faults>,
}

#[async_trait]
impl Session for FaultySession {
    async fn set_own_password(
        &mut self,
        username: &str,
        password: &SecretString,
    ) -> Result<(), RotationError> {
        self.inner.set_own_password(username, password).await?;
        self.faults.strike("set_own_password")
    }
    async fn account_host(&mut self) -> Result<Option<String>, RotationError> {
        self.inner.account_host().await
    }
    async fn clone_user(
        &mut self,
        template: &str,
        host: Option<&str>,
        target: &str,
        password: &SecretString,
    ) -> Result<(), RotationError> {
        self.inner
            .clone_user(template, host, target, password)
            .await?;
        self.faults.strike("clone_user")
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
        self.faults.strike("verify")?;
        self.inner.verify().await
    }
    async fn close(self: Box<Self>) {
        self.inner.close().await
    }
}
