//! MariaDB reads backslashes in string literals by the session's `sql_mode`: with
//! `NO_BACKSLASH_ESCAPES` a backslash is an ordinary character. The function reads the mode of
//! each session before quoting; this test turns the mode on server-wide (hence its own test
//! binary, so no other test runs meanwhile) and changes passwords full of backslashes.

mod common;

use common::{Kind, env, unique};
use rotation::db::{Connector, Drivers};
use rotation::secret::{Engine, Login, Tls};
use secrecy::SecretString;

#[tokio::test]
async fn passwords_with_backslashes_under_no_backslash_escapes() {
    let kind = Kind::MariaDb;
    let user = unique("nbe");
    kind.create_user(&user, "start-Pa55").await;
    let mut admin = kind.admin(kind.tls_port()).await;
    admin
        .execute("SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',NO_BACKSLASH_ESCAPES')")
        .await;

    let drivers = Drivers::new(env().ca.clone(), std::time::Duration::from_secs(5));
    let mut current = "start-Pa55".to_owned();
    let mut outcome = Ok(());
    for next in ["a\\'b", "\\\\", "end\\", "'\\''"] {
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
        if let Err(e) = result {
            outcome = Err(format!("setting {next:?}: {e}"));
            break;
        }
        if !kind.can_login(&user, next).await {
            outcome = Err(format!("{next:?} does not log in"));
            break;
        }
        current = next.to_owned();
    }

    admin
        .execute("SET GLOBAL sql_mode = REPLACE(@@GLOBAL.sql_mode, 'NO_BACKSLASH_ESCAPES', '')")
        .await;
    outcome.unwrap();
}
