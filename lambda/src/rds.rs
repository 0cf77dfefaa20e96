//! The RDS API, seen through the two reads the alternating-users strategy needs.
//!
//! An RDS-managed master secret holds only a user name and a password; RDS tags it with the
//! database it belongs to, and this module asks the RDS API what that database's host names
//! are (its endpoint, read replicas, cluster endpoints and member instances), so the master
//! password only ever goes to one of them (see [`crate::alternating`]).

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

/// The RDS API calls the master lookup needs.
#[async_trait]
pub trait RdsDirectory: std::fmt::Debug + Send + Sync {
    /// The DB instance with this ARN, and its read replicas.
    async fn instance(&self, arn: &str) -> Result<RdsDatabase, String>;
    /// The DB cluster with this ARN, its endpoints and its member instances.
    async fn cluster(&self, arn: &str) -> Result<RdsDatabase, String>;
}

/// The real RDS API.
#[derive(Debug, Clone)]
pub struct AwsRds {
    client: Client,
}

impl AwsRds {
    /// From the SDK's shared configuration (`AWS_ENDPOINT_URL_RDS` overrides the endpoint).
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: Client::new(sdk),
        }
    }

    pub fn from_client(client: Client) -> Self {
        Self { client }
    }

    /// The endpoint address of one DB instance, by identifier or ARN.
    async fn instance_address(&self, id: &str) -> Result<String, String> {
        let out = self
            .client
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
            .client
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
            .client
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
