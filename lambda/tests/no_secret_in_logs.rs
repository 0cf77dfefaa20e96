//! No password reaches a log line, an error message or a server's statement log.
//!
//! Every event of every crate (the function, sqlx, rustls, the AWS SDK, hyper), at TRACE level
//! and including `log` records, is captured during whole rotations of both engines, one of
//! them failing, and then searched for each password the rotations handled.

use crate::common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{Harness, Kind, unique};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn no_password_in_any_log_or_error() {
    needs_servers!();
    let _server_wide = common::SERVER_WIDE.lock().await;
    let _ = tracing_log::LogTracer::init();
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(capture.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut passwords = Vec::new();
    let mut errors = Vec::new();
    for kind in [Kind::Postgres, Kind::MariaDb] {
        let h = Harness::new();
        let user = unique("logs");
        let initial = format!("Initial-{}", unique("pw"));
        kind.create_user(&user, &initial).await;
        let arn = h.create_secret(&kind.secret(&user, &initial)).await;
        passwords.push(initial);
        for _ in 0..2 {
            h.rotate(&arn).await.expect("rotation");
            passwords.push(h.password(&arn, "AWSCURRENT").await);
        }

        // A failing rotation: the secret's password is not the user's.
        let stale = format!("Stale-{}", unique("pw"));
        let lost = unique("lost");
        kind.create_user(&lost, "Actual-Pa55-word").await;
        let arn = h.create_secret(&kind.secret(&lost, &stale)).await;
        let (_, error) = h.rotate(&arn).await.unwrap_err();
        errors.push(format!("{error} {error:?}"));
        passwords.push(stale);
        passwords.push("Actual-Pa55-word".to_owned());
        // The pending password that setSecret could not set.
        let token = h.version_with(&arn, "AWSPENDING").await;
        let pending =
            h.sm.get_secret_value()
                .secret_id(&arn)
                .version_id(&token)
                .version_stage("AWSPENDING")
                .send()
                .await
                .unwrap();
        let pending: serde_json::Value =
            serde_json::from_str(pending.secret_string().unwrap()).unwrap();
        passwords.push(pending["password"].as_str().unwrap().to_owned());

        // The operator actions on the failing secret: their reports and logs are scanned too.
        let admin = rotation::store::AwsSecretStore::from_client(h.sm.clone());
        let report = rotation::ops::preflight::preflight(&h.rotator, &admin, None, &arn).await;
        errors.push(serde_json::to_string(&report).unwrap());
        let report = rotation::ops::recover::recover(&h.rotator, &admin, &arn, false, 0)
            .await
            .expect("recover");
        errors.push(serde_json::to_string(&report).unwrap());
    }

    let logs = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    assert!(
        logs.contains("moved AWSCURRENT to this version"),
        "the capture must see the function's own lines"
    );
    assert!(
        logs.contains("sqlx") || logs.contains("rustls"),
        "the capture must see the drivers' lines"
    );
    for password in &passwords {
        assert!(
            !logs.contains(password.as_str()),
            "a password appears in the logs"
        );
        for error in &errors {
            assert!(
                !error.contains(password.as_str()),
                "a password appears in an error: {error}"
            );
        }
    }

    // PostgreSQL logs every statement (log_statement = all): it saw only SCRAM verifiers.
    let server_log = std::fs::read_to_string(&common::env().pg_log).expect("PostgreSQL log");
    assert!(server_log.contains("ALTER ROLE SESSION_USER WITH PASSWORD 'SCRAM-SHA-256$"));
    for password in &passwords[1..3] {
        assert!(
            !server_log.contains(password.as_str()),
            "a password appears in the PostgreSQL log"
        );
    }
}
