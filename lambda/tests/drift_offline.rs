//! The drift check and the retirement of previous users, offline: the in-memory store and
//! databases, a settings file as synth renders it.

use rotation::config::Config;
use rotation::event::{RotationEvent, Step};
use rotation::fakes::{LoginOutcome, MemoryConnector, MemoryDatabase, MemoryStore};
use rotation::ops::drift::{RunLimits, drift_check};
use rotation::secret::EngineFamily;
use rotation::steps::Rotator;
use rotation_contract::report::DriftStatus;
use rotation_contract::settings::{SecretSettings, Settings, Strategy};
use serde_json::json;

/// Preflight's DNS and TCP checks are real: the fake database answers at a loopback port
/// that a listener holds open.
const HOST: &str = "127.0.0.1";
const MASTER: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:master-AbCdEf";
const HEALTHY: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:healthy-AbCdEf";
const DRIFTED: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:drifted-AbCdEf";
const SINGLE: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:single-AbCdEf";
const NOW: i64 = 1_800_000_000;

fn engine(family: EngineFamily) -> &'static str {
    match family {
        EngineFamily::Postgres => "postgres",
        EngineFamily::MySql => "mariadb",
    }
}

fn value(family: EngineFamily, port: u16, user: &str, password: &str) -> String {
    let engine = engine(family);
    json!({"engine": engine, "host": HOST, "port": port, "username": user, "password": password})
        .to_string()
}

struct World {
    store: MemoryStore,
    db: MemoryConnector,
    rotator: Rotator<MemoryStore, MemoryConnector>,
    tokens: usize,
    port: u16,
    _listener: std::net::TcpListener,
}

impl World {
    /// Two alternating secrets (`healthy`, `drifted`) and a single-user one, sharing one
    /// master; `grace` is their `retire_previous_after_seconds`.
    fn new(family: EngineFamily, grace: Option<u64>, name: &str) -> Self {
        let store = MemoryStore::new();
        let db = MemoryConnector::new();
        let listener = std::net::TcpListener::bind((HOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        db.add_database(
            HOST,
            port,
            MemoryDatabase::new(family)
                .with_master("admin", "master-pw")
                .with_user("healthy", "healthy-pw")
                .with_user("drifted", "drifted-pw")
                .with_user("single", "single-pw"),
        );
        store.create_secret(MASTER, &value(family, port, "admin", "master-pw"));
        let mut secrets = std::collections::BTreeMap::new();
        for (arn, user, alternating) in [
            (HEALTHY, "healthy", true),
            (DRIFTED, "drifted", true),
            (SINGLE, "single", false),
        ] {
            store.create_secret(arn, &value(family, port, user, &format!("{user}-pw")));
            store.set_rotation_enabled(arn, Some(true));
            secrets.insert(
                arn.to_owned(),
                if alternating {
                    SecretSettings {
                        retire_previous_after_seconds: grace,
                        ..SecretSettings::new(Strategy::AlternatingUsers, Some(MASTER.into()))
                    }
                } else {
                    SecretSettings::new(Strategy::SingleUser, None)
                },
            );
        }
        let dir = std::env::temp_dir().join(format!("drift-offline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, Settings::new(secrets).to_json()).unwrap();
        let path = path.display().to_string();
        let config = Config::from_lookup(|var| match var {
            "DB_CA_BUNDLE" => Some("/nonexistent/ca.pem".into()),
            "ROTATION_SETTINGS" => Some(path.clone()),
            _ => None,
        })
        .unwrap();
        let rotator = Rotator::new(store.clone(), db.clone(), config);
        Self {
            store,
            db,
            rotator,
            tokens: 0,
            port,
            _listener: listener,
        }
    }

    async fn rotate(&mut self, secret: &str) {
        self.tokens += 1;
        let token = format!("00000000-aaaa-4bbb-8ccc-{:012}", self.tokens);
        self.store.start_rotation(secret, &token).unwrap();
        for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
            let event = RotationEvent {
                secret_id: secret.into(),
                token: token.clone(),
                step,
                rotation_token: None,
            };
            self.rotator.handle(&event).await.unwrap();
        }
        self.store.complete_rotation(secret, &token).unwrap();
    }

    fn set_clock(&self, now: i64) {
        self.db.update(HOST, self.port, |db| db.clock = now);
    }

    fn logs_in(&self, secret: &str, stage: &str) -> bool {
        let value = self.store.value(secret, stage).unwrap();
        let db = self.db.database(HOST, self.port).unwrap();
        db.accepts(
            value.str_field("username").unwrap(),
            value.str_field("password").unwrap(),
        )
    }

    async fn check(&self, now: i64) -> rotation_contract::report::DriftReport {
        drift_check(
            &self.rotator,
            &self.store,
            None,
            RunLimits {
                now_secs: now,
                deadline: None,
            },
        )
        .await
        .unwrap()
    }
}

#[tokio::test]
async fn a_password_changed_behind_the_functions_back_is_reported_and_a_healthy_one_is_not() {
    for family in [EngineFamily::Postgres, EngineFamily::MySql] {
        let w = World::new(family, None, &format!("drift-{family:?}"));
        w.db.update(HOST, w.port, |db| {
            db.users.get_mut("drifted").unwrap().password = "changed-by-hand".into();
        });
        let report = w.check(NOW).await;
        assert_eq!((report.secrets, report.checked), (3, 3), "{report:?}");
        assert_eq!(report.drifted, 1, "{report:?}");
        let by_id = |id: &str| report.results.iter().find(|r| r.secret_id == id).unwrap();
        assert_eq!(by_id(HEALTHY).status, DriftStatus::Ok);
        assert_eq!(by_id(SINGLE).status, DriftStatus::Ok);
        let drifted = by_id(DRIFTED);
        assert_eq!(drifted.status, DriftStatus::Drifted);
        assert_eq!(drifted.problems[0].check, "login");
        assert!(
            !format!("{report:?}").contains("-pw"),
            "no password in the report"
        );

        // One login per user, and the master once for both of its secrets.
        let logins = w.db.logins();
        for user in ["admin", "healthy", "drifted", "single"] {
            let n = logins.iter().filter(|l| l.user == user).count();
            assert_eq!(n, 1, "{user}: {logins:?}");
        }
        assert_eq!(
            logins
                .iter()
                .filter(|l| l.outcome == LoginOutcome::Rejected)
                .count(),
            1
        );
        assert_eq!(
            w.db.open_sessions(),
            0,
            "the shared master session is closed"
        );
    }
}

#[tokio::test]
async fn a_refused_master_is_not_tried_again_for_its_other_secrets() {
    let w = World::new(EngineFamily::Postgres, None, "master-refused");
    w.db.update(HOST, w.port, |db| {
        db.users.get_mut("admin").unwrap().password = "rotated-elsewhere".into();
    });
    let report = w.check(NOW).await;
    assert_eq!(report.drifted, 2, "{report:?}");
    let admin = w.db.logins().iter().filter(|l| l.user == "admin").count();
    assert_eq!(admin, 1);
}

#[tokio::test]
async fn without_a_stack_the_drift_check_is_refused() {
    let store = MemoryStore::new();
    let config = Config::from_lookup(|var| match var {
        "DB_CA_BUNDLE" => Some("/nonexistent/ca.pem".into()),
        "ROTATION_SETTINGS" => Some("from-secrets".into()),
        _ => None,
    })
    .unwrap();
    let rotator = Rotator::new(store.clone(), MemoryConnector::new(), config);
    let limits = RunLimits {
        now_secs: NOW,
        deadline: None,
    };
    let error = drift_check(&rotator, &store, None, limits)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("from-secrets"), "{error}");
}

#[tokio::test]
async fn a_run_out_of_time_reports_secrets_not_reached_never_healthy() {
    let w = World::new(EngineFamily::Postgres, None, "deadline");
    let limits = RunLimits {
        now_secs: NOW,
        deadline: Some(std::time::Instant::now()),
    };
    let report = drift_check(&w.rotator, &w.store, None, limits)
        .await
        .unwrap();
    assert_eq!((report.checked, report.not_reached), (0, 3), "{report:?}");
    assert!(
        report
            .results
            .iter()
            .all(|r| r.status == DriftStatus::NotReached)
    );
}

#[tokio::test]
async fn the_previous_user_logs_in_until_the_grace_then_not_and_the_next_rotation_restores_it() {
    const GRACE: i64 = 3600;
    for family in [EngineFamily::Postgres, EngineFamily::MySql] {
        let mut w = World::new(family, Some(GRACE as u64), &format!("retire-{family:?}"));
        let rotated = rotation::metrics::now_secs();
        w.store.set_last_rotated(HEALTHY, Some(rotated));
        w.rotate(HEALTHY).await;
        w.set_clock(rotated);
        assert!(w.logs_in(HEALTHY, "AWSCURRENT"));
        assert!(
            w.logs_in(HEALTHY, "AWSPREVIOUS"),
            "{family:?}: inside the grace"
        );

        // Inside the grace, the check retires nothing.
        let report = w.check(rotated + 60).await;
        assert_eq!(report.drifted, 0, "{report:?}");
        assert!(w.logs_in(HEALTHY, "AWSPREVIOUS"));

        // After it: PostgreSQL's VALID UNTIL (set at finishSecret) has passed; MySQL's lock is
        // taken by the check. An application still holding a session is counted.
        w.db.update(HOST, w.port, |db| {
            db.users.get_mut("healthy").unwrap().held_sessions = 2;
        });
        let after = rotated + GRACE + 120;
        w.set_clock(after);
        let report = w.check(after).await;
        assert_eq!(report.drifted, 0, "{report:?}");
        let healthy = report
            .results
            .iter()
            .find(|r| r.secret_id == HEALTHY)
            .unwrap();
        assert_eq!(healthy.retired_user_sessions, Some(2), "{healthy:?}");
        assert!(
            w.logs_in(HEALTHY, "AWSCURRENT"),
            "AWSCURRENT always logs in"
        );
        assert!(!w.logs_in(HEALTHY, "AWSPREVIOUS"), "{family:?}: retired");
        // The current user is never retired.
        let db = w.db.database(HOST, w.port).unwrap();
        assert_eq!(db.users["healthy_clone"].retired_from, None);

        // The next rotation gives the retired user the new password: it logs in again, and
        // the user it leaves keeps logging in through the grace.
        w.rotate(HEALTHY).await;
        // The function's clock (the grace starts at finishSecret's now) and the server's agree.
        w.set_clock(rotation::metrics::now_secs() + 60);
        assert_eq!(
            w.store
                .value(HEALTHY, "AWSCURRENT")
                .unwrap()
                .str_field("username"),
            Some("healthy")
        );
        assert!(w.logs_in(HEALTHY, "AWSCURRENT"), "{family:?}: unretired");
        assert!(w.logs_in(HEALTHY, "AWSPREVIOUS"));
    }
}

/// finishSecret retried (the version already AWSCURRENT) retires AWSPREVIOUS's user, never
/// AWSCURRENT's; retried after a later rotation it is refused before anything happens.
#[tokio::test]
async fn a_retried_finish_never_retires_the_current_user() {
    let mut w = World::new(EngineFamily::Postgres, Some(3600), "finish-retry");
    w.rotate(HEALTHY).await;
    let first = format!("00000000-aaaa-4bbb-8ccc-{:012}", w.tokens);
    let finish = |token: &str| RotationEvent {
        secret_id: HEALTHY.into(),
        token: token.to_owned(),
        step: Step::Finish,
        rotation_token: None,
    };
    // The retirement undone by hand, then finishSecret retried: it is set again, on the
    // previous user only.
    w.db.update(HOST, w.port, |db| {
        db.users.get_mut("healthy").unwrap().retired_from = None;
    });
    w.rotator.handle(&finish(&first)).await.unwrap();
    let db = w.db.database(HOST, w.port).unwrap();
    assert!(
        db.users["healthy"].retired_from.is_some(),
        "AWSPREVIOUS retired"
    );
    assert_eq!(
        db.users["healthy_clone"].retired_from, None,
        "AWSCURRENT never"
    );

    // A later rotation; then the first token's finishSecret arrives late.
    w.rotate(HEALTHY).await;
    let error = w.rotator.handle(&finish(&first)).await.unwrap_err();
    assert_eq!(error.kind(), "VersionNotPending", "{error}");
    let db = w.db.database(HOST, w.port).unwrap();
    assert_eq!(db.users["healthy"].retired_from, None, "the new AWSCURRENT");
    assert!(db.users["healthy_clone"].retired_from.is_some());
    w.set_clock(i64::MAX);
    assert!(
        w.logs_in(HEALTHY, "AWSCURRENT"),
        "AWSCURRENT logs in whenever"
    );
    assert!(!w.logs_in(HEALTHY, "AWSPREVIOUS"));
}

/// A hand-staged AWSPREVIOUS that names another user (or AWSCURRENT's own) is never retired.
#[tokio::test]
async fn only_the_pairs_other_user_is_ever_retired() {
    let mut w = World::new(EngineFamily::MySql, Some(3600), "hand-staged");
    w.rotate(HEALTHY).await;
    // Someone stages a version naming another user as AWSPREVIOUS.
    let other = value(EngineFamily::MySql, w.port, "drifted", "drifted-pw");
    w.store.put_version(
        HEALTHY,
        "hand-made",
        rotation::fakes::Payload::Text(other),
        &["AWSPREVIOUS"],
    );
    w.store.set_last_rotated(HEALTHY, Some(NOW - 10 * 86_400));
    w.set_clock(NOW);
    let report = w.check(NOW).await;
    let healthy = report
        .results
        .iter()
        .find(|r| r.secret_id == HEALTHY)
        .unwrap();
    assert_eq!(healthy.status, DriftStatus::Drifted, "{healthy:?}");
    assert_eq!(healthy.problems[0].check, "retire-previous");
    let db = w.db.database(HOST, w.port).unwrap();
    assert!(
        db.users.values().all(|u| u.retired_from.is_none()),
        "nobody retired"
    );
}
