//! MariaDB reads string literals and identifiers by the session's `sql_mode`: with
//! `NO_BACKSLASH_ESCAPES` a backslash is an ordinary character, with `ANSI_QUOTES` `"` quotes
//! identifiers and `SHOW GRANTS` writes them so. The function pins its sessions' mode; this
//! test turns both modes on server-wide (hence its own test binary, so no other test runs
//! meanwhile), changes passwords full of backslashes and runs alternating rotations, and
//! restores the server's mode even when it fails.

use crate::common;

use common::pair::fixture;
use common::{Admin, Kind, env, unique};
use rotation::db::{Connector, Drivers};
use rotation::secret::{Engine, Login, Tls};
use secrecy::SecretString;

#[tokio::test]
async fn global_ansi_quotes_and_no_backslash_escapes() {
    let _server_wide = common::SERVER_WIDE.lock().await;
    needs_servers!();
    let kind = Kind::MariaDb;
    let original: String = match kind.admin(kind.tls_port()).await {
        Admin::My(mut conn) => sqlx::query_scalar("SELECT CAST(@@GLOBAL.sql_mode AS CHAR)")
            .fetch_one(&mut conn)
            .await
            .unwrap(),
        Admin::Pg(_) => unreachable!(),
    };
    let mut admin = kind.admin(kind.tls_port()).await;
    admin
        .execute(&format!(
            "SET GLOBAL sql_mode = '{original},NO_BACKSLASH_ESCAPES,ANSI_QUOTES'"
        ))
        .await;
    let outcome = tokio::spawn(under_hostile_modes()).await;
    admin
        .execute(&format!("SET GLOBAL sql_mode = '{original}'"))
        .await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

async fn under_hostile_modes() {
    let kind = Kind::MariaDb;
    let user = unique("nbe");
    kind.create_user(&user, "start-Pa55").await;
    let drivers = Drivers::new(env().ca.clone(), std::time::Duration::from_secs(5));
    let mut current = "start-Pa55".to_owned();
    for next in ["a\\'b", "\\\\", "end\\", "'\\''", "\"q\" `t`"] {
        let login = Login {
            engine: Engine::Mariadb,
            host: "localhost".into(),
            port: kind.tls_port(),
            username: user.clone(),
            password: SecretString::from(current.clone()),
            dbname: None,
            tls: Tls::VerifyFull,
        };
        let mut session = drivers.login(&login).await.unwrap().expect("login");
        let result = session
            .set_own_password(&user, &SecretString::from(next.to_owned()))
            .await;
        session.close().await;
        result.unwrap_or_else(|e| panic!("setting {next:?}: {e}"));
        assert!(kind.can_login(&user, next).await, "{next:?} must log in");
        current = next.to_owned();
    }

    // Alternating users: SHOW GRANTS is read and replayed, and the partner compared.
    let f = fixture(kind, |user, password| kind.secret(user, password)).await;
    for round in 1..=3 {
        f.h.rotate(&f.arn)
            .await
            .unwrap_or_else(|(step, e)| panic!("rotation {round}, {step:?}: {e}"));
        let (user, password) = f.staged_login("AWSCURRENT").await;
        f.check_privileges(&user, &password).await;
    }
}
