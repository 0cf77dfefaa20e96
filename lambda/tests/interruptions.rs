//! A rotation interrupted at any point, then retried as Secrets Manager retries a failed step,
//! converges, and a credential keeps logging in meanwhile.
//!
//! Faults are injected at every Secrets Manager call, login and database change in turn, on the
//! real servers. A Secrets Manager call or a password change fails *after* it took effect (the
//! worst case: the work is done but the answer is lost), a login fails before it happens. After
//! each fault the test checks who can still log in, retries the step, and at the end checks the
//! rotation converged.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use common::pair::{connect, standard_fixture};
use common::{Harness, Kind, sm_client, unique};
use rotation::db::{Connector, Drivers, Session};
use rotation::secret::{Login, SecretValue};
use rotation::store::{AwsSecretStore, SecretMetadata, SecretStore, Staged};
use rotation::{Config, RotationError, RotationEvent, Rotator, Step};
use secrecy::SecretString;

/// Fails the `fail_at`-th operation, once.
#[derive(Debug, Default)]
struct Faults {
    seen: AtomicUsize,
    fail_at: AtomicUsize,
    fired: AtomicBool,
}

impl Faults {
    fn arm(&self, at: usize) {
        self.seen.store(0, Ordering::SeqCst);
        self.fail_at.store(at, Ordering::SeqCst);
        self.fired.store(false, Ordering::SeqCst);
    }

    fn strike(&self, what: &str) -> Result<(), RotationError> {
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
}

#[derive(Debug)]
struct FaultyStore {
    inner: AwsSecretStore,
    faults: Arc<Faults>,
}

#[async_trait]
impl SecretStore for FaultyStore {
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

#[derive(Debug)]
struct FaultyConnector {
    inner: Drivers,
    faults: Arc<Faults>,
}

#[async_trait]
impl Connector for FaultyConnector {
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

struct FaultySession {
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
    async fn verify(&mut self) -> Result<(), RotationError> {
        self.faults.strike("verify")?;
        self.inner.verify().await
    }
    async fn close(self: Box<Self>) {
        self.inner.close().await
    }
}

fn faulty_rotator(faults: &Arc<Faults>) -> Rotator<FaultyStore, FaultyConnector> {
    let ca = common::env().ca.display().to_string();
    let config = Config::from_lookup(|name| (name == "DB_CA_BUNDLE").then(|| ca.clone())).unwrap();
    Rotator::new(
        FaultyStore {
            inner: AwsSecretStore::from_client(sm_client()),
            faults: faults.clone(),
        },
        FaultyConnector {
            inner: Drivers::from_config(&config),
            faults: faults.clone(),
        },
        config,
    )
}

/// Which staged credentials log in now, over verified TLS.
async fn working_stages(h: &Harness, kind: Kind, arn: &str) -> Vec<&'static str> {
    let mut working = Vec::new();
    for stage in ["AWSCURRENT", "AWSPREVIOUS", "AWSPENDING"] {
        let Some(value) = h.staged(arn, stage).await else {
            continue;
        };
        let (Some(user), Some(password)) = (value["username"].as_str(), value["password"].as_str())
        else {
            continue;
        };
        if connect(kind, user, password).await.is_ok() {
            working.push(stage);
        }
    }
    working
}

async fn interrupted_everywhere(kind: Kind, alternating: bool) {
    let faults = Arc::new(Faults::default());
    let rotator = faulty_rotator(&faults);
    let mut points = 0;
    for fail_at in 1.. {
        let (h, arn) = if alternating {
            let f = standard_fixture(kind).await;
            (f.h, f.arn)
        } else {
            let h = Harness::new();
            let user = unique("fault");
            kind.create_user(&user, "initial-Pa55").await;
            let arn = h.create_secret(&kind.secret(&user, "initial-Pa55")).await;
            (h, arn)
        };
        let token = h.start_rotation(&arn).await;
        faults.arm(fail_at);
        for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
            let event = RotationEvent {
                secret_id: arn.clone(),
                token: token.clone(),
                step,
                rotation_token: None,
            };
            if let Err(error) = rotator.handle(&event).await {
                assert!(
                    error.to_string().contains("injected"),
                    "only the injected fault may fail: {error}"
                );
                let working = working_stages(&h, kind, &arn).await;
                if alternating {
                    assert!(
                        working.contains(&"AWSCURRENT"),
                        "fault {fail_at} in {step:?}: AWSCURRENT must log in, {working:?} do"
                    );
                } else {
                    // Single user: between setSecret and finishSecret only the new password
                    // works; the staged AWSPENDING value holds it.
                    assert!(
                        !working.is_empty(),
                        "fault {fail_at} in {step:?}: no staged credential logs in"
                    );
                }
                // Secrets Manager retries the failed step with the same token.
                rotator
                    .handle(&event)
                    .await
                    .unwrap_or_else(|e| panic!("retry of {step:?} after fault {fail_at}: {e}"));
            }
        }
        h.end_rotation(&arn, &token).await;
        let working = working_stages(&h, kind, &arn).await;
        assert!(
            working.contains(&"AWSCURRENT"),
            "after fault {fail_at}: {working:?}"
        );
        if alternating {
            assert!(
                working.contains(&"AWSPREVIOUS"),
                "after fault {fail_at}: {working:?}"
            );
        }
        assert_eq!(h.stages(&arn).await[&token], vec!["AWSCURRENT"]);
        if !faults.fired.load(Ordering::SeqCst) {
            break; // past the last operation of a rotation: every point was tried
        }
        points = fail_at;
    }
    assert!(points >= 14, "only {points} fault points were tried");
}

#[tokio::test]
async fn postgres_single_user_interrupted_everywhere() {
    interrupted_everywhere(Kind::Postgres, false).await;
}

#[tokio::test]
async fn mariadb_single_user_interrupted_everywhere() {
    interrupted_everywhere(Kind::MariaDb, false).await;
}

#[tokio::test]
async fn postgres_alternating_users_interrupted_everywhere() {
    interrupted_everywhere(Kind::Postgres, true).await;
}

#[tokio::test]
async fn mariadb_alternating_users_interrupted_everywhere() {
    interrupted_everywhere(Kind::MariaDb, true).await;
}

#[tokio::test]
async fn postgres_new_alternating_users_interrupted_everywhere() {
    interrupted_everywhere(Kind::PostgresNew, true).await;
}
