//! A lock held on the accounts table (as a backup or a long account change would hold it)
//! makes setSecret fail with a clear timeout well inside the Lambda timeout, and leaves the
//! credential in use working. Its own test binary: the lock blocks every account change on
//! the server while it is held, and cargo runs test binaries one after another.

use crate::common;

use std::time::{Duration, Instant};

use common::{Harness, Kind, unique};
use rotation::Step;

#[tokio::test]
async fn a_held_lock_fails_set_secret_with_a_timeout() {
    let _server_wide = common::SERVER_WIDE.lock().await;
    needs_servers!();
    let kind = Kind::MariaDb;
    let h = Harness::with_config(&[("DB_STATEMENT_TIMEOUT", "2")]);
    let user = unique("lockwait");
    kind.create_user(&user, "initial-Pa55").await;
    let arn = h.create_secret(&kind.secret(&user, "initial-Pa55")).await;

    // MariaDB 10.4+ keeps accounts in mysql.global_priv: ALTER USER and SET PASSWORD wait for
    // it, logins do not (they read the in-memory copy).
    let mut locker = kind.admin(kind.tls_port()).await;
    locker.execute("LOCK TABLES mysql.global_priv WRITE").await;
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(30), h.rotate(&arn)).await;
    let elapsed = started.elapsed();
    locker.execute("UNLOCK TABLES").await;

    let (step, error) = outcome
        .expect("the rotation must end by itself")
        .expect_err("a rotation under the lock must fail");
    assert_eq!(step, Step::Set);
    assert_eq!(error.kind(), "DatabaseTimeout", "{error}");
    let message = error.to_string();
    assert!(
        message.contains("within 2 s") && message.contains("DB_STATEMENT_TIMEOUT"),
        "{message}"
    );
    assert!(!message.contains("Pa55"), "{message}");
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    assert!(kind.can_login(&user, "initial-Pa55").await);
}
