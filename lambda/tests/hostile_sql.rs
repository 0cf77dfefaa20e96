//! Hostile names and passwords go through the function's SQL intact, on the real servers.
//!
//! The rotation tests only see generated passwords (ASCII, no space); these tests hand the
//! engine sessions passwords and user names built to break quoting: quotes of every kind,
//! backslashes, comment and statement separators, `%`/`_` wildcards, dollar quotes, unicode.

use crate::common;

use common::{Kind, env, unique};
use rotation::db::{Connector, Drivers};
use rotation::secret::{Engine, Login, Tls};
use secrecy::SecretString;

const HOSTILE_PASSWORDS: [&str; 6] = [
    "'; DROP TABLE users; --",
    "\\'",
    "back\\\\slash\\",
    "ü密码 %_ \"double\" `tick` $$dollar$$",
    "x' OR '1'='1",
    "\u{1a}ctrl-z and\ttab",
];

fn login(kind: Kind, user: &str, password: &str) -> Login {
    Login {
        engine: match kind {
            Kind::Postgres | Kind::PostgresNew => Engine::Postgres,
            Kind::MariaDb => Engine::Mariadb,
        },
        host: "localhost".into(),
        port: kind.tls_port(),
        username: user.into(),
        password: SecretString::from(password.to_owned()),
        dbname: kind.is_postgres().then(|| "postgres".into()),
        tls: Tls::VerifyFull,
    }
}

async fn hostile_passwords_round_trip(kind: Kind) {
    let drivers = Drivers::new(env().ca.clone(), std::time::Duration::from_secs(5));
    let user = unique("h'\"`\\;%_ü");
    let mut current = "start-Pa55".to_owned();
    kind.create_user(&user, &current).await;
    for next in HOSTILE_PASSWORDS {
        let mut session = drivers
            .login(&login(kind, &user, &current))
            .await
            .expect("login")
            .expect("current password accepted");
        session
            .set_own_password(&user, &SecretString::from(next.to_owned()))
            .await
            .unwrap_or_else(|e| panic!("setting {next:?}: {e}"));
        session.close().await;
        assert!(kind.can_login(&user, next).await, "{next:?} must log in");
        assert!(
            !kind.can_login(&user, &current).await,
            "{current:?} must not"
        );
        current = next.to_owned();
    }
}

#[tokio::test]
async fn postgres_hostile_passwords_round_trip() {
    needs_servers!();
    hostile_passwords_round_trip(Kind::Postgres).await;
}

#[tokio::test]
async fn postgres_new_hostile_passwords_round_trip() {
    needs_servers!();
    hostile_passwords_round_trip(Kind::PostgresNew).await;
}

#[tokio::test]
async fn mariadb_hostile_passwords_round_trip() {
    needs_servers!();
    hostile_passwords_round_trip(Kind::MariaDb).await;
}
