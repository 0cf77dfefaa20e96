//! The config file as written by users, before any check.
//!
//! These structs mirror the YAML one to one so that serde can reject unknown
//! keys (listing the allowed ones) and schemars can publish the same shape as
//! a JSON Schema for editors. They promise nothing beyond the YAML types:
//! `validate` turns them into a `Stack` whose values are known to be good.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

/// One config file describes one CloudFormation stack: one rotation function
/// and the databases whose secrets it rotates.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Stack name: lowercase letters, digits and dashes, starting with a letter
    /// (at most 40 characters). Used in descriptions and the alarm topic name.
    pub name: String,
    /// Tags put on every resource that supports them (the function, its role,
    /// log group, security groups, topic, key and dead-letter queue). At most
    /// 50; keys of 1 to 128 and values of 0 to 256 letters, digits, spaces and
    /// `_ . : / = + - @`; no key starting with `aws:`.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub network: RawNetwork,
    #[serde(default)]
    pub function: RawFunction,
    pub code: RawCode,
    pub notifications: RawNotifications,
    /// The function's execution role: created by the stack (optionally with a
    /// permissions boundary and a path), or an existing role.
    #[serde(default)]
    pub role: RawRole,
    /// The databases whose secrets this function rotates (at least one).
    pub databases: Vec<RawDatabase>,
    /// How a large stack is split (every key optional; see synth/README.md,
    /// "Large stacks").
    #[serde(default)]
    pub layout: RawLayout,
    /// What the stack watches besides failed invocations (every key optional).
    #[serde(default)]
    pub alerts: RawAlerts,
}

/// The stack's own checks on rotation.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RawAlerts {
    /// Run the overdue-rotation audit twice a day (default true): a scheduled
    /// rule invokes the function with `{"Action": "audit"}`, which lists the
    /// secrets it rotates (`secretsmanager:ListSecrets`, granted on `*`, the
    /// only resource IAM allows for it) and reports the overdue ones; an alarm
    /// fires on one overdue secret, or when no audit reported for a day.
    /// `false` removes the rule, its invoke permission, the alarm and the
    /// `ListSecrets` grant.
    pub overdue_audit: bool,
    /// Check every configured secret on a schedule, before its rotation does:
    /// an EventBridge schedule expression such as `rate(1 day)`, `rate(6 hours)`
    /// or `cron(0 6 * * ? *)`, at most hourly (default: off). A scheduled rule
    /// invokes the function with `{"Action": "drift-check"}`, which runs
    /// preflight's read-only checks on each secret (at most one login per
    /// user, none after a refused login), retires the previous users of MySQL
    /// and MariaDB databases whose `retire_previous_after` has passed, and
    /// reports the secrets with a problem; `DriftedSecretsAlarm` fires on one,
    /// or when the check did not run for two of its periods.
    pub drift_check: Option<String>,
}

impl Default for RawAlerts {
    fn default() -> Self {
        RawAlerts {
            overdue_audit: true,
            drift_check: None,
        }
    }
}

/// Retired keys of an earlier layout, kept only to say what replaced them:
/// schedules now always go to nested stacks chosen by each database's name.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RawLayout {
    /// Retired: refused with the fix. Schedules are always in nested stacks.
    pub inline_schedules_max: Option<usize>,
    /// Retired: refused with the fix. A database's nested stack is chosen by its name.
    pub schedules_per_nested_stack: Option<usize>,
}

/// Where the function runs: it must reach the databases and Secrets Manager.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    /// The VPC of the databases, e.g. `vpc-0123456789abcdef0`.
    pub vpc_id: String,
    /// Private subnets for the function (and the endpoint, when created);
    /// use at least two availability zones.
    pub subnet_ids: Vec<String>,
    /// The security group of the databases; the stack adds an ingress rule to it
    /// from the function's security group on each database port.
    pub database_security_group_id: String,
    /// How the function reaches Secrets Manager from the private subnets.
    pub secrets_manager_endpoint: RawEndpoint,
    /// How the function reaches the RDS API, which it asks where an
    /// RDS-managed master secret's database is. Only with `alternating-users`
    /// databases, and required when one of them uses an RDS-managed master
    /// secret (`rds!...`): the function's security group opens no other way
    /// to the RDS API. Omit it when master secrets name their `host`.
    pub rds_endpoint: Option<RawEndpoint>,
    /// Subnets of the interface endpoints the stack creates (default:
    /// `subnet_ids`). An interface endpoint takes at most one subnet per
    /// Availability Zone, the function any number: list one per zone here when
    /// `subnet_ids` has two in a zone.
    pub endpoint_subnet_ids: Option<Vec<String>>,
}

/// Give exactly one of `create: true` or `security_group_id`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoint {
    /// Create an interface endpoint for the function alone: private DNS off (the
    /// service's regional name keeps resolving as before for every other
    /// workload of the VPC), its security group admits only the function, and
    /// the function is given the endpoint's own DNS name.
    #[serde(default)]
    pub create: bool,
    /// Security group of an existing interface endpoint of the service in the
    /// VPC, with private DNS on; the stack allows 443 from the function to it.
    pub security_group_id: Option<String>,
}

/// The execution role. Every key is optional; `existing_arn` excludes the others.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRole {
    /// ARN of a managed policy set as the created role's permissions boundary,
    /// e.g. `arn:aws:iam::123456789012:policy/team-boundary`.
    pub permissions_boundary_arn: Option<String>,
    /// IAM path of the created role, `/` or `/a/b/` (default `/`).
    pub path: Option<String>,
    /// ARN of an existing role for the function: the stack creates no IAM
    /// resource, and the template lists, in a comment, the policy the role needs.
    pub existing_arn: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum Architecture {
    #[default]
    #[serde(rename = "arm64")]
    Arm64,
    #[serde(rename = "x86_64")]
    X86_64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// TLS with the certificate checked against the RDS CA bundle and the host name.
    #[default]
    VerifyFull,
    /// Plaintext connections; only for databases that cannot do TLS.
    Disabled,
}

/// Settings of the rotation function. Every key is optional.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RawFunction {
    /// `arm64` (default) or `x86_64`; must match the built binary.
    pub architecture: Architecture,
    /// Memory in MB, 128 to 10240 (default 256).
    pub memory_mb: u32,
    /// Timeout in seconds, 1 to 900 (default 60).
    pub timeout_seconds: u32,
    /// Days CloudWatch keeps the logs; one of the values CloudWatch accepts
    /// (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096,
    /// 1827, 2192, 2557, 2922, 3288, 3653). Default 365.
    pub log_retention_days: u32,
    /// TLS to the databases: `verify-full` (default) or `disabled`.
    pub tls: TlsMode,
    pub password: RawPassword,
    /// Longest MySQL user name the server accepts (16 for MySQL 5.6, 32 for
    /// 5.7 and later, 80 for MariaDB); only set it to override the function's default.
    pub mysql_max_user_length: Option<u32>,
    /// ARN of an AWS Signer code signing config; when set, Lambda refuses unsigned code.
    pub code_signing_config_arn: Option<String>,
    /// Concurrency reserved for the function (at least 1). Unset (the
    /// default), the function shares the account's unreserved concurrency:
    /// reserving any amount fails the deploy in an account whose concurrency
    /// quota leaves less than 100 unreserved (new accounts may have a quota of 10).
    #[schemars(range(min = 1))]
    pub reserved_concurrency: Option<u32>,
}

impl Default for RawFunction {
    fn default() -> Self {
        RawFunction {
            architecture: Architecture::Arm64,
            memory_mb: 256,
            timeout_seconds: 60,
            log_retention_days: 365,
            tls: TlsMode::VerifyFull,
            password: RawPassword::default(),
            mysql_max_user_length: None,
            code_signing_config_arn: None,
            reserved_concurrency: None,
        }
    }
}

/// How new passwords are generated (by the function, with a local CSPRNG).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RawPassword {
    /// Length, 8 to 4096 (default 32); MySQL and MariaDB databases take at most 256.
    pub length: u32,
    /// Characters never used. Unset, the function leaves out `/@"'\` (and
    /// `:` for PostgreSQL), which break connection strings and `.pgpass`.
    pub exclude_characters: Option<String>,
    pub exclude_numbers: bool,
    pub exclude_punctuation: bool,
    pub exclude_uppercase: bool,
    pub exclude_lowercase: bool,
    /// Use at least one character of each class not excluded (default true).
    pub require_each_included_type: bool,
}

impl Default for RawPassword {
    fn default() -> Self {
        RawPassword {
            length: 32,
            exclude_characters: None,
            exclude_numbers: false,
            exclude_punctuation: false,
            exclude_uppercase: false,
            exclude_lowercase: false,
            require_each_included_type: true,
        }
    }
}

/// Where the deployment packages come from.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCode {
    /// The function zip (the `bootstrap` binary).
    pub function: RawArtifact,
    /// The layer zip (holds `rds-ca/global-bundle.pem`).
    pub layer: RawArtifact,
}

/// Give either `path` or `s3_bucket` and `s3_key`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawArtifact {
    /// Local zip, relative to the rendered template's directory; upload it with
    /// `aws cloudformation package` before deploying.
    pub path: Option<String>,
    pub s3_bucket: Option<String>,
    pub s3_key: Option<String>,
    /// Optional, pins the object version of a versioned bucket.
    pub s3_object_version: Option<String>,
}

/// Where alarms go. Give exactly one of `create_topic: true` or `topic_arn`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNotifications {
    /// Create an SNS topic, encrypted with a new customer managed KMS key that
    /// CloudWatch and EventBridge may use. Subscribe to it after deploying.
    #[serde(default)]
    pub create_topic: bool,
    /// An existing SNS topic; its policy (and key policy, if encrypted) must let
    /// `events.amazonaws.com` and `cloudwatch.amazonaws.com` publish.
    pub topic_arn: Option<String>,
}

/// The engines, as the function and the secret format name them: shared through the contract.
pub use rotation_contract::Engine;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The user changes its own password; connections may fail briefly while
    /// the new password is set.
    SingleUser,
    /// Two users take turns, created and updated with the master secret;
    /// the current password always works.
    AlternatingUsers,
}

/// One database secret to rotate.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    /// Short name, lowercase letters, digits and dashes; names the resources
    /// of this database (`orders` -> `OrdersRotationSchedule`). Never reuse it.
    pub name: String,
    /// Full ARN of the secret, ending in `-` and six random characters.
    pub secret_arn: String,
    pub engine: Engine,
    /// Defaults to 5432 for PostgreSQL engines and 3306 for MySQL and MariaDB.
    pub port: Option<u16>,
    pub strategy: Strategy,
    /// Full ARN of the secret that can create and alter users; required with
    /// `alternating-users`, refused with `single-user`.
    pub master_secret_arn: Option<String>,
    /// Customer managed KMS key of the secret (key ARN, not an alias); omit for
    /// the AWS managed key.
    pub kms_key_arn: Option<String>,
    /// Customer managed KMS key of the master secret.
    pub master_kms_key_arn: Option<String>,
    pub schedule: RawSchedule,
    /// Applications refreshed once a rotation has moved AWSCURRENT (after
    /// finishSecret), so none keeps a cached password (every key optional).
    #[serde(default)]
    pub after_rotation: RawAfterRotation,
    /// Alternating users only (opt-in): how long after a rotation the
    /// previous user (AWSPREVIOUS) still logs in, such as `24h` or `7d`
    /// (minutes `m`, hours `h` or days `d`; at least `1h`, since applications
    /// cache the secret; shorter than a `rate(...)` rotation schedule). The
    /// next rotation, which gives that user a new password, lets it log in
    /// again. PostgreSQL expires it by date (`VALID UNTIL`); MySQL and MariaDB
    /// need `alerts.drift_check`, whose first run after the grace locks it.
    /// Default: the previous user keeps working until the next rotation.
    pub retire_previous_after: Option<String>,
}

/// The applications that cache the secret's value.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RawAfterRotation {
    /// ECS services given a new deployment (`UpdateService` with
    /// `forceNewDeployment`): full ARNs
    /// `arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/SERVICE` in the stack's
    /// account and Region.
    pub ecs_services: Vec<String>,
    /// Lambda functions given new execution environments: unqualified ARNs
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME` in the stack's account and
    /// Region.
    pub lambda_functions: Vec<String>,
}

/// When Secrets Manager rotates the secret.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    /// `rate(N days)` (1 to 999), `rate(N hours)` (4 to 23) or a six-field
    /// `cron(0 hours day-of-month month day-of-week *)` (minutes `0`, year
    /// `*`, `?` in one day field), in UTC.
    pub expression: String,
    /// Rotation window such as `3h` (1h to 24h); it must end before the next
    /// window and the end of the UTC day. Default: Secrets Manager's.
    pub duration: Option<String>,
    /// Rotate as soon as the schedule is deployed or changed (default false).
    #[serde(default)]
    pub rotate_immediately: bool,
}
