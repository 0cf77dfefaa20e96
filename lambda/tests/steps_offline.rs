//! The guard, the four steps for both strategies, setSecret's fallbacks and every error kind the
//! step logic can produce, offline: the real [`Rotator`] over the in-memory fakes
//! ([`rotation::fakes`]). No server, no network, nothing printed; the whole file runs in a few
//! milliseconds.
//!
//! Every error a test expects goes through [`expect_error`], which also checks that neither its
//! message nor its `Debug` output holds any password the world knows, and that no database
//! session was left open.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use rotation::alternating::INSTANCE_TAG;
use rotation::fakes::{
    Call, DbFailure, DbOp, Fault, Gate, LoginOutcome, MemoryConnector, MemoryDatabase, MemoryRds,
    MemoryStore, Payload, SmFailure, StoreOp, When,
};
use rotation::rds::RdsDatabase;
use rotation::secret::{EngineFamily, SecretValue};
use rotation::{Config, RotationError, RotationEvent, Rotator, Step};
use serde_json::{Value, json};

const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/app-AbCdEf";
const MASTER: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/master-GhIjKl";
const HOST: &str = "orders.db.internal";
const APP_PASSWORD: &str = "app-initial-Pa55word";
const MASTER_PASSWORD: &str = "master-initial-Pa55word";
const STEPS: [Step; 4] = [Step::Create, Step::Set, Step::Test, Step::Finish];

#[derive(Debug, Clone, Copy)]
enum Kind {
    Postgres,
    MariaDb,
}

impl Kind {
    fn engine(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::MariaDb => "mariadb",
        }
    }

    fn port(self) -> u16 {
        match self {
            Self::Postgres => 5432,
            Self::MariaDb => 3306,
        }
    }

    fn family(self) -> EngineFamily {
        match self {
            Self::Postgres => EngineFamily::Postgres,
            Self::MariaDb => EngineFamily::MySql,
        }
    }
}

/// The rotated secret's value: every RDS field, plus one this function does not know.
fn app_value(kind: Kind, user: &str, password: &str, master: Option<&str>) -> Value {
    let mut value = json!({
        "engine": kind.engine(),
        "host": HOST,
        "port": kind.port(),
        "username": user,
        "password": password,
        "dbname": "orders",
        "team": {"owner": "payments", "pager": [1, 2]},
    });
    if let Some(master) = master {
        value["masterarn"] = json!(master);
    }
    value
}

fn master_value(kind: Kind) -> Value {
    json!({
        "engine": kind.engine(),
        "host": HOST,
        "port": kind.port(),
        "username": "admin",
        "password": MASTER_PASSWORD,
    })
}

fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
            // The fake connector never reads it.
            .or_else(|| (name == "DB_CA_BUNDLE").then(|| "/nonexistent/ca.pem".into()))
            // Without a stack: the strategy and master from each secret's value.
            .or_else(|| (name == "ROTATION_SETTINGS").then(|| "from-secrets".into()))
    })
    .expect("test configuration")
}

/// A secret, its database, and a rotator over both.
struct World {
    kind: Kind,
    store: MemoryStore,
    db: MemoryConnector,
    rotator: Rotator<MemoryStore, MemoryConnector>,
    tokens: usize,
}

impl World {
    /// A database with the user `user` (password [`APP_PASSWORD`]) and the master `admin`, and
    /// the secret of `user`; with `alternating`, the secret names a full master secret.
    fn new(kind: Kind, user: &str, alternating: bool) -> Self {
        let store = MemoryStore::new();
        let master = alternating.then_some(MASTER);
        store.create_secret(
            SECRET,
            &app_value(kind, user, APP_PASSWORD, master).to_string(),
        );
        store.set_rotation_enabled(SECRET, Some(true));
        if alternating {
            store.create_secret(MASTER, &master_value(kind).to_string());
        }
        let db = MemoryConnector::new();
        db.add_database(
            HOST,
            kind.port(),
            MemoryDatabase::new(kind.family())
                .with_user(user, APP_PASSWORD)
                .with_master("admin", MASTER_PASSWORD),
        );
        let rotator = Rotator::new(store.clone(), db.clone(), config(&[]));
        Self {
            kind,
            store,
            db,
            rotator,
            tokens: 0,
        }
    }

    fn single(kind: Kind) -> Self {
        Self::new(kind, "app", false)
    }

    fn alternating(kind: Kind) -> Self {
        Self::new(kind, "app", true)
    }

    fn with_config(mut self, vars: &[(&str, &str)]) -> Self {
        self.rotator = Rotator::new(self.store.clone(), self.db.clone(), config(vars));
        self
    }

    fn with_rds(mut self, rds: MemoryRds) -> Self {
        self.rotator = Rotator::new(self.store.clone(), self.db.clone(), config(&[])).with_rds(rds);
        self
    }

    /// Replaces the secret's AWSCURRENT value (the old one becomes AWSPREVIOUS).
    fn set_current(&self, text: &str) {
        self.store.put_version(
            SECRET,
            "operator-edit",
            Payload::Text(text.into()),
            &["AWSCURRENT"],
        );
    }

    /// RotateSecret: a new token, staged AWSPENDING without a value.
    fn start(&mut self) -> String {
        self.tokens += 1;
        let token = format!("00000000-aaaa-4bbb-8ccc-{:012}", self.tokens);
        self.store
            .start_rotation(SECRET, &token)
            .expect("RotateSecret");
        token
    }

    fn event(&self, token: &str, step: Step) -> RotationEvent {
        RotationEvent {
            secret_id: SECRET.into(),
            token: token.into(),
            step,
            rotation_token: Some(format!("rotation-{token}")),
        }
    }

    async fn step(&self, token: &str, step: Step) -> Result<(), RotationError> {
        self.rotator.handle(&self.event(token, step)).await
    }

    async fn steps(&self, token: &str) {
        for step in STEPS {
            if let Err(error) = self.step(token, step).await {
                panic!("{}: {error}", step.name());
            }
        }
    }

    /// One whole rotation, as the service drives it.
    async fn rotate(&mut self) -> String {
        let token = self.start();
        self.steps(&token).await;
        self.store
            .complete_rotation(SECRET, &token)
            .expect("AWSCURRENT moved");
        assert_eq!(self.db.open_sessions(), 0);
        token
    }

    fn staged(&self, stage: &str) -> Option<SecretValue> {
        self.store.value(SECRET, stage)
    }

    fn pending(&self, token: &str) -> SecretValue {
        self.store.value_of(SECRET, token).expect("a pending value")
    }

    /// Whether `value`'s user logs in with its password on the world's database.
    fn logs_in(&self, value: &SecretValue) -> bool {
        let (user, password) = (
            value.str_field("username").unwrap_or_default(),
            value.str_field("password").unwrap_or_default(),
        );
        self.db
            .database(HOST, self.kind.port())
            .is_some_and(|db| db.accepts(user, password))
    }

    fn stage_logs_in(&self, stage: &str) -> bool {
        self.staged(stage).is_some_and(|v| self.logs_in(&v))
    }

    fn password(&self, user: &str) -> Option<String> {
        self.db.password(HOST, self.kind.port(), user)
    }

    /// Every password the world holds: in any version of any secret, and in the database.
    fn passwords(&self) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        for secret in self.store.snapshot().secrets.values() {
            for version in secret.versions.values() {
                if let Some(Payload::Text(text)) = &version.payload
                    && let Ok(value) = SecretValue::parse(text)
                    && let Some(password) = value.str_field("password")
                {
                    found.insert(password.to_owned());
                }
            }
        }
        for db in self.db.snapshot().databases.values() {
            found.extend(db.users.values().map(|u| u.password.clone()));
        }
        // Too short to be told apart from ordinary text (and never used as a password here).
        found.retain(|p| p.len() >= 8);
        found
    }

    fn login_users(&self) -> Vec<(String, LoginOutcome)> {
        self.db
            .logins()
            .into_iter()
            .map(|l| (l.user, l.outcome))
            .collect()
    }
}

/// The error of a step expected to fail with `kind`; it names no password, and the step left
/// no session open.
#[track_caller]
fn expect_error(world: &World, result: Result<(), RotationError>, kind: &str) -> RotationError {
    let error = match result {
        Ok(()) => panic!("expected {kind}, the step succeeded"),
        Err(error) => error,
    };
    assert_eq!(error.kind(), kind, "{error}");
    let (text, debug) = (error.to_string(), format!("{error:?}"));
    for password in world.passwords() {
        assert!(
            !text.contains(&password) && !debug.contains(&password),
            "{kind} shows a password: {text}"
        );
    }
    assert_eq!(world.db.open_sessions(), 0, "{kind} left a session open");
    error
}

fn counts(pairs: &[(&'static str, usize)]) -> BTreeMap<&'static str, usize> {
    pairs.iter().copied().collect()
}

use LoginOutcome::{Accepted, Rejected};

fn logins(pairs: &[(&str, LoginOutcome)]) -> Vec<(String, LoginOutcome)> {
    pairs.iter().map(|(u, o)| (u.to_string(), *o)).collect()
}

// ---------------------------------------------------------------------------------------------
// The guard.

#[tokio::test]
async fn the_guard_refuses_rotation_disabled_at_every_step() {
    let mut w = World::single(Kind::Postgres);
    let token = w.start();
    w.store.set_rotation_enabled(SECRET, Some(false));
    for step in STEPS {
        expect_error(&w, w.step(&token, step).await, "RotationDisabled");
    }
    assert_eq!(w.store.call_counts(), counts(&[("DescribeSecret", 4)]));
    assert!(w.db.logins().is_empty());
}

#[tokio::test]
async fn the_guard_goes_on_when_rotation_enabled_is_true_or_left_out() {
    for enabled in [Some(true), None] {
        let mut w = World::single(Kind::Postgres);
        let token = w.start();
        w.store.set_rotation_enabled(SECRET, enabled);
        w.steps(&token).await;
        assert_eq!(
            w.store.version_with(SECRET, "AWSCURRENT").as_deref(),
            Some(token.as_str())
        );
    }
}

#[tokio::test]
async fn the_guard_refuses_a_token_that_is_not_a_version() {
    let mut w = World::single(Kind::Postgres);
    w.start();
    for step in STEPS {
        let error = expect_error(&w, w.step("not-a-version", step).await, "UnknownVersion");
        assert!(error.to_string().contains("not-a-version"), "{error}");
    }
    // A version without any label is not listed by DescribeSecret: unknown too.
    w.store.put_version(
        SECRET,
        "deprecated",
        Payload::Text(app_value(Kind::Postgres, "app", "old-password-0000", None).to_string()),
        &[],
    );
    for step in STEPS {
        expect_error(&w, w.step("deprecated", step).await, "UnknownVersion");
    }
    assert_eq!(w.store.call_counts(), counts(&[("DescribeSecret", 8)]));
    assert!(w.db.logins().is_empty());
}

#[tokio::test]
async fn the_guard_does_nothing_for_a_token_already_current() {
    let mut w = World::single(Kind::Postgres);
    w.start();
    let current = w.store.version_with(SECRET, "AWSCURRENT").unwrap();
    let (store, db) = (w.store.snapshot().secrets, w.db.snapshot().databases);
    for step in STEPS {
        w.step(&current, step).await.expect("already current");
    }
    assert_eq!(w.store.snapshot().secrets, store);
    assert_eq!(w.db.snapshot().databases, db);
    assert_eq!(w.store.call_counts(), counts(&[("DescribeSecret", 4)]));
    assert!(w.db.logins().is_empty());
}

#[tokio::test]
async fn the_guard_lets_a_finished_token_be_retried_without_any_change() {
    let mut w = World::alternating(Kind::Postgres);
    let token = w.rotate().await;
    let (store, db) = (w.store.snapshot().secrets, w.db.snapshot().databases);
    w.store.reset_calls();
    w.db.reset_records();
    for step in STEPS {
        w.step(&token, step).await.expect("already current");
    }
    assert_eq!(w.store.snapshot().secrets, store);
    assert_eq!(w.db.snapshot().databases, db);
    assert_eq!(w.store.call_counts(), counts(&[("DescribeSecret", 4)]));
    assert!(w.db.logins().is_empty());
}

#[tokio::test]
async fn the_guard_refuses_a_token_that_is_not_pending() {
    let mut w = World::single(Kind::Postgres);
    let old = w.store.version_with(SECRET, "AWSCURRENT").unwrap();
    w.rotate().await;
    w.store.reset_calls();
    w.db.reset_records();
    for step in STEPS {
        let error = expect_error(&w, w.step(&old, step).await, "VersionNotPending");
        assert!(error.to_string().contains("stages: AWSPREVIOUS"), "{error}");
    }
    assert_eq!(w.store.call_counts(), counts(&[("DescribeSecret", 4)]));
    assert!(w.db.logins().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Single user.

#[tokio::test]
async fn create_secret_stores_a_new_password_for_the_same_user() {
    let mut w = World::single(Kind::Postgres);
    let token = w.start();
    w.step(&token, Step::Create).await.unwrap();
    let pending = w.pending(&token);
    let current = w.staged("AWSCURRENT").unwrap();
    assert_eq!(pending.str_field("username"), Some("app"));
    assert_ne!(pending.str_field("password"), Some(APP_PASSWORD));
    assert_eq!(pending.str_field("password").unwrap().len(), 32);
    // Every other field survives, known or not.
    let mut expected = current.fields().clone();
    expected.insert("password".into(), pending.fields()["password"].clone());
    assert_eq!(pending.fields(), &expected);
    let stages = w.store.stages(SECRET);
    assert_eq!(stages[&token], vec!["AWSPENDING"]);
    let version = w.store.secret(SECRET).unwrap().versions[&token].clone();
    assert_eq!(
        version.rotation_token.as_deref(),
        Some(format!("rotation-{token}").as_str())
    );
    assert_eq!(
        w.store.call_counts(),
        counts(&[
            ("DescribeSecret", 1),
            ("GetSecretValue", 1),
            ("PutSecretValue", 1)
        ])
    );
    assert!(w.db.logins().is_empty(), "createSecret never logs in");
}

#[tokio::test]
async fn set_secret_changes_the_users_own_password_with_awscurrent() {
    let mut w = World::single(Kind::Postgres);
    let token = w.start();
    w.step(&token, Step::Create).await.unwrap();
    w.step(&token, Step::Set).await.unwrap();
    let pending = w.pending(&token);
    assert_eq!(w.password("app").as_deref(), pending.str_field("password"));
    assert_eq!(w.login_users(), logins(&[("app", Accepted)]));
    let changes = w.db.password_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (changes[0].user.as_str(), changes[0].by.as_str()),
        ("app", "app")
    );
    assert_eq!(w.password("admin").as_deref(), Some(MASTER_PASSWORD));
}

#[tokio::test]
async fn test_secret_logs_in_with_the_pending_credential_on_a_new_connection() {
    let mut w = World::single(Kind::Postgres);
    let token = w.start();
    w.step(&token, Step::Create).await.unwrap();
    w.step(&token, Step::Set).await.unwrap();
    w.db.reset_records();
    w.step(&token, Step::Test).await.unwrap();
    assert_eq!(w.login_users(), logins(&[("app", Accepted)]));
    assert_eq!(w.db.calls_of(DbOp::Verify), 1);
    assert!(w.db.password_changes().is_empty());
}

#[tokio::test]
async fn finish_secret_moves_awscurrent_and_the_old_version_becomes_awsprevious() {
    let mut w = World::single(Kind::Postgres);
    let old = w.store.version_with(SECRET, "AWSCURRENT").unwrap();
    let token = w.start();
    for step in [Step::Create, Step::Set, Step::Test] {
        w.step(&token, step).await.unwrap();
    }
    w.db.reset_records();
    w.store.reset_calls();
    w.step(&token, Step::Finish).await.unwrap();
    let stages = w.store.stages(SECRET);
    assert_eq!(stages[&token], vec!["AWSCURRENT", "AWSPENDING"]);
    assert_eq!(stages[&old], vec!["AWSPREVIOUS"]);
    // The pending value is read (cold: a call) since a version without one is never promoted.
    assert_eq!(
        w.store.call_counts(),
        counts(&[
            ("DescribeSecret", 1),
            ("GetSecretValue", 1),
            ("UpdateSecretVersionStage", 1)
        ])
    );
    assert!(w.db.logins().is_empty(), "finishSecret never logs in");
    w.store.complete_rotation(SECRET, &token).unwrap();
    assert_eq!(w.store.stages(SECRET)[&token], vec!["AWSCURRENT"]);
}

#[tokio::test]
async fn a_single_user_rotation_costs_eleven_secrets_manager_calls_and_two_logins() {
    let mut w = World::single(Kind::Postgres);
    w.rotate().await;
    assert_eq!(
        w.store.call_counts(),
        counts(&[
            ("DescribeSecret", 4),
            ("GetSecretValue", 5),
            ("PutSecretValue", 1),
            ("UpdateSecretVersionStage", 1),
        ])
    );
    assert_eq!(w.store.calls().len(), 11);
    assert_eq!(
        w.login_users(),
        logins(&[("app", Accepted), ("app", Accepted)])
    );
}

#[tokio::test]
async fn single_user_rotations_follow_one_another() {
    for kind in [Kind::Postgres, Kind::MariaDb] {
        let mut w = World::single(kind);
        let mut seen = BTreeSet::from([APP_PASSWORD.to_owned()]);
        for _ in 0..3 {
            let previous = w.staged("AWSCURRENT").unwrap();
            w.rotate().await;
            let current = w.staged("AWSCURRENT").unwrap();
            assert!(w.logs_in(&current), "{kind:?}");
            assert!(!w.logs_in(&previous), "{kind:?}: the old password is gone");
            assert_eq!(current.str_field("username"), Some("app"));
            assert!(seen.insert(current.str_field("password").unwrap().to_owned()));
            assert_eq!(
                w.staged("AWSPREVIOUS").unwrap().str_field("password"),
                previous.str_field("password")
            );
        }
    }
}

#[tokio::test]
async fn every_single_user_step_run_twice_is_harmless() {
    let mut w = World::single(Kind::Postgres);
    let token = w.start();
    for step in STEPS {
        w.step(&token, step).await.unwrap();
        let (store, db) = (w.store.snapshot().secrets, w.db.snapshot().databases);
        w.step(&token, step).await.unwrap();
        assert_eq!(w.store.snapshot().secrets, store, "{}", step.name());
        assert_eq!(w.db.snapshot().databases, db, "{}", step.name());
    }
    w.store.complete_rotation(SECRET, &token).unwrap();
    assert!(w.stage_logs_in("AWSCURRENT"));
    // The second createSecret's put was refused (the version keeps its first value, checked
    // above), the second setSecret found AWSPENDING already set.
    assert_eq!(w.store.calls_of(StoreOp::PutSecretValue), 2);
    assert_eq!(w.db.password_changes().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Alternating users.

#[tokio::test]
async fn create_secret_names_the_other_user_of_the_pair() {
    let mut w = World::alternating(Kind::Postgres);
    let token = w.start();
    w.step(&token, Step::Create).await.unwrap();
    let pending = w.pending(&token);
    assert_eq!(pending.str_field("username"), Some("app_clone"));
    assert_eq!(pending.str_field("masterarn"), Some(MASTER));
    assert_eq!(pending.fields()["team"]["pager"][1], 2);
    assert!(w.db.logins().is_empty());
}

#[tokio::test]
async fn set_secret_has_the_master_give_the_partner_the_pending_password() {
    let mut w = World::alternating(Kind::Postgres);
    let token = w.start();
    w.step(&token, Step::Create).await.unwrap();
    w.step(&token, Step::Set).await.unwrap();
    let pending = w.pending(&token);
    assert!(w.logs_in(&pending));
    // The current user is untouched: applications keep working.
    assert_eq!(w.password("app").as_deref(), Some(APP_PASSWORD));
    let clone = w.db.database(HOST, 5432).unwrap().users["app_clone"].clone();
    assert!(clone.member_of.contains("app"));
    assert!(!clone.master);
    assert_eq!(
        w.login_users(),
        logins(&[("app", Accepted), ("admin", Accepted)])
    );
    let changes = w.db.password_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (
            changes[0].user.as_str(),
            changes[0].by.as_str(),
            changes[0].created
        ),
        ("app_clone", "admin", true)
    );
}

#[tokio::test]
async fn an_alternating_rotation_costs_twelve_secrets_manager_calls_and_three_logins() {
    let mut w = World::alternating(Kind::Postgres);
    w.rotate().await;
    assert_eq!(
        w.store.call_counts(),
        counts(&[
            ("DescribeSecret", 4),
            ("GetSecretValue", 6),
            ("PutSecretValue", 1),
            ("UpdateSecretVersionStage", 1),
        ])
    );
    assert_eq!(
        w.login_users(),
        logins(&[
            ("app", Accepted),
            ("admin", Accepted),
            ("app_clone", Accepted)
        ])
    );
}

#[tokio::test]
async fn alternating_rotations_swap_the_user_and_its_clone() {
    for kind in [Kind::Postgres, Kind::MariaDb] {
        let mut w = World::alternating(kind);
        for expected in ["app_clone", "app", "app_clone", "app"] {
            w.rotate().await;
            let current = w.staged("AWSCURRENT").unwrap();
            assert_eq!(current.str_field("username"), Some(expected), "{kind:?}");
            // Both staged credentials log in: the one applications may still hold too.
            assert!(w.stage_logs_in("AWSCURRENT"), "{kind:?}");
            assert!(w.stage_logs_in("AWSPREVIOUS"), "{kind:?}");
        }
        assert_eq!(w.password("admin").as_deref(), Some(MASTER_PASSWORD));
        let users: Vec<String> =
            w.db.database(HOST, kind.port())
                .unwrap()
                .users
                .into_keys()
                .collect();
        assert_eq!(users, ["admin", "app", "app_clone"]);
    }
}

#[tokio::test]
async fn every_alternating_step_run_twice_is_harmless() {
    let mut w = World::alternating(Kind::MariaDb);
    w.rotate().await;
    let token = w.start();
    for step in STEPS {
        w.step(&token, step).await.unwrap();
        let (store, db) = (w.store.snapshot().secrets, w.db.snapshot().databases);
        w.step(&token, step).await.unwrap();
        assert_eq!(w.store.snapshot().secrets, store, "{}", step.name());
        assert_eq!(w.db.snapshot().databases, db, "{}", step.name());
    }
    w.store.complete_rotation(SECRET, &token).unwrap();
    assert_eq!(
        w.staged("AWSCURRENT").unwrap().str_field("username"),
        Some("app")
    );
    assert!(w.stage_logs_in("AWSCURRENT") && w.stage_logs_in("AWSPREVIOUS"));
}

#[tokio::test]
async fn an_rds_managed_master_secret_finds_its_database_through_rds() {
    let mut w =
        World::alternating(Kind::Postgres).with_rds(MemoryRds::default().with(RdsDatabase {
            arn: "arn:aws:rds:us-east-1:123456789012:db:orders".into(),
            engine: "postgres".into(),
            port: 5432,
            writer: HOST.into(),
            hosts: vec![HOST.into()],
        }));
    w.store.create_secret(
        MASTER,
        &json!({"username": "admin", "password": MASTER_PASSWORD}).to_string(),
    );
    w.store.set_tag(
        MASTER,
        INSTANCE_TAG,
        "arn:aws:rds:us-east-1:123456789012:db:orders",
    );
    w.rotate().await;
    assert!(w.stage_logs_in("AWSCURRENT"));
    // setSecret read the master secret's tags.
    assert_eq!(w.store.calls_of(StoreOp::DescribeSecret), 5);
}

#[tokio::test]
async fn the_strategy_follows_masterarn_unless_the_function_is_pinned() {
    for (alternating, setting) in [
        (false, "auto"),
        (false, "single-user"),
        (true, "auto"),
        (true, "alternating-users"),
    ] {
        let mut w = World::new(Kind::Postgres, "app", alternating)
            .with_config(&[("ROTATION_STRATEGY", setting)]);
        w.rotate().await;
        let expected = if alternating { "app_clone" } else { "app" };
        assert_eq!(
            w.staged("AWSCURRENT").unwrap().str_field("username"),
            Some(expected)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// setSecret's fallbacks (single user).

/// A single-user world with a pending value stored, ready for setSecret.
async fn ready_to_set() -> (World, String) {
    let mut w = World::single(Kind::Postgres);
    let token = w.start();
    w.step(&token, Step::Create).await.unwrap();
    w.db.reset_records();
    (w, token)
}

#[tokio::test]
async fn set_secret_with_a_working_awscurrent_makes_no_failed_login() {
    let (w, token) = ready_to_set().await;
    w.step(&token, Step::Set).await.unwrap();
    assert_eq!(w.login_users(), logins(&[("app", Accepted)]));
}

#[tokio::test]
async fn set_secret_retried_after_the_password_was_set_checks_awspending() {
    let (w, token) = ready_to_set().await;
    let pending = w.pending(&token).str_field("password").unwrap().to_owned();
    w.db.update(HOST, 5432, |db| {
        db.users.get_mut("app").unwrap().password = pending.clone()
    });
    w.step(&token, Step::Set).await.unwrap();
    assert_eq!(
        w.login_users(),
        logins(&[("app", Rejected), ("app", Accepted)])
    );
    assert!(w.db.password_changes().is_empty());
}

#[tokio::test]
async fn set_secret_falls_back_to_awsprevious() {
    let (w, token) = ready_to_set().await;
    // The database still has the password of an older version, now AWSPREVIOUS.
    w.store.put_version(
        SECRET,
        "older",
        Payload::Text(app_value(Kind::Postgres, "app", "older-Pa55word-0", None).to_string()),
        &["AWSPREVIOUS"],
    );
    w.db.update(HOST, 5432, |db| {
        db.users.get_mut("app").unwrap().password = "older-Pa55word-0".into()
    });
    w.step(&token, Step::Set).await.unwrap();
    assert_eq!(
        w.login_users(),
        logins(&[("app", Rejected), ("app", Rejected), ("app", Accepted)])
    );
    assert!(w.logs_in(&w.pending(&token)));
}

#[tokio::test]
async fn set_secret_with_no_working_credential_names_every_stage_tried() {
    let (w, token) = ready_to_set().await;
    w.db.update(HOST, 5432, |db| {
        db.users.get_mut("app").unwrap().password = "reset-by-hand-000".into()
    });
    let error = expect_error(&w, w.step(&token, Step::Set).await, "NoWorkingCredential");
    assert!(
        error.to_string().contains("(tried AWSCURRENT, AWSPENDING)"),
        "{error}"
    );
    w.store.put_version(
        SECRET,
        "older",
        Payload::Text(app_value(Kind::Postgres, "app", "older-Pa55word-0", None).to_string()),
        &["AWSPREVIOUS"],
    );
    let error = expect_error(&w, w.step(&token, Step::Set).await, "NoWorkingCredential");
    assert!(
        error
            .to_string()
            .contains("(tried AWSCURRENT, AWSPENDING, AWSPREVIOUS)"),
        "{error}"
    );
    assert_eq!(w.password("app").as_deref(), Some("reset-by-hand-000"));
}

#[tokio::test]
async fn set_secret_stops_at_a_login_refused_for_another_reason_than_the_password() {
    let (w, token) = ready_to_set().await;
    w.db.update(HOST, 5432, |db| {
        db.users.get_mut("app").unwrap().can_login = false
    });
    expect_error(&w, w.step(&token, Step::Set).await, "LoginRefused");
    assert_eq!(w.db.logins().len(), 1, "no other password was tried");
}

#[tokio::test]
async fn set_secret_never_uses_an_awsprevious_of_another_user() {
    let (w, token) = ready_to_set().await;
    w.store.put_version(
        SECRET,
        "older",
        Payload::Text(app_value(Kind::Postgres, "admin", MASTER_PASSWORD, None).to_string()),
        &["AWSPREVIOUS"],
    );
    w.db.update(HOST, 5432, |db| {
        db.users.get_mut("app").unwrap().password = "reset-by-hand-000".into()
    });
    let error = expect_error(&w, w.step(&token, Step::Set).await, "IdentityMismatch");
    assert!(error.to_string().contains("AWSPREVIOUS"), "{error}");
    assert!(w.login_users().iter().all(|(user, _)| user == "app"));
    assert_eq!(w.password("admin").as_deref(), Some(MASTER_PASSWORD));
}

// ---------------------------------------------------------------------------------------------
// Every error kind.

#[tokio::test]
async fn invalid_event() {
    let w = World::single(Kind::Postgres);
    for event in [
        json!({"SecretId": SECRET, "ClientRequestToken": "t", "Step": "create"}),
        json!({"SecretId": SECRET, "Step": "setSecret"}),
        json!({"SecretId": "", "ClientRequestToken": "t", "Step": "setSecret"}),
        json!([1, 2]),
    ] {
        expect_error(
            &w,
            RotationEvent::from_json(event).map(drop),
            "InvalidEvent",
        );
    }
}

#[tokio::test]
async fn invalid_configuration_a_password_longer_than_mysql_takes() {
    let mut w = World::single(Kind::MariaDb).with_config(&[("PASSWORD_LENGTH", "300")]);
    let token = w.start();
    let error = expect_error(
        &w,
        w.step(&token, Step::Create).await,
        "InvalidConfiguration",
    );
    assert!(error.to_string().contains("PASSWORD_LENGTH"), "{error}");
    assert_eq!(w.store.calls_of(StoreOp::PutSecretValue), 0);
    // PostgreSQL takes it.
    let mut w = World::single(Kind::Postgres).with_config(&[("PASSWORD_LENGTH", "300")]);
    w.rotate().await;
    let current = w.staged("AWSCURRENT").unwrap();
    assert_eq!(current.str_field("password").unwrap().len(), 300);
}

#[tokio::test]
async fn missing_stage() {
    // setSecret and testSecret before createSecret stored a value.
    let mut w = World::single(Kind::Postgres);
    let token = w.start();
    for step in [Step::Set, Step::Test] {
        let error = expect_error(&w, w.step(&token, step).await, "MissingStage");
        assert!(error.to_string().contains("AWSPENDING"), "{error}");
    }
    // createSecret without an AWSCURRENT value.
    let current = w.store.version_with(SECRET, "AWSCURRENT").unwrap();
    w.store.remove_stage(SECRET, &current, "AWSCURRENT");
    let error = expect_error(&w, w.step(&token, Step::Create).await, "MissingStage");
    assert!(error.to_string().contains("AWSCURRENT"), "{error}");
    assert!(w.db.logins().is_empty());
}

#[tokio::test]
async fn invalid_secret_names_each_bad_field() {
    let good = app_value(Kind::Postgres, "app", APP_PASSWORD, None);
    let with = |field: &str, value: Value| {
        let mut v = good.clone();
        v[field] = value;
        v.to_string()
    };
    let without = |field: &str| {
        let mut v = good.clone();
        v.as_object_mut().unwrap().remove(field);
        v.to_string()
    };
    let cases: Vec<(String, &str)> = vec![
        (with("engine", json!("oracle")), "`engine`"),
        (without("engine"), "`engine`"),
        (without("host"), "`host`"),
        (with("host", json!(" ")), "`host`"),
        (with("port", json!(70000)), "`port`"),
        (with("port", json!("x")), "`port`"),
        (with("port", json!(true)), "`port`"),
        (without("username"), "`username`"),
        (with("username", json!("a\u{0}b")), "NUL"),
        (without("password"), "`password`"),
        (with("password", json!("")), "`password`"),
        (with("password", json!(12345678)), "`password`"),
        (with("dbname", json!(5)), "`dbname`"),
        (with("ssl", json!("maybe")), "`ssl`"),
        (with("ssl", json!(1)), "`ssl`"),
        ("not json".into(), "not JSON"),
        ("[1, 2]".into(), "not an object"),
    ];
    for (text, named) in cases {
        let mut w = World::single(Kind::Postgres);
        w.set_current(&text);
        let token = w.start();
        let error = expect_error(&w, w.step(&token, Step::Create).await, "InvalidSecret");
        let message = error.to_string();
        assert!(message.contains("(AWSCURRENT)"), "{message}");
        assert!(message.contains(named), "{named}: {message}");
        assert!(!message.contains(APP_PASSWORD), "{message}");
    }
    // A SecretBinary value.
    let mut w = World::single(Kind::Postgres);
    w.store.put_version(
        SECRET,
        "binary",
        Payload::Binary(APP_PASSWORD.as_bytes().to_vec()),
        &["AWSCURRENT"],
    );
    let token = w.start();
    let error = expect_error(&w, w.step(&token, Step::Create).await, "InvalidSecret");
    assert!(error.to_string().contains("SecretBinary"), "{error}");
    // A pending value without a host.
    let mut w = World::single(Kind::Postgres);
    let token = w.start();
    w.store.put_version(
        SECRET,
        &token,
        Payload::Text(without("host")),
        &["AWSPENDING"],
    );
    let error = expect_error(&w, w.step(&token, Step::Set).await, "InvalidSecret");
    assert!(error.to_string().contains("(AWSPENDING)"), "{error}");
    assert!(w.db.logins().is_empty());
}

#[tokio::test]
async fn identity_mismatch_for_user_host_and_engine() {
    for (alternating, field, value, named) in [
        (false, "username", json!("admin"), "names username `admin`"),
        (false, "host", json!("other.db.internal"), "names host"),
        (false, "engine", json!("mysql"), "names engine"),
        (true, "username", json!("app"), "names username `app`"),
        (true, "username", json!("admin"), "names username `admin`"),
        (true, "host", json!("other.db.internal"), "names host"),
    ] {
        let mut w = World::new(Kind::Postgres, "app", alternating);
        let token = w.start();
        // Whoever can write the secret stores a pending value of their own.
        let master = alternating.then_some(MASTER);
        let user = if alternating { "app_clone" } else { "app" };
        let mut pending = app_value(Kind::Postgres, user, "chosen-by-writer-1", master);
        pending[field] = value;
        w.store.put_version(
            SECRET,
            &token,
            Payload::Text(pending.to_string()),
            &["AWSPENDING"],
        );
        w.step(&token, Step::Create).await.unwrap();
        let error = expect_error(&w, w.step(&token, Step::Set).await, "IdentityMismatch");
        assert!(error.to_string().contains(named), "{error}");
        assert!(w.db.logins().is_empty(), "nothing logged in");
        assert_eq!(w.password("admin").as_deref(), Some(MASTER_PASSWORD));
    }
}

#[tokio::test]
async fn username_too_long_for_the_partner() {
    for (kind, user) in [
        (Kind::MariaDb, "u".repeat(75)),
        (Kind::Postgres, "é".repeat(29)),
    ] {
        let mut w = World::new(kind, &user, true);
        let token = w.start();
        let error = expect_error(&w, w.step(&token, Step::Create).await, "UsernameTooLong");
        assert!(error.to_string().contains("_clone"), "{error}");
        assert_eq!(w.store.calls_of(StoreOp::PutSecretValue), 0);
    }
    // MySQL's limit is the configured one.
    let mut w = World::new(Kind::MariaDb, &"u".repeat(20), true)
        .with_config(&[("MYSQL_MAX_USER_LENGTH", "32")]);
    w.store.put_version(
        SECRET,
        "mysql",
        Payload::Text(
            json!({"engine": "mysql", "host": HOST, "username": "u".repeat(27),
                   "password": APP_PASSWORD, "masterarn": MASTER})
            .to_string(),
        ),
        &["AWSCURRENT"],
    );
    let token = w.start();
    let error = expect_error(&w, w.step(&token, Step::Create).await, "UsernameTooLong");
    assert!(
        error.to_string().contains("MYSQL_MAX_USER_LENGTH"),
        "{error}"
    );
}

/// An alternating world with the pending value stored, ready for setSecret.
async fn alternating_ready_to_set(w: &mut World) -> String {
    let token = w.start();
    w.step(&token, Step::Create).await.unwrap();
    w.db.reset_records();
    token
}

/// Makes the master secret unusable in one way.
type Breaks = fn(&World);

#[tokio::test]
async fn master_secret_errors() {
    let cases: [(&str, Breaks); 6] = [
        ("does not exist", |w| w.store.delete_secret(MASTER)),
        ("names no `host`", |w| {
            w.store.create_secret(
                MASTER,
                &json!({"username": "admin", "password": MASTER_PASSWORD}).to_string(),
            );
        }),
        ("without an RDS API client", |w| {
            w.store.create_secret(
                MASTER,
                &json!({"username": "admin", "password": MASTER_PASSWORD}).to_string(),
            );
            w.store
                .set_tag(MASTER, INSTANCE_TAG, "arn:aws:rds:us-east-1:1:db:orders");
        }),
        ("does not log in", |w| {
            w.db.update(HOST, 5432, |db| {
                db.users.get_mut("admin").unwrap().password = "changed-by-hand-0".into()
            });
        }),
        ("is for engine `mysql`", |w| {
            let mut master = master_value(Kind::Postgres);
            master["engine"] = json!("mysql");
            w.store.create_secret(MASTER, &master.to_string());
        }),
        ("AccessDeniedException", |w| {
            w.store.fail(
                Fault::on(StoreOp::GetSecretValue)
                    .target(MASTER)
                    .error(SmFailure::access_denied()),
            );
        }),
    ];
    for (named, break_master) in cases {
        let mut w = World::alternating(Kind::Postgres);
        let token = alternating_ready_to_set(&mut w).await;
        break_master(&w);
        let error = expect_error(&w, w.step(&token, Step::Set).await, "MasterSecretError");
        assert!(error.to_string().contains(named), "{named}: {error}");
        assert!(error.to_string().contains(MASTER), "{error}");
        assert!(
            !w.db
                .database(HOST, 5432)
                .unwrap()
                .users
                .contains_key("app_clone")
        );
    }
}

#[tokio::test]
async fn master_host_mismatch() {
    let mut w = World::alternating(Kind::Postgres);
    let token = alternating_ready_to_set(&mut w).await;
    let mut master = master_value(Kind::Postgres);
    master["host"] = json!("other.db.internal");
    w.store.create_secret(MASTER, &master.to_string());
    let error = expect_error(&w, w.step(&token, Step::Set).await, "MasterHostMismatch");
    assert!(error.to_string().contains("other.db.internal"), "{error}");
    // The master password went nowhere, and neither did AWSCURRENT's: the master's endpoint
    // is settled before any login.
    assert_eq!(w.login_users(), logins(&[]));
}

#[tokio::test]
async fn strategy_mismatch() {
    for (alternating, setting) in [(true, "single-user"), (false, "alternating-users")] {
        let mut w = World::new(Kind::Postgres, "app", alternating)
            .with_config(&[("ROTATION_STRATEGY", setting)]);
        let token = w.start();
        let error = expect_error(&w, w.step(&token, Step::Create).await, "StrategyMismatch");
        assert!(error.to_string().contains(setting), "{error}");
    }
}

#[tokio::test]
async fn unsafe_partner() {
    // A partner that exists but is no part of the pair; one with a privilege the user lacks.
    for (named, privilege) in [
        ("not this pair's partner", None),
        ("SUPERUSER", Some("SUPERUSER")),
    ] {
        let mut w = World::alternating(Kind::Postgres);
        w.db.update(HOST, 5432, |db| {
            let mut clone = rotation::fakes::DbUser::new("someone-else-pw-0");
            if let Some(privilege) = privilege {
                clone.member_of.insert("app".into());
                clone.privileges.insert(privilege.into());
            }
            db.users.insert("app_clone".into(), clone);
        });
        let token = alternating_ready_to_set(&mut w).await;
        let error = expect_error(&w, w.step(&token, Step::Set).await, "UnsafePartner");
        assert!(error.to_string().contains(named), "{error}");
        assert_eq!(
            w.password("app_clone").as_deref(),
            Some("someone-else-pw-0")
        );
    }
    // `admin_clone`'s partner is `admin`, the master itself.
    let mut w = World::new(Kind::Postgres, "admin_clone", true);
    let token = alternating_ready_to_set(&mut w).await;
    let error = expect_error(&w, w.step(&token, Step::Set).await, "UnsafePartner");
    assert!(error.to_string().contains("master user"), "{error}");
    assert_eq!(w.password("admin").as_deref(), Some(MASTER_PASSWORD));
}

#[tokio::test]
async fn test_secret_failed() {
    let mut w = World::single(Kind::Postgres);
    let token = w.start();
    w.step(&token, Step::Create).await.unwrap();
    let error = expect_error(&w, w.step(&token, Step::Test).await, "TestSecretFailed");
    assert!(error.to_string().contains("`app`"), "{error}");
    // AWSCURRENT was not moved, and still logs in.
    assert_ne!(
        w.store.version_with(SECRET, "AWSCURRENT").as_deref(),
        Some(token.as_str())
    );
    assert!(w.stage_logs_in("AWSCURRENT"));
}

#[tokio::test]
async fn secrets_manager_errors_keep_the_real_stores_hints() {
    let mut w = World::single(Kind::Postgres);
    let token = w.start();
    w.store.fail(
        Fault::on(StoreOp::DescribeSecret)
            .once()
            .error(SmFailure::throttling()),
    );
    let error = expect_error(
        &w,
        w.step(&token, Step::Create).await,
        "SecretsManagerError",
    );
    assert!(error.to_string().contains("DescribeSecret"), "{error}");
    assert!(error.to_string().contains("throttled"), "{error}");
    w.store.fail(
        Fault::on(StoreOp::PutSecretValue)
            .once()
            .error(SmFailure::Timeout),
    );
    let error = expect_error(
        &w,
        w.step(&token, Step::Create).await,
        "SecretsManagerError",
    );
    assert!(error.to_string().contains("VPC endpoint"), "{error}");
    // Each fault fired once; the step then goes through.
    w.step(&token, Step::Create).await.unwrap();
    assert_eq!(w.store.faults_fired(), 2);
    assert!(w.db.logins().is_empty());
    // A secret that does not exist.
    w.store.delete_secret(SECRET);
    let error = expect_error(
        &w,
        w.step(&token, Step::Create).await,
        "SecretsManagerError",
    );
    assert!(
        error.to_string().contains("ResourceNotFoundException"),
        "{error}"
    );
}

/// Runs a second function instance's createSecret to completion just before the first
/// instance's PutSecretValue, once.
#[derive(Debug)]
struct RacingCreate {
    other: Arc<Rotator<MemoryStore, MemoryConnector>>,
    event: RotationEvent,
    armed: AtomicBool,
}

#[async_trait]
impl Gate for RacingCreate {
    async fn before(&self, call: &Call) {
        if call.op == StoreOp::PutSecretValue.name() && self.armed.swap(false, Ordering::SeqCst) {
            self.other
                .handle(&self.event)
                .await
                .expect("the other instance");
        }
    }
}

#[tokio::test]
async fn two_create_secrets_racing_the_loser_keeps_the_winners_value() {
    let mut w = World::single(Kind::Postgres);
    let token = w.start();
    let other = Arc::new(Rotator::new(w.store.clone(), w.db.clone(), config(&[])));
    w.store.set_gate(Some(Arc::new(RacingCreate {
        other,
        event: w.event(&token, Step::Create),
        armed: AtomicBool::new(true),
    })));
    // The loser's put is refused (ResourceExistsException); it reads the winner's value back
    // and succeeds.
    w.step(&token, Step::Create).await.unwrap();
    assert_eq!(w.store.calls_of(StoreOp::PutSecretValue), 2);
    let winner = w.pending(&token);
    // The other steps (and any retry) go on with the winner's value.
    for step in STEPS {
        w.step(&token, step).await.unwrap();
    }
    assert_eq!(w.staged("AWSCURRENT").unwrap(), winner);
    assert!(w.stage_logs_in("AWSCURRENT"));
}

#[tokio::test]
async fn database_unreachable() {
    let mut w = World::single(Kind::Postgres);
    let token = w.start();
    w.step(&token, Step::Create).await.unwrap();
    w.db.update(HOST, 5432, |db| db.down = true);
    let error = expect_error(&w, w.step(&token, Step::Set).await, "DatabaseUnreachable");
    assert!(error.to_string().contains("security group"), "{error}");
    assert_eq!(w.db.logins().len(), 1, "no other password is tried");
    // A host the function has no route to.
    let mut w = World::single(Kind::Postgres);
    let mut value = app_value(Kind::Postgres, "app", APP_PASSWORD, None);
    value["host"] = json!("nowhere.internal");
    w.set_current(&value.to_string());
    let token = w.start();
    w.step(&token, Step::Create).await.unwrap();
    let error = expect_error(&w, w.step(&token, Step::Set).await, "DatabaseUnreachable");
    assert!(error.to_string().contains("nowhere.internal"), "{error}");
}

#[tokio::test]
async fn database_tls_error() {
    let mut w = World::single(Kind::Postgres);
    w.db.update(HOST, 5432, |db| db.plaintext_only = true);
    let token = w.start();
    w.step(&token, Step::Create).await.unwrap();
    let error = expect_error(&w, w.step(&token, Step::Set).await, "DatabaseTlsError");
    assert!(error.to_string().contains("CA bundle"), "{error}");
    // Plaintext only when the secret says so explicitly.
    let mut w = World::single(Kind::Postgres);
    w.db.update(HOST, 5432, |db| db.plaintext_only = true);
    let mut value = app_value(Kind::Postgres, "app", APP_PASSWORD, None);
    value["ssl"] = json!(false);
    w.set_current(&value.to_string());
    w.rotate().await;
    assert!(w.db.logins().iter().all(|l| !l.tls));
}

#[tokio::test]
async fn neither_the_master_login_nor_the_proof_inherits_plaintext_from_the_rotated_secret() {
    let mut w = World::alternating(Kind::Postgres);
    let mut value = app_value(Kind::Postgres, "app", APP_PASSWORD, Some(MASTER));
    value["ssl"] = json!(false);
    w.set_current(&value.to_string());
    let token = alternating_ready_to_set(&mut w).await;
    w.step(&token, Step::Set).await.unwrap();
    let tls: Vec<(String, bool)> = w.db.logins().into_iter().map(|l| (l.user, l.tls)).collect();
    // AWSCURRENT is proven where the master acts, with the master's TLS setting.
    assert_eq!(tls, [("app".into(), true), ("admin".into(), true)]);
}

#[tokio::test]
async fn login_refused() {
    let mut w = World::single(Kind::Postgres);
    w.db.update(HOST, 5432, |db| db.require_tls = true);
    let mut value = app_value(Kind::Postgres, "app", APP_PASSWORD, None);
    value["ssl"] = json!(false);
    w.set_current(&value.to_string());
    let token = w.start();
    w.step(&token, Step::Create).await.unwrap();
    let error = expect_error(&w, w.step(&token, Step::Set).await, "LoginRefused");
    assert!(error.to_string().contains("rds.force_ssl"), "{error}");
}

/// Restarts the database the first time a session is about to change a password.
#[derive(Debug)]
struct RestartBefore {
    db: MemoryConnector,
    op: DbOp,
    armed: AtomicBool,
}

#[async_trait]
impl Gate for RestartBefore {
    async fn before(&self, call: &Call) {
        if call.op == self.op.name() && self.armed.swap(false, Ordering::SeqCst) {
            self.db.restart(HOST, 5432);
        }
    }
}

#[tokio::test]
async fn database_error_when_the_server_restarts_under_a_session() {
    for (alternating, op) in [(false, DbOp::SetOwnPassword), (true, DbOp::CloneUser)] {
        let mut w = World::new(Kind::Postgres, "app", alternating);
        let token = w.start();
        w.step(&token, Step::Create).await.unwrap();
        w.db.set_gate(Some(Arc::new(RestartBefore {
            db: w.db.clone(),
            op,
            armed: AtomicBool::new(true),
        })));
        let error = expect_error(&w, w.step(&token, Step::Set).await, "DatabaseError");
        assert!(error.to_string().contains("restarted"), "{error}");
        assert!(w.db.password_changes().is_empty());
        // Secrets Manager retries; the new sessions work.
        for step in [Step::Set, Step::Test, Step::Finish] {
            w.step(&token, step).await.unwrap();
        }
        assert!(w.stage_logs_in("AWSCURRENT"));
    }
}

#[tokio::test]
async fn database_error_and_timeout_from_the_drivers() {
    for (failure, kind, named) in [
        (
            DbFailure::ConnectionLost,
            "DatabaseError",
            "create the alternate user",
        ),
        (
            DbFailure::Timeout,
            "DatabaseTimeout",
            "DB_STATEMENT_TIMEOUT",
        ),
    ] {
        let mut w = World::alternating(Kind::Postgres);
        let token = alternating_ready_to_set(&mut w).await;
        w.db.fail(Fault::on(DbOp::CloneUser).once().error(failure));
        let error = expect_error(&w, w.step(&token, Step::Set).await, kind);
        assert!(error.to_string().contains(named), "{error}");
        w.step(&token, Step::Set).await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// The stack's settings: which secrets, which strategy, which master.

/// Writes a settings file (as synth renders it) and returns its path.
fn settings_file(name: &str, secrets: &[(&str, &str, Option<&str>)]) -> String {
    use rotation_contract::settings::{SecretSettings, Settings, Strategy};
    let settings = Settings::new(
        secrets
            .iter()
            .map(|(arn, strategy, master)| {
                let strategy = match *strategy {
                    "single-user" => Strategy::SingleUser,
                    _ => Strategy::AlternatingUsers,
                };
                (
                    arn.to_string(),
                    SecretSettings::new(strategy, master.map(str::to_owned)),
                )
            })
            .collect(),
    );
    let dir = std::env::temp_dir().join(format!("steps-offline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, settings.to_json()).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn with_a_stack_the_settings_choose_the_strategy_and_the_master() {
    // Alternating users configured; the value names the same master, or none at all.
    for names_master in [true, false] {
        let path = settings_file(
            &format!("alternating-{names_master}"),
            &[(SECRET, "alternating-users", Some(MASTER))],
        );
        let mut w = World::alternating(Kind::Postgres).with_config(&[("ROTATION_SETTINGS", &path)]);
        if !names_master {
            w.set_current(&app_value(Kind::Postgres, "app", APP_PASSWORD, None).to_string());
        }
        w.rotate().await;
        assert_eq!(
            w.staged("AWSCURRENT").unwrap().str_field("username"),
            Some("app_clone")
        );
    }
    // Single user configured: the value's `masterarn` switches nothing on.
    let path = settings_file("single", &[(SECRET, "single-user", None)]);
    let mut w = World::alternating(Kind::Postgres).with_config(&[("ROTATION_SETTINGS", &path)]);
    let token = w.start();
    let error = expect_error(&w, w.step(&token, Step::Create).await, "StrategyMismatch");
    assert!(
        error.to_string().contains("configures it single-user"),
        "{error}"
    );
    assert!(w.store.value_of(SECRET, &token).is_none(), "nothing stored");
}

#[tokio::test]
async fn a_master_the_stack_does_not_configure_is_refused_before_any_login() {
    const OTHER: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/other-MnOpQr";
    let path = settings_file(
        "other-master",
        &[(SECRET, "alternating-users", Some(MASTER))],
    );
    let mut w = World::alternating(Kind::Postgres).with_config(&[("ROTATION_SETTINGS", &path)]);
    // The writer points `masterarn` at another secret the role can read.
    w.store
        .create_secret(OTHER, &master_value(Kind::Postgres).to_string());
    w.set_current(&app_value(Kind::Postgres, "app", APP_PASSWORD, Some(OTHER)).to_string());
    let token = w.start();
    let error = expect_error(&w, w.step(&token, Step::Create).await, "StrategyMismatch");
    assert!(
        error.to_string().contains(MASTER),
        "names what the stack configures: {error}"
    );
    assert!(w.db.logins().is_empty());
}

#[tokio::test]
async fn secrets_the_stack_does_not_rotate_here_are_refused_before_anything_is_read() {
    let path = settings_file("refused", &[(SECRET, "alternating-users", Some(MASTER))]);
    // A secret the settings do not list.
    let mut w = World::single(Kind::Postgres);
    let path_without = settings_file("empty", &[]);
    w = w.with_config(&[("ROTATION_SETTINGS", &path_without)]);
    let token = w.start();
    w.store.reset_calls();
    let error = expect_error(
        &w,
        w.step(&token, Step::Create).await,
        "SecretNotConfigured",
    );
    assert!(
        error.to_string().contains("add it to the config"),
        "{error}"
    );
    assert_eq!(w.store.call_counts(), counts(&[("DescribeSecret", 1)]));

    // A configured master secret: a pending version of it never reaches setSecret.
    let w = World::alternating(Kind::Postgres).with_config(&[("ROTATION_SETTINGS", &path)]);
    w.store.set_rotation_enabled(MASTER, Some(true));
    w.store.start_rotation(MASTER, "master-token").unwrap();
    for step in STEPS {
        let error = w
            .rotator
            .handle(&RotationEvent {
                secret_id: MASTER.into(),
                token: "master-token".into(),
                step,
                rotation_token: None,
            })
            .await
            .unwrap_err();
        assert_eq!(error.kind(), "SecretNotConfigured", "{error}");
        assert!(error.to_string().contains("master secret of"), "{error}");
    }
    assert!(w.db.logins().is_empty());

    // A secret another function rotates, once the invocation has told this one its ARN.
    let mut w = World::alternating(Kind::Postgres).with_config(&[("ROTATION_SETTINGS", &path)]);
    w.store.set_rotation_function(
        SECRET,
        Some("arn:aws:lambda:us-east-1:123456789012:function:someone-else"),
    );
    w.rotator
        .know_function_arn("arn:aws:lambda:us-east-1:123456789012:function:rotator");
    let token = w.start();
    let error = expect_error(
        &w,
        w.step(&token, Step::Create).await,
        "SecretNotConfigured",
    );
    assert!(error.to_string().contains("someone-else"), "{error}");
    // This function (with a qualifier) is fine.
    w.store.set_rotation_function(
        SECRET,
        Some("arn:aws:lambda:us-east-1:123456789012:function:rotator:live"),
    );
    w.step(&token, Step::Create).await.unwrap();
}

/// Secrets Manager's RotateSecret with RotateImmediately=false stores a pending copy of
/// AWSCURRENT and invokes testSecret alone: it passes, with no failed login.
#[tokio::test]
async fn a_test_of_the_rotation_setup_alone_passes_without_a_failed_login() {
    for alternating in [false, true] {
        let path = settings_file(
            &format!("setup-{alternating}"),
            &[if alternating {
                (SECRET, "alternating-users", Some(MASTER))
            } else {
                (SECRET, "single-user", None)
            }],
        );
        let mut w = World::new(Kind::Postgres, "app", alternating)
            .with_config(&[("ROTATION_SETTINGS", &path)]);
        let token = w.start();
        let current = w.staged("AWSCURRENT").unwrap();
        w.store.put_version(
            SECRET,
            &token,
            Payload::Text(current.to_json()),
            &["AWSPENDING"],
        );
        w.step(&token, Step::Test).await.unwrap();
        assert_eq!(w.login_users(), logins(&[("app", Accepted)]));
    }
}

#[tokio::test]
async fn a_template_that_is_a_master_user_is_never_copied() {
    let mut w = World::alternating(Kind::Postgres);
    // The secret names the master user itself (its writer knows that password too).
    w.set_current(&app_value(Kind::Postgres, "admin", MASTER_PASSWORD, Some(MASTER)).to_string());
    let token = w.start();
    w.step(&token, Step::Create).await.unwrap();
    let error = expect_error(&w, w.step(&token, Step::Set).await, "UnsafeTemplate");
    assert!(error.to_string().contains("`admin`"), "{error}");
    assert!(
        !w.db
            .database(HOST, 5432)
            .unwrap()
            .users
            .contains_key("admin_clone")
    );
}

/// Every kind in `RotationError::kind` has a test in this file that expects it.
#[test]
fn every_error_kind_is_expected_by_a_test() {
    let source = include_str!("../src/error.rs");
    let body = source
        .split("pub fn kind(&self)")
        .nth(1)
        .and_then(|rest| rest.split("\n    }\n").next())
        .expect("RotationError::kind");
    let kinds: Vec<&str> = body
        .lines()
        .filter_map(|line| line.split("=> \"").nth(1)?.split('"').next())
        .collect();
    assert!(kinds.len() >= 21, "{kinds:?}");
    let this = include_str!("steps_offline.rs");
    let missing: Vec<&&str> = kinds
        .iter()
        .filter(|kind| !this.contains(&format!("\"{kind}\"")))
        .collect();
    assert!(missing.is_empty(), "no test expects {missing:?}");
}

// ---------------------------------------------------------------------------------------------
// Interruptions: a fault at every call, before or after its effect, then the step retried.

/// Runs a rotation with `fault` armed, retrying each failed step as Secrets Manager does and
/// checking after each failure that a staged credential logs in. Returns whether it fired.
async fn rotate_through(w: &mut World, alternating: bool, arm: impl FnOnce(&World)) -> bool {
    let token = w.start();
    arm(w);
    for step in STEPS {
        let mut attempts = 0;
        while let Err(error) = w.step(&token, step).await {
            attempts += 1;
            assert!(attempts < 3, "{} does not converge: {error}", step.name());
            assert_eq!(w.db.open_sessions(), 0, "{error}");
            let working = ["AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"]
                .into_iter()
                .filter(|stage| w.stage_logs_in(stage))
                .collect::<Vec<_>>();
            if alternating {
                assert!(working.contains(&"AWSCURRENT"), "{error}");
            } else {
                assert!(!working.is_empty(), "no staged credential logs in: {error}");
            }
        }
    }
    w.store.complete_rotation(SECRET, &token).unwrap();
    assert!(w.stage_logs_in("AWSCURRENT"));
    if alternating {
        assert!(w.stage_logs_in("AWSPREVIOUS"));
    }
    let fired = w.store.faults_fired() + w.db.faults_fired();
    w.store.clear_faults();
    w.db.clear_faults();
    fired > 0
}

#[tokio::test]
async fn a_rotation_interrupted_at_any_call_converges() {
    let mut points = 0;
    for alternating in [false, true] {
        for when in [When::Before, When::After] {
            for n in 1.. {
                let mut w = World::new(Kind::Postgres, "app", alternating);
                w.rotate().await;
                let fault = Fault::any_call().nth(n);
                let fault = if when == When::After {
                    fault.after()
                } else {
                    fault
                };
                if !rotate_through(&mut w, alternating, |w| w.store.fail(fault)).await {
                    break;
                }
                points += 1;
            }
            for n in 1.. {
                let mut w = World::new(Kind::Postgres, "app", alternating);
                w.rotate().await;
                let fault = Fault::any_call().nth(n);
                let fault = if when == When::After {
                    fault.after()
                } else {
                    fault
                };
                if !rotate_through(&mut w, alternating, |w| w.db.fail(fault)).await {
                    break;
                }
                points += 1;
            }
        }
    }
    // 11 + 12 store calls and 4 + 6 database calls, each before and after.
    assert_eq!(points, 2 * (11 + 12 + 4 + 6));
}

// ---------------------------------------------------------------------------------------------
// Cancel and restart.

#[tokio::test]
async fn a_cancelled_rotation_restarted_with_a_new_token_converges() {
    for (alternating, cancel_after) in [(true, Step::Set), (false, Step::Create)] {
        let mut w = World::new(Kind::Postgres, "app", alternating);
        w.rotate().await;
        let first = w.start();
        for step in STEPS {
            w.step(&first, step).await.unwrap();
            if step == cancel_after {
                break;
            }
        }
        w.store.cancel_rotation(SECRET);
        expect_error(&w, w.step(&first, Step::Test).await, "RotationDisabled");
        // RotateSecret is refused until the operator takes AWSPENDING off the old version.
        assert!(w.store.start_rotation(SECRET, "new").is_err());
        w.store.remove_stage(SECRET, &first, "AWSPENDING");
        w.rotate().await;
        assert!(w.stage_logs_in("AWSCURRENT"));
        expect_error(&w, w.step(&first, Step::Finish).await, "UnknownVersion");
    }
}

#[tokio::test]
async fn a_single_user_rotation_cancelled_after_set_secret_needs_the_operator() {
    let mut w = World::single(Kind::Postgres);
    let first = w.start();
    w.step(&first, Step::Create).await.unwrap();
    w.step(&first, Step::Set).await.unwrap();
    w.store.cancel_rotation(SECRET);
    w.store.remove_stage(SECRET, &first, "AWSPENDING");
    // The database holds the cancelled version's password, which no stage names any more.
    let token = w.start();
    w.step(&token, Step::Create).await.unwrap();
    let error = expect_error(&w, w.step(&token, Step::Set).await, "NoWorkingCredential");
    assert!(
        error
            .to_string()
            .contains("reset it to the AWSCURRENT value"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------
// Findings.

/// A finishSecret invoked (by hand, or out of order) on a rotation whose createSecret never ran
/// once moved AWSCURRENT to a version without a value, and every application reading the
/// secret without a stage got ResourceNotFoundException. It is refused now.
#[tokio::test]
async fn finish_secret_refuses_a_version_without_a_value() {
    let mut w = World::single(Kind::Postgres);
    let token = w.start();
    let error = w.step(&token, Step::Finish).await;
    assert!(
        error.is_err(),
        "finishSecret moved AWSCURRENT to an empty version"
    );
    assert!(w.staged("AWSCURRENT").is_some());
}
