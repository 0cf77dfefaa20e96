//! The refresh of applications after a rotation, against the in-memory store, databases and
//! ECS/Lambda APIs: only after finishSecret has moved AWSCURRENT, never after a failed step,
//! each target retried once at most, never failing the step, and only the targets the stack's
//! settings list.

use std::collections::BTreeMap;
use std::time::Duration;

use rotation::fakes::{
    AppFault, DbFailure, DbOp, Fault, MemoryApps, MemoryConnector, MemoryDatabase, MemoryStore,
    SmFailure, StoreOp,
};
use rotation::refresh::{RefreshPolicy, Refreshed, TargetKind};
use rotation::secret::EngineFamily;
use rotation::settings::Source;
use rotation::steps::StepOutcome;
use rotation::{Config, RotationError, RotationEvent, Rotator, Step};
use rotation_contract::settings::{AfterRotation, SecretSettings, Settings, Strategy};

const SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app-AbCdEf";
const SERVICE: &str = "arn:aws:ecs:eu-west-1:123456789012:service/prod/orders";
const OTHER_SERVICE: &str = "arn:aws:ecs:eu-west-1:123456789012:service/prod/billing";
const FUNCTION: &str = "arn:aws:lambda:eu-west-1:123456789012:function:orders-worker";
const HOST: &str = "db.internal";
const STEPS: [Step; 4] = [Step::Create, Step::Set, Step::Test, Step::Finish];

fn config(settings: Option<Settings>) -> Config {
    let mut config = Config::from_lookup(|name| match name {
        "DB_CA_BUNDLE" => Some("/nonexistent/ca.pem".into()),
        "ROTATION_SETTINGS" => Some("from-secrets".into()),
        _ => None,
    })
    .expect("test configuration");
    if let Some(settings) = settings {
        config.settings = Source::stack(settings);
    }
    config
}

fn settings(ecs: &[&str], lambda: &[&str]) -> Settings {
    let mut secrets = BTreeMap::new();
    secrets.insert(
        SECRET.to_owned(),
        SecretSettings {
            after_rotation: AfterRotation {
                ecs_services: ecs.iter().map(|s| s.to_string()).collect(),
                lambda_functions: lambda.iter().map(|s| s.to_string()).collect(),
            },
            ..SecretSettings::new(Strategy::SingleUser, None)
        },
    );
    Settings::new(secrets)
}

struct World {
    store: MemoryStore,
    db: MemoryConnector,
    apps: MemoryApps,
    rotator: Rotator<MemoryStore, MemoryConnector>,
}

impl World {
    fn new(settings: Option<Settings>, value_extra: &str) -> Self {
        let store = MemoryStore::new();
        store.create_secret(
            SECRET,
            &format!(
                r#"{{"engine":"postgres","host":"{HOST}","port":5432,"username":"app","password":"first-password-0"{value_extra}}}"#
            ),
        );
        store.set_rotation_enabled(SECRET, Some(true));
        let db = MemoryConnector::new();
        db.add_database(
            HOST,
            5432,
            MemoryDatabase::new(EngineFamily::Postgres).with_user("app", "first-password-0"),
        );
        let apps = MemoryApps::new()
            .with_app(SERVICE, "")
            .with_app(OTHER_SERVICE, "")
            .with_app(FUNCTION, "Orders worker");
        let rotator = Rotator::new(store.clone(), db.clone(), config(settings))
            .with_refresher(apps.clone())
            .with_refresh_policy(RefreshPolicy {
                attempt_timeout: Duration::from_millis(200),
                retry_after: Duration::ZERO,
            });
        Self {
            store,
            db,
            apps,
            rotator,
        }
    }

    fn listing(ecs: &[&str], lambda: &[&str]) -> Self {
        Self::new(Some(settings(ecs, lambda)), "")
    }

    fn event(token: &str, step: Step) -> RotationEvent {
        RotationEvent {
            secret_id: SECRET.into(),
            token: token.into(),
            step,
            rotation_token: None,
        }
    }

    async fn step(&self, token: &str, step: Step) -> (Result<(), RotationError>, StepOutcome) {
        self.rotator
            .handle_measured(&Self::event(token, step))
            .await
    }

    fn start(&self, token: &str) {
        self.store.start_rotation(SECRET, token).unwrap();
    }

    /// Every step in order, each expected to succeed; the outcome of finishSecret.
    async fn rotate(&self, token: &str) -> StepOutcome {
        self.start(token);
        let mut last = None;
        for step in STEPS {
            let (result, outcome) = self.step(token, step).await;
            result.unwrap_or_else(|e| panic!("{}: {e}", step.name()));
            if step != Step::Finish {
                assert_eq!(outcome.refresh, None, "{}", step.name());
                assert!(self.apps.calls().is_empty(), "{}", step.name());
            }
            last = Some(outcome);
        }
        last.unwrap()
    }
}

const TOKEN: &str = "11111111-aaaa-4bbb-8ccc-000000000001";

#[tokio::test]
async fn after_finish_secret_each_listed_application_is_refreshed_once() {
    let w = World::listing(&[SERVICE], &[FUNCTION]);
    let outcome = w.rotate(TOKEN).await;
    assert_eq!(
        w.store.version_with(SECRET, "AWSCURRENT").as_deref(),
        Some(TOKEN)
    );

    assert_eq!(w.apps.app(SERVICE).unwrap().deployments, 1);
    let function = w.apps.app(FUNCTION).unwrap();
    assert_eq!(function.updates, 1);
    assert_eq!(
        function.description,
        format!("Orders worker [secret rotated: version {TOKEN}]")
    );
    // Only what the settings list: the other service is left alone.
    assert_eq!(w.apps.app(OTHER_SERVICE).unwrap().deployments, 0);

    let report = outcome.refresh.expect("a refresh report");
    assert_eq!(report.refreshed(TargetKind::EcsService), 1);
    assert_eq!(report.refreshed(TargetKind::LambdaFunction), 1);
    assert_eq!(report.failed(TargetKind::EcsService), 0);
    assert!(report.outcomes.iter().all(|o| o.attempts == 1));
    // Concurrent: in any order, one call each.
    let mut calls = w.apps.calls();
    calls.sort();
    assert_eq!(
        calls,
        [
            (SERVICE.to_owned(), TOKEN.to_owned()),
            (FUNCTION.to_owned(), TOKEN.to_owned())
        ]
    );
}

#[tokio::test]
async fn a_retried_finish_secret_refreshes_again_but_leaves_a_marked_function_alone() {
    let w = World::listing(&[SERVICE], &[FUNCTION]);
    w.rotate(TOKEN).await;
    // Secrets Manager retries finishSecret when the first invocation ended after the stage
    // moved (a crash, a timeout): the guard finds the version already AWSCURRENT.
    let (result, outcome) = w.step(TOKEN, Step::Finish).await;
    result.unwrap();
    let report = outcome.refresh.expect("a refresh report");
    assert_eq!(report.refreshed(TargetKind::EcsService), 1);
    assert_eq!(w.apps.app(SERVICE).unwrap().deployments, 2);
    let function = report
        .outcomes
        .iter()
        .find(|o| o.target.kind == TargetKind::LambdaFunction)
        .unwrap();
    assert_eq!(function.result, Ok(Refreshed::AlreadyDone));
    assert_eq!(w.apps.app(FUNCTION).unwrap().updates, 1);
    // Other steps of an already-current version refresh nothing.
    let before = w.apps.calls().len();
    for step in [Step::Create, Step::Set, Step::Test] {
        let (result, outcome) = w.step(TOKEN, step).await;
        result.unwrap();
        assert_eq!(outcome.refresh, None);
    }
    assert_eq!(w.apps.calls().len(), before);
}

#[tokio::test]
async fn a_rotation_that_fails_at_any_step_refreshes_nothing() {
    type Break = fn(&World);
    let breaks: [(Step, Break); 4] = [
        (Step::Create, |w| {
            w.store
                .fail(Fault::on(StoreOp::PutSecretValue).error(SmFailure::access_denied()))
        }),
        (Step::Set, |w| {
            w.db.fail(Fault::on(DbOp::SetOwnPassword).error(DbFailure::Unreachable))
        }),
        (Step::Test, |w| {
            w.db.fail(Fault::on(DbOp::Verify).error(DbFailure::ConnectionLost))
        }),
        (Step::Finish, |w| {
            w.store.fail(
                Fault::on(StoreOp::UpdateSecretVersionStage).error(SmFailure::access_denied()),
            )
        }),
    ];
    for (failing, break_it) in breaks {
        let w = World::listing(&[SERVICE], &[FUNCTION]);
        w.start(TOKEN);
        for step in STEPS {
            if step == failing {
                break_it(&w);
                let (result, outcome) = w.step(TOKEN, step).await;
                assert!(result.is_err(), "{} should fail", step.name());
                assert_eq!(outcome.refresh, None);
                break;
            }
            w.step(TOKEN, step).await.0.unwrap();
        }
        assert!(w.apps.calls().is_empty(), "failing {}", failing.name());
        assert_eq!(w.apps.app(SERVICE).unwrap().deployments, 0);
        assert_eq!(
            w.apps.app(FUNCTION).unwrap().description,
            "Orders worker",
            "failing {}",
            failing.name()
        );
    }
}

#[tokio::test]
async fn a_failing_target_is_retried_once_counted_and_never_fails_the_step() {
    let w = World::listing(&[SERVICE, OTHER_SERVICE], &[FUNCTION]);
    // Throttled once: the second attempt succeeds.
    w.apps.set_fault(SERVICE, AppFault::Throttled(1));
    // Refused: a retry cannot help, so none is made.
    w.apps.set_fault(OTHER_SERVICE, AppFault::Denied);
    // Never answers: each attempt times out, and there are two.
    w.apps.set_fault(FUNCTION, AppFault::Hangs);
    let outcome = w.rotate(TOKEN).await;
    assert_eq!(
        w.store.version_with(SECRET, "AWSCURRENT").as_deref(),
        Some(TOKEN)
    );

    let report = outcome.refresh.expect("a refresh report");
    let by_arn = |arn: &str| {
        report
            .outcomes
            .iter()
            .find(|o| o.target.arn == arn)
            .unwrap()
            .clone()
    };
    let throttled = by_arn(SERVICE);
    assert_eq!(
        (throttled.attempts, throttled.result),
        (2, Ok(Refreshed::Done))
    );
    let denied = by_arn(OTHER_SERVICE);
    assert_eq!(denied.attempts, 1);
    assert!(denied.result.unwrap_err().contains("AccessDenied"));
    let hung = by_arn(FUNCTION);
    assert_eq!(hung.attempts, 2);
    assert!(hung.result.unwrap_err().contains("network.lambda_endpoint"));

    assert_eq!(report.refreshed(TargetKind::EcsService), 1);
    assert_eq!(report.failed(TargetKind::EcsService), 1);
    assert_eq!(report.failed(TargetKind::LambdaFunction), 1);
    let calls = w.apps.calls();
    let count = |arn: &str| calls.iter().filter(|(a, _)| a == arn).count();
    assert_eq!(
        (count(SERVICE), count(OTHER_SERVICE), count(FUNCTION)),
        (2, 1, 2)
    );
    assert_eq!(w.apps.app(SERVICE).unwrap().deployments, 1);
}

#[tokio::test]
async fn targets_come_from_the_stack_never_from_the_secret() {
    // The secret's writer names a service in the value: ignored, with or without a stack.
    let named = format!(r#","after_rotation":{{"ecs_services":["{OTHER_SERVICE}"]}}"#);
    for world in [
        World::new(Some(settings(&[], &[])), &named),
        World::new(None, &named),
    ] {
        let outcome = world.rotate(TOKEN).await;
        assert_eq!(outcome.refresh, None);
        assert!(world.apps.calls().is_empty());
        assert_eq!(world.db.open_sessions(), 0);
    }
}

#[tokio::test]
async fn without_clients_every_target_counts_as_failed() {
    let w = World::listing(&[SERVICE], &[]);
    let rotator = Rotator::new(
        w.store.clone(),
        w.db.clone(),
        config(Some(settings(&[SERVICE], &[]))),
    );
    w.start(TOKEN);
    let mut last = None;
    for step in STEPS {
        let (result, outcome) = rotator.handle_measured(&World::event(TOKEN, step)).await;
        result.unwrap();
        last = Some(outcome);
    }
    let report = last.unwrap().refresh.unwrap();
    assert_eq!(report.failed(TargetKind::EcsService), 1);
}
