//! A rotation interrupted at any point, then retried as Secrets Manager retries a failed step,
//! converges, and a credential keeps logging in meanwhile.
//!
//! Faults are injected at every Secrets Manager call, login and database change in turn, on the
//! real servers. A Secrets Manager call or a password change fails *after* it took effect (the
//! worst case: the work is done but the answer is lost), a login fails before it happens. After
//! each fault the test checks who can still log in, retries the step, and at the end checks the
//! rotation converged. The fault wrappers are the harness's (`common::spies`).

use crate::common;

use std::sync::Arc;

use common::pair::{connect, standard_fixture};
use common::{Faults, FaultyConnector, FaultyStore, Harness, Kind, sm_client, unique};
use rotation::db::Drivers;
use rotation::store::AwsSecretStore;
use rotation::{Config, RotationEvent, Rotator, Step};

type FaultyRotator = Rotator<FaultyStore<AwsSecretStore>, FaultyConnector<Drivers>>;

fn faulty_rotator(faults: &Arc<Faults>) -> FaultyRotator {
    let ca = common::env().ca.display().to_string();
    let config = Config::from_lookup(|name| {
        (name == "DB_CA_BUNDLE")
            .then(|| ca.clone())
            // Without a stack: the strategy and master from each secret's value.
            .or_else(|| (name == "ROTATION_SETTINGS").then(|| "from-secrets".into()))
    })
    .unwrap();
    Rotator::new(
        FaultyStore::new(AwsSecretStore::from_client(sm_client()), faults.clone()),
        FaultyConnector::new(Drivers::from_config(&config), faults.clone()),
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
        if !faults.fired() {
            break; // past the last operation of a rotation: every point was tried
        }
        points = fail_at;
    }
    assert!(points >= 14, "only {points} fault points were tried");
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
