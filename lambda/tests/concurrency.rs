//! Concurrent invocations against the real servers. Secrets Manager retries a step while the
//! first invocation may still run in another container, and a step for an old token may arrive
//! while a newer rotation is pending. Here two function instances, each warm with its own
//! version cache as deployed, run the same step for the same secret at the same moment, for each
//! step and both strategies; afterwards the rotation is driven to its end as Secrets Manager
//! would (the failed step again), and:
//!
//! - at least one of the two succeeded, and the other, if it failed, says why in a message that
//!   holds no password;
//! - AWSCURRENT logs in, and for alternating users AWSPREVIOUS does too;
//! - the token staged exactly one value, and both instances use it (the other instance's
//!   testSecret passes before finishSecret).

use crate::common;

use common::pair::{Fixture, standard_fixture};
use common::{Harness, Kind, env, rds_client, sm_client, unique};
use rotation::cache::CachingStore;
use rotation::db::Drivers;
use rotation::rds::AwsRds;
use rotation::store::AwsSecretStore;
use rotation::{Config, RotationError, RotationEvent, Rotator, Step};

per_engine!(
    the_same_step_twice_at_once_single_user,
    the_same_step_twice_at_once_alternating_users,
    an_old_token_during_a_newer_rotation,
);

const STEPS: [Step; 4] = [Step::Create, Step::Set, Step::Test, Step::Finish];

/// Error kinds a loser of a race may report: the other instance got there first.
const RACE_KINDS: [&str; 4] = [
    // createSecret: both generated a password; the second PutSecretValue for the token finds a
    // different value.
    "SecretsManagerError",
    // finishSecret: the first moved AWSCURRENT; the second's guard or move then refuses.
    "VersionNotPending",
    // setSecret: the winner changed the password while the loser's login was on its way.
    "NoWorkingCredential",
    "DatabaseError",
];

fn check_loser(error: &RotationError, passwords: &[String]) {
    assert!(
        RACE_KINDS.contains(&error.kind()),
        "unexpected failure of the concurrent step: {} {error}",
        error.kind()
    );
    let message = error.to_string();
    for password in passwords {
        assert!(!message.contains(password.as_str()), "{message}");
    }
}

/// A function instance as the function's main builds it: its version cache in front of
/// Secrets Manager, kept across the steps it runs.
type Instance = Rotator<CachingStore<AwsSecretStore>, Drivers>;

fn warm_instance() -> Instance {
    let ca = env().ca.display().to_string();
    let config = Config::from_lookup(|name| {
        (name == "DB_CA_BUNDLE")
            .then(|| ca.clone())
            // Without a stack: the strategy and master from each secret's value.
            .or_else(|| (name == "ROTATION_SETTINGS").then(|| "from-secrets".into()))
    })
    .expect("test configuration");
    Rotator::new(
        CachingStore::new(AwsSecretStore::from_client(sm_client())),
        Drivers::from_config(&config),
        config,
    )
    .with_rds(AwsRds::from_client(rds_client()))
}

async fn run(instance: &Instance, arn: &str, token: &str, step: Step) -> Result<(), RotationError> {
    instance
        .handle(&RotationEvent {
            secret_id: arn.to_owned(),
            token: token.to_owned(),
            step,
            rotation_token: None,
        })
        .await
}

/// Runs `step` on two warm instances at once, after the steps before it (on the first), then
/// the rest of the rotation on the first, retrying a step that both instances failed.
async fn race(h: &Harness, arn: &str, step: Step) -> String {
    let (one, other) = (warm_instance(), warm_instance());
    let token = h.start_rotation(arn).await;
    for before in STEPS.iter().take_while(|s| **s != step) {
        run(&one, arn, &token, *before)
            .await
            .expect("step before the race");
    }
    let (first, second) =
        tokio::join!(run(&one, arn, &token, step), run(&other, arn, &token, step));
    let passwords = vec![h.password(arn, "AWSCURRENT").await];
    match (&first, &second) {
        (Ok(()), Ok(())) => {}
        (Ok(()), Err(e)) | (Err(e), Ok(())) => check_loser(e, &passwords),
        (Err(a), Err(b)) => panic!("both instances failed {step:?}: {a} / {b}"),
    }
    for after in STEPS.iter().skip_while(|s| **s != step) {
        if *after == Step::Finish {
            // Both instances agree on the token's value: the other one tests the password it
            // would use (its cache keeps what it read or wrote). Were a version's value
            // overwritable, both createSecret calls would succeed and one would be wrong.
            run(&other, arn, &token, Step::Test)
                .await
                .unwrap_or_else(|e| panic!("the other instance's testSecret after {step:?}: {e}"));
        }
        run(&one, arn, &token, *after)
            .await
            .unwrap_or_else(|e| panic!("{after:?} after a concurrent {step:?}: {e}"));
    }
    h.end_rotation(arn, &token).await;
    token
}

/// The token's version holds one value, and it is AWSCURRENT's.
async fn one_value_per_token(h: &Harness, arn: &str, token: &str) {
    let versions = h.stages(arn).await;
    assert_eq!(
        versions.get(token).map(Vec::as_slice),
        Some(&["AWSCURRENT".to_owned()][..]),
        "{versions:?}"
    );
    let by_token =
        h.sm.get_secret_value()
            .secret_id(arn)
            .version_id(token)
            .send()
            .await
            .unwrap();
    assert_eq!(
        by_token.secret_string().map(str::to_owned),
        h.staged(arn, "AWSCURRENT").await.map(|v| v.to_string())
    );
}

async fn the_same_step_twice_at_once_single_user(kind: Kind) {
    for step in STEPS {
        let h = Harness::new();
        let user = unique("race");
        kind.create_user(&user, "initial-Pa55").await;
        let arn = h.create_secret(&kind.secret(&user, "initial-Pa55")).await;
        let token = race(&h, &arn, step).await;
        one_value_per_token(&h, &arn, &token).await;
        let current = h.password(&arn, "AWSCURRENT").await;
        assert!(kind.can_login(&user, &current).await, "{step:?}");
    }
}

async fn alternating_checks(f: &Fixture) {
    let (user, password) = f.staged_login("AWSCURRENT").await;
    f.check_privileges(&user, &password).await;
    let (user, password) = f.staged_login("AWSPREVIOUS").await;
    f.check_privileges(&user, &password).await;
}

async fn the_same_step_twice_at_once_alternating_users(kind: Kind) {
    for step in STEPS {
        let f = standard_fixture(kind).await;
        let token = race(&f.h, &f.arn, step).await;
        one_value_per_token(&f.h, &f.arn, &token).await;
        alternating_checks(&f).await;
        // And the next rotation, back to the first user, is unaffected.
        f.h.rotate(&f.arn).await.expect("the next rotation");
        alternating_checks(&f).await;
    }
}

async fn an_old_token_during_a_newer_rotation(kind: Kind) {
    let f = standard_fixture(kind).await;
    let first = f.h.rotate(&f.arn).await.expect("first rotation");
    f.h.rotate(&f.arn).await.expect("second rotation");
    // The first rotation's version is AWSPREVIOUS now; a newer rotation is pending.
    let pending = f.h.start_rotation(&f.arn).await;
    f.h.step(&f.arn, &pending, Step::Create).await.unwrap();
    for step in STEPS {
        let error = f.h.step(&f.arn, &first, step).await.unwrap_err();
        assert_eq!(error.kind(), "VersionNotPending", "{step:?}: {error}");
        assert!(error.to_string().contains("AWSPREVIOUS"), "{error}");
    }
    for step in [Step::Set, Step::Test, Step::Finish] {
        f.h.step(&f.arn, &pending, step)
            .await
            .unwrap_or_else(|e| panic!("{step:?}: {e}"));
    }
    f.h.end_rotation(&f.arn, &pending).await;
    alternating_checks(&f).await;
}
