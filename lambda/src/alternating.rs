//! The alternating-users strategy: a master user keeps two users, `name` and `name_clone`, and
//! each rotation gives the one not in use the current one's privileges and a new password.
//!
//! The master credential is the most valuable thing the function touches, and whoever can write
//! the rotated secret must not be able to send it anywhere, or point it at anything. So nothing
//! about the master login comes from the rotated secret: the engine, host, port, database and
//! TLS setting come from the master secret itself (which must then name its engine and port
//! beside its host) or, for an RDS-managed master secret (which holds only `username` and
//! `password`), from the RDS API, found through the `aws:rds:primaryDBInstanceArn` or
//! `aws:rds:primaryDBClusterArn` tag RDS puts on it, as AWS's own rotation templates do. The
//! master's database is the master secret's `dbname`, else the engine's maintenance database
//! (`postgres`): never the application's, whose owner could have put code or settings there.
//! The rotated secret's host must be that database, one of its read replicas, or an endpoint or
//! member of its Aurora cluster; but the proof that AWSCURRENT is real ([`on_master_endpoint`])
//! logs in where the master acts, never at the host the secret names.

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
/// host, the RDS database's writer endpoint, port and engine. Never a field of the rotated
/// secret: a missing `ssl` means the function's TLS default, a missing `dbname` the engine's
/// maintenance database.
pub fn master_value(master: &SecretValue, database: Option<&RdsDatabase>) -> SecretValue {
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
    SecretValue::from_fields(fields)
}

/// The login that proves AWSCURRENT is real: its user, password and database, at the master's
/// engine, host and port, with the master's TLS setting. A secret's host may be a replica or
/// another port where a server the writer controls accepts any password; the master changes
/// the users of its own endpoint, so that is where the identity must hold.
pub fn on_master_endpoint(current: &Login, master: &Login) -> Login {
    Login {
        engine: master.engine,
        host: master.host.clone(),
        port: master.port,
        username: current.username.clone(),
        password: current.password.clone(),
        dbname: current.dbname.clone(),
        tls: master.tls,
    }
}

/// Whether two logins reach the same endpoint the same way (engine family, host, port, TLS):
/// then a session of one proves what a session of the other would.
pub fn same_endpoint(a: &Login, b: &Login) -> bool {
    a.engine.family() == b.engine.family()
        && a.host.eq_ignore_ascii_case(&b.host)
        && a.port == b.port
        && a.tls == b.tls
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
    if own_host.is_some() {
        let missing: Vec<&str> = ["engine", "port"]
            .into_iter()
            .filter(|field| !master_secret.fields().contains_key(*field))
            .collect();
        if !missing.is_empty() {
            return Err(fail(format!(
                "it names a `host` but no {}; a master secret that names its host names its \
                 engine and port too (they are never taken from the rotated secret)",
                missing
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            )));
        }
    }
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
    let master = master_value(&master_secret, database.as_ref())
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
    fn an_rds_managed_master_takes_nothing_from_the_rotated_secret() {
        // The rotated secret is not even an input: nothing of it can reach the master login.
        let master = value(r#"{"username":"admin","password":"m"}"#);
        let merged = master_value(&master, Some(&database()));
        assert_eq!(
            merged.str_field("host"),
            Some("orders.abc.us-east-1.rds.amazonaws.com")
        );
        assert_eq!(merged.fields()["port"], 5433);
        assert_eq!(merged.str_field("username"), Some("admin"));
        // The maintenance database, not the application's.
        assert_eq!(merged.str_field("dbname"), None);
        assert_eq!(merged.str_field("engine"), Some("postgres"));
        assert!(!merged.fields().contains_key("ssl"));
        assert!(!merged.fields().contains_key("masterarn"));
    }

    #[test]
    fn a_full_master_secret_keeps_its_own_host_port_database_and_tls() {
        let master = value(
            r#"{"engine":"mysql","host":"db.internal","port":3307,"ssl":true,
                "dbname":"admin_db","username":"admin","password":"m"}"#,
        );
        let merged = master_value(&master, Some(&database()));
        assert_eq!(merged.str_field("host"), Some("db.internal"));
        assert_eq!(merged.fields()["port"], 3307);
        assert_eq!(merged.fields()["ssl"], true);
        assert_eq!(merged.str_field("dbname"), Some("admin_db"));
        assert_eq!(merged.str_field("engine"), Some("mysql"));
    }

    #[test]
    fn the_proof_logs_in_where_the_master_acts() {
        let current = value(
            r#"{"engine":"postgres","host":"replica.example","port":6543,"ssl":false,
                "dbname":"app","username":"app","password":"a"}"#,
        )
        .login(crate::secret::Tls::VerifyFull)
        .unwrap();
        let master = value(
            r#"{"engine":"aurora-postgresql","host":"writer.example","port":5432,
                "username":"admin","password":"m"}"#,
        )
        .login(crate::secret::Tls::VerifyFull)
        .unwrap();
        let proof = on_master_endpoint(&current, &master);
        assert_eq!(
            (proof.host.as_str(), proof.port, proof.engine),
            ("writer.example", 5432, master.engine)
        );
        assert_eq!(proof.username, "app");
        assert_eq!(proof.dbname.as_deref(), Some("app"));
        // The secret's `ssl: false` never lowers the proof below the master's own TLS.
        assert_eq!(proof.tls, crate::secret::Tls::VerifyFull);
        assert!(same_endpoint(&proof, &master));
        assert!(!same_endpoint(&proof, &current));
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
