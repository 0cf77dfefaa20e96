//! The rotator wired to the test servers, driven as Secrets Manager drives it.
//!
//! moto plays Secrets Manager (and the RDS API); the rotator is the library's, with the real
//! store and drivers behind counting spies. [`Harness`] arranges secrets, starts a rotation the
//! way the service does (RotateSecret leaves an AWSPENDING version), runs the four steps, ends
//! the rotation, and reads back the stages, so a test states a scenario and its outcome and
//! nothing of the plumbing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use rotation::db::Drivers;
use rotation::rds::{AwsRds, RdsDirectory};
use rotation::store::AwsSecretStore;
use rotation::{Config, RotationError, RotationEvent, Rotator, Step};
use serde_json::Value;

use super::{CountingConnector, CountingStore, Stats, env, new_token, unique};

/// The function under test, counted.
pub type TestRotator = Rotator<CountingStore<AwsSecretStore>, CountingConnector<Drivers>>;

/// A rotator wired to the test servers, and a client to arrange and inspect secrets.
pub struct Harness {
    pub sm: Client,
    pub rotator: TestRotator,
    pub stats: Arc<Mutex<Stats>>,
}

/// moto's RDS API, where tests create the instances and clusters a master secret names.
pub fn rds_client() -> aws_sdk_rds::Client {
    let config = aws_sdk_rds::Config::builder()
        .behavior_version(aws_sdk_rds::config::BehaviorVersion::latest())
        .region(aws_sdk_rds::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_rds::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .endpoint_url(&env().sm_endpoint)
        .build();
    aws_sdk_rds::Client::from_conf(config)
}

pub fn sm_client() -> Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(&env().sm_endpoint)
        .build();
    Client::from_conf(config)
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(&[])
    }

    /// A harness whose function has these environment variables set, and asks moto's RDS
    /// API where an RDS-managed master secret's database is.
    pub fn with_config(vars: &[(&str, &str)]) -> Self {
        Self::with_rds(vars, AwsRds::from_client(rds_client()))
    }

    /// A harness whose function finds RDS-managed master databases through `rds`.
    pub fn with_rds(vars: &[(&str, &str)], rds: impl RdsDirectory + 'static) -> Self {
        let ca = env().ca.display().to_string();
        let config = Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
                .or_else(|| (name == "DB_CA_BUNDLE").then(|| ca.clone()))
                // Without a stack: the strategy and master from each secret's value.
                .or_else(|| (name == "ROTATION_SETTINGS").then(|| "from-secrets".into()))
                // moto's RDS API is reachable, as with `network.rds_endpoint`.
                .or_else(|| (name == "RDS_API_ROUTE").then(|| "true".into()))
        })
        .expect("test configuration");
        let sm = sm_client();
        let stats = Arc::new(Mutex::new(Stats::default()));
        let rotator = Rotator::new(
            CountingStore::new(AwsSecretStore::from_client(sm.clone()), stats.clone()),
            CountingConnector::new(Drivers::from_config(&config), stats.clone()),
            config,
        )
        .with_rds(rds);
        Self { sm, rotator, stats }
    }

    /// Forgets what was counted so far.
    pub fn reset_stats(&self) {
        *self.stats.lock().unwrap() = Stats::default();
    }

    pub fn logins(&self) -> Vec<(String, bool)> {
        self.stats.lock().unwrap().logins.clone()
    }

    pub fn calls(&self) -> Vec<&'static str> {
        self.stats.lock().unwrap().calls.clone()
    }

    /// Creates a secret holding `value`; returns its ARN.
    pub async fn create_secret(&self, value: &Value) -> String {
        let out = self
            .sm
            .create_secret()
            .name(unique("rotation-test"))
            .secret_string(value.to_string())
            .send()
            .await
            .expect("CreateSecret");
        out.arn().unwrap().to_owned()
    }

    /// Starts a rotation as the service does: RotateSecret creates the AWSPENDING version (no
    /// value yet) and then fails to invoke a function moto does not know, which leaves exactly
    /// the state in which Secrets Manager calls createSecret.
    pub async fn start_rotation(&self, arn: &str) -> String {
        let token = new_token();
        let result = self
            .sm
            .rotate_secret()
            .secret_id(arn)
            .client_request_token(&token)
            .rotation_lambda_arn("arn:aws:lambda:us-east-1:123456789012:function:not-deployed")
            .rotation_rules(
                aws_sdk_secretsmanager::types::RotationRulesType::builder()
                    .automatically_after_days(30)
                    .build(),
            )
            .send()
            .await;
        assert!(
            result.is_err(),
            "moto should not find the rotation function"
        );
        let stages = self.stages(arn).await;
        assert_eq!(
            stages.get(&token).map(Vec::as_slice),
            Some(&["AWSPENDING".to_owned()][..]),
            "RotateSecret should leave an AWSPENDING version: {stages:?}"
        );
        token
    }

    pub async fn step(&self, arn: &str, token: &str, step: Step) -> Result<(), RotationError> {
        self.rotator
            .handle(&RotationEvent {
                secret_id: arn.to_owned(),
                token: token.to_owned(),
                step,
                rotation_token: None,
            })
            .await
    }

    /// What the service does after a successful finishSecret.
    pub async fn end_rotation(&self, arn: &str, token: &str) {
        self.sm
            .update_secret_version_stage()
            .secret_id(arn)
            .version_stage("AWSPENDING")
            .remove_from_version_id(token)
            .send()
            .await
            .expect("remove AWSPENDING");
    }

    /// A whole rotation; returns the new version's token.
    pub async fn rotate(&self, arn: &str) -> Result<String, (Step, RotationError)> {
        let token = self.start_rotation(arn).await;
        for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
            self.step(arn, &token, step).await.map_err(|e| (step, e))?;
        }
        self.end_rotation(arn, &token).await;
        Ok(token)
    }

    pub async fn stages(&self, arn: &str) -> BTreeMap<String, Vec<String>> {
        let out = self
            .sm
            .describe_secret()
            .secret_id(arn)
            .send()
            .await
            .expect("DescribeSecret");
        out.version_ids_to_stages()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// The version that carries `stage`.
    pub async fn version_with(&self, arn: &str, stage: &str) -> String {
        self.stages(arn)
            .await
            .into_iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .unwrap_or_else(|| panic!("no version is staged {stage}"))
            .0
    }

    /// The value staged `stage`, always asked for by stage.
    pub async fn staged(&self, arn: &str, stage: &str) -> Option<Value> {
        let out = self
            .sm
            .get_secret_value()
            .secret_id(arn)
            .version_stage(stage)
            .send()
            .await
            .ok()?;
        Some(serde_json::from_str(out.secret_string()?).unwrap())
    }

    /// The password staged `stage`.
    pub async fn password(&self, arn: &str, stage: &str) -> String {
        self.staged(arn, stage)
            .await
            .unwrap_or_else(|| panic!("no {stage}"))["password"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}
