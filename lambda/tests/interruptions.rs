//! A rotation interrupted at any point, then retried as Secrets Manager retries a failed step,
//! converges, and a credential keeps logging in meanwhile.
//!
//! Faults are injected at every Secrets Manager call, login and database change in turn, on the
//! real servers. A Secrets Manager call or a password change fails *after* it took effect (the
//! worst case: the work is done but the answer is lost), a login or a test query fails before
//! it happens. After each fault the test checks who can still log in, retries the step, and at
//! the end checks the rotation converged. The fault wrappers are the harness's
//! (`common::spies`), armed with the in-memory fakes' faults: the last test shows one fault
//! failing a fake and a real service alike.

use crate::common;

use common::pair::{connect, standard_fixture};
use common::{
    DbFaults, FaultyConnector, FaultyStore, Harness, Kind, StoreFaults, sm_client, unique,
};
use rotation::db::Drivers;
use rotation::fakes::{DbOp, Fault, MemoryStore, StoreOp, When};
use rotation::secret::SecretValue;
use rotation::store::{AwsSecretStore, SecretStore, Staged};
use rotation::{Config, RotationEvent, Rotator, Step};

type FaultyRotator = Rotator<FaultyStore<AwsSecretStore>, FaultyConnector<Drivers>>;

fn faulty_rotator(store: &StoreFaults, db: &DbFaults) -> FaultyRotator {
    let ca = common::env().ca.display().to_string();
    let config = Config::from_lookup(|name| {
        (name == "DB_CA_BUNDLE")
            .then(|| ca.clone())
            // Without a stack: the strategy and master from each secret's value.
            .or_else(|| (name == "ROTATION_SETTINGS").then(|| "from-secrets".into()))
    })
    .unwrap();
    Rotator::new(
        FaultyStore::new(AwsSecretStore::from_client(sm_client()), store.clone()),
        FaultyConnector::new(Drivers::from_config(&config), db.clone()),
        config,
    )
}

/// Where the `n`-th fault of a sweep goes: the `n`-th Secrets Manager call (after its effect),
/// or the `n`-th call of one database operation (a login or a test query before it happens, a
/// password change or a clone after).
#[derive(Debug, Clone, Copy)]
enum Sweep {
    SecretsManager,
    Database(DbOp, When),
}

const SWEEPS: [Sweep; 6] = [
    Sweep::SecretsManager,
    Sweep::Database(DbOp::Login, When::Before),
    Sweep::Database(DbOp::AccountHost, When::Before),
    Sweep::Database(DbOp::SetOwnPassword, When::After),
    Sweep::Database(DbOp::CloneUser, When::After),
    Sweep::Database(DbOp::Verify, When::Before),
];

impl Sweep {
    fn arm(self, n: usize, store: &StoreFaults, db: &DbFaults) {
        match self {
            Self::SecretsManager => store.fail(Fault::any_call().nth(n).after()),
            Self::Database(op, When::Before) => db.fail(Fault::on(op).nth(n).before()),
            Self::Database(op, When::After) => db.fail(Fault::on(op).nth(n).after()),
        }
    }
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
    let (store_faults, db_faults) = (StoreFaults::default(), DbFaults::default());
    let rotator = faulty_rotator(&store_faults, &db_faults);
    let mut points = 0;
    for sweep in SWEEPS {
        for fail_at in 1.. {
            store_faults.clear_faults();
            db_faults.clear_faults();
            interrupted_at(
                &rotator,
                kind,
                alternating,
                |n| sweep.arm(n, &store_faults, &db_faults),
                fail_at,
                sweep,
            )
            .await;
            if store_faults.faults_fired() + db_faults.faults_fired() == 0 {
                break; // past the last such operation of a rotation: every point was tried
            }
            points += 1;
        }
    }
    assert!(points >= 14, "only {points} fault points were tried");
}

/// One rotation with the `fail_at`-th fault of `sweep` armed (by `arm`) once it has started,
/// each failed step retried; checks who logs in after each failure and at the end.
async fn interrupted_at(
    rotator: &FaultyRotator,
    kind: Kind,
    alternating: bool,
    arm: impl FnOnce(usize),
    fail_at: usize,
    sweep: Sweep,
) {
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
    arm(fail_at);
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
                    "fault {sweep:?} {fail_at} in {step:?}: AWSCURRENT must log in, {working:?} do"
                );
            } else {
                // Single user: between setSecret and finishSecret only the new password
                // works; the staged AWSPENDING value holds it.
                assert!(
                    !working.is_empty(),
                    "fault {sweep:?} {fail_at} in {step:?}: no staged credential logs in"
                );
            }
            // Secrets Manager retries the failed step with the same token.
            rotator.handle(&event).await.unwrap_or_else(|e| {
                panic!("retry of {step:?} after fault {sweep:?} {fail_at}: {e}")
            });
        }
    }
    h.end_rotation(&arn, &token).await;
    let working = working_stages(&h, kind, &arn).await;
    assert!(
        working.contains(&"AWSCURRENT"),
        "after fault {sweep:?} {fail_at}: {working:?}"
    );
    if alternating {
        assert!(
            working.contains(&"AWSPREVIOUS"),
            "after fault {sweep:?} {fail_at}: {working:?}"
        );
    }
    assert_eq!(h.stages(&arn).await[&token], vec!["AWSCURRENT"]);
}

#[tokio::test]
async fn postgres_single_user_interrupted_everywhere() {
    needs_servers!();
    interrupted_everywhere(Kind::Postgres, false).await;
}

#[tokio::test]
async fn mariadb_single_user_interrupted_everywhere() {
    needs_servers!();
    interrupted_everywhere(Kind::MariaDb, false).await;
}

#[tokio::test]
async fn postgres_alternating_users_interrupted_everywhere() {
    needs_servers!();
    interrupted_everywhere(Kind::Postgres, true).await;
}

#[tokio::test]
async fn mariadb_alternating_users_interrupted_everywhere() {
    needs_servers!();
    interrupted_everywhere(Kind::MariaDb, true).await;
}

#[tokio::test]
async fn postgres_new_alternating_users_interrupted_everywhere() {
    needs_servers!();
    interrupted_everywhere(Kind::PostgresNew, true).await;
}

/// One fault, described once, on the in-memory store and on the spy around moto's Secrets
/// Manager: PutSecretValue fails once after its effect, with the same error on both; the
/// version is stored all the same, and the retry goes through.
#[tokio::test]
async fn one_fault_fails_a_fake_and_a_real_store_alike() {
    needs_servers!();
    let fault = || Fault::on(StoreOp::PutSecretValue).once().after();
    let token = common::new_token();
    let value = SecretValue::parse(
        &serde_json::json!({"engine": "postgres", "host": "db.internal", "username": "app",
            "password": "pending-Pa55word"})
        .to_string(),
    )
    .unwrap();

    let memory = MemoryStore::new();
    let fake_id = "orders/app";
    memory.create_secret(
        fake_id,
        r#"{"username": "app", "password": "initial-Pa55"}"#,
    );
    memory.fail(fault());

    let h = Harness::new();
    let arn = h
        .create_secret(&serde_json::json!({"username": "app", "password": "initial-Pa55"}))
        .await;
    let spied_faults = StoreFaults::default();
    let spied = FaultyStore::new(
        AwsSecretStore::from_client(sm_client()),
        spied_faults.clone(),
    );
    spied_faults.fail(fault());

    let fake_error = memory
        .put_pending(fake_id, &token, &value, None)
        .await
        .unwrap_err();
    let real_error = spied
        .put_pending(&arn, &token, &value, None)
        .await
        .unwrap_err();
    assert_eq!(fake_error.kind(), real_error.kind());
    assert_eq!(
        fake_error.to_string().replace(fake_id, "SECRET"),
        real_error.to_string().replace(&arn, "SECRET"),
    );
    assert_eq!((memory.faults_fired(), spied_faults.faults_fired()), (1, 1));
    // The effect happened on both: the version is AWSPENDING.
    for (store, id) in [
        (&memory as &dyn SecretStore, fake_id),
        (&spied as &dyn SecretStore, arn.as_str()),
    ] {
        let pending = store
            .get(id, Staged::Version(&token, "AWSPENDING"))
            .await
            .unwrap()
            .expect("the version was stored before the answer was lost");
        assert_eq!(pending.str_field("username"), Some("app"));
        // The retry with the same token goes through: the fault fired once.
        store.put_pending(id, &token, &value, None).await.unwrap();
    }
    assert_eq!(h.stages(&arn).await[&token], vec!["AWSPENDING"]);
    assert_eq!(memory.stages(fake_id)[&token], vec!["AWSPENDING"]);
}
