//! Secrets Manager calls per rotation, warm and cold, with the version cache: offline, through
//! the in-memory store (the real step code, the real cache).
//!
//! Warm, the four steps run in one instance and the cache answers every read of a version it
//! has seen: 7 calls for single user (createSecret writes its value first, and reads the
//! version only when it already holds one). Cold, each step in a new instance: 11, with
//! finishSecret's read of the pending value, which it refuses to promote without one.

use rotation::cache::CachingStore;
use rotation::fakes::{MemoryConnector, MemoryDatabase, MemoryStore, StoreOp};
use rotation::secret::{EngineFamily, SecretValue};
use rotation::{Config, RotationEvent, Rotator, Step};
use serde_json::json;

const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/app-AbCdEf";
const MASTER: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/master-GhIjKl";
const HOST: &str = "orders.db.internal";
const STEPS: [Step; 4] = [Step::Create, Step::Set, Step::Test, Step::Finish];

fn config() -> Config {
    Config::from_lookup(|name| {
        (name == "DB_CA_BUNDLE")
            .then(|| "/nonexistent/ca.pem".into())
            // Without a stack: the strategy and master from each secret's value.
            .or_else(|| (name == "ROTATION_SETTINGS").then(|| "from-secrets".into()))
    })
    .unwrap()
}

/// A PostgreSQL user `app` and its secret; with `alternating`, a master secret too.
fn world(alternating: bool) -> (MemoryStore, MemoryConnector) {
    let store = MemoryStore::new();
    let mut value = json!({"engine": "postgres", "host": HOST, "username": "app",
                           "password": "app-initial-Pa55"});
    if alternating {
        value["masterarn"] = json!(MASTER);
        store.create_secret(
            MASTER,
            &json!({"engine": "postgres", "host": HOST, "port": 5432, "username": "admin",
                    "password": "master-Pa55"})
            .to_string(),
        );
    }
    store.create_secret(SECRET, &value.to_string());
    store.set_rotation_enabled(SECRET, Some(true));
    let db = MemoryConnector::new();
    db.add_database(
        HOST,
        5432,
        MemoryDatabase::new(EngineFamily::Postgres)
            .with_user("app", "app-initial-Pa55")
            .with_master("admin", "master-Pa55"),
    );
    (store, db)
}

fn event(step: Step, token: &str) -> RotationEvent {
    RotationEvent {
        secret_id: SECRET.into(),
        token: token.into(),
        step,
        rotation_token: None,
    }
}

/// Runs a rotation, warm (one instance) or cold (a new instance, and cache, per step);
/// returns the store calls it made.
async fn rotate(store: &MemoryStore, db: &MemoryConnector, warm: bool, token: &str) -> usize {
    store.start_rotation(SECRET, token).unwrap();
    store.reset_calls();
    let instance = Rotator::new(CachingStore::new(store.clone()), db.clone(), config());
    for step in STEPS {
        let result = if warm {
            instance.handle(&event(step, token)).await
        } else {
            Rotator::new(CachingStore::new(store.clone()), db.clone(), config())
                .handle(&event(step, token))
                .await
        };
        result.unwrap_or_else(|e| panic!("{step:?}: {e}"));
    }
    let calls = store.calls().len();
    store.complete_rotation(SECRET, token).unwrap();
    calls
}

/// The password AWSCURRENT holds, and whether it logs in.
async fn current_logs_in(store: &MemoryStore, db: &MemoryConnector) -> bool {
    let current: SecretValue = store.value(SECRET, "AWSCURRENT").unwrap();
    let user = current.str_field("username").unwrap().to_owned();
    db.password(HOST, 5432, &user).as_deref() == current.str_field("password")
}

#[tokio::test]
async fn a_warm_single_user_rotation_takes_7_calls_and_a_cold_one_11() {
    let (store, db) = world(false);
    assert_eq!(rotate(&store, &db, true, "token-1").await, 7);
    assert!(current_logs_in(&store, &db).await);
    // Warm: the four guards, the AWSCURRENT read, the put, the promote.
    let (store, db) = world(false);
    store.start_rotation(SECRET, "token-w").unwrap();
    store.reset_calls();
    let instance = Rotator::new(CachingStore::new(store.clone()), db.clone(), config());
    for step in STEPS {
        instance.handle(&event(step, "token-w")).await.unwrap();
    }
    assert_eq!(store.calls_of(StoreOp::DescribeSecret), 4);
    assert_eq!(store.calls_of(StoreOp::GetSecretValue), 1);
    assert_eq!(store.calls_of(StoreOp::PutSecretValue), 1);
    assert_eq!(store.calls_of(StoreOp::UpdateSecretVersionStage), 1);

    // Cold: each step reads what it needs; finishSecret reads the pending value too (a
    // version without one is never promoted).
    let (store, db) = world(false);
    assert_eq!(rotate(&store, &db, false, "token-1").await, 11);
    assert!(current_logs_in(&store, &db).await);
}

#[tokio::test]
async fn a_warm_instance_keeps_its_savings_over_many_rotations() {
    let (store, db) = world(false);
    for n in 0..5 {
        let token = format!("token-{n}");
        assert_eq!(rotate(&store, &db, true, &token).await, 7, "rotation {n}");
        assert!(current_logs_in(&store, &db).await, "rotation {n}");
    }
}

#[tokio::test]
async fn alternating_users_read_the_master_once_more() {
    let (store, db) = world(true);
    assert_eq!(rotate(&store, &db, true, "token-1").await, 8);
    assert!(current_logs_in(&store, &db).await);
    let (store, db) = world(true);
    assert_eq!(rotate(&store, &db, false, "token-1").await, 12);
    assert!(current_logs_in(&store, &db).await);
}

/// The metric line of each step names the secret and its strategy from what the step already
/// read (or, with a stack, from its settings): a warm rotation still makes 8 calls with the
/// master's read. A cold
/// finishSecret reads the pending value it promotes, so it knows the strategy too.
#[tokio::test]
async fn step_metrics_cost_no_call() {
    let (store, db) = world(true);
    store.start_rotation(SECRET, "t1").unwrap();
    store.reset_calls();
    let instance = Rotator::new(CachingStore::new(store.clone()), db.clone(), config());
    for step in STEPS {
        let (result, outcome) = instance.handle_measured(&event(step, "t1")).await;
        result.unwrap();
        assert_eq!(outcome.secret_name, "orders/app");
        assert_eq!(outcome.strategy, "alternating-users", "{step:?}");
    }
    // The master secret's read is the one call alternating users add.
    assert_eq!(store.calls().len(), 8);
    store.complete_rotation(SECRET, "t1").unwrap();

    store.start_rotation(SECRET, "t2").unwrap();
    for step in STEPS {
        let cold = Rotator::new(CachingStore::new(store.clone()), db.clone(), config());
        let (result, outcome) = cold.handle_measured(&event(step, "t2")).await;
        result.unwrap();
        assert_eq!(outcome.strategy, "alternating-users", "{step:?}");
    }
    // A failed step is measured too, under the secret's name.
    let (result, outcome) = instance
        .handle_measured(&event(Step::Set, "no-such-token"))
        .await;
    assert_eq!(result.unwrap_err().kind(), "UnknownVersion");
    assert_eq!(outcome.secret_name, "orders/app");
}
