//! No password the function sets reaches MariaDB's own logs.
//!
//! MariaDB writes statements verbatim to the general log and (for user statements) to the
//! binary log, which replicas and change-data-capture tools read; the test server runs with
//! both on, as RDS does with automated backups. After rotations of both strategies, the logs
//! are read back (`mariadb-binlog` for the binary log) and must hold none of the passwords the
//! function made, while they do hold the statements that set them.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::pair::standard_fixture;
use common::{Harness, Kind, env, unique};

const KIND: Kind = Kind::MariaDb;

/// The binary log as text: every file the index lists, decoded by `mariadb-binlog`.
fn binary_log(index: &Path) -> String {
    let listed = std::fs::read_to_string(index)
        .unwrap_or_else(|e| panic!("read the binary log index {}: {e}", index.display()));
    let dir = index.parent().expect("the index is in the data directory");
    let mut text = String::new();
    for name in listed.lines().filter(|l| !l.trim().is_empty()) {
        let file = dir.join(Path::new(name.trim()).file_name().expect("a file name"));
        let tool = ["mariadb-binlog", "mysqlbinlog"]
            .into_iter()
            .find(|tool| Command::new(tool).arg("--version").output().is_ok())
            .expect("mariadb-binlog (or mysqlbinlog) is installed with the server");
        let output = Command::new(tool)
            .arg("--verbose")
            .arg(&file)
            .output()
            .unwrap_or_else(|e| panic!("{tool} {}: {e}", file.display()));
        assert!(
            output.status.success(),
            "{tool} {}: {}",
            file.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        text.push_str(&String::from_utf8_lossy(&output.stdout));
    }
    text
}

/// Every password a stage of `arn` holds, but `initial` (set by the test's administrator).
async fn staged_passwords(h: &Harness, arn: &str, initial: &str) -> Vec<String> {
    let mut found = Vec::new();
    for stage in ["AWSCURRENT", "AWSPREVIOUS"] {
        let password = h.password(arn, stage).await;
        if password != initial {
            found.push(password);
        }
    }
    found
}

#[tokio::test]
async fn mariadb_logs_hold_no_password_after_rotations_of_both_strategies() {
    needs_servers!();
    // Single user: two rotations, so both AWSCURRENT and AWSPREVIOUS were made by the function.
    let h = Harness::new();
    let single = unique("logs");
    KIND.create_user(&single, "initial-Pa55").await;
    let single_arn = h.create_secret(&KIND.secret(&single, "initial-Pa55")).await;
    for round in 1..=2 {
        h.rotate(&single_arn)
            .await
            .unwrap_or_else(|(step, e)| panic!("single user, rotation {round}, {step:?}: {e}"));
    }
    let mut passwords = staged_passwords(&h, &single_arn, "initial-Pa55").await;

    // Alternating users: the first rotation creates the partner, the second changes the user.
    let f = standard_fixture(KIND).await;
    for round in 1..=2 {
        f.h.rotate(&f.arn)
            .await
            .unwrap_or_else(|(step, e)| panic!("alternating, rotation {round}, {step:?}: {e}"));
    }
    passwords.extend(staged_passwords(&f.h, &f.arn, "initial-Pa55").await);
    assert_eq!(passwords.len(), 4, "four passwords made by the function");

    let general = std::fs::read(&env().my_log)
        .unwrap_or_else(|e| panic!("read the general log {}: {e}", env().my_log.display()));
    let general = String::from_utf8_lossy(&general);
    let binary = binary_log(&env().my_binlog);
    let clone = format!("{}_clone", f.user);
    // The logs were read, and hold the statements that set the passwords.
    for (name, log) in [("general", &*general), ("binary", &*binary)] {
        assert!(
            log.lines()
                .any(|line| line.contains("CREATE USER") && line.contains(&clone)),
            "the {name} log should show the partner's creation"
        );
    }
    assert!(
        general.contains(&single),
        "the general log should show the single user's session"
    );
    for (i, password) in passwords.iter().enumerate() {
        assert!(
            !general.contains(password.as_str()),
            "password {i} is in the general log"
        );
        assert!(
            !binary.contains(password.as_str()),
            "password {i} is in the binary log"
        );
    }
}
