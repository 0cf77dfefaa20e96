//! Generated hostile user names and passwords through the real servers: a user with that name
//! and password is created (by the administrator, quoted by the server itself), rotated as
//! single user from its generated password, then as an alternating pair (which quotes the
//! name as an identifier and as a MySQL account), and every staged credential logs in.
//!
//! The names stay in what the servers store faithfully: printable characters (quotes,
//! backslashes, comment and statement separators, `%`/`_`, unicode of the Basic Multilingual
//! Plane: MariaDB stores account names in utf8mb3, and the function refuses, rather than
//! changes, an account whose stored name differs from the secret's), no trailing space (MySQL
//! and MariaDB compare account names without it), within each engine's length. `PROPTEST_CASES`
//! sets the number of cases (6 by default here; `make fuzz` runs more).

use crate::common;

use common::{Harness, Kind, env, unique};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::json;

/// Characters that break naive quoting, plus ordinary ones.
fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => (0x21u8..0x7f).prop_map(char::from),
        1 => prop::sample::select(vec![
            '\'', '"', '`', '\\', ';', '%', '_', '-', '/', '*', '$', ' ', 'é', 'ü', '密',
        ]),
    ]
}

fn hostile_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(hostile_char(), 1..max)
        .prop_map(|chars| chars.into_iter().collect::<String>().trim_end().to_owned())
        .prop_filter("not empty", |s| !s.is_empty())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(6)
}

async fn round_trip(kind: Kind, name: &str, password: &str) -> Result<(), TestCaseError> {
    let user = format!("{}{name}", unique("q"));
    kind.create_user(&user, password).await;
    // Single user: the generated password logs in and changes itself, to a password with every
    // punctuation character allowed.
    let h = Harness::with_config(&[("EXCLUDE_CHARACTERS", ""), ("PASSWORD_LENGTH", "40")]);
    let arn = h.create_secret(&kind.secret(&user, password)).await;
    h.rotate(&arn)
        .await
        .map_err(|(step, e)| TestCaseError::fail(format!("single user, {step:?}: {e}")))?;
    let current = h.password(&arn, "AWSCURRENT").await;
    prop_assert!(
        kind.can_login(&user, &current).await,
        "single user {user:?}: the new AWSCURRENT does not log in"
    );

    // Alternating users, with the administrator as the master: the partner's name is quoted
    // as an identifier (and as an account on MariaDB).
    let e = env();
    let (admin, admin_password) = match kind {
        Kind::MariaDb => (&e.my_admin, &e.my_admin_password),
        _ => (&e.pg_admin, &e.pg_admin_password),
    };
    let master_arn = h.create_secret(&kind.secret(admin, admin_password)).await;
    // A new secret with the rotated value and the master (moto keeps AWSCURRENT on two versions
    // when a value is put over a rotated secret).
    let mut value = h.staged(&arn, "AWSCURRENT").await.unwrap();
    value["masterarn"] = json!(master_arn);
    let arn = h.create_secret(&value).await;
    for expected in [format!("{user}_clone"), user.clone()] {
        h.rotate(&arn)
            .await
            .map_err(|(step, e)| TestCaseError::fail(format!("alternating, {step:?}: {e}")))?;
        let staged = h.staged(&arn, "AWSCURRENT").await.unwrap();
        prop_assert_eq!(staged["username"].as_str(), Some(expected.as_str()));
        let current = staged["password"].as_str().unwrap().to_owned();
        prop_assert!(kind.can_login(&expected, &current).await, "{expected:?}");
        let previous = h.staged(&arn, "AWSPREVIOUS").await.unwrap();
        prop_assert!(
            kind.can_login(
                previous["username"].as_str().unwrap(),
                previous["password"].as_str().unwrap()
            )
            .await
        );
    }
    Ok(())
}

/// Runs the property for one engine: names within its limit, passwords within MySQL's.
fn check(kind: Kind, name_chars: usize) {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runner
        .run(
            &(hostile_text(name_chars), hostile_text(60)),
            |(name, password)| runtime.block_on(round_trip(kind, &name, &password)),
        )
        .unwrap();
}

#[test]
fn postgres_hostile_names_and_passwords_round_trip() {
    needs_servers!();
    // 63 bytes, less the unique prefix (11) and `_clone`: 46 bytes, at most 4 per character.
    check(Kind::Postgres, 11);
}

#[test]
fn postgres_new_hostile_names_and_passwords_round_trip() {
    needs_servers!();
    check(Kind::PostgresNew, 11);
}

#[test]
fn mariadb_hostile_names_and_passwords_round_trip() {
    needs_servers!();
    check(Kind::MariaDb, 40);
}
