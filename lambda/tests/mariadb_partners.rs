//! Which existing MariaDB accounts an alternating-users rotation may take as the partner.
//!
//! MariaDB keeps no link between `name` and `name_clone`, so the function records the pairs
//! it makes, and an operator adopts the ones made elsewhere (AWS's rotation templates, by
//! hand) with `{"Action": "adopt-partner"}`. Everything else is refused before any change:
//! an unrecorded partner, a role, a locked account, a plugin whose hash the function cannot
//! compute, and a name whose partner's partner is not itself.

use crate::common;

use common::pair::{Fixture, connect, standard_fixture};
use common::{Harness, Kind, unique};
use rotation::Step;
use rotation::error::RotationError;
use rotation::ops::adopt::adopt;
use rotation::store::AwsSecretStore;
use serde_json::json;

const KIND: Kind = Kind::MariaDb;

async fn run(sql: &str) {
    let mut admin = KIND.admin(KIND.tls_port()).await;
    admin.execute(sql).await;
}

async fn adopt_for(h: &Harness, arn: &str) -> Result<serde_json::Value, RotationError> {
    let admin = AwsSecretStore::from_client(h.sm.clone());
    adopt(&h.rotator, &admin, arn)
        .await
        .map(|report| serde_json::to_value(report).unwrap())
}

/// A rotation of the fixture's secret that must be refused at setSecret as an unsafe
/// partner; returns the message.
async fn refused(f: &Fixture) -> String {
    let (step, error) = f.h.rotate(&f.arn).await.unwrap_err();
    assert_eq!(step, Step::Set, "{error}");
    assert_eq!(error.kind(), "UnsafePartner", "{error}");
    let message = error.to_string();
    assert!(!message.contains("initial-Pa55"), "{message}");
    message
}

#[tokio::test]
async fn mariadb_unrecorded_partner_is_refused_until_adopted() {
    needs_servers!();
    let f = standard_fixture(KIND).await;
    let clone = format!("{}_clone", f.user);
    // Another team's `app_clone`, holding a subset of the user's privileges.
    run(&format!(
        "CREATE USER '{clone}'@'%' IDENTIFIED BY 'theirs-Pa55'"
    ))
    .await;
    run(&format!(
        "GRANT SELECT ON {}.orders TO '{clone}'@'%'",
        f.schema
    ))
    .await;

    let message = refused(&f).await;
    for needle in [clone.as_str(), "adopt-partner", "did not create it"] {
        assert!(message.contains(needle), "{message} should name {needle}");
    }
    assert!(
        KIND.can_login(&clone, "theirs-Pa55").await,
        "the partner's password is unchanged"
    );

    // The operator's explicit word: adopted, with nothing changed but the record.
    let report = adopt_for(&f.h, &f.arn).await.expect("adopt");
    assert_eq!(report["Action"], "adopt-partner");
    assert_eq!(report["Partner"], json!(clone));
    let text = report.to_string();
    for password in ["initial-Pa55", "master-Pa55", "theirs-Pa55"] {
        assert!(!text.contains(password), "a password in the report: {text}");
    }
    assert!(KIND.can_login(&clone, "theirs-Pa55").await);
    f.h.rotate(&f.arn).await.expect("a rotation after adoption");
    let (user, password) = f.staged_login("AWSCURRENT").await;
    assert_eq!(user, clone);
    f.check_privileges(&user, &password).await;
    assert!(!KIND.can_login(&clone, "theirs-Pa55").await);
}

#[tokio::test]
async fn mariadb_pair_made_by_aws_template_is_adopted_from_its_clone() {
    needs_servers!();
    // AWS's template rotated once already: the secret names `app_clone`, both users exist,
    // with the same privileges, and neither carries a record.
    let f = standard_fixture(KIND).await;
    let clone = format!("{}_clone", f.user);
    run(&format!(
        "CREATE USER '{clone}'@'%' IDENTIFIED BY 'clone-Pa55' REQUIRE SSL"
    ))
    .await;
    for sql in [
        format!(
            "GRANT SELECT, INSERT ON {}.orders TO '{clone}'@'%'",
            f.schema
        ),
        format!(
            "GRANT SELECT (name) ON {}.salaries TO '{clone}'@'%'",
            f.schema
        ),
        format!(
            "GRANT EXECUTE ON PROCEDURE {}.ping TO '{clone}'@'%'",
            f.schema
        ),
    ] {
        run(&sql).await;
    }
    let mut value = f.h.staged(&f.arn, "AWSCURRENT").await.unwrap();
    value["username"] = json!(clone);
    value["password"] = json!("clone-Pa55");
    let arn = f.h.create_secret(&value).await;

    let (step, error) = f.h.rotate(&arn).await.unwrap_err();
    assert_eq!(
        (step, error.kind()),
        (Step::Set, "UnsafePartner"),
        "{error}"
    );
    assert!(error.to_string().contains(&f.user), "{error}");
    // Over TLS: the fixture's user requires it.
    assert!(connect(KIND, &f.user, "initial-Pa55").await.is_ok());

    let report = adopt_for(&f.h, &arn).await.expect("adopt");
    assert_eq!(report["User"], json!(clone));
    assert_eq!(report["Partner"], json!(f.user));
    for round in 1..=2 {
        f.h.rotate(&arn)
            .await
            .unwrap_or_else(|(step, e)| panic!("rotation {round}, {step:?}: {e}"));
    }
    let value = f.h.staged(&arn, "AWSCURRENT").await.unwrap();
    let (user, password) = (
        value["username"].as_str().unwrap(),
        value["password"].as_str().unwrap(),
    );
    assert_eq!(user, clone);
    f.check_privileges(user, password).await;
}

#[tokio::test]
async fn mariadb_role_as_partner_is_refused() {
    needs_servers!();
    let f = standard_fixture(KIND).await;
    let clone = format!("{}_clone", f.user);
    run(&format!("CREATE ROLE '{clone}'")).await;
    let message = refused(&f).await;
    assert!(message.contains("is a role"), "{message}");
    let error = adopt_for(&f.h, &f.arn).await.unwrap_err();
    assert_eq!(error.kind(), "UnsafePartner", "{error}");
}

#[tokio::test]
async fn mariadb_locked_partner_is_refused_and_named() {
    needs_servers!();
    let f = standard_fixture(KIND).await;
    let clone = format!("{}_clone", f.user);
    run(&format!(
        "CREATE USER '{clone}'@'%' IDENTIFIED BY 'theirs-Pa55' ACCOUNT LOCK"
    ))
    .await;
    // Locked is refused even for an adopted pair, and adoption itself refuses it.
    let error = adopt_for(&f.h, &f.arn).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains(&format!("`{clone}`@`%` is locked")),
        "{message}"
    );
    let message = refused(&f).await;
    assert!(message.contains("is locked"), "{message}");
}

#[tokio::test]
async fn mariadb_partner_of_a_partner_that_is_not_the_user_is_refused() {
    needs_servers!();
    // `x_clone_clone`'s partner would be `x_clone`, whose partner is `x`.
    let f = standard_fixture(KIND).await;
    let odd = format!("{}_clone_clone", f.user);
    let clone = format!("{}_clone", f.user);
    KIND.create_user(&odd, "initial-Pa55").await;
    let mut value = f.h.staged(&f.arn, "AWSCURRENT").await.unwrap();
    value["username"] = json!(odd);
    let arn = f.h.create_secret(&value).await;
    let (step, error) = f.h.rotate(&arn).await.unwrap_err();
    assert_eq!(
        (step, error.kind()),
        (Step::Set, "UnsafePartner"),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains(&format!("`{clone}` is the partner of `{}`", f.user)),
        "{error}"
    );
    let mut admin = KIND.admin(KIND.tls_port()).await;
    assert!(!admin.user_exists(&clone).await, "nothing was created");
}

#[tokio::test]
async fn mariadb_plugin_without_a_hash_is_refused_before_any_change() {
    needs_servers!();
    // Single user: a password change would have to send the password itself.
    let h = Harness::new();
    let user = unique("plugin");
    run(&format!(
        "CREATE USER '{user}'@'%' IDENTIFIED VIA mysql_native_password \
         USING PASSWORD('initial-Pa55') OR unix_socket"
    ))
    .await;
    let arn = h.create_secret(&KIND.secret(&user, "initial-Pa55")).await;
    let (step, error) = h.rotate(&arn).await.unwrap_err();
    assert_eq!(step, Step::Set, "{error}");
    let message = error.to_string();
    assert!(
        message.contains("mysql_native_password OR unix_socket")
            && message.contains("Switch the account"),
        "{message}"
    );
    assert!(KIND.can_login(&user, "initial-Pa55").await);

    // Alternating: an existing partner with such a plugin is refused, adopted or not.
    let f = standard_fixture(KIND).await;
    let clone = format!("{}_clone", f.user);
    run(&format!(
        "CREATE USER '{clone}'@'%' IDENTIFIED VIA unix_socket"
    ))
    .await;
    let error = adopt_for(&f.h, &f.arn).await.unwrap_err();
    assert!(error.to_string().contains("unix_socket"), "{error}");
}

#[tokio::test]
async fn mariadb_user_that_can_write_the_record_of_pairs_is_refused() {
    needs_servers!();
    let f = standard_fixture(KIND).await;
    run(&format!("GRANT INSERT ON *.* TO '{}'@'%'", f.user)).await;
    let message = refused(&f).await;
    assert!(
        message.contains("INSERT ON *.*") && message.contains("record of pairs"),
        "{message}"
    );
    let mut admin = KIND.admin(KIND.tls_port()).await;
    assert!(!admin.user_exists(&format!("{}_clone", f.user)).await);
}
