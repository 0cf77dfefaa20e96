//! The alternating-users strategy: a master user keeps two users, `name` and `name_clone`, and
//! each rotation gives the one not in use the current one's privileges and a new password.
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

use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::RotationError;
use crate::rds::{self, RdsDatabase, RdsDirectory};
use crate::secret::{Login, SecretValue};
use crate::store::{AWSCURRENT, SecretStore, Staged};

/// The tag RDS puts on the master secret of a DB instance it manages.
pub const INSTANCE_TAG: &str = "aws:rds:primaryDBInstanceArn";
/// The tag RDS puts on the master secret of a DB cluster it manages.
pub const CLUSTER_TAG: &str = "aws:rds:primaryDBClusterArn";

/// The suffix that tells the two users of an alternating pair apart.
pub const CLONE_SUFFIX: &str = "_clone";

/// The other user of an alternating pair: `name` <-> `name_clone`.
pub fn partner_username(username: &str) -> String {
    match username.strip_suffix(CLONE_SUFFIX) {
        Some(base) if !base.is_empty() => base.to_owned(),
        _ => format!("{username}{CLONE_SUFFIX}"),
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

/// The master user's login, from the master secret alone or, for an RDS-managed master
/// secret, from the RDS database it is tagged with (see the module documentation). Refuses, before
/// the master password goes anywhere, a rotated secret whose host is not that database.
pub async fn master_login<S: SecretStore>(
    store: &S,
    rds: Option<&dyn RdsDirectory>,
    config: &Config,
    secret: &str,
    master_arn: &str,
    pending_value: &SecretValue,
    pending: &Login,
) -> Result<Login, RotationError> {
    let fail = |problem: String| master_error(secret, master_arn, problem);
    let master_secret = store
        .get(master_arn, Staged::Stage(AWSCURRENT))
        .await
        .map_err(|e| fail(e.to_string()))?
        .ok_or_else(|| {
            fail(
                "it does not exist or has no AWSCURRENT value; check `masterarn`, and that \
                 the function's role may read it"
                    .into(),
            )
        })?;
    let own_host = master_secret.str_field("host").map(str::to_owned);
    let host_matches = own_host
        .as_deref()
        .is_some_and(|host| rds::same_host(host, &pending.host));
    // The RDS API is asked only when the master secret names no host, or names another
    // one than the rotated secret (which may then be one of its replicas or readers).
    let database = if host_matches {
        None
    } else {
        let tags = store
            .describe(master_arn)
            .await
            .map_err(|e| fail(e.to_string()))?
            .tags;
        match (tagged_database(&tags), rds) {
            (Some((tag, arn)), Some(rds)) => Some(
                if tag == CLUSTER_TAG {
                    rds.cluster(arn).await
                } else {
                    rds.instance(arn).await
                }
                .map_err(fail)?,
            ),
            (Some(_), None) => {
                return Err(fail(
                    "it is managed by RDS, and this function was built without an RDS API \
                     client to find its database"
                        .into(),
                ));
            }
            (None, _) if own_host.is_none() => {
                return Err(fail(format!(
                    "it names no `host`, and has no `{}` or `{}` tag to find its database \
                     with; add the master database's `host` (and `port`, `engine`) to it",
                    INSTANCE_TAG, CLUSTER_TAG
                )));
            }
            (None, _) => None,
        }
    };
    if !host_matches && !database.as_ref().is_some_and(|db| db.serves(&pending.host)) {
        return Err(RotationError::MasterHostMismatch {
            secret: secret.to_owned(),
            host: pending.host.clone(),
            master: master_arn.to_owned(),
            master_host: match (&database, own_host) {
                (Some(db), _) => format!("{} ({})", db.arn, db.hosts.join(", ")),
                (None, Some(host)) => host,
                (None, None) => "no host".into(),
            },
        });
    }
    let master = master_value(&master_secret, pending_value, database.as_ref())
        .login(config.tls)
        .map_err(|e| fail(e.to_string()))?;
    if master.engine.family() != pending.engine.family() {
        return Err(fail(format!(
            "it is for engine `{}` but the secret is for `{}`",
            master.engine.name(),
            pending.engine.name()
        )));
    }
    Ok(master)
}

/// A master secret that cannot be used, and why.
pub fn master_error(secret: &str, master_arn: &str, problem: String) -> RotationError {
    RotationError::MasterSecret {
        secret: secret.to_owned(),
        master: master_arn.to_owned(),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partners_alternate() {
        assert_eq!(partner_username("app"), "app_clone");
        assert_eq!(partner_username("app_clone"), "app");
        assert_eq!(partner_username("_clone"), "_clone_clone");
    }

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
