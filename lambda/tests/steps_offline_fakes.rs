//! The fakes themselves: [`MemoryStore`] keeps Secrets Manager's rules for versions and staging
//! labels, [`MemoryConnector`] answers logins and changes as the [`Connector`] contract says, and
//! both fail, count, snapshot and restore as the offline step tests and a model checker need.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rotation::db::Connector;
use rotation::fakes::{
    Call, DbFailure, DbOp, DbUser, Fault, Gate, LoginOutcome, MemoryConnector, MemoryDatabase,
    MemoryStore, Payload, Service, SmFailure, StoreOp,
};
use rotation::secret::{Engine, EngineFamily, Login, SecretValue, Tls};
use rotation::store::{SecretStore, Staged};
use secrecy::SecretString;

const ID: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf";

fn value(password: &str) -> SecretValue {
    SecretValue::parse(&format!(
        r#"{{"engine":"postgres","host":"db","username":"app","password":"{password}"}}"#
    ))
    .unwrap()
}

fn stages(store: &MemoryStore) -> Vec<(String, Vec<String>)> {
    store.stages(ID).into_iter().collect()
}

fn pair(version: &str, stages: &[&str]) -> (String, Vec<String>) {
    (
        version.to_owned(),
        stages.iter().map(|s| s.to_string()).collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// MemoryStore.

#[tokio::test]
async fn put_secret_value_is_idempotent_per_token_and_never_changes_a_version() {
    let store = MemoryStore::new();
    let v1 = store.create_secret(ID, &value("first-password").to_json());
    store.start_rotation(ID, "t1").unwrap();
    // The version RotateSecret made has no value yet.
    assert_eq!(
        store
            .get(ID, Staged::Version("t1", "AWSPENDING"))
            .await
            .unwrap(),
        None
    );
    store
        .put_pending(ID, "t1", &value("second-password"), Some("rt"))
        .await
        .unwrap();
    assert_eq!(
        store
            .get(ID, Staged::Version("t1", "AWSPENDING"))
            .await
            .unwrap(),
        Some(value("second-password"))
    );
    // Again with the same value: ignored. With another: ResourceExistsException.
    store
        .put_pending(ID, "t1", &value("second-password"), None)
        .await
        .unwrap();
    let error = store
        .put_pending(ID, "t1", &value("third-password"), None)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "SecretsManagerError");
    let message = error.to_string();
    assert!(message.contains("PutSecretValue"), "{message}");
    assert!(message.contains("ResourceExistsException"), "{message}");
    assert!(message.contains("start a new rotation"), "{message}");
    assert!(!message.contains("third-password"), "{message}");
    assert_eq!(store.value_of(ID, "t1"), Some(value("second-password")));
    assert_eq!(
        store.secret(ID).unwrap().versions["t1"]
            .rotation_token
            .as_deref(),
        Some("rt")
    );
    // A put with another token takes AWSPENDING from t1, which is then no longer listed.
    store
        .put_pending(ID, "t2", &value("fourth-password"), None)
        .await
        .unwrap();
    assert_eq!(
        stages(&store),
        [pair(&v1, &["AWSCURRENT"]), pair("t2", &["AWSPENDING"])]
    );
    assert_eq!(
        store
            .get(ID, Staged::Version("t1", "AWSPENDING"))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn moving_awscurrent_needs_the_version_it_leaves_and_leaves_awsprevious_behind() {
    let store = MemoryStore::new();
    let v1 = store.create_secret(ID, &value("first-password").to_json());
    for (token, password) in [("t1", "second-password"), ("t2", "third-password")] {
        store.start_rotation(ID, token).unwrap();
        store
            .put_pending(ID, token, &value(password), None)
            .await
            .unwrap();
        let current = store.version_with(ID, "AWSCURRENT").unwrap();
        // Without RemoveFromVersionId, or with the wrong one: InvalidParameterException.
        for from in [None, Some(token), Some("nope")] {
            let error = store.promote(ID, token, from).await.unwrap_err();
            assert!(
                error.to_string().contains("InvalidParameterException"),
                "{error}"
            );
        }
        store.promote(ID, token, Some(&current)).await.unwrap();
        // Again: already there, nothing moves.
        store.promote(ID, token, Some(&current)).await.unwrap();
        store.complete_rotation(ID, token).unwrap();
    }
    // v1 lost AWSPREVIOUS to t1 and, with no label left, is no longer listed.
    assert_eq!(
        stages(&store),
        [pair("t1", &["AWSPREVIOUS"]), pair("t2", &["AWSCURRENT"])]
    );
    assert!(store.secret(ID).unwrap().versions.contains_key(&v1));
    let error = store.promote(ID, "missing", Some("t2")).await.unwrap_err();
    assert!(
        error.to_string().contains("InvalidParameterException"),
        "{error}"
    );
    // Rolling back to AWSPREVIOUS swaps the two.
    store.promote(ID, "t1", Some("t2")).await.unwrap();
    assert_eq!(
        stages(&store),
        [pair("t1", &["AWSCURRENT"]), pair("t2", &["AWSPREVIOUS"])]
    );
}

#[tokio::test]
async fn describe_lists_labelled_versions_tags_and_rotation_enabled_as_the_service() {
    let store = MemoryStore::new();
    let v1 = store.create_secret(ID, &value("first-password").to_json());
    store.put_version(ID, "unlabelled", Payload::Text("{}".into()), &[]);
    store.set_tag(ID, "aws:rds:primaryDBInstanceArn", "arn:db");
    let metadata = store.describe(ID).await.unwrap();
    assert_eq!(metadata.rotation_enabled, None);
    assert_eq!(
        metadata.versions.into_iter().collect::<Vec<_>>(),
        [pair(&v1, &["AWSCURRENT"])]
    );
    assert_eq!(metadata.tags["aws:rds:primaryDBInstanceArn"], "arn:db");
    store.start_rotation(ID, "t1").unwrap();
    assert_eq!(
        store.describe(ID).await.unwrap().rotation_enabled,
        Some(true)
    );
    store.cancel_rotation(ID);
    let metadata = store.describe(ID).await.unwrap();
    assert_eq!(metadata.rotation_enabled, Some(false));
    // Cancelling leaves the labels where they are.
    assert_eq!(
        metadata.stages_of("t1"),
        Some(&["AWSPENDING".to_owned()][..])
    );
    let error = store.describe("no-such-secret").await.unwrap_err();
    assert!(
        error.to_string().contains("ResourceNotFoundException"),
        "{error}"
    );
}

#[tokio::test]
async fn reads_name_a_stage_and_see_only_versions_that_carry_it() {
    let store = MemoryStore::new();
    let v1 = store.create_secret(ID, &value("first-password").to_json());
    let current = Some(value("first-password"));
    assert_eq!(
        store.get(ID, Staged::Stage("AWSCURRENT")).await.unwrap(),
        current
    );
    assert_eq!(
        store
            .get(ID, Staged::Version(&v1, "AWSCURRENT"))
            .await
            .unwrap(),
        current
    );
    for which in [
        Staged::Stage("AWSPENDING"),
        Staged::Version(&v1, "AWSPENDING"),
        Staged::Version("nope", "AWSCURRENT"),
    ] {
        assert_eq!(store.get(ID, which).await.unwrap(), None, "{which:?}");
    }
    assert_eq!(
        store
            .get("no-such-secret", Staged::Stage("AWSCURRENT"))
            .await
            .unwrap(),
        None
    );
    store.put_version(ID, "bin", Payload::Binary(vec![1, 2]), &["AWSPREVIOUS"]);
    let error = store
        .get(ID, Staged::Stage("AWSPREVIOUS"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "InvalidSecret");
    store.put_version(
        ID,
        "text",
        Payload::Text("{\"password\":\"x".into()),
        &["AWSPREVIOUS"],
    );
    let error = store
        .get(ID, Staged::Stage("AWSPREVIOUS"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "InvalidSecret");
}

#[tokio::test]
async fn rotate_secret_is_refused_while_another_rotation_is_incomplete() {
    let store = MemoryStore::new();
    store.create_secret(ID, &value("first-password").to_json());
    store.start_rotation(ID, "t1").unwrap();
    store.start_rotation(ID, "t1").unwrap();
    assert!(store.start_rotation(ID, "t2").is_err());
    assert!(
        store.complete_rotation(ID, "t1").is_err(),
        "t1 is not AWSCURRENT"
    );
    store.remove_stage(ID, "t1", "AWSPENDING");
    store.start_rotation(ID, "t2").unwrap();
    assert_eq!(store.version_with(ID, "AWSPENDING").as_deref(), Some("t2"));
    assert!(store.start_rotation("no-such-secret", "t").is_err());
}

#[tokio::test]
async fn store_faults_strike_before_or_after_the_effect_and_every_call_is_counted() {
    let store = MemoryStore::new();
    store.create_secret(ID, &value("first-password").to_json());
    store.start_rotation(ID, "t1").unwrap();
    // Before: nothing stored.
    store.fail(Fault::on(StoreOp::PutSecretValue).once());
    let error = store
        .put_pending(ID, "t1", &value("second-password"), None)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("InternalServiceError"),
        "{error}"
    );
    assert_eq!(store.value_of(ID, "t1"), None);
    // After: stored, and the answer lost.
    store.fail(
        Fault::on(StoreOp::PutSecretValue)
            .once()
            .after()
            .error(SmFailure::Timeout),
    );
    let error = store
        .put_pending(ID, "t1", &value("second-password"), None)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("cannot reach Secrets Manager"),
        "{error}"
    );
    assert_eq!(store.value_of(ID, "t1"), Some(value("second-password")));
    // The second matching call, on one secret only.
    store.fail(
        Fault::on(StoreOp::DescribeSecret)
            .target(ID)
            .nth(2)
            .error(SmFailure::throttling()),
    );
    store.describe("other").await.unwrap_err(); // not a fault: no such secret
    store.describe(ID).await.unwrap();
    assert!(store.describe(ID).await.is_err());
    store.describe(ID).await.unwrap();
    // ResourceNotFoundException reads as "no value", as from the real store.
    store.fail(
        Fault::on(StoreOp::GetSecretValue)
            .once()
            .error(SmFailure::service("ResourceNotFoundException", "gone")),
    );
    assert_eq!(
        store.get(ID, Staged::Stage("AWSCURRENT")).await.unwrap(),
        None
    );
    // Every operation, failing on every call until the faults are cleared.
    store.fail(Fault::any_call().error(SmFailure::access_denied()));
    let error = store.promote(ID, "t1", None).await.unwrap_err();
    assert!(error.to_string().contains("KMS key policy"), "{error}");
    assert_eq!(store.faults_fired(), 5);
    store.clear_faults();
    store.describe(ID).await.unwrap();
    let counts = store.call_counts();
    assert_eq!(counts["PutSecretValue"], 2);
    assert_eq!(counts["DescribeSecret"], 5);
    assert_eq!(counts["GetSecretValue"], 1);
    assert_eq!(counts["UpdateSecretVersionStage"], 1);
    assert_eq!(store.calls_of(StoreOp::DescribeSecret), 5);
    assert_eq!(store.calls().len(), 9);
    store.reset_calls();
    assert!(store.call_counts().is_empty());
}

#[tokio::test]
async fn a_store_snapshot_restores_everything_and_clones_share_the_state() {
    let store = MemoryStore::new();
    store.create_secret(ID, &value("first-password").to_json());
    let before = store.snapshot();
    let clone = store.clone();
    clone.start_rotation(ID, "t1").unwrap();
    clone
        .put_pending(ID, "t1", &value("second-password"), None)
        .await
        .unwrap();
    assert_ne!(store.snapshot(), before);
    store.restore(&before);
    assert_eq!(clone.snapshot(), before);
    assert_eq!(clone.version_with(ID, "AWSPENDING"), None);
    // Nothing a snapshot or the store prints shows a value.
    let shown = format!("{:?} {:?}", store, clone.snapshot());
    assert!(!shown.contains("first-password"), "{shown}");
}

// ---------------------------------------------------------------------------------------------
// MemoryConnector.

const HOST: &str = "db.internal";

fn login(user: &str, password: &str) -> Login {
    Login {
        engine: Engine::Postgres,
        host: HOST.into(),
        port: 5432,
        username: user.into(),
        password: SecretString::from(password.to_owned()),
        dbname: Some("postgres".into()),
        tls: Tls::VerifyFull,
    }
}

fn connector() -> MemoryConnector {
    let connector = MemoryConnector::new();
    connector.add_database(
        HOST,
        5432,
        MemoryDatabase::new(EngineFamily::Postgres)
            .with_user("app", "app-password")
            .with_master("admin", "admin-password"),
    );
    connector
}

async fn kind_of(connector: &MemoryConnector, login: &Login) -> &'static str {
    match connector.login(login).await {
        Ok(Some(session)) => {
            session.close().await;
            "session"
        }
        Ok(None) => "rejected",
        Err(error) => error.kind(),
    }
}

#[tokio::test]
async fn logins_are_answered_as_the_connector_contract_says() {
    let c = connector();
    assert_eq!(kind_of(&c, &login("app", "app-password")).await, "session");
    assert_eq!(
        kind_of(&c, &login("app", "wrong-password")).await,
        "rejected"
    );
    assert_eq!(
        kind_of(&c, &login("nobody", "app-password")).await,
        "rejected"
    );
    // Host names compare as DNS names.
    let mut upper = login("app", "app-password");
    upper.host = "DB.internal.".into();
    assert_eq!(kind_of(&c, &upper).await, "session");
    let mut elsewhere = login("app", "app-password");
    elsewhere.host = "other.internal".into();
    assert_eq!(kind_of(&c, &elsewhere).await, "DatabaseUnreachable");
    let mut other_port = login("app", "app-password");
    other_port.port = 5433;
    assert_eq!(kind_of(&c, &other_port).await, "DatabaseUnreachable");
    let mut mysql = login("app", "app-password");
    mysql.engine = Engine::Mysql;
    assert_eq!(kind_of(&c, &mysql).await, "DatabaseUnreachable");
    // NOLOGIN: the password is checked first.
    c.update(HOST, 5432, |db| {
        db.users.get_mut("app").unwrap().can_login = false
    });
    assert_eq!(
        kind_of(&c, &login("app", "wrong-password")).await,
        "rejected"
    );
    assert_eq!(
        kind_of(&c, &login("app", "app-password")).await,
        "LoginRefused"
    );
    // TLS: a plaintext-only server, and one that requires TLS.
    c.update(HOST, 5432, |db| db.plaintext_only = true);
    assert_eq!(
        kind_of(&c, &login("admin", "admin-password")).await,
        "DatabaseTlsError"
    );
    let mut plain = login("admin", "admin-password");
    plain.tls = Tls::Disabled;
    assert_eq!(kind_of(&c, &plain).await, "session");
    c.update(HOST, 5432, |db| {
        db.plaintext_only = false;
        db.require_tls = true;
    });
    assert_eq!(kind_of(&c, &plain).await, "LoginRefused");
    c.update(HOST, 5432, |db| db.down = true);
    assert_eq!(
        kind_of(&c, &login("admin", "admin-password")).await,
        "DatabaseUnreachable"
    );
    let outcomes: Vec<(String, LoginOutcome)> = c
        .logins()
        .into_iter()
        .map(|l| (l.user, l.outcome))
        .collect();
    assert_eq!(outcomes.len(), 13);
    assert_eq!(outcomes[0], ("app".into(), LoginOutcome::Accepted));
    assert_eq!(outcomes[1], ("app".into(), LoginOutcome::Rejected));
    assert_eq!(outcomes[4], ("app".into(), LoginOutcome::Failed));
    assert_eq!(c.open_sessions(), 0);
    assert_eq!(c.calls_of(DbOp::Login), 13);
}

#[tokio::test]
async fn a_session_changes_only_its_own_password() {
    let c = connector();
    let mut session = c
        .login(&login("app", "app-password"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.open_sessions(), 1);
    let error = session
        .set_own_password("admin", &SecretString::from("new-password"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "DatabaseError");
    session
        .set_own_password("app", &SecretString::from("new-password"))
        .await
        .unwrap();
    assert_eq!(session.account_host().await.unwrap(), None);
    session.verify().await.unwrap();
    session.close().await;
    assert_eq!(c.open_sessions(), 0);
    assert_eq!(
        c.password(HOST, 5432, "app").as_deref(),
        Some("new-password")
    );
    assert_eq!(
        c.password(HOST, 5432, "admin").as_deref(),
        Some("admin-password")
    );
    let changes = c.password_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (changes[0].user.as_str(), changes[0].by.as_str()),
        ("app", "app")
    );
}

#[tokio::test]
async fn the_master_clones_only_the_pairs_partner() {
    let c = connector();
    let pw = |p: &str| SecretString::from(p.to_owned());
    // Not as a user without the master's rights.
    let mut app = c
        .login(&login("app", "app-password"))
        .await
        .unwrap()
        .unwrap();
    let error = app
        .clone_user("app", None, "app_clone", &pw("x-password"))
        .await;
    assert_eq!(error.unwrap_err().kind(), "DatabaseError");
    app.close().await;

    let mut master = c
        .login(&login("admin", "admin-password"))
        .await
        .unwrap()
        .unwrap();
    let error = master
        .clone_user("app", None, "admin", &pw("x-password"))
        .await;
    assert_eq!(error.unwrap_err().kind(), "UnsafePartner");
    let error = master
        .clone_user("gone", None, "gone_clone", &pw("x-password"))
        .await;
    assert_eq!(error.unwrap_err().kind(), "DatabaseError");
    // Created, then updated, as the clone; then the original, from its clone.
    master
        .clone_user("app", None, "app_clone", &pw("clone-1"))
        .await
        .unwrap();
    master
        .clone_user("app", None, "app_clone", &pw("clone-2"))
        .await
        .unwrap();
    master
        .clone_user("app_clone", None, "app", &pw("app-2"))
        .await
        .unwrap();
    let db = c.database(HOST, 5432).unwrap();
    assert_eq!(db.password("app_clone"), Some("clone-2"));
    assert_eq!(db.password("app"), Some("app-2"));
    assert!(db.users["app_clone"].member_of.contains("app"));
    // An unrelated user, or one holding more than the user, is refused.
    c.update(HOST, 5432, |db| {
        db.users
            .insert("other".into(), DbUser::new("other-password"));
        db.users
            .get_mut("app_clone")
            .unwrap()
            .privileges
            .insert("CREATEROLE".into());
    });
    let error = master
        .clone_user("app", None, "other", &pw("x-password"))
        .await;
    assert!(
        error
            .unwrap_err()
            .to_string()
            .contains("not this pair's partner")
    );
    let error = master
        .clone_user("app", None, "app_clone", &pw("x-password"))
        .await;
    assert!(error.unwrap_err().to_string().contains("CREATEROLE"));
    master.close().await;
    let created: Vec<bool> = c.password_changes().iter().map(|c| c.created).collect();
    assert_eq!(created, [true, false, false]);
}

#[tokio::test]
async fn a_restart_ends_open_sessions() {
    let c = connector();
    let mut session = c
        .login(&login("app", "app-password"))
        .await
        .unwrap()
        .unwrap();
    c.restart(HOST, 5432);
    let error = session.verify().await.unwrap_err();
    assert_eq!(error.kind(), "DatabaseError");
    assert!(error.to_string().contains("restarted"), "{error}");
    session.close().await;
    let mut session = c
        .login(&login("app", "app-password"))
        .await
        .unwrap()
        .unwrap();
    session.verify().await.unwrap();
    session.close().await;
}

#[tokio::test]
async fn database_faults_strike_before_or_after_the_effect() {
    let c = connector();
    let mut session = c
        .login(&login("app", "app-password"))
        .await
        .unwrap()
        .unwrap();
    c.fail(Fault::on(DbOp::SetOwnPassword).once());
    let error = session
        .set_own_password("app", &SecretString::from("pw-1-password"))
        .await;
    assert_eq!(error.unwrap_err().kind(), "DatabaseError");
    assert_eq!(
        c.password(HOST, 5432, "app").as_deref(),
        Some("app-password")
    );
    c.fail(
        Fault::on(DbOp::SetOwnPassword)
            .once()
            .after()
            .error(DbFailure::Timeout),
    );
    let error = session
        .set_own_password("app", &SecretString::from("pw-2-password"))
        .await;
    assert_eq!(error.unwrap_err().kind(), "DatabaseTimeout");
    assert_eq!(
        c.password(HOST, 5432, "app").as_deref(),
        Some("pw-2-password")
    );
    session.close().await;
    // A login that fails for one user only, or answers "wrong password" when it is right.
    c.fail(
        Fault::on(DbOp::Login)
            .target("admin")
            .error(DbFailure::Unreachable),
    );
    assert_eq!(
        kind_of(&c, &login("admin", "admin-password")).await,
        "DatabaseUnreachable"
    );
    assert_eq!(kind_of(&c, &login("app", "pw-2-password")).await, "session");
    c.clear_faults();
    c.fail(
        Fault::on(DbOp::Login)
            .once()
            .error(DbFailure::WrongPassword),
    );
    assert_eq!(
        kind_of(&c, &login("admin", "admin-password")).await,
        "rejected"
    );
    // After a login: the server let the user in, the answer was lost; no session stays open.
    c.fail(Fault::on(DbOp::Login).once().after().error(DbFailure::Tls));
    assert_eq!(
        kind_of(&c, &login("admin", "admin-password")).await,
        "DatabaseTlsError"
    );
    assert_eq!(c.open_sessions(), 0);
    assert_eq!(c.faults_fired(), 2);
}

#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<Call>>);

#[async_trait]
impl Gate for Recorder {
    async fn before(&self, call: &Call) {
        self.0.lock().unwrap().push(call.clone());
    }
}

#[tokio::test]
async fn a_gate_sees_every_call_before_it_runs() {
    let c = connector();
    let store = MemoryStore::new();
    store.create_secret(ID, &value("first-password").to_json());
    let gate = Arc::new(Recorder::default());
    c.set_gate(Some(gate.clone()));
    store.set_gate(Some(gate.clone()));
    store.describe(ID).await.unwrap();
    let mut session = c
        .login(&login("app", "app-password"))
        .await
        .unwrap()
        .unwrap();
    session.verify().await.unwrap();
    session.close().await;
    let seen: Vec<(Service, &str, String)> = gate
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|c| (c.service, c.op, c.target.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (Service::SecretsManager, "DescribeSecret", ID.to_owned()),
            (Service::Database, "login", "app".to_owned()),
            (Service::Database, "verify", "app".to_owned()),
        ]
    );
}

#[tokio::test]
async fn a_connector_snapshot_restores_everything_and_shows_no_password() {
    let c = connector();
    let before = c.snapshot();
    let mut session = c
        .login(&login("app", "app-password"))
        .await
        .unwrap()
        .unwrap();
    session
        .set_own_password("app", &SecretString::from("new-password"))
        .await
        .unwrap();
    session.close().await;
    assert_ne!(c.snapshot(), before);
    c.restore(&before);
    assert_eq!(
        c.password(HOST, 5432, "app").as_deref(),
        Some("app-password")
    );
    assert!(c.logins().is_empty());
    let shown = format!("{c:?} {:?}", c.snapshot());
    assert!(
        !shown.contains("app-password") && !shown.contains("admin-password"),
        "{shown}"
    );
}
