//! Alternating-users rotation against real PostgreSQL and MariaDB servers: a master secret
//! keeps two users, `name` and `name_clone`, and each rotation changes the one not in use.

use crate::common;

use common::pair::{Fixture, connect, fixture, standard_fixture};
use common::{Harness, Kind, unique};
use rotation::Step;
use serde_json::json;

per_engine!(
    rotations_alternate_with_equal_privileges,
    an_open_connection_survives_a_rotation,
    missing_master_secret_is_refused,
    master_that_cannot_log_in_is_refused,
    master_for_another_host_is_refused,
    too_long_clone_name_is_refused,
    each_step_twice_is_harmless,
);

async fn rotations_alternate_with_equal_privileges(kind: Kind) {
    let f = standard_fixture(kind).await;
    let clone = format!("{}_clone", f.user);
    for expected in [&clone, &f.user, &clone, &f.user] {
        f.h.rotate(&f.arn).await.expect("rotation");
        let (current_user, current_pw) = f.staged_login("AWSCURRENT").await;
        let (previous_user, previous_pw) = f.staged_login("AWSPREVIOUS").await;
        assert_eq!(&current_user, expected);
        assert_ne!(current_user, previous_user);
        f.check_privileges(&current_user, &current_pw).await;
        f.check_privileges(&previous_user, &previous_pw).await;
    }
    // No login was refused on the way, and the master credential never entered the secret.
    assert!(f.h.logins().iter().all(|(_, ok)| *ok), "{:?}", f.h.logins());
    let current = f.h.staged(&f.arn, "AWSCURRENT").await.unwrap();
    assert!(!current.to_string().contains("master-Pa55"));
}

async fn an_open_connection_survives_a_rotation(kind: Kind) {
    let f = standard_fixture(kind).await;
    let mut app = connect(kind, &f.user, "initial-Pa55").await.unwrap();
    f.h.rotate(&f.arn).await.expect("rotation");
    app.run(&format!("SELECT count(*) FROM {}.orders", f.schema))
        .await
        .unwrap();
    // A new connection with the credential the application cached still logs in, too.
    assert_eq!(f.staged_login("AWSPREVIOUS").await.0, f.user);
    connect(kind, &f.user, "initial-Pa55").await.unwrap();
}

async fn each_step_twice_is_harmless(kind: Kind) {
    let f = standard_fixture(kind).await;
    let token = f.h.start_rotation(&f.arn).await;
    for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
        f.h.step(&f.arn, &token, step)
            .await
            .unwrap_or_else(|e| panic!("{step:?}: {e}"));
        f.h.step(&f.arn, &token, step)
            .await
            .unwrap_or_else(|e| panic!("{step:?} again: {e}"));
    }
    f.h.end_rotation(&f.arn, &token).await;
    let (user, password) = f.staged_login("AWSCURRENT").await;
    f.check_privileges(&user, &password).await;
}

/// Runs a rotation that must fail with `kind_name`, and checks AWSCURRENT still logs in.
async fn refused(f: &Fixture, kind_name: &str, needles: &[&str]) {
    let (_, error) = f.h.rotate(&f.arn).await.unwrap_err();
    assert_eq!(error.kind(), kind_name, "{error}");
    let message = error.to_string();
    for needle in needles {
        assert!(message.contains(needle), "{message} should name {needle}");
    }
    assert!(
        !message.contains("master-Pa55") && !message.contains("initial-Pa55"),
        "{message}"
    );
    let (user, password) = f.staged_login("AWSCURRENT").await;
    f.check_privileges(&user, &password).await;
}

async fn with_master_arn(f: &Fixture, master_arn: &str) {
    let mut value = f.h.staged(&f.arn, "AWSCURRENT").await.unwrap();
    value["masterarn"] = json!(master_arn);
    f.h.sm
        .put_secret_value()
        .secret_id(&f.arn)
        .secret_string(value.to_string())
        .send()
        .await
        .unwrap();
}

async fn missing_master_secret_is_refused(kind: Kind) {
    let f = standard_fixture(kind).await;
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-master-AbCdEf";
    with_master_arn(&f, missing).await;
    refused(&f, "MasterSecretError", &[missing, "masterarn"]).await;
}

async fn master_that_cannot_log_in_is_refused(kind: Kind) {
    let f = fixture(kind, |user, _| kind.secret(user, "wrong-master-Pa55")).await;
    refused(&f, "MasterSecretError", &["does not log in"]).await;
}

async fn master_for_another_host_is_refused(kind: Kind) {
    let f = fixture(kind, |user, password| {
        let mut value = kind.secret(user, password);
        value["host"] = json!("other-db.example.internal");
        value
    })
    .await;
    refused(
        &f,
        "MasterHostMismatch",
        &["other-db.example.internal", "localhost"],
    )
    .await;
}

async fn too_long_clone_name_is_refused(kind: Kind) {
    let h = Harness::new();
    // 60 characters: PostgreSQL's 63 bytes and MariaDB's 80 characters differ, so each engine
    // gets a name just too long for it.
    let user = match kind {
        Kind::Postgres | Kind::PostgresNew => unique(&"p".repeat(51)),
        Kind::MariaDb => unique(&"m".repeat(68)),
    };
    kind.create_user(&user, "initial-Pa55").await;
    let mut value = kind.secret(&user, "initial-Pa55");
    value["masterarn"] = json!("arn:aws:secretsmanager:us-east-1:123456789012:secret:m-AbCdEf");
    let arn = h.create_secret(&value).await;
    let (step, error) = h.rotate(&arn).await.unwrap_err();
    assert_eq!(step, Step::Create);
    assert_eq!(error.kind(), "UsernameTooLong", "{error}");
    assert!(error.to_string().contains("_clone"), "{error}");
    assert!(h.logins().is_empty());
    assert!(kind.can_login(&user, "initial-Pa55").await);
}

#[tokio::test]
async fn postgres_objects_created_by_either_user_are_shared() {
    needs_servers!();
    objects_created_by_either_user_are_shared(Kind::Postgres).await;
}

#[tokio::test]
async fn postgres_new_objects_created_by_either_user_are_shared() {
    needs_servers!();
    objects_created_by_either_user_are_shared(Kind::PostgresNew).await;
}

async fn objects_created_by_either_user_are_shared(kind: Kind) {
    let f = standard_fixture(kind).await;
    let s = &f.schema;
    f.h.rotate(&f.arn).await.expect("first rotation");
    let (clone, clone_pw) = f.staged_login("AWSCURRENT").await;
    let mut conn = connect(kind, &clone, &clone_pw).await.unwrap();
    conn.run(&format!("CREATE TABLE {s}.made_by_clone (x int)"))
        .await
        .unwrap();
    conn.run(&format!("INSERT INTO {s}.made_by_clone VALUES (1)"))
        .await
        .unwrap();

    f.h.rotate(&f.arn).await.expect("second rotation");
    let (base, base_pw) = f.staged_login("AWSCURRENT").await;
    assert_eq!(base, f.user);
    let mut conn = connect(kind, &base, &base_pw).await.unwrap();
    conn.run(&format!("SELECT x FROM {s}.made_by_clone"))
        .await
        .unwrap();
    conn.run(&format!("INSERT INTO {s}.made_by_clone VALUES (2)"))
        .await
        .unwrap();
    conn.run(&format!("CREATE TABLE {s}.made_by_base (x int)"))
        .await
        .unwrap();

    f.h.rotate(&f.arn).await.expect("third rotation");
    let (clone, clone_pw) = f.staged_login("AWSCURRENT").await;
    let mut conn = connect(kind, &clone, &clone_pw).await.unwrap();
    conn.run(&format!("INSERT INTO {s}.made_by_base VALUES (3)"))
        .await
        .unwrap();
    conn.run(&format!("DROP TABLE {s}.made_by_clone"))
        .await
        .unwrap();
}

#[tokio::test]
async fn mariadb_grants_added_since_the_last_rotation_follow() {
    needs_servers!();
    let f = standard_fixture(Kind::MariaDb).await;
    f.h.rotate(&f.arn).await.expect("first rotation");
    let (clone, _) = f.staged_login("AWSCURRENT").await;
    let mut admin = Kind::MariaDb.admin(Kind::MariaDb.tls_port()).await;
    admin
        .execute(&format!(
            "GRANT UPDATE ON {}.orders TO '{clone}'@'%'",
            f.schema
        ))
        .await;
    f.h.rotate(&f.arn).await.expect("second rotation");
    let (base, base_pw) = f.staged_login("AWSCURRENT").await;
    assert_eq!(base, f.user);
    let mut conn = connect(Kind::MariaDb, &base, &base_pw).await.unwrap();
    conn.run(&format!("UPDATE {}.orders SET note = 'x'", f.schema))
        .await
        .unwrap();
    // The TLS requirement followed too: plaintext is refused for both users.
    assert!(!Kind::MariaDb.can_login(&base, &base_pw).await);
}

#[tokio::test]
async fn a_pinned_strategy_refuses_the_other_kind_of_secret() {
    needs_servers!();
    let kind = Kind::Postgres;
    let single = Harness::with_config(&[("ROTATION_STRATEGY", "alternating-users")]);
    let user = unique("pin");
    kind.create_user(&user, "initial-Pa55").await;
    let arn = single
        .create_secret(&kind.secret(&user, "initial-Pa55"))
        .await;
    let (step, error) = single.rotate(&arn).await.unwrap_err();
    assert_eq!(
        (step, error.kind()),
        (Step::Create, "StrategyMismatch"),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("ROTATION_STRATEGY=alternating-users")
    );

    let f = standard_fixture(kind).await;
    let pinned = Harness::with_config(&[("ROTATION_STRATEGY", "single-user")]);
    let (step, error) = pinned.rotate(&f.arn).await.unwrap_err();
    assert_eq!(
        (step, error.kind()),
        (Step::Create, "StrategyMismatch"),
        "{error}"
    );
    assert!(pinned.logins().is_empty());
}

#[tokio::test]
async fn mariadb_clone_keeps_the_host_pattern_and_exactly_the_grants() {
    needs_servers!();
    let kind = Kind::MariaDb;
    let h = Harness::new();
    let schema = unique("hostpat");
    let user = format!("{schema}_app");
    let master = format!("{schema}_master");
    let mut admin = kind.admin(kind.tls_port()).await;
    admin.create_user(&master, "master-Pa55").await;
    for sql in [
        format!("GRANT ALL PRIVILEGES ON *.* TO '{master}'@'%' WITH GRANT OPTION"),
        format!("CREATE DATABASE {schema}"),
        format!("CREATE TABLE {schema}.orders (id int)"),
        // The application's account is bound to the loopback network, not to '%'.
        format!("CREATE USER '{user}'@'127.0.0.%' IDENTIFIED BY 'initial-Pa55'"),
        format!("GRANT SELECT ON {schema}.orders TO '{user}'@'127.0.0.%'"),
    ] {
        admin.execute(&sql).await;
    }
    let master_arn = h.create_secret(&kind.secret(&master, "master-Pa55")).await;
    let mut value = kind.secret(&user, "initial-Pa55");
    value["masterarn"] = json!(master_arn);
    let arn = h.create_secret(&value).await;

    h.rotate(&arn).await.expect("first rotation");
    let clone = format!("{user}_clone");
    let hosts = |name: String| async move {
        let mut conn = match Kind::MariaDb.admin(Kind::MariaDb.tls_port()).await {
            common::Admin::My(conn) => conn,
            common::Admin::Pg(_) => unreachable!(),
        };
        sqlx::query_scalar::<_, String>("SELECT CAST(Host AS CHAR) FROM mysql.user WHERE User = ?")
            .bind(name)
            .fetch_all(&mut conn)
            .await
            .unwrap()
    };
    assert_eq!(hosts(clone.clone()).await, vec!["127.0.0.%"]);

    // A privilege given to the clone by hand, beyond the user's, stops the next rotation that
    // would set the clone up (it is never silently revoked: that is what taking over another
    // user would look like), and AWSCURRENT keeps working.
    h.rotate(&arn).await.expect("second rotation");
    admin
        .execute(&format!(
            "GRANT DELETE ON {schema}.orders TO '{clone}'@'127.0.0.%'"
        ))
        .await;
    let (step, error) = h.rotate(&arn).await.unwrap_err();
    assert_eq!(step, Step::Set);
    assert_eq!(error.kind(), "UnsafePartner", "{error}");
    let message = error.to_string();
    assert!(
        message.contains("DELETE ON") && message.contains("orders") && message.contains(&clone),
        "{message}"
    );
    assert!(!message.contains("initial-Pa55") && !message.contains("master-Pa55"));
    let (current, password) = {
        let v = h.staged(&arn, "AWSCURRENT").await.unwrap();
        (
            v["username"].as_str().unwrap().to_owned(),
            v["password"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(current, user);
    let mut conn = connect(kind, &current, &password).await.unwrap();
    conn.run(&format!("SELECT id FROM {schema}.orders"))
        .await
        .unwrap();
    assert_eq!(hosts(clone.clone()).await, vec!["127.0.0.%"]);
}
