//! The RDS API, seen through the two reads the alternating-users strategy needs.
//!
//! An RDS-managed master secret holds only a user name and a password; RDS tags it with the
//! database it belongs to, and this module asks the RDS API what that database's host names
//! are (its endpoint, read replicas, cluster endpoints and member instances), so the master
//! password only ever goes to one of them (see [`crate::alternating`]).
//!
//! The preflight also asks it which RDS Proxies log in with a secret
//! ([`RdsDirectory::proxies`], see [`crate::ops::proxy`]): the account's proxies, each with the
//! secrets its `Auth` names. A read that cannot be answered quickly is a warning of the
//! preflight, never a wait: the call is bounded, and a Region's RDS API that did not answer is
//! not asked again for a few minutes (a drift check runs the preflight of every secret).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;

/// A database as the RDS API describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdsDatabase {
    /// The instance or cluster ARN.
    pub arn: String,
    /// The engine, in the names the secret format uses (`aurora` is `aurora-mysql`).
    pub engine: String,
    pub port: u16,
    /// Where the master logs in: the instance endpoint, or the cluster's writer endpoint.
    pub writer: String,
    /// Every host name that belongs to the database: the writer, read replicas, the cluster's
    /// reader and custom endpoints and its member instances.
    pub hosts: Vec<String>,
}

impl RdsDatabase {
    /// Whether `host` is one of this database's names (DNS names compare without case and
    /// without a trailing dot).
    pub fn serves(&self, host: &str) -> bool {
        self.hosts.iter().any(|known| same_host(known, host))
    }
}

/// Whether two host names are the same DNS name.
pub fn same_host(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// An RDS Proxy as DescribeDBProxies describes it: only what the preflight reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdsProxy {
    pub name: String,
    /// `MYSQL`, `POSTGRESQL` or `SQLSERVER`.
    pub engine_family: String,
    /// `available`, `creating`, `modifying`, ...
    pub status: String,
    /// `IAM_AUTH` (end-to-end IAM: the proxy logs in to the database with IAM, no secret) or
    /// `NONE`; absent on proxies made before the setting existed.
    pub default_auth_scheme: Option<String>,
    /// One entry per secret (database user) the proxy may log in as.
    pub auth: Vec<ProxyAuth>,
}

/// One `Auth` entry of a proxy: a secret the proxy reads a user name and password from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyAuth {
    pub secret_arn: Option<String>,
    /// `DISABLED` or `REQUIRED` (clients present an IAM token), `ENABLED` (SQL Server).
    pub iam_auth: Option<String>,
    /// How clients prove the password to the proxy (`POSTGRES_SCRAM_SHA_256`, ...).
    pub client_password_auth_type: Option<String>,
}

/// Why the proxies could not be listed. None of these fails a preflight: it says the check
/// was not made, and how to make it possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyLookupError {
    /// The function has no way to the RDS API (no RDS client, or no route in the stack).
    NoRoute(String),
    /// No answer in time, or no connection: the network path to the RDS API.
    Unreachable(String),
    /// The role may not call DescribeDBProxies.
    Denied(String),
    /// Any other failure, as the API reported it.
    Failed(String),
}

impl std::fmt::Display for ProxyLookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoRoute(why) | Self::Unreachable(why) | Self::Denied(why) | Self::Failed(why) => {
                f.write_str(why)
            }
        }
    }
}

/// The RDS API calls the master lookup needs.
#[async_trait]
pub trait RdsDirectory: std::fmt::Debug + Send + Sync {
    /// The DB instance with this ARN, and its read replicas.
    async fn instance(&self, arn: &str) -> Result<RdsDatabase, String>;
    /// The DB cluster with this ARN, its endpoints and its member instances.
    async fn cluster(&self, arn: &str) -> Result<RdsDatabase, String>;
    /// Every RDS Proxy of the account in the Region, all pages. A directory that cannot list
    /// them says so.
    async fn proxies(&self) -> Result<Vec<RdsProxy>, ProxyLookupError> {
        Err(ProxyLookupError::NoRoute(
            "this RDS directory does not list proxies".into(),
        ))
    }
}

/// How long listing the proxies may take, all pages and the SDK's retries included.
pub const PROXY_LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an RDS API that did not answer is not asked again.
pub const PROXY_LOOKUP_PAUSE: Duration = Duration::from_secs(300);
/// Proxies asked for per page (DescribeDBProxies accepts 20 to 100).
const PROXY_PAGE_SIZE: i32 = 100;

/// The real RDS API. Its client is built at the first call: most invocations never make one,
/// and a cold start then pays nothing for it.
#[derive(Debug, Clone)]
pub struct AwsRds {
    client: Arc<std::sync::OnceLock<Client>>,
    /// The configuration the client is built from, when it was not given ready-made.
    sdk: Option<aws_config::SdkConfig>,
    proxy_timeout: Duration,
    /// When the RDS API last failed to answer a proxy listing in time, and how.
    unanswered: Arc<Mutex<Option<(Instant, String)>>>,
}

impl AwsRds {
    /// From the SDK's shared configuration (`AWS_ENDPOINT_URL_RDS` overrides the endpoint).
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: Arc::default(),
            sdk: Some(sdk.clone()),
            proxy_timeout: PROXY_LOOKUP_TIMEOUT,
            unanswered: Arc::default(),
        }
    }

    pub fn from_client(client: Client) -> Self {
        Self {
            client: Arc::new(std::sync::OnceLock::from(client)),
            sdk: None,
            proxy_timeout: PROXY_LOOKUP_TIMEOUT,
            unanswered: Arc::default(),
        }
    }

    fn client(&self) -> &Client {
        self.client.get_or_init(|| {
            Client::new(
                self.sdk
                    .as_ref()
                    .expect("an AwsRds without a client holds the SDK configuration"),
            )
        })
    }

    /// Bounds a proxy listing by `timeout` instead of [`PROXY_LOOKUP_TIMEOUT`].
    pub fn with_proxy_timeout(mut self, timeout: Duration) -> Self {
        self.proxy_timeout = timeout;
        self
    }

    /// Every page of DescribeDBProxies, unbounded in time.
    async fn all_proxies(&self) -> Result<Vec<RdsProxy>, ProxyLookupError> {
        // The SDK's paginator follows `Marker` and stops on a repeated one.
        let mut pages = self
            .client()
            .describe_db_proxies()
            .max_records(PROXY_PAGE_SIZE)
            .into_paginator()
            .send();
        let mut proxies = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(proxy_error)?;
            proxies.extend(page.db_proxies().iter().map(proxy_of));
        }
        Ok(proxies)
    }

    /// The endpoint address of one DB instance, by identifier or ARN.
    async fn instance_address(&self, id: &str) -> Result<String, String> {
        let out = self
            .client()
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .map_err(|e| rds_error("DescribeDBInstances", id, e))?;
        out.db_instances()
            .first()
            .and_then(|i| i.endpoint())
            .and_then(|e| e.address())
            .map(str::to_owned)
            .ok_or_else(|| format!("DescribeDBInstances gave no endpoint for `{id}`"))
    }
}

fn rds_error<E, R>(op: &str, id: &str, error: SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let detail = match error.code() {
        Some(code) => format!("{code}: {}", error.message().unwrap_or("no message")),
        None => DisplayErrorContext(&error).to_string(),
    };
    format!(
        "RDS {op} for `{id}` failed ({detail}); check the function's role may call \
         rds:DescribeDBInstances and rds:DescribeDBClusters, and that the function reaches the \
         RDS API (an `rds` VPC endpoint or a NAT route)"
    )
}

fn proxy_of(proxy: &aws_sdk_rds::types::DbProxy) -> RdsProxy {
    RdsProxy {
        name: proxy.db_proxy_name().unwrap_or_default().to_owned(),
        engine_family: proxy.engine_family().unwrap_or_default().to_owned(),
        status: proxy
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        default_auth_scheme: proxy.default_auth_scheme().map(str::to_owned),
        auth: proxy
            .auth()
            .iter()
            .map(|auth| ProxyAuth {
                secret_arn: auth.secret_arn().map(str::to_owned),
                iam_auth: auth.iam_auth().map(|m| m.as_str().to_owned()),
                client_password_auth_type: auth
                    .client_password_auth_type()
                    .map(|t| t.as_str().to_owned()),
            })
            .collect(),
    }
}

/// Sorts a failed DescribeDBProxies by what fixes it.
fn proxy_error<E, R>(error: SdkError<E, R>) -> ProxyLookupError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            ProxyLookupError::Unreachable(format!(
                "RDS DescribeDBProxies got no answer ({})",
                DisplayErrorContext(&error)
            ))
        }
        _ => {
            let detail = match error.code() {
                Some(code) => format!("{code}: {}", error.message().unwrap_or("no message")),
                None => DisplayErrorContext(&error).to_string(),
            };
            let denied = error.code().is_some_and(|code| {
                matches!(
                    code,
                    "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation"
                )
            });
            if denied {
                ProxyLookupError::Denied(format!("RDS DescribeDBProxies was refused ({detail})"))
            } else {
                ProxyLookupError::Failed(format!("RDS DescribeDBProxies failed ({detail})"))
            }
        }
    }
}

/// RDS says `aurora` for Aurora MySQL 5.6; the secret format says `aurora-mysql`.
fn secret_engine(rds_engine: &str) -> String {
    match rds_engine {
        "aurora" => "aurora-mysql".to_owned(),
        other => other.to_owned(),
    }
}

fn port_of(port: Option<i32>, what: &str) -> Result<u16, String> {
    port.and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("the RDS API gave no port for `{what}`"))
}

/// The endpoint addresses of the replicas or members that resolve. One that does not (a
/// cross-Region replica, one being created or deleted) is left out with a warning rather than
/// fail the rotation: it only widens the hosts a secret may name, and the master's own endpoint
/// never comes from it.
async fn reachable_hosts<'a, F, Fut>(ids: &'a [String], address: F) -> Vec<String>
where
    F: Fn(&'a str) -> Fut,
    Fut: std::future::Future<Output = Result<String, String>>,
{
    let mut hosts = Vec::new();
    for id in ids {
        match address(id).await {
            Ok(host) => hosts.push(host),
            Err(problem) => {
                tracing::warn!(instance = %id, %problem, "skipped a replica or member without an address");
            }
        }
    }
    hosts
}

#[async_trait]
impl RdsDirectory for AwsRds {
    async fn instance(&self, arn: &str) -> Result<RdsDatabase, String> {
        let out = self
            .client()
            .describe_db_instances()
            .db_instance_identifier(arn)
            .send()
            .await
            .map_err(|e| rds_error("DescribeDBInstances", arn, e))?;
        let instance = out
            .db_instances()
            .first()
            .ok_or_else(|| format!("the RDS API knows no DB instance `{arn}`"))?;
        let endpoint = instance
            .endpoint()
            .ok_or_else(|| format!("DB instance `{arn}` has no endpoint yet"))?;
        let writer = endpoint
            .address()
            .ok_or_else(|| format!("DB instance `{arn}` has no endpoint address"))?
            .to_owned();
        let mut hosts = vec![writer.clone()];
        hosts.extend(
            reachable_hosts(instance.read_replica_db_instance_identifiers(), |id| {
                self.instance_address(id)
            })
            .await,
        );
        Ok(RdsDatabase {
            arn: arn.to_owned(),
            engine: secret_engine(instance.engine().unwrap_or_default()),
            port: port_of(endpoint.port(), arn)?,
            writer,
            hosts,
        })
    }

    async fn cluster(&self, arn: &str) -> Result<RdsDatabase, String> {
        let out = self
            .client()
            .describe_db_clusters()
            .db_cluster_identifier(arn)
            .send()
            .await
            .map_err(|e| rds_error("DescribeDBClusters", arn, e))?;
        let cluster = out
            .db_clusters()
            .first()
            .ok_or_else(|| format!("the RDS API knows no DB cluster `{arn}`"))?;
        let writer = cluster
            .endpoint()
            .ok_or_else(|| format!("DB cluster `{arn}` has no writer endpoint"))?
            .to_owned();
        let mut hosts = vec![writer.clone()];
        hosts.extend(cluster.reader_endpoint().map(str::to_owned));
        hosts.extend(cluster.custom_endpoints().iter().cloned());
        let members: Vec<String> = cluster
            .db_cluster_members()
            .iter()
            .filter_map(|m| m.db_instance_identifier().map(str::to_owned))
            .collect();
        hosts.extend(reachable_hosts(&members, |id| self.instance_address(id)).await);
        Ok(RdsDatabase {
            arn: arn.to_owned(),
            engine: secret_engine(cluster.engine().unwrap_or_default()),
            port: port_of(cluster.port(), arn)?,
            writer,
            hosts,
        })
    }

    async fn proxies(&self) -> Result<Vec<RdsProxy>, ProxyLookupError> {
        let lock = || {
            self.unanswered
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        if let Some((at, why)) = lock().as_ref()
            && at.elapsed() < PROXY_LOOKUP_PAUSE
        {
            return Err(ProxyLookupError::Unreachable(format!(
                "{why} {} s ago; not asked again for {} s",
                at.elapsed().as_secs(),
                PROXY_LOOKUP_PAUSE.as_secs()
            )));
        }
        let found = match tokio::time::timeout(self.proxy_timeout, self.all_proxies()).await {
            Ok(found) => found,
            Err(_) => Err(ProxyLookupError::Unreachable(format!(
                "RDS DescribeDBProxies got no answer within {} s",
                self.proxy_timeout.as_secs_f32()
            ))),
        };
        *lock() = match &found {
            Err(ProxyLookupError::Unreachable(why)) => Some((Instant::now(), why.clone())),
            _ => None,
        };
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_replica_that_does_not_resolve_is_skipped() {
        let ids: Vec<String> = [
            "replica-a",
            "arn:aws:rds:eu-west-1:1:db:cross-region",
            "replica-b",
        ]
        .map(str::to_owned)
        .to_vec();
        let hosts = reachable_hosts(&ids, |id| async move {
            if id.starts_with("arn:") {
                Err(format!("the RDS API knows no DB instance `{id}`"))
            } else {
                Ok(format!("{id}.example"))
            }
        })
        .await;
        assert_eq!(hosts, ["replica-a.example", "replica-b.example"]);
    }
}
