//! MariaDB with `old_passwords = 1`, kept on some servers for legacy clients: a password
//! change that lets the server hash the password stores the pre-4.1 hash, which no client logs
//! in with under `secure_auth`, and a single-user rotation then locks the application out.
//! The function pins `old_passwords = 0` in its sessions and sends a native hash; preflight
//! reports the setting.
//!
//! Its own test binary, with one test: the setting is global, and while it is on, any other
//! test creating a user with a password would get the old hash.

use crate::common;

use common::pair::{connect, standard_fixture};
use common::{Harness, Kind, unique};
use rotation::ops::Status;
use rotation::ops::preflight::preflight;
use rotation::store::AwsSecretStore;

const KIND: Kind = Kind::MariaDb;

async fn set_old_passwords(value: u8) {
    let mut admin = KIND.admin(KIND.tls_port()).await;
    admin
        .execute(&format!("SET GLOBAL old_passwords = {value}"))
        .await;
}

#[tokio::test]
async fn mariadb_old_passwords_locks_nobody_out_and_is_reported() {
    let _server_wide = common::SERVER_WIDE.lock().await;
    needs_servers!();
    // Users and secrets first, while the server makes new-format hashes.
    let h = Harness::new();
    let user = unique("oldpw");
    KIND.create_user(&user, "initial-Pa55").await;
    let arn = h.create_secret(&KIND.secret(&user, "initial-Pa55")).await;
    let f = standard_fixture(KIND).await;

    set_old_passwords(1).await;
    let outcome: Result<_, String> = async {
        h.rotate(&arn)
            .await
            .map_err(|(step, e)| format!("single user, {step:?}: {e}"))?;
        let single = h.password(&arn, "AWSCURRENT").await;
        let single_logs_in = KIND.can_login(&user, &single).await;
        f.h.rotate(&f.arn)
            .await
            .map_err(|(step, e)| format!("alternating, {step:?}: {e}"))?;
        let (clone, clone_password) = f.staged_login("AWSCURRENT").await;
        // Over TLS: the fixture's user, and so its partner, requires it.
        let clone_logs_in = connect(KIND, &clone, &clone_password).await.is_ok();
        let admin = AwsSecretStore::from_client(h.sm.clone());
        let report = preflight(&h.rotator, &admin, None, &arn).await;
        Ok((single_logs_in, clone_logs_in, report))
    }
    .await;
    // Back to the default before anything can fail, for the tests that run after this one.
    set_old_passwords(0).await;

    let (single_logs_in, clone_logs_in, report) = outcome.unwrap();
    assert!(single_logs_in, "the single user's new password logs in");
    assert!(clone_logs_in, "the partner's new password logs in");
    let settings = report
        .checks
        .iter()
        .find(|c| c.check == "server-settings")
        .unwrap_or_else(|| panic!("no server-settings check: {report:#?}"));
    assert_eq!(settings.status, Status::Warn, "{report:#?}");
    assert!(
        settings.detail.contains("old_passwords = 1"),
        "{}",
        settings.detail
    );
}
