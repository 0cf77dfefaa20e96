//! Where an alternating-users rotation may log in as the master user.
//!
//! The master credential is the most valuable thing the function touches, and whoever can write
//! the rotated secret must not be able to send it anywhere. So the master login takes nothing
//! that decides where it goes from the rotated secret: the host, port and TLS setting come from
//! the master secret itself or, for an RDS-managed master secret (which holds only `username`
//! and `password`), from the RDS API, found through the `aws:rds:primaryDBInstanceArn` or
//! `aws:rds:primaryDBClusterArn` tag RDS puts on it, as AWS's own rotation templates do. The
//! rotated secret's host must then be that database, one of its read replicas, or an endpoint
//! or member of its Aurora cluster. Only the engine (when the master secret does not name it)
//! and the database name (`dbname`, which picks a database on the master's own server) may come
//! from the rotated secret.

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;
use serde_json::{Map, Value};

use crate::secret::SecretValue;

/// The tag RDS puts on the master secret of a DB instance it manages.
pub const INSTANCE_TAG: &str = "aws:rds:primaryDBInstanceArn";
/// The tag RDS puts on the master secret of a DB cluster it manages.
pub const CLUSTER_TAG: &str = "aws:rds:primaryDBClusterArn";

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
        for replica in instance.read_replica_db_instance_identifiers() {
            hosts.push(self.instance_address(replica).await?);
        }
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
        for member in cluster.db_cluster_members() {
            if let Some(id) = member.db_instance_identifier() {
                hosts.push(self.instance_address(id).await?);
            }
        }
        Ok(RdsDatabase {
            arn: arn.to_owned(),
            engine: secret_engine(cluster.engine().unwrap_or_default()),
            port: port_of(cluster.port(), arn)?,
            writer,
            hosts,
        })
    }
}

/// The value the master login is read from: the master secret's own fields; where it names no
/// host, the RDS database's writer endpoint, port and engine; the engine and `dbname` from the
/// rotated secret only where neither names them. Never the rotated secret's host, port or
/// `ssl`: a missing `ssl` means the function's TLS default.
pub fn master_value(
    master: &SecretValue,
    rotated: &SecretValue,
    database: Option<&RdsDatabase>,
) -> SecretValue {
    let mut fields: Map<String, Value> = master.fields().clone();
    fields.remove("masterarn");
    if let Some(database) = database
        && master.str_field("host").is_none()
    {
        fields.insert("host".into(), Value::String(database.writer.clone()));
        fields.insert("port".into(), Value::from(database.port));
        fields
            .entry("engine")
            .or_insert_with(|| Value::String(database.engine.clone()));
    }
    for borrowed in ["engine", "dbname"] {
        if !fields.contains_key(borrowed)
            && let Some(value) = rotated.str_field(borrowed)
        {
            fields.insert(borrowed.into(), Value::String(value.to_owned()));
        }
    }
    SecretValue::from_fields(fields)
}

/// The RDS database an RDS-managed master secret belongs to, from its tags.
pub fn tagged_database(
    tags: &std::collections::BTreeMap<String, String>,
) -> Option<(&'static str, &str)> {
    // Tag keys are matched without case, as AWS's templates do.
    tags.iter().find_map(|(key, value)| {
        if key.eq_ignore_ascii_case(INSTANCE_TAG) {
            Some((INSTANCE_TAG, value.as_str()))
        } else if key.eq_ignore_ascii_case(CLUSTER_TAG) {
            Some((CLUSTER_TAG, value.as_str()))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(json: &str) -> SecretValue {
        SecretValue::parse(json).unwrap()
    }

    fn database() -> RdsDatabase {
        RdsDatabase {
            arn: "arn:aws:rds:us-east-1:1:db:orders".into(),
            engine: "postgres".into(),
            port: 5433,
            writer: "orders.abc.us-east-1.rds.amazonaws.com".into(),
            hosts: vec![
                "orders.abc.us-east-1.rds.amazonaws.com".into(),
                "orders-replica.abc.us-east-1.rds.amazonaws.com".into(),
            ],
        }
    }

    #[test]
    fn an_rds_managed_master_takes_nothing_that_routes_from_the_rotated_secret() {
        let master = value(r#"{"username":"admin","password":"m"}"#);
        let rotated = value(
            r#"{"engine":"postgres","host":"evil.example","port":1,"ssl":false,
                "dbname":"app","username":"app","password":"a","masterarn":"x"}"#,
        );
        let merged = master_value(&master, &rotated, Some(&database()));
        assert_eq!(
            merged.str_field("host"),
            Some("orders.abc.us-east-1.rds.amazonaws.com")
        );
        assert_eq!(merged.fields()["port"], 5433);
        assert_eq!(merged.str_field("username"), Some("admin"));
        assert_eq!(merged.str_field("dbname"), Some("app"));
        assert_eq!(merged.str_field("engine"), Some("postgres"));
        assert!(!merged.fields().contains_key("ssl"));
        assert!(!merged.fields().contains_key("masterarn"));
    }

    #[test]
    fn a_full_master_secret_keeps_its_own_host_port_and_tls() {
        let master = value(
            r#"{"engine":"mysql","host":"db.internal","port":3307,"ssl":true,
                "username":"admin","password":"m"}"#,
        );
        let rotated = value(
            r#"{"engine":"mysql","host":"db.internal","port":1,"ssl":false,
                "username":"app","password":"a"}"#,
        );
        let merged = master_value(&master, &rotated, Some(&database()));
        assert_eq!(merged.str_field("host"), Some("db.internal"));
        assert_eq!(merged.fields()["port"], 3307);
        assert_eq!(merged.fields()["ssl"], true);
        // Without an engine of its own, the master borrows the rotated secret's.
        let bare = value(r#"{"host":"db.internal","username":"admin","password":"m"}"#);
        let merged = master_value(&bare, &rotated, None);
        assert_eq!(merged.str_field("engine"), Some("mysql"));
        assert!(!merged.fields().contains_key("port"));
        assert!(!merged.fields().contains_key("ssl"));
    }

    #[test]
    fn hosts_compare_as_dns_names() {
        let db = database();
        assert!(db.serves("ORDERS.abc.us-east-1.rds.amazonaws.com."));
        assert!(db.serves("orders-replica.abc.us-east-1.rds.amazonaws.com"));
        assert!(!db.serves("orders.abc.us-east-1.rds.amazonaws.com.evil.example"));
        assert!(!db.serves("localhost"));
    }

    #[test]
    fn tags_name_the_instance_or_the_cluster() {
        let mut tags = std::collections::BTreeMap::new();
        assert_eq!(tagged_database(&tags), None);
        tags.insert("team".into(), "x".into());
        tags.insert("AWS:RDS:primaryDBClusterArn".into(), "arn:c".into());
        assert_eq!(tagged_database(&tags), Some((CLUSTER_TAG, "arn:c")));
    }
}
