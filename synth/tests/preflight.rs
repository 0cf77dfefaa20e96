//! `synth preflight` with canned answers of the function: the table, the
//! JSON, the exit codes, and the config order whatever order answers come in.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use synth::preflight::{
    EXIT_INVOCATION_FAILED, EXIT_OK, EXIT_PROBLEMS, Invoker, Outcome, Target, exit_code,
    invoke_all, json_reports, table,
};

const ORDERS: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/orders/app-AbCdEf";
const BILLING: &str =
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/billing/app-XyZ123";
const LEGACY: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:legacy-Qwe456";

fn targets() -> Vec<Target> {
    [
        ("orders", ORDERS, "postgres", "single-user"),
        ("billing", BILLING, "mysql", "alternating-users"),
        ("legacy", LEGACY, "mariadb", "single-user"),
    ]
    .iter()
    .map(|(name, arn, engine, strategy)| Target {
        name: (*name).into(),
        secret_arn: (*arn).into(),
        engine: (*engine).into(),
        strategy: (*strategy).into(),
    })
    .collect()
}

fn ok_report(arn: &str) -> Value {
    json!({
        "Action": "preflight", "SecretId": arn, "Engine": "postgres", "Strategy": "single-user",
        "Ok": true, "Problems": 0,
        "Checks": [
            {"Check": "secret-value", "Status": "pass", "Detail": "user `app` at db.internal:5432 (postgres), TLS verified"},
            {"Check": "master-secret", "Status": "skip", "Detail": "single user"}
        ]
    })
}

fn bad_report(arn: &str) -> Value {
    json!({
        "Action": "preflight", "SecretId": arn, "Engine": "mysql", "Strategy": "alternating-users",
        "Ok": false, "Problems": 2,
        "Checks": [
            {"Check": "secret-value", "Status": "pass", "Detail": "user `app` at db:3306 (mysql)"},
            {"Check": "rotation-settings", "Status": "fail", "Detail": "rotation is not enabled on the secret",
             "Fix": "Enable rotation with this function (the stack's RotationSchedule does)."},
            {"Check": "pending-version", "Status": "warn", "Detail": "an AWSPENDING version is left from 2026-11-01",
             "Fix": "Run the recover action."},
            {"Check": "tcp", "Status": "fail", "Detail": "db:3306 did not answer within 5 s",
             "Fix": "Allow the function's security group on the database's security group."}
        ]
    })
}

fn report(value: Value) -> Outcome {
    Outcome::from_answer(None, value.to_string().as_bytes())
}

fn failed() -> Outcome {
    Outcome::from_answer(
        Some("Unhandled"),
        br#"{"errorType":"InvalidEvent","errorMessage":"`Step` is missing"}"#,
    )
}

#[test]
fn exit_codes_say_the_worst() {
    let ok = || report(ok_report(ORDERS));
    assert_eq!(exit_code(&[ok(), ok()]), EXIT_OK);
    assert_eq!(
        exit_code(&[ok(), report(bad_report(BILLING))]),
        EXIT_PROBLEMS
    );
    assert_eq!(
        exit_code(&[report(bad_report(BILLING)), failed(), ok()]),
        EXIT_INVOCATION_FAILED
    );
    assert_eq!((EXIT_OK, EXIT_PROBLEMS, EXIT_INVOCATION_FAILED), (0, 1, 2));
}

#[test]
fn the_table_has_a_line_per_database_then_the_failed_and_warning_checks() {
    let outcomes = [
        report(ok_report(ORDERS)),
        report(bad_report(BILLING)),
        failed(),
    ];
    let text = table(&targets(), &outcomes);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["DATABASE", "SECRET", "ENGINE", "STRATEGY", "RESULT"]
    );
    // Columns line up: every row's RESULT starts where the header's does.
    let at = lines[0].find("RESULT").unwrap();
    assert_eq!(&lines[1][at..], "ok");
    assert_eq!(&lines[2][at..], "2 problems");
    assert_eq!(&lines[3][at..], "invocation failed");
    assert!(
        lines[1].starts_with("orders    prod/orders/app-AbCdEf   postgres"),
        "{text}"
    );
    assert!(
        lines[2].contains("mysql") && lines[2].contains("alternating-users"),
        "{text}"
    );

    // Only the checks that need someone, with their fixes; passes and skips stay out.
    let details = text
        .split_once(&format!("billing ({BILLING}):\n"))
        .unwrap()
        .1;
    assert!(details.starts_with(
        "  fail  rotation-settings: rotation is not enabled on the secret\n        fix: Enable rotation with this function (the stack's RotationSchedule does).\n  warn  pending-version: "
    ), "{text}");
    assert!(details.contains("  fail  tcp: db:3306 did not answer within 5 s\n        fix: Allow"));
    assert!(
        !text.contains("secret-value") && !text.contains("master-secret"),
        "{text}"
    );
    assert!(
        !text.contains(&format!("orders ({ORDERS})")),
        "nothing to say about orders"
    );
    // The failed invocation, with the function's error.
    assert!(
        text.contains(&format!(
            "legacy ({LEGACY}): the invocation failed\n  InvalidEvent: `Step` is missing\n  function error: Unhandled\n"
        )),
        "{text}"
    );
}

#[test]
fn a_secret_that_disagrees_with_the_config_shows_both() {
    let mut value = ok_report(ORDERS);
    value["Engine"] = json!("mysql");
    let text = table(&targets()[..1], &[report(value)]);
    assert!(text.contains("postgres (secret: mysql)"), "{text}");
}

#[test]
fn json_is_the_reports_in_config_order() {
    let outcomes = [
        report(ok_report(ORDERS)),
        report(bad_report(BILLING)),
        failed(),
    ];
    let out: Value = serde_json::from_str(&json_reports(&targets(), &outcomes)).unwrap();
    let items = out.as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0], ok_report(ORDERS), "as the function wrote it");
    assert_eq!(items[1], bad_report(BILLING));
    assert_eq!(items[2]["SecretId"], LEGACY);
    assert_eq!(items[2]["InvocationError"]["errorType"], "InvalidEvent");
    assert_eq!(items[2]["InvocationError"]["FunctionError"], "Unhandled");
}

/// Answers by secret, the first database slowest: the output keeps the
/// config's order, and no more than the bound run at once.
#[derive(Debug, Default)]
struct Canned {
    running: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
}

impl Invoker for Canned {
    async fn invoke(&self, payload: Vec<u8>) -> Outcome {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        let event: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(event["Action"], "preflight");
        let arn = event["SecretId"].as_str().unwrap().to_owned();
        let delay = if arn == ORDERS { 40 } else { 5 };
        tokio::time::sleep(Duration::from_millis(delay)).await;
        self.running.fetch_sub(1, SeqCst);
        report(if arn == BILLING {
            bad_report(&arn)
        } else {
            ok_report(&arn)
        })
    }
}

#[tokio::test]
async fn answers_are_printed_in_config_order_a_few_at_a_time() {
    let mut many = targets();
    for i in 0..9 {
        let mut t = many[2].clone();
        t.name = format!("extra-{i}");
        t.secret_arn = format!("{LEGACY}{i}");
        many.push(t);
    }
    let canned = Arc::new(Canned::default());
    let outcomes = invoke_all(canned.clone(), &many, 4).await;
    let ids: Vec<String> = outcomes
        .iter()
        .map(|o| match o {
            Outcome::Report { report, .. } => report.secret_id.clone(),
            Outcome::Failed(e) => panic!("{e:?}"),
        })
        .collect();
    let expected: Vec<String> = many.iter().map(|t| t.secret_arn.clone()).collect();
    assert_eq!(ids, expected);
    let most = canned.most.load(std::sync::atomic::Ordering::SeqCst);
    assert!((2..=4).contains(&most), "{most} at once");
}

/// The binary, against an endpoint where nothing listens: every invocation
/// fails, the command says why and exits 2. Credentials are fixed and the
/// instance metadata service is off, so nothing leaves the loopback interface.
#[test]
fn an_unreachable_function_is_exit_code_2() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/postgres-single-user.yaml");
    let home = std::env::temp_dir().join(format!("synth-preflight-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_synth"))
        .arg("preflight")
        .arg(&config)
        .args(["--endpoint-url", &format!("http://127.0.0.1:{port}")])
        .env_clear()
        .env("HOME", &home)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("invocation failed"), "{stdout}");
    assert!(
        stdout.contains("cannot invoke `orders-rotation-function`"),
        "the stack's function name by default: {stdout}"
    );
}

/// The function's RDS Proxy check is shown like every other: a failure with its fix, a check
/// not made (a warning) with how to make it; a pass stays out of the details.
#[test]
fn the_rds_proxy_check_is_shown_like_the_others() {
    let proxy_fail = json!({
        "Action": "preflight", "SecretId": BILLING, "Engine": "mysql", "Strategy": "alternating-users",
        "Ok": false, "Problems": 1,
        "Checks": [
            {"Check": "secret-value", "Status": "pass", "Detail": "user `app` at db:3306 (mysql)"},
            {"Check": "rds-proxy", "Status": "fail",
             "Detail": "RDS Proxy `billing` (MYSQL, available) logs in with this secret as the user AWSCURRENT names",
             "Fix": "Rotate a secret that a proxy uses with single user."}
        ]
    });
    let not_checked = json!({
        "Action": "preflight", "SecretId": ORDERS, "Engine": "postgres", "Strategy": "single-user",
        "Ok": true, "Problems": 0,
        "Checks": [
            {"Check": "rds-proxy", "Status": "warn",
             "Detail": "not checked: RDS DescribeDBProxies got no answer within 5 s",
             "Fix": "Check the function's way to the RDS API."}
        ]
    });
    let legacy_pass = json!({
        "Action": "preflight", "SecretId": LEGACY, "Engine": "mariadb", "Strategy": "single-user",
        "Ok": true, "Problems": 0,
        "Checks": [
            {"Check": "rds-proxy", "Status": "pass", "Detail": "no RDS Proxy of this account and Region logs in with the secret (0 listed)"}
        ]
    });
    let outcomes = [report(not_checked), report(proxy_fail), report(legacy_pass)];
    assert_eq!(exit_code(&outcomes), EXIT_PROBLEMS);
    let text = table(&targets(), &outcomes);
    assert!(
        text.contains(
            "  fail  rds-proxy: RDS Proxy `billing` (MYSQL, available) logs in with this secret \
             as the user AWSCURRENT names\n        fix: Rotate a secret that a proxy uses with \
             single user.\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("  warn  rds-proxy: not checked: RDS DescribeDBProxies got no answer"),
        "{text}"
    );
    assert!(!text.contains("0 listed"), "a pass is not shown: {text}");
}
