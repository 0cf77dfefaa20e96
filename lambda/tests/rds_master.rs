//! An RDS-managed master secret (only `username` and `password`) must lend its password only to
//! its own database: the function finds that database through the `aws:rds:primaryDB*Arn` tag
//! and the RDS API (moto's, here), never through the rotated secret, whose writer could
//! otherwise send the master password to a host of their choice, in plaintext.

use crate::common;

use async_trait::async_trait;
use aws_sdk_secretsmanager::types::Tag;
use common::pair::{Fixture, fixture};
use common::{Harness, Kind, rds_client, unique};
use rotation::rds::{AwsRds, RdsDatabase, RdsDirectory};
use serde_json::json;

per_engine!(
    rds_managed_master_for_another_host_is_refused,
    rds_managed_master_logs_in_to_its_own_database,
    master_never_inherits_plaintext,
    master_without_host_or_tag_is_refused,
);

/// A directory that knows one database, for the paths moto's fake host names cannot reach.
#[derive(Debug, Clone)]
struct OneDatabase(RdsDatabase);

#[async_trait]
impl RdsDirectory for OneDatabase {
    async fn instance(&self, _arn: &str) -> Result<RdsDatabase, String> {
        Ok(self.0.clone())
    }
    async fn cluster(&self, _arn: &str) -> Result<RdsDatabase, String> {
        Ok(self.0.clone())
    }
}

fn local_database(kind: Kind, port: u16) -> OneDatabase {
    OneDatabase(RdsDatabase {
        arn: "arn:aws:rds:us-east-1:123456789012:db:local".into(),
        engine: kind.engine().into(),
        port,
        writer: "localhost".into(),
        hosts: vec!["localhost".into()],
    })
}

/// A fixture whose master secret is RDS-managed (username and password only), tagged with
/// `tag` = `value` when given.
async fn rds_managed(kind: Kind, tag: Option<(&str, &str)>) -> (Fixture, String) {
    let f = fixture(
        kind,
        |user, password| json!({"username": user, "password": password}),
    )
    .await;
    let master_arn = f.h.staged(&f.arn, "AWSCURRENT").await.unwrap()["masterarn"]
        .as_str()
        .unwrap()
        .to_owned();
    if let Some((key, value)) = tag {
        f.h.sm
            .tag_resource()
            .secret_id(&master_arn)
            .tags(Tag::builder().key(key).value(value).build())
            .send()
            .await
            .expect("TagResource");
    }
    (f, master_arn)
}

/// A DB instance in moto's RDS; returns its ARN and endpoint address.
async fn moto_instance(kind: Kind) -> (String, String) {
    let out = rds_client()
        .create_db_instance()
        .db_instance_identifier(unique("db").replace('_', "-"))
        .db_instance_class("db.t3.micro")
        // moto's RDS knows no `mariadb` engine; `mysql` is of the same family.
        .engine(if kind.is_postgres() {
            "postgres"
        } else {
            "mysql"
        })
        .allocated_storage(20)
        .master_username("admin")
        .master_user_password("not-used-Pa55")
        .send()
        .await
        .expect("CreateDBInstance");
    let instance = out.db_instance().unwrap();
    (
        instance.db_instance_arn().unwrap().to_owned(),
        instance
            .endpoint()
            .and_then(|e| e.address())
            .unwrap_or_default()
            .to_owned(),
    )
}

/// Rotates and checks the master user never logged in, and AWSCURRENT still works.
async fn refused_before_the_master_logs_in(h: &Harness, f: &Fixture, kind_name: &str) -> String {
    let (_, error) = h.rotate(&f.arn).await.unwrap_err();
    assert_eq!(error.kind(), kind_name, "{error}");
    let master = format!("{}_master", f.schema);
    assert!(
        h.logins().iter().all(|(user, _)| *user != master),
        "the master must not log in: {:?}",
        h.logins()
    );
    let (user, password) = f.staged_login("AWSCURRENT").await;
    f.check_privileges(&user, &password).await;
    error.to_string()
}

async fn rds_managed_master_for_another_host_is_refused(kind: Kind) {
    let (arn, address) = moto_instance(kind).await;
    let (f, _) = rds_managed(kind, Some(("aws:rds:primaryDBInstanceArn", &arn))).await;
    // The rotated secret names `localhost`, which is not the tagged instance.
    let message = refused_before_the_master_logs_in(&f.h, &f, "MasterHostMismatch").await;
    assert!(
        message.contains(&arn) && message.contains(&address),
        "{message}"
    );
}

async fn rds_managed_master_logs_in_to_its_own_database(kind: Kind) {
    let (f, _) = rds_managed(
        kind,
        Some((
            "aws:rds:primaryDBInstanceArn",
            "arn:aws:rds:us-east-1:123456789012:db:local",
        )),
    )
    .await;
    let h = Harness::with_rds(&[], local_database(kind, kind.tls_port()));
    h.rotate(&f.arn).await.expect("rotation");
    h.rotate(&f.arn).await.expect("second rotation");
    let (user, password) = f.staged_login("AWSCURRENT").await;
    f.check_privileges(&user, &password).await;
    let master = format!("{}_master", f.schema);
    assert!(h.logins().iter().any(|(u, ok)| *u == master && *ok));
}

async fn master_never_inherits_plaintext(kind: Kind) {
    let (f, _) = rds_managed(
        kind,
        Some((
            "aws:rds:primaryDBClusterArn",
            "arn:aws:rds:us-east-1:123456789012:cluster:local",
        )),
    )
    .await;
    let mut value = f.h.staged(&f.arn, "AWSCURRENT").await.unwrap();
    value["ssl"] = json!(false);
    if kind == Kind::MariaDb {
        // The fixture's user requires TLS; this one logs in over plaintext, as its secret says.
        let mut admin = kind.admin(kind.tls_port()).await;
        admin
            .execute(&format!("ALTER USER '{}'@'%' REQUIRE NONE", f.user))
            .await;
    }
    f.h.sm
        .put_secret_value()
        .secret_id(&f.arn)
        .secret_string(value.to_string())
        .send()
        .await
        .unwrap();
    // The database's TLS port answers only TLS... so point the master at the plaintext
    // server: a master login that inherited `"ssl": false` would go through in plaintext.
    let h = Harness::with_rds(&[], local_database(kind, kind.plain_port()));
    let (_, error) = h.rotate(&f.arn).await.unwrap_err();
    assert_eq!(error.kind(), "DatabaseTlsError", "{error}");
    let master = format!("{}_master", f.schema);
    assert!(
        h.logins().iter().all(|(user, _)| *user != master),
        "{:?}",
        h.logins()
    );
}

async fn master_without_host_or_tag_is_refused(kind: Kind) {
    let (f, _) = rds_managed(kind, None).await;
    let message = refused_before_the_master_logs_in(&f.h, &f, "MasterSecretError").await;
    assert!(
        message.contains("aws:rds:primaryDBInstanceArn") && message.contains("`host`"),
        "{message}"
    );
}

/// What the RDS API says an instance and a cluster serve: the instance's endpoint and its read
/// replicas; the cluster's writer and reader endpoints and its members.
#[tokio::test]
async fn the_rds_api_names_replicas_readers_and_members() {
    needs_servers!();
    let rds = rds_client();
    let directory = AwsRds::from_client(rds.clone());
    let (arn, address) = moto_instance(Kind::Postgres).await;
    let replica_id = unique("replica").replace('_', "-");
    let replica = rds
        .create_db_instance_read_replica()
        .db_instance_identifier(&replica_id)
        .source_db_instance_identifier(&arn)
        .db_instance_class("db.t3.micro")
        .send()
        .await
        .expect("CreateDBInstanceReadReplica");
    let replica_address = replica
        .db_instance()
        .and_then(|i| i.endpoint())
        .and_then(|e| e.address())
        .unwrap()
        .to_owned();
    let instance = directory.instance(&arn).await.expect("instance");
    assert_eq!(instance.writer, address);
    assert_eq!(instance.engine, "postgres");
    assert!(instance.serves(&address) && instance.serves(&replica_address));
    assert!(!instance.serves("localhost"));

    let cluster_id = unique("cluster").replace('_', "-");
    let cluster = rds
        .create_db_cluster()
        .db_cluster_identifier(&cluster_id)
        .engine("aurora-postgresql")
        .master_username("admin")
        .master_user_password("not-used-Pa55")
        .send()
        .await
        .expect("CreateDBCluster");
    let cluster_arn = cluster
        .db_cluster()
        .unwrap()
        .db_cluster_arn()
        .unwrap()
        .to_owned();
    let member = rds
        .create_db_instance()
        .db_instance_identifier(unique("member").replace('_', "-"))
        .db_instance_class("db.r6g.large")
        .engine("aurora-postgresql")
        .db_cluster_identifier(&cluster_id)
        .send()
        .await
        .expect("CreateDBInstance in the cluster");
    let member_address = member
        .db_instance()
        .and_then(|i| i.endpoint())
        .and_then(|e| e.address())
        .unwrap()
        .to_owned();
    let found = directory.cluster(&cluster_arn).await.expect("cluster");
    assert_eq!(found.engine, "aurora-postgresql");
    let reader = cluster.db_cluster().unwrap().reader_endpoint().unwrap();
    assert!(
        found.serves(&found.writer) && found.serves(reader),
        "{found:?}"
    );
    assert!(found.serves(&member_address), "{found:?}");
    assert!(!found.serves("localhost"));
}
