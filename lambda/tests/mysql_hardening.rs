//! MySQL/MariaDB sessions against what a hostile secret or a hostile server setup could do:
//! a partner that is the master or another existing user, grants the user lacks, TLS
//! requirements, roles, the login user's identity, the trust anchor and refused logins.
//! Runs on the MariaDB test server; MySQL-only forms are unit-tested in `db::mysql`.

use crate::common;

use common::pair::{connect, fixture};
use common::{Admin, Harness, Kind, env, unique};
use rotation::Step;
use rotation::db::{Connector, Drivers, Session};
use rotation::secret::{Engine, Login, Tls};
use secrecy::SecretString;
use serde_json::json;
use sqlx::Row;

const KIND: Kind = Kind::MariaDb;

async fn admin() -> sqlx::MySqlConnection {
    match KIND.admin(KIND.tls_port()).await {
        Admin::My(conn) => conn,
        Admin::Pg(_) => unreachable!(),
    }
}

async fn run(sql: &str) {
    let mut admin = KIND.admin(KIND.tls_port()).await;
    admin.execute(sql).await;
}

/// The admin's view of an account: SHOW GRANTS and SHOW CREATE USER lines.
async fn account_lines(statement: &str, user: &str, host: &str) -> Vec<String> {
    let mut conn = admin().await;
    let sql = format!("{statement} '{user}'@'{host}'");
    let rows = sqlx::query(&sql)
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{statement} {user}: {e}"));
    rows.iter()
        .map(|row| {
            row.try_get::<String, _>(0).unwrap_or_else(|_| {
                String::from_utf8_lossy(&row.try_get::<Vec<u8>, _>(0).unwrap()).into_owned()
            })
        })
        .collect()
}

/// The grants of `user`@`%`, sorted: SHOW GRANTS lists them in no promised order.
async fn grants_of(user: &str) -> Vec<String> {
    let mut lines = account_lines("SHOW GRANTS FOR", user, "%").await;
    lines.sort();
    lines
}

fn login(user: &str, password: &str) -> Login {
    Login {
        engine: Engine::Mariadb,
        host: "localhost".into(),
        port: KIND.tls_port(),
        username: user.into(),
        password: SecretString::from(password.to_owned()),
        dbname: None,
        tls: Tls::VerifyFull,
    }
}

fn drivers() -> Drivers {
    Drivers::new(env().ca.clone(), std::time::Duration::from_secs(5))
}

/// A master user able to create users and grant anything, and its secret.
async fn master(h: &Harness, prefix: &str) -> (String, String) {
    let master = format!("{prefix}_master");
    KIND.create_user(&master, "master-Pa55").await;
    run(&format!(
        "GRANT ALL PRIVILEGES ON *.* TO '{master}'@'%' WITH GRANT OPTION"
    ))
    .await;
    let arn = h.create_secret(&KIND.secret(&master, "master-Pa55")).await;
    (master, arn)
}

/// An alternating-users secret for `user` (password `initial-Pa55`) with `master_arn`.
async fn pair_secret(h: &Harness, user: &str, master_arn: &str) -> String {
    let mut value = KIND.secret(user, "initial-Pa55");
    value["masterarn"] = json!(master_arn);
    h.create_secret(&value).await
}

#[tokio::test]
async fn mariadb_master_as_partner_is_refused() {
    needs_servers!();
    let h = Harness::new();
    let prefix = unique("takeover");
    let (master, master_arn) = master(&h, &prefix).await;
    // A secret for `<master>_clone`, a user that logs in: its partner would be the master.
    let clone = format!("{master}_clone");
    KIND.create_user(&clone, "initial-Pa55").await;
    let arn = pair_secret(&h, &clone, &master_arn).await;
    let before = grants_of(&master).await;

    let (step, error) = h.rotate(&arn).await.unwrap_err();
    assert_eq!(step, Step::Set);
    assert_eq!(error.kind(), "UnsafePartner", "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&master) && message.contains("master user"),
        "{message}"
    );
    assert!(!message.contains("master-Pa55"), "{message}");
    assert!(KIND.can_login(&master, "master-Pa55").await);
    assert_eq!(grants_of(&master).await, before);
}

#[tokio::test]
async fn mariadb_partner_holding_more_than_the_user_is_refused() {
    needs_servers!();
    let h = Harness::new();
    let prefix = unique("other");
    let (_, master_arn) = master(&h, &prefix).await;
    // `x` is an unrelated existing user; the secret is for `x_clone`.
    let x = format!("{prefix}_x");
    let x_clone = format!("{x}_clone");
    KIND.create_user(&x, "x-Pa55").await;
    KIND.create_user(&x_clone, "initial-Pa55").await;
    for sql in [
        format!("CREATE DATABASE {prefix}"),
        format!("CREATE TABLE {prefix}.orders (id int)"),
        format!("CREATE TABLE {prefix}.secrets (id int)"),
        format!("GRANT SELECT ON {prefix}.orders TO '{x_clone}'@'%'"),
        format!("GRANT SELECT ON {prefix}.orders TO '{x}'@'%'"),
        format!("GRANT SELECT ON {prefix}.secrets TO '{x}'@'%'"),
        format!("GRANT RELOAD ON *.* TO '{x}'@'%'"),
    ] {
        run(&sql).await;
    }
    let arn = pair_secret(&h, &x_clone, &master_arn).await;
    let before = grants_of(&x).await;

    let (step, error) = h.rotate(&arn).await.unwrap_err();
    assert_eq!(step, Step::Set);
    assert_eq!(error.kind(), "UnsafePartner", "{error}");
    let message = error.to_string();
    for needle in [
        x.as_str(),
        "RELOAD ON *.*",
        &format!("SELECT ON `{prefix}`.`secrets`"),
    ] {
        assert!(message.contains(needle), "{message} should name {needle}");
    }
    assert!(
        !message.contains(&format!("`{prefix}`.`orders`")),
        "{message}"
    );
    assert!(
        KIND.can_login(&x, "x-Pa55").await,
        "x's password is unchanged"
    );
    assert_eq!(grants_of(&x).await, before, "x's grants are unchanged");
    assert!(KIND.can_login(&x_clone, "initial-Pa55").await);
}

#[tokio::test]
async fn mariadb_roles_follow_and_a_role_beyond_the_user_is_refused() {
    needs_servers!();
    let f = fixture(KIND, |user, password| KIND.secret(user, password)).await;
    let role = unique("role");
    let extra = unique("role");
    for sql in [
        format!("CREATE ROLE {role}"),
        format!("CREATE ROLE {extra}"),
        format!("GRANT UPDATE ON {}.orders TO {role}", f.schema),
        // MariaDB lets only a holder of a role WITH ADMIN OPTION grant it.
        format!(
            "GRANT {role} TO '{}_master'@'%' WITH ADMIN OPTION",
            f.schema
        ),
        format!("GRANT {role} TO '{}'@'%'", f.user),
        format!("SET DEFAULT ROLE {role} FOR '{}'@'%'", f.user),
    ] {
        run(&sql).await;
    }
    f.h.rotate(&f.arn).await.expect("first rotation");
    let (clone, clone_pw) = f.staged_login("AWSCURRENT").await;
    let grants = grants_of(&clone).await;
    assert!(
        grants.contains(&format!("GRANT `{role}` TO `{clone}`@`%`")),
        "{grants:?}"
    );
    assert!(
        grants.contains(&format!("SET DEFAULT ROLE `{role}` FOR `{clone}`@`%`")),
        "{grants:?}"
    );
    // The default role is active: the clone may update through it.
    let mut conn = connect(KIND, &clone, &clone_pw).await.unwrap();
    conn.run(&format!("UPDATE {}.orders SET note = 'r'", f.schema))
        .await
        .unwrap();

    // The next partner is the base user: a role it holds beyond the clone stops the rotation.
    run(&format!("GRANT {extra} TO '{}'@'%'", f.user)).await;
    let (step, error) = f.h.rotate(&f.arn).await.unwrap_err();
    assert_eq!(step, Step::Set);
    assert_eq!(error.kind(), "UnsafePartner", "{error}");
    assert!(
        error.to_string().contains(&format!("role `{extra}`")),
        "{error}"
    );
    f.check_privileges(&clone, &clone_pw).await;
}

#[tokio::test]
async fn mariadb_clone_copies_every_tls_requirement_exactly() {
    needs_servers!();
    let prefix = unique("req");
    let master = format!("{prefix}_master");
    KIND.create_user(&master, "master-Pa55").await;
    run(&format!(
        "GRANT ALL PRIVILEGES ON *.* TO '{master}'@'%' WITH GRANT OPTION"
    ))
    .await;
    let drivers = drivers();
    let require = "REQUIRE ISSUER '/CN=y' SUBJECT '/CN=x''q' CIPHER 'ECDHE-RSA-AES256-GCM-SHA384'";
    let cases = [
        (
            "spec",
            "REQUIRE SUBJECT '/CN=x''q' AND ISSUER '/CN=y' AND CIPHER 'ECDHE-RSA-AES256-GCM-SHA384'",
            Some(require),
        ),
        ("x509", "REQUIRE X509", Some("REQUIRE X509")),
        ("ssl", "REQUIRE SSL", Some("REQUIRE SSL")),
        ("none", "", None),
    ];
    for (name, clause, shown) in cases {
        let user = format!("{prefix}_{name}");
        let clone = format!("{user}_clone");
        run(&format!(
            "CREATE USER '{user}'@'%' IDENTIFIED BY 'initial-Pa55' {clause}"
        ))
        .await;
        // A clone left with a weaker requirement gets exactly the user's.
        run(&format!(
            "CREATE USER '{clone}'@'%' IDENTIFIED BY 'old-Pa55'"
        ))
        .await;
        let mut session = drivers
            .login(&login(&master, "master-Pa55"))
            .await
            .expect("master login")
            .expect("master password accepted");
        // An existing partner is changed only once it is the function's.
        session
            .adopt_partner(&user, Some("%"), &clone)
            .await
            .unwrap_or_else(|e| panic!("{name}: adopt: {e}"));
        session
            .clone_user(
                &user,
                Some("%"),
                &clone,
                &SecretString::from("clone-Pa55".to_owned()),
            )
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        session.close().await;
        let created = account_lines("SHOW CREATE USER", &clone, "%")
            .await
            .join("\n");
        match shown {
            Some(shown) => assert!(created.contains(shown), "{name}: {created}"),
            None => assert!(!created.contains("REQUIRE"), "{name}: {created}"),
        }
        let original = account_lines("SHOW CREATE USER", &user, "%")
            .await
            .join("\n");
        let require_of = |s: &str| s.split(" REQUIRE ").nth(1).map(str::to_owned);
        assert_eq!(
            require_of(&created),
            require_of(&original),
            "{name}: the clone's requirement is the user's"
        );
    }
}

#[tokio::test]
async fn mariadb_own_password_changes_only_the_login_user() {
    needs_servers!();
    let a = unique("own");
    let b = unique("own");
    KIND.create_user(&a, "a-Pa55").await;
    KIND.create_user(&b, "b-Pa55").await;
    let drivers = drivers();
    let mut session = drivers.login(&login(&a, "a-Pa55")).await.unwrap().unwrap();
    let error = session
        .set_own_password(&b, &SecretString::from("new-Pa55".to_owned()))
        .await
        .unwrap_err();
    session.close().await;
    assert!(error.to_string().contains(&b), "{error}");
    assert!(!error.to_string().contains("new-Pa55"), "{error}");
    assert!(KIND.can_login(&a, "a-Pa55").await);
    assert!(KIND.can_login(&b, "b-Pa55").await);
}

#[tokio::test]
async fn mariadb_anonymous_account_is_not_changed() {
    needs_servers!();
    // A login name without an account of its own matches the anonymous account: changing
    // "its own" password would change the anonymous account's.
    let ghost = unique("ghost");
    let anonymous = unique("anon-Pa55");
    run(&format!("CREATE USER ''@'%' IDENTIFIED BY '{anonymous}'")).await;
    let drivers = drivers();
    let outcome = async {
        let mut session = drivers
            .login(&login(&ghost, &anonymous))
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the anonymous account should accept the login")?;
        let result = session
            .set_own_password(&ghost, &SecretString::from("taken-Pa55".to_owned()))
            .await;
        // Nor does it become the template of an alternating pair.
        let template = session.account_host().await;
        session.close().await;
        match template {
            Err(e) if e.to_string().contains("`@`%`") => {}
            other => return Err(format!("the anonymous account as a template: {other:?}")),
        }
        match result {
            Ok(()) => Err("the anonymous account's password was changed".to_owned()),
            Err(e) if e.to_string().contains("`@`%`") => Ok(()),
            Err(e) => Err(format!("unexpected error: {e}")),
        }
    }
    .await;
    let still = KIND.can_login(&ghost, &anonymous).await;
    run("DROP USER ''@'%'").await;
    outcome.unwrap();
    assert!(still, "the anonymous account keeps its password");
}

#[tokio::test]
async fn mariadb_ca_bundle_is_the_only_trust_anchor() {
    needs_servers!();
    // The public web PKI does not vouch for the test server: a bundle of public roots fails.
    let public = std::path::PathBuf::from("/etc/ssl/certs/ca-certificates.crt");
    if !public.is_file() {
        eprintln!("skipped: no system CA bundle at {}", public.display());
        return;
    }
    let user = unique("anchor");
    KIND.create_user(&user, "a-Pa55").await;
    let drivers = Drivers::new(public, std::time::Duration::from_secs(5));
    let error = match drivers.login(&login(&user, "a-Pa55")).await {
        Ok(_) => panic!("a server not signed by the bundle must be refused"),
        Err(e) => e,
    };
    assert_eq!(error.kind(), "DatabaseTlsError", "{error}");
    // With the right bundle the same login works.
    let session = drivers_ok(&user).await;
    session.close().await;
}

async fn drivers_ok(user: &str) -> Box<dyn Session> {
    drivers()
        .login(&login(user, "a-Pa55"))
        .await
        .expect("login")
        .expect("password accepted")
}

#[tokio::test]
async fn mariadb_locked_account_is_a_refused_login_not_a_wrong_password() {
    needs_servers!();
    let user = unique("locked");
    KIND.create_user(&user, "a-Pa55").await;
    run(&format!("ALTER USER '{user}'@'%' ACCOUNT LOCK")).await;
    let error = match drivers().login(&login(&user, "a-Pa55")).await {
        Ok(Some(_)) => panic!("a locked account must not log in"),
        Ok(None) => panic!("a locked account is not a wrong password"),
        Err(e) => e,
    };
    assert_eq!(error.kind(), "LoginRefused", "{error}");
    assert!(!error.to_string().contains("a-Pa55"));
    // A wrong password is still just refused, so setSecret may try another staged one.
    run(&format!("ALTER USER '{user}'@'%' ACCOUNT UNLOCK")).await;
    assert!(
        drivers()
            .login(&login(&user, "wrong-Pa55"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn mariadb_partner_with_a_stricter_tls_requirement_is_refused_not_lowered() {
    needs_servers!();
    let prefix = unique("stricter");
    let master = format!("{prefix}_master");
    KIND.create_user(&master, "master-Pa55").await;
    run(&format!(
        "GRANT ALL PRIVILEGES ON *.* TO '{master}'@'%' WITH GRANT OPTION"
    ))
    .await;
    let user = format!("{prefix}_u");
    let clone = format!("{user}_clone");
    run(&format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY 'initial-Pa55' REQUIRE SSL"
    ))
    .await;
    run(&format!(
        "CREATE USER '{clone}'@'%' IDENTIFIED BY 'old-Pa55' REQUIRE X509"
    ))
    .await;
    let before = account_lines("SHOW CREATE USER", &clone, "%").await;
    let mut session = drivers()
        .login(&login(&master, "master-Pa55"))
        .await
        .expect("master login")
        .expect("master password accepted");
    let adopted = session.adopt_partner(&user, Some("%"), &clone).await;
    let cloned = session
        .clone_user(
            &user,
            Some("%"),
            &clone,
            &SecretString::from("clone-Pa55".to_owned()),
        )
        .await;
    session.close().await;
    for (what, result) in [("adopt", adopted), ("clone", cloned)] {
        let error = result.expect_err(what);
        assert_eq!(error.kind(), "UnsafePartner", "{what}: {error}");
        let message = error.to_string();
        assert!(
            message.contains("REQUIRE X509") && message.contains("never lowers"),
            "{what}: {message}"
        );
    }
    // Nothing changed: not the requirement, not the password hash.
    assert_eq!(account_lines("SHOW CREATE USER", &clone, "%").await, before);
}
