//! The preflight's RDS Proxy check against moto's RDS API (CreateDBProxy, DescribeDBProxies)
//! through the function's own client, with the real databases and moto's Secrets Manager: a
//! proxy that logs in with an alternating-users secret fails the preflight; one that logs in
//! with a single-user secret passes it. moto needs a subnet for a proxy: its EC2 API (the
//! default VPC's subnets) is asked with one plain HTTP request on loopback, as the SDK would.
//!
//! What moto does not model: DescribeDBProxies answers every proxy at once (no `MaxRecords`,
//! no `Marker` of its own), so the paging is tested offline (`rds_proxy_offline.rs`); and
//! `DefaultAuthScheme` is not returned.

use crate::common;

use aws_sdk_rds::types::{AuthScheme, IamAuthMode, UserAuthConfig};
use common::pair::standard_fixture;
use common::{Harness, Kind, env, rds_client, unique};
use rotation::ops::Status;
use rotation::ops::preflight::{PreflightReport, preflight};
use rotation::rds::{AwsRds, RdsDirectory};
use rotation::store::AwsSecretStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The first subnet of moto's default VPC, from its EC2 API.
async fn a_subnet() -> String {
    let endpoint = env().sm_endpoint.trim_start_matches("http://").to_owned();
    let body = "Action=DescribeSubnets&Version=2016-11-15";
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {endpoint}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/ec2/aws4_request, \
         SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(&endpoint)
        .await
        .expect("moto's port");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let start = answer
        .find("<subnetId>")
        .unwrap_or_else(|| panic!("no subnet in {answer}"))
        + "<subnetId>".len();
    let end = start + answer[start..].find('<').unwrap();
    answer[start..end].to_owned()
}

/// A proxy in moto's RDS that logs in with `secret_arn`; returns its name.
async fn proxy_for(secret_arn: &str, family: &str) -> String {
    let name = unique("proxy").replace('_', "-");
    rds_client()
        .create_db_proxy()
        .db_proxy_name(&name)
        .engine_family(aws_sdk_rds::types::EngineFamily::from(family))
        .role_arn("arn:aws:iam::123456789012:role/proxy-reads-secrets")
        .vpc_subnet_ids(a_subnet().await)
        .auth(
            UserAuthConfig::builder()
                .auth_scheme(AuthScheme::Secrets)
                .secret_arn(secret_arn)
                .iam_auth(IamAuthMode::Disabled)
                .build(),
        )
        .send()
        .await
        .expect("CreateDBProxy");
    name
}

async fn check(h: &Harness, arn: &str) -> PreflightReport {
    let admin = AwsSecretStore::from_client(h.sm.clone());
    preflight(&h.rotator, &admin, None, arn).await
}

fn proxy_check(report: &PreflightReport) -> &rotation::ops::Check {
    report
        .checks
        .iter()
        .find(|c| c.check == "rds-proxy")
        .unwrap_or_else(|| panic!("no rds-proxy check in {report:#?}"))
}

#[tokio::test]
async fn the_function_lists_the_proxies_and_their_secrets() {
    needs_servers!();
    let secret = format!(
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:{}-AbCdEf",
        unique("proxied")
    );
    let name = proxy_for(&secret, "MYSQL").await;
    let proxies = AwsRds::from_client(rds_client())
        .proxies()
        .await
        .expect("DescribeDBProxies");
    let found = proxies
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("`{name}` not in {proxies:#?}"));
    assert_eq!(found.engine_family, "MYSQL");
    assert_eq!(found.status, "available");
    assert_eq!(found.auth.len(), 1);
    assert_eq!(found.auth[0].secret_arn.as_deref(), Some(secret.as_str()));
    assert_eq!(found.auth[0].iam_auth.as_deref(), Some("DISABLED"));
}

#[tokio::test]
async fn an_alternating_users_secret_behind_a_proxy_fails_the_preflight() {
    needs_servers!();
    let f = standard_fixture(Kind::Postgres).await;
    let before = check(&f.h, &f.arn).await;
    assert_eq!(proxy_check(&before).status, Status::Pass, "{before:#?}");

    let name = proxy_for(&f.arn, "POSTGRESQL").await;
    let report = check(&f.h, &f.arn).await;
    let found = proxy_check(&report);
    assert_eq!(found.status, Status::Fail, "{report:#?}");
    assert!(found.detail.contains(&format!("`{name}`")), "{found:?}");
    assert!(
        found.detail.contains(&format!("`{}_clone`", f.user)),
        "{found:?}"
    );
    assert!(found.fix.as_deref().unwrap().contains("single-user"));
    // One more problem than before, and only this one.
    assert_eq!(report.problems, before.problems + 1, "{report:#?}");
}

#[tokio::test]
async fn a_single_user_secret_behind_a_proxy_passes() {
    needs_servers!();
    let kind = Kind::Postgres;
    let h = Harness::new();
    let user = unique("proxied");
    kind.create_user(&user, "initial-Pa55").await;
    let arn = h.create_secret(&kind.secret(&user, "initial-Pa55")).await;
    let name = proxy_for(&arn, "POSTGRESQL").await;
    let report = check(&h, &arn).await;
    let found = proxy_check(&report);
    assert_eq!(found.status, Status::Pass, "{report:#?}");
    assert!(found.detail.contains(&format!("`{name}`")), "{found:?}");
}
