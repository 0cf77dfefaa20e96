//! The preflight's RDS Proxy check, offline: the whole preflight over the in-memory fakes with
//! proxies in the fake RDS API; the real RDS client's listing with aws-smithy-mocks (pages,
//! refusals); and its time bound against a loopback port that accepts and never answers. Only
//! 127.0.0.1 is touched. The listing against moto's RDS API is in `rds_proxy.rs` (servers).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::operation::describe_db_proxies::DescribeDbProxiesOutput;
use aws_sdk_rds::types::{DbProxy, DbProxyStatus, UserAuthConfigInfo};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use rotation::fakes::{MemoryConnector, MemoryDatabase, MemoryRds, MemoryStore};
use rotation::ops::preflight::{PreflightReport, preflight};
use rotation::ops::{Status, check};
use rotation::rds::{AwsRds, ProxyAuth, ProxyLookupError, RdsDirectory, RdsProxy};
use rotation::secret::{EngineFamily, SecretValue};
use rotation::store::{
    SecretAdmin, SecretDetails, SecretMetadata, SecretStore, Staged, VersionInfo,
};
use rotation::{Config, RotationError, Rotator};
use serde_json::json;

const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/app-AbCdEf";
const MASTER: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/master-GhIjKl";
const OTHER: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:billing/app-MnOpQr";
const APP_PASSWORD: &str = "app-initial-Pa55word";
const MASTER_PASSWORD: &str = "master-initial-Pa55word";

/// The in-memory store as the operator's uncached view: the reads a preflight makes.
struct Operator(MemoryStore);

#[async_trait]
impl SecretStore for Operator {
    async fn describe(&self, secret: &str) -> Result<SecretMetadata, RotationError> {
        self.0.describe(secret).await
    }
    async fn get(
        &self,
        secret: &str,
        which: Staged<'_>,
    ) -> Result<Option<SecretValue>, RotationError> {
        self.0.get(secret, which).await
    }
    async fn put_pending(
        &self,
        _: &str,
        _: &str,
        _: &SecretValue,
        _: Option<&str>,
    ) -> Result<(), RotationError> {
        unreachable!("a preflight writes nothing")
    }
    async fn promote(&self, _: &str, _: &str, _: Option<&str>) -> Result<(), RotationError> {
        unreachable!("a preflight writes nothing")
    }
}

#[async_trait]
impl SecretAdmin for Operator {
    async fn details(&self, secret: &str) -> Result<SecretDetails, RotationError> {
        let meta = self.0.describe(secret).await?;
        Ok(SecretDetails {
            arn: meta.arn.unwrap_or_default(),
            name: meta.name.unwrap_or_default(),
            rotation_enabled: meta.rotation_enabled,
            rotation_lambda_arn: meta.rotation_lambda_arn,
            versions: meta.versions,
            ..SecretDetails::default()
        })
    }
    async fn versions(&self, _: &str) -> Result<Vec<VersionInfo>, RotationError> {
        Ok(Vec::new())
    }
    async fn value_of(&self, _: &str, _: &str) -> Result<Option<SecretValue>, RotationError> {
        Ok(None)
    }
    async fn move_stage(
        &self,
        _: &str,
        _: &str,
        _: Option<&str>,
        _: Option<&str>,
    ) -> Result<(), RotationError> {
        unreachable!("a preflight writes nothing")
    }
    async fn rotated_by(&self, _: &str) -> Result<Vec<SecretDetails>, RotationError> {
        Ok(Vec::new())
    }
}

fn proxy(name: &str, secrets: &[&str]) -> RdsProxy {
    RdsProxy {
        name: name.into(),
        engine_family: "POSTGRESQL".into(),
        status: "available".into(),
        default_auth_scheme: Some("NONE".into()),
        auth: secrets
            .iter()
            .map(|arn| ProxyAuth {
                secret_arn: Some((*arn).into()),
                iam_auth: Some("DISABLED".into()),
                client_password_auth_type: Some("POSTGRES_SCRAM_SHA_256".into()),
            })
            .collect(),
    }
}

/// A PostgreSQL database at a loopback port that accepts TCP (the fake connector answers the
/// logins), its secret and a rotator whose RDS API is `rds`; `route` is `RDS_API_ROUTE`.
async fn preflight_with(alternating: bool, rds: MemoryRds, route: bool) -> PreflightReport {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let store = MemoryStore::new();
    let mut value = json!({
        "engine": "postgres", "host": "127.0.0.1", "port": port,
        "username": "app", "password": APP_PASSWORD, "ssl": false,
    });
    if alternating {
        value["masterarn"] = json!(MASTER);
        store.create_secret(
            MASTER,
            &json!({
                "engine": "postgres", "host": "127.0.0.1", "port": port,
                "username": "admin", "password": MASTER_PASSWORD, "ssl": false,
            })
            .to_string(),
        );
    }
    store.create_secret(SECRET, &value.to_string());
    store.set_rotation_enabled(SECRET, Some(true));
    let db = MemoryConnector::new();
    db.add_database(
        "127.0.0.1",
        port,
        MemoryDatabase::new(EngineFamily::Postgres)
            .with_user("app", APP_PASSWORD)
            .with_master("admin", MASTER_PASSWORD),
    );
    let config = Config::from_lookup(|name| match name {
        "ROTATION_SETTINGS" => Some("from-secrets".into()),
        "DB_CA_BUNDLE" => Some("/nonexistent/ca.pem".into()),
        "RDS_API_ROUTE" => Some(route.to_string()),
        _ => None,
    })
    .unwrap();
    let rotator = Rotator::new(store.clone(), db, config).with_rds(rds);
    let report = preflight(&rotator, &Operator(store), None, SECRET).await;
    drop(listener);
    let text = serde_json::to_string(&report).unwrap();
    assert!(
        !text.contains(APP_PASSWORD) && !text.contains(MASTER_PASSWORD),
        "{text}"
    );
    report
}

fn proxy_check(report: &PreflightReport) -> &rotation::ops::Check {
    report
        .checks
        .iter()
        .find(|c| c.check == check::RDS_PROXY)
        .unwrap_or_else(|| panic!("no rds-proxy check in {report:#?}"))
}

#[tokio::test]
async fn alternating_users_behind_a_proxy_fail_the_preflight() {
    let rds = MemoryRds::default()
        .with_proxy(proxy("billing", &[OTHER]))
        .with_proxy(proxy("orders", &[OTHER, SECRET]));
    let report = preflight_with(true, rds, true).await;
    let found = proxy_check(&report);
    assert_eq!(found.status, Status::Fail, "{report:#?}");
    assert!(found.detail.contains("`orders`") && !found.detail.contains("billing"));
    assert!(!report.ok && report.problems == 1, "{report:#?}");
    // Everything else passed: the proxy is the one problem, reported last.
    assert_eq!(report.checks.last().unwrap().check, check::RDS_PROXY);
}

#[tokio::test]
async fn single_user_behind_a_proxy_passes() {
    let rds = MemoryRds::default().with_proxy(proxy("orders", &[SECRET]));
    let report = preflight_with(false, rds, true).await;
    assert_eq!(proxy_check(&report).status, Status::Pass);
    assert!(proxy_check(&report).detail.contains("`orders`"));
    assert!(report.ok, "{report:#?}");
}

#[tokio::test]
async fn no_proxy_no_problem() {
    for alternating in [false, true] {
        let rds = MemoryRds::default().with_proxy(proxy("billing", &[OTHER]));
        let report = preflight_with(alternating, rds, true).await;
        assert_eq!(proxy_check(&report).status, Status::Pass, "{report:#?}");
        assert!(report.ok, "{report:#?}");
    }
}

#[tokio::test]
async fn without_a_route_nothing_is_asked_and_nothing_fails() {
    // A proxy that would fail the check: without a route the function never asks.
    let rds = MemoryRds::default().with_proxy(proxy("orders", &[SECRET]));
    let single = preflight_with(false, rds.clone(), false).await;
    assert_eq!(proxy_check(&single).status, Status::Skip, "{single:#?}");
    assert!(single.ok);
    let pair = preflight_with(true, rds, false).await;
    assert_eq!(proxy_check(&pair).status, Status::Warn, "{pair:#?}");
    assert!(pair.ok, "a check not made is a warning, not a problem");
}

#[tokio::test]
async fn an_unreachable_or_refusing_rds_api_is_a_warning() {
    for failure in [
        ProxyLookupError::Unreachable("no answer within 5 s".into()),
        ProxyLookupError::Denied("AccessDenied: no".into()),
    ] {
        let rds = MemoryRds::default().failing_proxies(failure);
        let report = preflight_with(true, rds, true).await;
        let found = proxy_check(&report);
        assert_eq!(found.status, Status::Warn, "{report:#?}");
        assert!(found.detail.starts_with("not checked"));
        assert!(report.ok, "{report:#?}");
    }
}

fn sdk_proxy(name: &str, secret: &str) -> DbProxy {
    DbProxy::builder()
        .db_proxy_name(name)
        .engine_family("MYSQL")
        .status(DbProxyStatus::Available)
        .auth(UserAuthConfigInfo::builder().secret_arn(secret).build())
        .build()
}

#[tokio::test]
async fn every_page_is_read() {
    let first = mock!(Client::describe_db_proxies)
        .match_requests(|r| r.marker().is_none())
        .then_output(|| {
            DescribeDbProxiesOutput::builder()
                .db_proxies(sdk_proxy("a", OTHER))
                .marker("page-2")
                .build()
        });
    let second = mock!(Client::describe_db_proxies)
        .match_requests(|r| r.marker() == Some("page-2"))
        .then_output(|| {
            DescribeDbProxiesOutput::builder()
                .db_proxies(sdk_proxy("b", SECRET))
                .build()
        });
    let rds = AwsRds::from_client(mock_client!(
        aws_sdk_rds,
        RuleMode::MatchAny,
        [&first, &second]
    ));
    let proxies = rds.proxies().await.expect("two pages");
    let names: Vec<&str> = proxies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(proxies[1].auth[0].secret_arn.as_deref(), Some(SECRET));
    assert_eq!(proxies[1].status, "available");
    assert_eq!(first.num_calls() + second.num_calls(), 2);
}

#[tokio::test]
async fn a_refusal_is_told_apart_from_other_failures() {
    let refuse = |status: u16, code: &'static str| {
        mock!(Client::describe_db_proxies).then_http_response(move || {
            Response::new(
                StatusCode::try_from(status).unwrap(),
                SdkBody::from(format!(
                    "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>\
                     <Message>injected {code}</Message></Error></ErrorResponse>"
                )),
            )
        })
    };
    let denied = refuse(403, "AccessDenied");
    let rds = AwsRds::from_client(mock_client!(aws_sdk_rds, [&denied]));
    match rds.proxies().await {
        Err(ProxyLookupError::Denied(why)) => assert!(why.contains("AccessDenied"), "{why}"),
        other => panic!("{other:?}"),
    }
    let broken = refuse(400, "InvalidParameterValue");
    let rds = AwsRds::from_client(mock_client!(aws_sdk_rds, [&broken]));
    assert!(matches!(
        rds.proxies().await,
        Err(ProxyLookupError::Failed(_))
    ));
}

/// A port that takes connections and never answers: an RDS API behind a black hole.
#[tokio::test]
async fn a_silent_rds_api_costs_one_short_wait_then_none() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    // Accepts and never answers; counts the connections, which is what the back-off saves.
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            open.push(socket);
        }
    });
    let config = aws_sdk_rds::Config::builder()
        .behavior_version(aws_sdk_rds::config::BehaviorVersion::latest())
        .region(aws_sdk_rds::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_rds::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .endpoint_url(format!("http://{address}"))
        .build();
    let bound = Duration::from_millis(400);
    let rds = AwsRds::from_client(Client::from_conf(config)).with_proxy_timeout(bound);

    // The first lookup gives up at the bound (the report says which), never failing preflight.
    let first = rds.proxies().await;
    assert!(
        matches!(&first, Err(ProxyLookupError::Unreachable(why)) if why.contains("0.4 s")),
        "{first:?}"
    );
    let asked = accepted.load(Ordering::SeqCst);
    assert!(asked >= 1, "the first lookup reached the silent API");

    // A clone shares what was learnt: the next preflight (another secret) does not ask again.
    let again = rds.clone().proxies().await;
    assert!(
        matches!(&again, Err(ProxyLookupError::Unreachable(why)) if why.contains("not asked again")),
        "{again:?}"
    );
    tokio::task::yield_now().await;
    assert_eq!(accepted.load(Ordering::SeqCst), asked, "no new connection");
    held.abort();
}
