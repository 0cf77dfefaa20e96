//! The function's CA bundle is the only trust anchor: a server whose CA is trusted by the
//! system store (and would be by the public web PKI) but is not in the bundle is refused.
//!
//! Its own test binary: each test runs itself again in a child process whose system store
//! (`SSL_CERT_FILE`, `SSL_CERT_DIR`) is the test servers' real CA, which no other test may see
//! (and which the crate's `forbid(unsafe_code)` keeps from being set in-process).

use crate::common;

use std::path::PathBuf;

use common::{Harness, Kind, env, unique};
use rotation::Step;

/// A CA that signed nothing the servers present: the one `make test` made, or one made here.
fn other_ca() -> PathBuf {
    if let Ok(path) = std::env::var("ROTATION_TEST_OTHER_CA") {
        return path.into();
    }
    let dir = std::env::temp_dir().join(unique("other-ca"));
    std::fs::create_dir_all(&dir).unwrap();
    let (key, cert) = (dir.join("key.pem"), dir.join("ca.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=unrelated test CA"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success(), "openssl could not make a CA");
    cert
}

const CHILD: &str = "ROTATION_TEST_SYSTEM_STORE_CHILD";

/// In the parent: runs `test` in a child process whose system store trusts the servers' CA,
/// and checks that it ran and passed; returns false. In that child: returns true.
fn in_child_trusting_the_servers(test: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        assert_eq!(
            std::env::var_os("SSL_CERT_FILE").as_deref(),
            Some(env().ca.as_os_str())
        );
        return true;
    }
    // The test's name as the harness lists it: its module path without the binary's name.
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let test = if module.is_empty() {
        test.to_owned()
    } else {
        format!("{module}::{test}")
    };
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            test.as_str(),
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, "1")
        .env("SSL_CERT_FILE", &env().ca)
        .env(
            "SSL_CERT_DIR",
            env().ca.parent().expect("the CA's directory"),
        )
        .output()
        .expect("run the test in a child process");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{test} in the child process:\n{stdout}\n{stderr}"
    );
    false
}

async fn bundle_is_the_only_anchor(kind: Kind) {
    let other = other_ca().display().to_string();
    let h = Harness::with_config(&[("DB_CA_BUNDLE", other.as_str())]);
    let user = unique("trust");
    kind.create_user(&user, "initial-Pa55").await;
    let arn = h.create_secret(&kind.secret(&user, "initial-Pa55")).await;
    let (step, error) = h.rotate(&arn).await.unwrap_err();
    assert_eq!(
        (step, error.kind()),
        (Step::Set, "DatabaseTlsError"),
        "{error}"
    );
    assert!(!error.to_string().contains("initial-Pa55"), "{error}");
    assert!(kind.can_login(&user, "initial-Pa55").await);
}

#[tokio::test]
async fn postgres_trusts_only_the_bundle() {
    needs_servers!();
    if in_child_trusting_the_servers("postgres_trusts_only_the_bundle") {
        bundle_is_the_only_anchor(Kind::Postgres).await;
    }
}

#[tokio::test]
async fn mariadb_trusts_only_the_bundle() {
    needs_servers!();
    if in_child_trusting_the_servers("mariadb_trusts_only_the_bundle") {
        bundle_is_the_only_anchor(Kind::MariaDb).await;
    }
}
