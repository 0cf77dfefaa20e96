//! Single-user rotation against real PostgreSQL and MariaDB servers, driven through the moto
//! server as Secrets Manager would drive it. Every scenario runs once per engine.

use crate::common;

use common::{Harness, Kind, unique};
use rotation::Step;
use serde_json::json;

per_engine!(
    full_rotation,
    each_step_twice_is_harmless,
    interrupted_after_set_secret_converges,
    unknown_fields_survive,
    hostile_username_and_passwords,
    previous_credential_recovers,
    no_working_credential_is_reported,
    plaintext_is_refused_without_tls,
    host_name_is_verified,
    explicit_plaintext_works,
    unreachable_host_is_reported,
    guard_refuses_without_touching_the_database,
    missing_ca_bundle_is_reported,
    repeated_rotations,
    never_enabled_rotation_is_not_refused,
);

/// A user and a secret for it on the TLS server.
async fn setup(h: &Harness, kind: Kind, user: &str, password: &str) -> String {
    kind.create_user(user, password).await;
    h.create_secret(&kind.secret(user, password)).await
}

async fn full_rotation(kind: Kind) {
    let h = Harness::new();
    let user = unique("full");
    let arn = setup(&h, kind, &user, "initial-Pa55").await;

    let token = h.rotate(&arn).await.expect("rotation");

    let new = h.password(&arn, "AWSCURRENT").await;
    assert_ne!(new, "initial-Pa55");
    assert_eq!(new.len(), 32);
    assert!(
        kind.can_login(&user, &new).await,
        "new AWSCURRENT must log in"
    );
    assert!(
        !kind.can_login(&user, "initial-Pa55").await,
        "old password must not"
    );
    assert_eq!(h.password(&arn, "AWSPREVIOUS").await, "initial-Pa55");
    assert_eq!(h.stages(&arn).await[&token], vec!["AWSCURRENT"]);

    // The happy path never offers a password the server refuses.
    assert!(
        h.logins().iter().all(|(_, accepted)| *accepted),
        "{:?}",
        h.logins()
    );
    // And makes only the Secrets Manager calls the protocol needs:
    // create 3 (describe, current, put), set 3, test 2, finish 3 (describe, the pending value
    // it will not promote without, the move).
    let calls = h.calls();
    assert_eq!(calls.len(), 11, "{calls:?}");
    assert_eq!(calls.iter().filter(|c| **c == "DescribeSecret").count(), 4);
}

async fn each_step_twice_is_harmless(kind: Kind) {
    let h = Harness::new();
    let user = unique("twice");
    let arn = setup(&h, kind, &user, "initial-Pa55").await;
    let token = h.start_rotation(&arn).await;
    for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
        h.step(&arn, &token, step)
            .await
            .unwrap_or_else(|e| panic!("{step:?}: {e}"));
        h.step(&arn, &token, step)
            .await
            .unwrap_or_else(|e| panic!("{step:?} again: {e}"));
    }
    h.end_rotation(&arn, &token).await;
    let new = h.password(&arn, "AWSCURRENT").await;
    assert!(kind.can_login(&user, &new).await);
    // A second createSecret must not have replaced the stored value.
    assert_eq!(h.stages(&arn).await.len(), 2);
}

async fn interrupted_after_set_secret_converges(kind: Kind) {
    let h = Harness::new();
    let user = unique("crash");
    let arn = setup(&h, kind, &user, "initial-Pa55").await;
    let token = h.start_rotation(&arn).await;
    h.step(&arn, &token, Step::Create).await.unwrap();
    h.step(&arn, &token, Step::Set).await.unwrap();
    // The function dies here. Secrets Manager retries the rotation with the same token.
    for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
        h.step(&arn, &token, step)
            .await
            .unwrap_or_else(|e| panic!("{step:?}: {e}"));
    }
    h.end_rotation(&arn, &token).await;
    let new = h.password(&arn, "AWSCURRENT").await;
    assert!(kind.can_login(&user, &new).await);
    assert!(!kind.can_login(&user, "initial-Pa55").await);
}

async fn unknown_fields_survive(kind: Kind) {
    let h = Harness::new();
    let user = unique("fields");
    kind.create_user(&user, "initial-Pa55").await;
    let mut value = kind.secret(&user, "initial-Pa55");
    value["team"] = json!({"owner": "payments", "pager": ["a", "b"]});
    value["port"] = json!(kind.tls_port().to_string()); // a port given as a string
    value["note"] = json!("keep me");
    let arn = h.create_secret(&value).await;
    h.rotate(&arn).await.expect("rotation");
    let current = h.staged(&arn, "AWSCURRENT").await.unwrap();
    for field in ["team", "port", "note", "engine", "host", "username"] {
        assert_eq!(current[field], value[field], "{field}");
    }
}

async fn hostile_username_and_passwords(kind: Kind) {
    // Every character that could end a literal, escape, comment or separate statements.
    let user = unique("o'r\"a;\\%_`ü--");
    let initial = "it's a \\ \"pass\"; -- % ü";
    let h = Harness::with_config(&[("EXCLUDE_CHARACTERS", ""), ("PASSWORD_LENGTH", "96")]);
    let arn = setup(&h, kind, &user, initial).await;
    for _ in 0..3 {
        h.rotate(&arn).await.expect("rotation");
        let new = h.password(&arn, "AWSCURRENT").await;
        assert!(
            kind.can_login(&user, &new).await,
            "new password must log in"
        );
    }
    // Over three 96-character passwords, the quote and the backslash are all but certain.
    assert!(!kind.can_login(&user, initial).await);
}

async fn previous_credential_recovers(kind: Kind) {
    let h = Harness::new();
    let user = unique("prev");
    let arn = setup(&h, kind, &user, "initial-Pa55").await;
    h.rotate(&arn).await.expect("first rotation");
    // Someone restores the old password by hand: only AWSPREVIOUS logs in now.
    kind.reset_password(&user, "initial-Pa55").await;
    h.rotate(&arn)
        .await
        .expect("second rotation recovers through AWSPREVIOUS");
    let new = h.password(&arn, "AWSCURRENT").await;
    assert!(kind.can_login(&user, &new).await);
}

async fn no_working_credential_is_reported(kind: Kind) {
    let h = Harness::new();
    let user = unique("lost");
    kind.create_user(&user, "real-Pa55").await;
    let arn = h.create_secret(&kind.secret(&user, "stale-Pa55")).await;
    let (step, error) = h.rotate(&arn).await.unwrap_err();
    assert_eq!(step, Step::Set);
    assert_eq!(error.kind(), "NoWorkingCredential");
    let message = error.to_string();
    assert!(
        message.contains(&user) && message.contains("AWSCURRENT"),
        "{message}"
    );
    assert!(!message.contains("stale-Pa55"), "{message}");
    assert!(kind.can_login(&user, "real-Pa55").await);
}

async fn plaintext_is_refused_without_tls(kind: Kind) {
    let h = Harness::new();
    let user = unique("notls");
    kind.create_user_on(kind.plain_port(), &user, "initial-Pa55")
        .await;
    let mut value = kind.secret(&user, "initial-Pa55");
    value["port"] = json!(kind.plain_port());
    let arn = h.create_secret(&value).await;
    let (step, error) = h.rotate(&arn).await.unwrap_err();
    assert_eq!(step, Step::Set);
    assert_eq!(error.kind(), "DatabaseTlsError", "{error}");
    assert!(
        kind.can_login_on(kind.plain_port(), &user, "initial-Pa55")
            .await
    );
}

async fn host_name_is_verified(kind: Kind) {
    let h = Harness::new();
    let user = unique("name");
    kind.create_user(&user, "initial-Pa55").await;
    // The server certificate names `localhost` only.
    let mut value = kind.secret(&user, "initial-Pa55");
    value["host"] = json!("127.0.0.1");
    let arn = h.create_secret(&value).await;
    let (_, error) = h.rotate(&arn).await.unwrap_err();
    assert_eq!(error.kind(), "DatabaseTlsError", "{error}");
    assert!(error.to_string().contains("CA bundle"), "{error}");
    assert!(kind.can_login(&user, "initial-Pa55").await);
}

async fn explicit_plaintext_works(kind: Kind) {
    let h = Harness::new();
    let user = unique("plain");
    kind.create_user_on(kind.plain_port(), &user, "initial-Pa55")
        .await;
    let mut value = kind.secret(&user, "initial-Pa55");
    value["port"] = json!(kind.plain_port());
    value["ssl"] = json!(false);
    let arn = h.create_secret(&value).await;
    h.rotate(&arn)
        .await
        .expect("rotation over plaintext chosen by the secret");
    let new = h.password(&arn, "AWSCURRENT").await;
    assert!(kind.can_login_on(kind.plain_port(), &user, &new).await);
}

async fn unreachable_host_is_reported(kind: Kind) {
    let h = Harness::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener); // nothing listens there now
    let mut value = kind.secret("nobody", "initial-Pa55");
    value["port"] = json!(port);
    let arn = h.create_secret(&value).await;
    let (step, error) = h.rotate(&arn).await.unwrap_err();
    assert_eq!(step, Step::Set);
    assert_eq!(error.kind(), "DatabaseUnreachable", "{error}");
    assert!(error.to_string().contains("security group"), "{error}");
}

async fn guard_refuses_without_touching_the_database(kind: Kind) {
    let h = Harness::new();
    let user = unique("guard");
    let arn = setup(&h, kind, &user, "initial-Pa55").await;

    // Rotation turned off (CancelRotateSecret): every step is refused.
    let token = h.start_rotation(&arn).await;
    h.sm.cancel_rotate_secret()
        .secret_id(&arn)
        .send()
        .await
        .unwrap();
    for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
        let error = h.step(&arn, &token, step).await.unwrap_err();
        assert_eq!(error.kind(), "RotationDisabled", "{error}");
    }
    h.sm.update_secret_version_stage()
        .secret_id(&arn)
        .version_stage("AWSPENDING")
        .remove_from_version_id(&token)
        .send()
        .await
        .unwrap();

    // A token that is not a version of the secret.
    let first = h.rotate(&arn).await.expect("rotation");
    h.reset_stats();
    let error = h
        .step(&arn, &common::new_token(), Step::Set)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "UnknownVersion", "{error}");

    // A version that is not AWSPENDING (the old one, now AWSPREVIOUS).
    let previous = h.version_with(&arn, "AWSPREVIOUS").await;
    let error = h.step(&arn, &previous, Step::Set).await.unwrap_err();
    assert_eq!(error.kind(), "VersionNotPending", "{error}");

    // An AWSCURRENT version: a retried finishSecret, done without any work.
    h.step(&arn, &first, Step::Finish).await.unwrap();
    h.step(&arn, &first, Step::Set).await.unwrap();

    assert!(
        h.logins().is_empty(),
        "the guard must stop before any login: {:?}",
        h.logins()
    );
    assert!(
        h.calls().iter().all(|c| *c == "DescribeSecret"),
        "{:?}",
        h.calls()
    );
}

async fn repeated_rotations(kind: Kind) {
    let h = Harness::new();
    let user = unique("again");
    let arn = setup(&h, kind, &user, "initial-Pa55").await;
    let mut seen = vec!["initial-Pa55".to_owned()];
    for _ in 0..3 {
        h.rotate(&arn).await.expect("rotation");
        let new = h.password(&arn, "AWSCURRENT").await;
        assert!(!seen.contains(&new));
        assert!(kind.can_login(&user, &new).await);
        assert_eq!(h.password(&arn, "AWSPREVIOUS").await, *seen.last().unwrap());
        seen.push(new);
    }
    assert!(
        h.logins().iter().all(|(_, accepted)| *accepted),
        "{:?}",
        h.logins()
    );
}

async fn missing_ca_bundle_is_reported(kind: Kind) {
    let h = Harness::with_config(&[("DB_CA_BUNDLE", "/nonexistent/global-bundle.pem")]);
    let user = unique("nolayer");
    let arn = setup(&h, kind, &user, "initial-Pa55").await;
    let (step, error) = h.rotate(&arn).await.unwrap_err();
    assert_eq!(
        (step, error.kind()),
        (Step::Set, "DatabaseTlsError"),
        "{error}"
    );
    assert!(error.to_string().contains("driver layer"), "{error}");
    assert!(
        h.logins().is_empty(),
        "no connection is tried without the bundle"
    );
    assert!(kind.can_login(&user, "initial-Pa55").await);
}

/// DescribeSecret leaves `RotationEnabled` out for a secret whose rotation was never set up
/// (moto does too); AWS's templates go on then, and so does the guard.
async fn never_enabled_rotation_is_not_refused(kind: Kind) {
    let h = Harness::new();
    let user = unique("never");
    let arn = setup(&h, kind, &user, "initial-Pa55").await;
    let token = common::new_token();
    h.sm.put_secret_value()
        .secret_id(&arn)
        .client_request_token(&token)
        .secret_string(kind.secret(&user, "next-Pa55").to_string())
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    // The pending value is already there: createSecret has nothing to do, and says so.
    h.step(&arn, &token, Step::Create)
        .await
        .expect("the guard goes on without RotationEnabled");
}

/// PASSWORD_LENGTH past MySQL's longest password (256) is refused for a MariaDB secret before
/// anything changes; PostgreSQL takes it.
#[tokio::test]
async fn password_length_is_bounded_by_the_engine() {
    needs_servers!();
    let h = Harness::with_config(&[("PASSWORD_LENGTH", "300")]);
    let user = unique("long");
    let arn = setup(&h, Kind::MariaDb, &user, "initial-Pa55").await;
    let (step, error) = h.rotate(&arn).await.unwrap_err();
    assert_eq!((step, error.kind()), (Step::Create, "InvalidConfiguration"));
    assert!(error.to_string().contains("256"), "{error}");
    assert!(h.logins().is_empty());
    assert!(Kind::MariaDb.can_login(&user, "initial-Pa55").await);

    let user = unique("long");
    let arn = setup(&h, Kind::Postgres, &user, "initial-Pa55").await;
    h.rotate(&arn)
        .await
        .expect("a 300-character PostgreSQL password");
    let new = h.password(&arn, "AWSCURRENT").await;
    assert_eq!(new.len(), 300);
    assert!(Kind::Postgres.can_login(&user, &new).await);
}
