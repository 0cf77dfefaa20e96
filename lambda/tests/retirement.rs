//! Retiring the previous user (`retire_previous_after`) and the drift check, against the real
//! servers: after a rotation the previous user logs in until its grace, then not; the next
//! rotation makes it log in again; the user the pair creates never inherits a retirement; and
//! AWSCURRENT always logs in.

use std::time::Duration;

use rotation::db::{Connector, Drivers};
use rotation::ops::drift::{RunLimits, drift_check};
use rotation::secret::{SecretValue, Tls};
use rotation_contract::report::DriftStatus;
use rotation_contract::settings::{SecretSettings, Settings, Strategy};

use crate::common;

use common::pair::{Fixture, standard_fixture};
use common::{Harness, Kind, env};

per_engine!(
    the_previous_user_logs_in_until_the_grace_and_the_next_rotation_restores_it,
    the_drift_check_reports_a_changed_password_with_one_login_per_user,
);

const GRACE: u64 = 3600;

/// A harness whose function reads a settings file that configures the fixture's secret with
/// its master and a grace, as synth renders it.
fn stack_harness(f: &Fixture, master_arn: &str, grace: Option<u64>) -> Harness {
    let mut secrets = std::collections::BTreeMap::new();
    secrets.insert(
        f.arn.clone(),
        SecretSettings {
            retire_previous_after_seconds: grace,
            ..SecretSettings::new(Strategy::AlternatingUsers, Some(master_arn.to_owned()))
        },
    );
    let dir = std::env::temp_dir().join(format!("retirement-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.json", f.schema));
    std::fs::write(&path, Settings::new(secrets).to_json()).unwrap();
    Harness::with_config(&[("ROTATION_SETTINGS", &path.display().to_string())])
}

async fn master_arn(f: &Fixture) -> String {
    f.h.staged(&f.arn, "AWSCURRENT").await.unwrap()["masterarn"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The master's session, as the function opens it.
async fn master_session(f: &Fixture) -> Box<dyn rotation::db::Session> {
    let master =
        f.h.staged(&master_arn(f).await, "AWSCURRENT")
            .await
            .unwrap();
    let login = SecretValue::parse(&master.to_string())
        .unwrap()
        .login(Tls::VerifyFull)
        .unwrap();
    Drivers::new(env().ca.clone(), Duration::from_secs(10))
        .login(&login)
        .await
        .unwrap()
        .expect("the master logs in")
}

fn admin() -> rotation::store::AwsSecretStore {
    rotation::store::AwsSecretStore::from_client(common::sm_client())
}

/// A login as an application makes it, over verified TLS.
async fn logs_in(kind: Kind, user: &str, password: &str) -> bool {
    common::pair::connect(kind, user, password).await.is_ok()
}

fn now() -> i64 {
    rotation::metrics::now_secs()
}

async fn the_previous_user_logs_in_until_the_grace_and_the_next_rotation_restores_it(kind: Kind) {
    let f = standard_fixture(kind).await;
    let master = master_arn(&f).await;
    let h = stack_harness(&f, &master, Some(GRACE));
    let clone = format!("{}_clone", f.user);

    h.rotate(&f.arn).await.expect("rotation");
    let (current, current_pw) = f.staged_login("AWSCURRENT").await;
    let (previous, previous_pw) = f.staged_login("AWSPREVIOUS").await;
    assert_eq!(
        (current.as_str(), previous.as_str()),
        (clone.as_str(), f.user.as_str())
    );
    assert!(logs_in(kind, &current, &current_pw).await);
    assert!(
        logs_in(kind, &previous, &previous_pw).await,
        "inside the grace, AWSPREVIOUS logs in"
    );

    // The grace runs out: the retirement, as the drift check (MySQL) or finishSecret's VALID
    // UNTIL (PostgreSQL) makes it, with a time already past.
    let mut session = master_session(&f).await;
    session
        .retire_partner(&current, None, &previous, now() - 60)
        .await
        .expect("retire the previous user");
    // Again: nothing changes, nothing fails.
    session
        .retire_partner(&current, None, &previous, now() - 60)
        .await
        .expect("retire it again");
    // Never a user outside the pair, never the master. (Which half of the pair is current
    // only Secrets Manager knows: the callers read AWSCURRENT before they retire its partner.)
    let master_user = f.h.staged(&master, "AWSCURRENT").await.unwrap()["username"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = session
        .retire_partner(&current, None, &master_user, now() - 60)
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), "UnsafePartner", "{refused}");
    session.close().await;
    assert!(
        logs_in(kind, &current, &current_pw).await,
        "AWSCURRENT always logs in"
    );
    assert!(
        !logs_in(kind, &previous, &previous_pw).await,
        "after the grace, AWSPREVIOUS does not"
    );
    assert!(logs_in(kind, &master_user, "master-Pa55").await);

    // The next rotation gives the retired user the new password: it logs in again, and the
    // user it leaves (the clone) keeps logging in through its grace.
    h.rotate(&f.arn).await.expect("the next rotation");
    let (current, current_pw) = f.staged_login("AWSCURRENT").await;
    let (previous, previous_pw) = f.staged_login("AWSPREVIOUS").await;
    assert_eq!(current, f.user);
    assert!(logs_in(kind, &current, &current_pw).await, "restored");
    assert!(logs_in(kind, &previous, &previous_pw).await);
    f.check_privileges(&current, &current_pw).await;

    // And the one after: the clone, retired by the PostgreSQL grace now set on it, gets the
    // user's VALID UNTIL back; on MySQL it was never locked (no drift check ran).
    h.rotate(&f.arn).await.expect("a third rotation");
    let (current, current_pw) = f.staged_login("AWSCURRENT").await;
    assert_eq!(current, clone);
    assert!(logs_in(kind, &current, &current_pw).await);
    if kind.is_postgres() {
        let mut admin = kind.admin(kind.tls_port()).await;
        let clone_expiry = admin
            .text(&format!(
                "SELECT COALESCE(rolvaliduntil::text, 'none') FROM pg_roles WHERE rolname = '{clone}'"
            ))
            .await;
        let user_expiry = admin
            .text(&format!(
                "SELECT COALESCE(rolvaliduntil::text, 'none') FROM pg_roles WHERE rolname = '{}'",
                f.user
            ))
            .await;
        assert_eq!(
            clone_expiry, "infinity",
            "the current user carries no retirement"
        );
        assert_ne!(
            user_expiry, "none",
            "the previous user has its grace: {user_expiry}"
        );
    }
}

async fn the_drift_check_reports_a_changed_password_with_one_login_per_user(kind: Kind) {
    let f = standard_fixture(kind).await;
    let master = master_arn(&f).await;
    let h = stack_harness(&f, &master, Some(GRACE));
    h.rotate(&f.arn).await.expect("rotation");

    let run = |now_secs| RunLimits {
        now_secs,
        deadline: None,
    };
    let report = drift_check(&h.rotator, &admin(), None, run(now()))
        .await
        .unwrap();
    assert_eq!(report.drifted, 0, "{report:#?}");
    assert_eq!(report.results[0].status, DriftStatus::Ok);

    // After the grace (by the check's clock): MariaDB's previous user is locked by the
    // check; PostgreSQL's VALID UNTIL from finishSecret is still ahead on the server's clock.
    let (previous, previous_pw) = f.staged_login("AWSPREVIOUS").await;
    let report = drift_check(&h.rotator, &admin(), None, run(now() + 2 * GRACE as i64))
        .await
        .unwrap();
    assert_eq!(report.drifted, 0, "{report:#?}");
    let retirement = report.results[0].retirement.clone().unwrap_or_default();
    assert!(retirement.contains("no longer logs in"), "{retirement}");
    if !kind.is_postgres() {
        assert!(!logs_in(kind, &previous, &previous_pw).await, "locked");
    }

    // A password changed behind the function's back: reported, with one login of that user.
    let (current, _) = f.staged_login("AWSCURRENT").await;
    kind.admin(kind.tls_port())
        .await
        .reset_password(&current, "changed-By-hand-1")
        .await;
    h.reset_stats();
    let report = drift_check(&h.rotator, &admin(), None, run(now()))
        .await
        .unwrap();
    assert_eq!(report.drifted, 1, "{report:#?}");
    assert_eq!(report.results[0].problems[0].check, "login");
    let logins = h.logins();
    let of = |user: &str| logins.iter().filter(|(u, _)| u == user).count();
    assert_eq!(of(&current), 1, "{logins:?}");
}
