//! The operator actions against the real servers and moto: preflight finds every problem at
//! once and changes nothing; recover takes the one safe action out of each stuck state, built
//! for real; the audit lists the secrets a function rotates.

use crate::common;

use common::pair::standard_fixture;
use common::{Harness, Kind, unique};
use rotation::ops::preflight::{PreflightReport, preflight};
use rotation::ops::recover::{ProposalKind, QUIET_PERIOD_SECS, RecoverReport, recover};
use rotation::ops::{Status, audit};
use rotation::store::AwsSecretStore;
use rotation::{RotationError, Step};
use serde_json::json;

/// The function ARN the harness's rotations name (moto cannot invoke it, which is what leaves
/// the AWSPENDING a test then drives).
const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:not-deployed";

per_engine!(
    a_healthy_single_user_secret_passes_and_nothing_changes,
    alternating_users_are_rehearsed_without_a_trace,
    every_problem_is_reported_at_once,
    a_master_without_privileges_is_found,
    an_unsafe_partner_is_found,
    a_stale_pending_is_cleared_once_quiet,
    the_version_the_database_has_is_promoted,
    an_alternating_rotation_past_set_secret_is_finished,
    nothing_is_done_when_nothing_logs_in,
);

fn admin(h: &Harness) -> AwsSecretStore {
    AwsSecretStore::from_client(h.sm.clone())
}

fn now() -> i64 {
    rotation::metrics::now_secs()
}

async fn check(h: &Harness, arn: &str) -> PreflightReport {
    let report = preflight(&h.rotator, &admin(h), Some(FUNCTION), arn).await;
    // Whatever it found, the report never holds a password the test servers know.
    let text = serde_json::to_string(&report).unwrap();
    for password in ["initial-Pa55", "master-Pa55", "wrong-Pa55"] {
        assert!(!text.contains(password), "a password in the report: {text}");
    }
    report
}

fn status(report: &PreflightReport, name: &str) -> Status {
    report
        .checks
        .iter()
        .find(|c| c.check == name)
        .unwrap_or_else(|| panic!("no `{name}` check in {report:#?}"))
        .status
}

fn names(report: &PreflightReport) -> Vec<&str> {
    report.checks.iter().map(|c| c.check.as_str()).collect()
}

/// A single-user secret whose rotation is enabled (one rotation done).
async fn single_user(kind: Kind) -> (Harness, String, String) {
    let h = Harness::new();
    let user = unique("ops");
    kind.create_user(&user, "initial-Pa55").await;
    let arn = h.create_secret(&kind.secret(&user, "initial-Pa55")).await;
    h.rotate(&arn).await.expect("a first rotation");
    (h, arn, user)
}

async fn a_healthy_single_user_secret_passes_and_nothing_changes(kind: Kind) {
    let (h, arn, user) = single_user(kind).await;
    let stages = h.stages(&arn).await;
    let password = h.password(&arn, "AWSCURRENT").await;
    h.reset_stats();

    let report = check(&h, &arn).await;
    assert!(report.ok, "{report:#?}");
    assert_eq!(report.problems, 0);
    assert_eq!(report.strategy.as_deref(), Some("single-user"));
    assert_eq!(
        names(&report),
        [
            "rotation-settings",
            "pending-version",
            "secret-value",
            "dns",
            "tcp",
            "login",
            "server-settings",
            "own-password",
            "rds-proxy"
        ]
    );
    assert!(
        report.checks.iter().all(|c| c.status == Status::Pass),
        "{report:#?}"
    );

    // The rehearsal of the password change was rolled back: the password still logs in, no
    // stage moved, and no login was refused on the way.
    assert!(kind.can_login(&user, &password).await);
    assert_eq!(h.stages(&arn).await, stages);
    assert!(h.logins().iter().all(|(_, ok)| *ok), "{:?}", h.logins());
    h.rotate(&arn)
        .await
        .expect("a rotation after the preflight");
}

async fn alternating_users_are_rehearsed_without_a_trace(kind: Kind) {
    let f = standard_fixture(kind).await;
    let clone = format!("{}_clone", f.user);
    let report = check(&f.h, &f.arn).await;
    assert_eq!(report.strategy.as_deref(), Some("alternating-users"));
    // Rotation is not enabled yet (no rotation ran): the one problem.
    assert_eq!(status(&report, "rotation-settings"), Status::Fail);
    assert_eq!(report.problems, 1, "{report:#?}");
    for name in [
        "secret-value",
        "login",
        "master-secret",
        "master-login",
        "master-privileges",
        "partner-name",
        "partner-objects",
    ] {
        assert_eq!(status(&report, name), Status::Pass, "{name}: {report:#?}");
    }
    // The rehearsal created no partner (PostgreSQL rolled it back; MariaDB never made it).
    let mut admin = kind.admin(kind.tls_port()).await;
    assert!(
        !admin.user_exists(&clone).await,
        "the rehearsal left `{clone}` behind"
    );
    f.h.rotate(&f.arn).await.expect("the first real rotation");
    assert!(admin.user_exists(&clone).await);
    let report = check(&f.h, &f.arn).await;
    assert!(report.ok, "{report:#?}");
}

async fn every_problem_is_reported_at_once(kind: Kind) {
    let h = Harness::new();
    let user = unique("ops");
    kind.create_user(&user, "initial-Pa55").await;
    // AWSCURRENT holds a password the server refuses, rotation is not enabled, and a
    // half-done rotation's AWSPENDING is there.
    let arn = h.create_secret(&kind.secret(&user, "wrong-Pa55")).await;
    h.sm.put_secret_value()
        .secret_id(&arn)
        .client_request_token(common::new_token())
        .secret_string(kind.secret(&user, "initial-Pa55").to_string())
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();

    let report = check(&h, &arn).await;
    assert!(!report.ok);
    assert_eq!(report.problems, 3, "{report:#?}");
    assert_eq!(status(&report, "rotation-settings"), Status::Fail);
    assert_eq!(status(&report, "pending-version"), Status::Fail);
    assert_eq!(status(&report, "login"), Status::Fail);
    assert_eq!(status(&report, "own-password"), Status::Skip);
    for failed in report.checks.iter().filter(|c| c.status == Status::Fail) {
        assert!(
            failed.fix.as_deref().is_some_and(|fix| fix.len() > 20),
            "a failure without a fix: {failed:?}"
        );
    }
}

async fn a_master_without_privileges_is_found(kind: Kind) {
    let f = standard_fixture(kind).await;
    let master = format!("{}_master", f.schema);
    let mut admin = kind.admin(kind.tls_port()).await;
    if kind.is_postgres() {
        admin
            .execute(&format!("ALTER ROLE {master} NOCREATEROLE"))
            .await;
        admin
            .execute(&format!("REVOKE {} FROM {master}", f.user))
            .await;
    } else {
        admin
            .execute(&format!("REVOKE GRANT OPTION ON *.* FROM '{master}'@'%'"))
            .await;
    }
    let report = check(&f.h, &f.arn).await;
    assert_eq!(status(&report, "master-login"), Status::Pass, "{report:#?}");
    assert_eq!(
        status(&report, "master-privileges"),
        Status::Fail,
        "{report:#?}"
    );
    let found = report
        .checks
        .iter()
        .find(|c| c.check == "master-privileges")
        .unwrap();
    assert!(
        found
            .fix
            .as_deref()
            .unwrap()
            .contains(if kind.is_postgres() {
                "CREATEROLE"
            } else {
                "GRANT OPTION"
            }),
        "{found:?}"
    );
    assert!(!admin.user_exists(&format!("{}_clone", f.user)).await);
}

async fn an_unsafe_partner_is_found(kind: Kind) {
    let f = standard_fixture(kind).await;
    let clone = format!("{}_clone", f.user);
    let mut admin = kind.admin(kind.tls_port()).await;
    admin.create_user(&clone, "other-Pa55").await;
    if kind.is_postgres() {
        admin
            .execute(&format!("ALTER ROLE {clone} CREATEDB CREATEROLE"))
            .await;
    } else {
        admin
            .execute(&format!("GRANT SELECT ON mysql.* TO '{clone}'@'%'"))
            .await;
    }
    let report = check(&f.h, &f.arn).await;
    assert_eq!(
        status(&report, "partner-objects"),
        Status::Fail,
        "{report:#?}"
    );
    // Nothing was changed: the partner keeps its own password.
    assert!(kind.can_login(&clone, "other-Pa55").await);
}

async fn recover_now(h: &Harness, arn: &str, apply: bool, at: i64) -> RecoverReport {
    let report = recover(&h.rotator, &admin(h), arn, apply, at)
        .await
        .expect("recover");
    let text = serde_json::to_string(&report).unwrap();
    for password in ["initial-Pa55", "master-Pa55", "wrong-Pa55"] {
        assert!(!text.contains(password), "a password in the report: {text}");
    }
    for version in &report.versions {
        let value =
            h.sm.get_secret_value()
                .secret_id(arn)
                .version_id(&version.version_id)
                .send()
                .await
                .unwrap();
        let value: serde_json::Value =
            serde_json::from_str(value.secret_string().unwrap()).unwrap();
        let password = value["password"].as_str().unwrap();
        assert!(
            !text.contains(password),
            "a version's password in the report: {text}"
        );
    }
    report
}

async fn a_stale_pending_is_cleared_once_quiet(kind: Kind) {
    let (h, arn, user) = single_user(kind).await;
    let token = h.start_rotation(&arn).await;
    h.step(&arn, &token, Step::Create).await.unwrap();

    // Young: a rotation may be running, so nothing is proposed.
    let young = recover_now(&h, &arn, true, now()).await;
    assert_eq!(young.proposal.kind, ProposalKind::None, "{young:#?}");
    assert!(!young.applied);

    let later = now() + QUIET_PERIOD_SECS + 60;
    let report = recover_now(&h, &arn, false, later).await;
    assert_eq!(
        report.proposal.kind,
        ProposalKind::ClearPending,
        "{report:#?}"
    );
    assert_eq!(report.proposal.version_id.as_deref(), Some(token.as_str()));
    assert!(!report.applied);
    assert!(h.stages(&arn).await[&token].contains(&"AWSPENDING".to_owned()));

    let applied = recover_now(&h, &arn, true, later).await;
    assert!(applied.applied);
    assert!(h.stages(&arn).await[&token].is_empty());
    let after = applied.after.expect("the state after");
    assert_eq!(after.proposal.kind, ProposalKind::None, "{after:#?}");
    // Nothing changed in the database, and the next rotation runs.
    let password = h.password(&arn, "AWSCURRENT").await;
    assert!(kind.can_login(&user, &password).await);
    h.rotate(&arn).await.expect("a rotation after the recovery");
}

async fn the_version_the_database_has_is_promoted(kind: Kind) {
    // The known lockout: setSecret set the pending password, then AWSPENDING moved to a new
    // token, so the database's password is in a version without a label.
    let (h, arn, user) = single_user(kind).await;
    let token = h.start_rotation(&arn).await;
    for step in [Step::Create, Step::Set] {
        h.step(&arn, &token, step).await.unwrap();
    }
    h.sm.put_secret_value()
        .secret_id(&arn)
        .client_request_token(common::new_token())
        .secret_string(kind.secret(&user, "wrong-Pa55").to_string())
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    assert!(h.stages(&arn).await[&token].is_empty());
    let current = h.password(&arn, "AWSCURRENT").await;
    assert!(
        !kind.can_login(&user, &current).await,
        "the lockout is built"
    );

    let report = recover_now(&h, &arn, true, now()).await;
    assert_eq!(report.proposal.kind, ProposalKind::Promote, "{report:#?}");
    assert_eq!(report.proposal.version_id.as_deref(), Some(token.as_str()));
    assert!(report.applied);
    let current = h.password(&arn, "AWSCURRENT").await;
    assert!(
        kind.can_login(&user, &current).await,
        "AWSCURRENT logs in again"
    );
    assert_eq!(h.version_with(&arn, "AWSCURRENT").await, token);
    // Next: the other stale AWSPENDING, once it is quiet.
    let later = recover_now(&h, &arn, true, now() + QUIET_PERIOD_SECS + 60).await;
    assert_eq!(
        later.proposal.kind,
        ProposalKind::ClearPending,
        "{later:#?}"
    );
    assert!(later.applied);
    h.rotate(&arn).await.expect("a rotation after the recovery");
}

async fn an_alternating_rotation_past_set_secret_is_finished(kind: Kind) {
    let f = standard_fixture(kind).await;
    let token = f.h.start_rotation(&f.arn).await;
    for step in [Step::Create, Step::Set] {
        f.h.step(&f.arn, &token, step).await.unwrap();
    }
    let report = recover_now(&f.h, &f.arn, true, now()).await;
    assert_eq!(report.proposal.kind, ProposalKind::Promote, "{report:#?}");
    assert!(report.applied);
    let stages = f.h.stages(&f.arn).await;
    assert_eq!(stages[&token], ["AWSCURRENT"], "{stages:?}");
    let (current_user, current_pw) = f.staged_login("AWSCURRENT").await;
    let (previous_user, previous_pw) = f.staged_login("AWSPREVIOUS").await;
    assert_eq!(current_user, format!("{}_clone", f.user));
    assert_eq!(previous_user, f.user);
    f.check_privileges(&current_user, &current_pw).await;
    f.check_privileges(&previous_user, &previous_pw).await;
    f.h.rotate(&f.arn)
        .await
        .expect("a rotation after the recovery");
}

async fn nothing_is_done_when_nothing_logs_in(kind: Kind) {
    let (h, arn, user) = single_user(kind).await;
    kind.reset_password(&user, &format!("by-hand-{}", unique("pw")))
        .await;
    let stages = h.stages(&arn).await;
    let report = recover_now(&h, &arn, true, now() + QUIET_PERIOD_SECS * 10).await;
    assert_eq!(report.proposal.kind, ProposalKind::None, "{report:#?}");
    assert!(!report.applied);
    assert!(
        report.proposal.reason.contains("by hand"),
        "{}",
        report.proposal.reason
    );
    assert!(
        report.versions.iter().all(|v| v.logs_in != Some(true)),
        "{report:#?}"
    );
    assert_eq!(h.stages(&arn).await, stages);
}

#[tokio::test]
async fn an_unreachable_database_is_named_and_the_rest_skipped() {
    needs_servers!();
    let h = Harness::new();
    let kind = Kind::Postgres;
    let mut value = kind.secret(&unique("ops"), "initial-Pa55");
    // A loopback port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    value["port"] = json!(port);
    let arn = h.create_secret(&value).await;
    let report = check(&h, &arn).await;
    assert_eq!(status(&report, "dns"), Status::Pass);
    assert_eq!(status(&report, "tcp"), Status::Fail, "{report:#?}");
    assert_eq!(status(&report, "login"), Status::Skip);
    assert_eq!(status(&report, "own-password"), Status::Skip);
    assert!(
        h.logins().is_empty(),
        "no login was tried: {:?}",
        h.logins()
    );
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_is_one_clear_problem() {
    needs_servers!();
    let h = Harness::new();
    let arn = h
        .create_secret(&json!({"engine": "oracle", "username": "x"}))
        .await;
    let report = check(&h, &arn).await;
    assert_eq!(status(&report, "secret-value"), Status::Fail, "{report:#?}");
    assert_eq!(status(&report, "login"), Status::Skip);
    assert_eq!(report.engine, None);
}

#[tokio::test]
async fn the_audit_lists_this_functions_secrets_and_their_schedule() {
    needs_servers!();
    let (h, arn, _) = single_user(Kind::Postgres).await;
    let function = format!(
        "arn:aws:lambda:us-east-1:123456789012:function:{}",
        unique("audit")
    );
    // A secret rotated by this function, and one whose rotation was turned off.
    for (id, enabled) in [
        (&arn, true),
        (&h.create_secret(&json!({"a": 1})).await, false),
    ] {
        let _ =
            h.sm.rotate_secret()
                .secret_id(id.as_str())
                .rotation_lambda_arn(&function)
                .rotation_rules(
                    aws_sdk_secretsmanager::types::RotationRulesType::builder()
                        .schedule_expression("rate(30 days)")
                        .duration("3h")
                        .build(),
                )
                .send()
                .await;
        if !enabled {
            h.sm.cancel_rotate_secret()
                .secret_id(id.as_str())
                .send()
                .await
                .unwrap();
        }
    }
    let report = audit::audit(&admin(&h), &format!("{function}:live"), now())
        .await
        .expect("audit");
    let listed: Vec<&str> = report
        .overdue
        .iter()
        .map(|o| o.secret_id.as_str())
        .collect();
    assert_eq!(report.secrets, 2, "{report:#?}");
    assert_eq!(report.overdue.len(), 1, "{report:#?}");
    assert!(
        !listed.contains(&arn.as_str()),
        "rotated on schedule: {report:#?}"
    );
    assert!(
        report.overdue[0].reason.contains("turned off"),
        "{report:#?}"
    );
    // A month and a half later, both are overdue.
    let later = audit::audit(&admin(&h), &function, now() + 45 * 86_400)
        .await
        .unwrap();
    assert_eq!(later.overdue.len(), 2, "{later:#?}");
}

#[tokio::test]
async fn bad_operator_events_are_refused_before_any_call() {
    let error = rotation::Invocation::from_json(json!({"Action": "recover"})).unwrap_err();
    assert!(matches!(error, RotationError::InvalidEvent(_)));
}

/// Whoever can write the secret may add a version that names another host. Recovery tries each
/// version's credential against that version's own host only: the hostile version's host sees
/// one connection (its own credential), never the others', and with AWSCURRENT's login
/// unknown nothing is proposed.
#[tokio::test]
async fn recovery_sends_each_credential_only_to_its_own_host() {
    needs_servers!();
    let kind = Kind::Postgres;
    let (h, arn, user) = single_user(kind).await;

    // A listener that counts connections and closes each at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });

    let mut hostile = kind.secret(&user, "attacker-Pa55");
    hostile["host"] = json!("127.0.0.1");
    hostile["port"] = json!(port);
    hostile["ssl"] = json!(false);
    // Made AWSCURRENT by an explicit move (moto may leave AWSCURRENT on two versions when a
    // value is put with it).
    let token = common::new_token();
    h.sm.put_secret_value()
        .secret_id(&arn)
        .client_request_token(&token)
        .secret_string(hostile.to_string())
        .version_stages("HOSTILE")
        .send()
        .await
        .unwrap();
    let current = h.version_with(&arn, "AWSCURRENT").await;
    h.sm.update_secret_version_stage()
        .secret_id(&arn)
        .version_stage("AWSCURRENT")
        .move_to_version_id(&token)
        .remove_from_version_id(current)
        .send()
        .await
        .unwrap();

    let report = recover_now(&h, &arn, true, now() + QUIET_PERIOD_SECS * 10).await;
    assert_eq!(report.versions[0].version_id, token, "{report:#?}");
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "{report:#?}"
    );
    assert_eq!(report.versions[0].logs_in, None, "{report:#?}");
    // The earlier versions name another endpoint than AWSCURRENT: recovery could never promote
    // them, so it does not try them (no login, and no failed login, on the real server).
    assert!(
        report.versions[1..]
            .iter()
            .all(|v| v.logs_in.is_none() && v.detail.starts_with("not tried")),
        "{report:#?}"
    );
    assert_eq!(report.proposal.kind, ProposalKind::None, "{report:#?}");
    assert!(!report.applied);
}

/// With the stack's settings, preflight and recover refuse a master secret, and a secret the
/// stack does not configure, before anything is read or any login is made: a preflight naming
/// the master once logged in as the master.
#[tokio::test]
async fn operator_actions_refuse_what_the_stack_does_not_rotate_here() {
    needs_servers!();
    let f = standard_fixture(Kind::Postgres).await;
    let value = f.h.staged(&f.arn, "AWSCURRENT").await.unwrap();
    let master = value["masterarn"].as_str().unwrap().to_owned();
    let (_, other, _) = single_user(Kind::Postgres).await;

    let settings = rotation_contract::settings::Settings::new(
        [(
            f.arn.clone(),
            rotation_contract::settings::SecretSettings::new(
                rotation_contract::settings::Strategy::AlternatingUsers,
                Some(master.clone()),
            ),
        )]
        .into(),
    );
    let path = std::env::temp_dir().join(format!("{}.json", unique("settings")));
    std::fs::write(&path, settings.to_json()).unwrap();
    let h = Harness::with_config(&[("ROTATION_SETTINGS", path.to_str().unwrap())]);

    for (secret, named) in [
        (&master, "master secret of"),
        (&other, "does not configure"),
    ] {
        let report = check(&h, secret).await;
        assert_eq!(status(&report, "rotation-settings"), Status::Fail);
        let detail = &report
            .checks
            .iter()
            .find(|c| c.check == "rotation-settings")
            .unwrap()
            .detail;
        assert!(detail.contains(named), "{report:#?}");
        assert!(!report.ok);
        let error = recover(&h.rotator, &admin(&h), secret, true, now())
            .await
            .unwrap_err();
        assert_eq!(error.kind(), "SecretNotConfigured", "{error}");
        assert!(h.logins().is_empty(), "{secret}: {:?}", h.logins());
    }
    // The configured secret is checked as usual.
    let report = check(&h, &f.arn).await;
    assert_eq!(
        status(&report, "master-privileges"),
        Status::Pass,
        "{report:#?}"
    );
    std::fs::remove_file(path).unwrap();
}
