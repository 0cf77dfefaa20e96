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
    /// Stack name: lowercase letters, digits, single dashes, starts with a
    /// letter, at most 40 characters. Used in descriptions and resource names.
    pub name: String,
    /// Map of tags for every resource that takes them (function, role, log
    /// group, security groups, topic, key, dead-letter queue). AWS's tag rules
    /// are checked before deploying: at most 50 tags; keys of 1 to 128 and
    /// values of 0 to 256 characters; only letters (any script), digits, spaces
    /// and `_ . : / = + - @` (no newline, `#`, `;`, quotes); keys must not
    /// start with `aws:`.
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
    /// One or more entries, below.
    pub databases: Vec<RawDatabase>,
    /// Retired keys of an earlier layout, refused with the fix (see
    /// [Large stacks](#large-stacks-and-changes-that-never-move-a-schedule)).
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
    /// The overdue-rotation audit (see [Operations](#operations)): a rule that
    /// invokes the function twice a day with `{"Action": "audit"}`, its invoke
    /// permission, the `OverdueRotationsAlarm` (one overdue secret, or no audit
    /// for a day), and the role's `secretsmanager:ListSecrets` on `*` (the only
    /// resource IAM allows for it). `false` removes all four, for a role that
    /// may not hold `ListSecrets`; failed rotations are still reported,
    /// rotations that never run are not.
    #[schemars(extend("x-default" = "`true`"))]
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
    /// VPC of the databases, such as `vpc-0123456789abcdef0`.
    pub vpc_id: String,
    /// Private subnets for the function (and the endpoints, when created,
    /// unless `endpoint_subnet_ids` is set). Use two availability zones or more.
    pub subnet_ids: Vec<String>,
    /// Security group of the databases. The stack adds ingress to it from the
    /// function, per database port.
    pub database_security_group_id: String,
    /// How the function reaches Secrets Manager from the private subnets.
    pub secrets_manager_endpoint: RawEndpoint,
    /// The function's route to the RDS API: `create: true` (an `rds`
    /// interface endpoint for the function alone, like the Secrets Manager
    /// one; its name in `AWS_ENDPOINT_URL_RDS`) or `security_group_id` of an
    /// existing `rds` interface endpoint with private DNS on. The function's
    /// security group gets 443 to it, and it 443 from the function; the
    /// function gets `RDS_API_ROUTE: "true"` and `rds:DescribeDBProxies` on
    /// this account's and region's proxies, so the preflight's `rds-proxy`
    /// check can find an RDS Proxy that logs in with a rotated secret (an
    /// existing endpoint's policy must allow `rds:DescribeDBProxies` too).
    /// Required when a database alternates users with an RDS-managed master
    /// secret (`rds!...`; the function then asks the RDS API where the
    /// master's database is, with `rds:DescribeDBInstances` and
    /// `rds:DescribeDBClusters`), since the function's security group opens no
    /// other way to the RDS API. Optional otherwise: without it the proxy
    /// check is not made.
    pub rds_endpoint: Option<RawEndpoint>,
    /// Required when a database lists `after_rotation.ecs_services`, refused
    /// otherwise: `create: true` (an `ecs` interface endpoint for the function
    /// alone, like the Secrets Manager one, whose policy admits only
    /// `ecs:UpdateService`; its name in `AWS_ENDPOINT_URL_ECS`) or
    /// `security_group_id` of an existing `ecs` interface endpoint with private
    /// DNS on. The function's security group gets 443 to it, and it 443 from
    /// the function.
    pub ecs_endpoint: Option<RawEndpoint>,
    /// Required when a database lists `after_rotation.lambda_functions`,
    /// refused otherwise: `create: true` (a `lambda` interface endpoint for the
    /// function alone, whose policy admits only `lambda:GetFunctionConfiguration`
    /// and `lambda:UpdateFunctionConfiguration`; its name in
    /// `AWS_ENDPOINT_URL_LAMBDA`) or `security_group_id` of an existing `lambda`
    /// interface endpoint with private DNS on.
    pub lambda_endpoint: Option<RawEndpoint>,
    /// Subnets of the interface endpoints the stack creates. An interface
    /// endpoint takes at most one subnet per Availability Zone, the function
    /// any number: list one per zone here when `subnet_ids` has two in a zone.
    /// Refused when the stack creates no endpoint.
    #[schemars(extend("x-default" = "`subnet_ids`"))]
    pub endpoint_subnet_ids: Option<Vec<String>>,
}

/// Give exactly one of `create: true` or `security_group_id`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoint {
    /// `true`: create an interface endpoint of the service for the function
    /// alone: private DNS off (the service's regional name keeps resolving as
    /// before for every other workload of the VPC), a security group that
    /// admits only the function, an endpoint policy that admits only the
    /// function's role and the calls it makes, and the endpoint's own DNS name
    /// given to the function (`SECRETS_MANAGER_ENDPOINT` for Secrets Manager;
    /// see [Endpoints and DNS](#endpoints-and-dns)).
    #[serde(default)]
    #[schemars(extend("x-default" = "`false`"))]
    pub create: bool,
    /// Instead of `create`: the security group of an existing interface
    /// endpoint of the service in the VPC, with private DNS on. The stack
    /// allows 443 from the function to it. Exactly one of the two is required.
    pub security_group_id: Option<String>,
}

/// The execution role. Every key is optional; `existing_arn` excludes the others.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRole {
    /// A managed policy ARN set as the created role's permissions boundary,
    /// such as `arn:aws:iam::123456789012:policy/team-boundary`.
    pub permissions_boundary_arn: Option<String>,
    /// The created role's IAM path, such as `/rotation/`.
    #[schemars(extend("x-default" = "`/`"))]
    pub path: Option<String>,
    /// An existing role for the function, instead of creating one (not with
    /// `path` or `permissions_boundary_arn`): the stack creates no IAM resource,
    /// and the template lists, in a comment, the policy the role needs (see
    /// [An existing role](#an-existing-role)).
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
    /// `arm64` or `x86_64`; must match the built binary.
    #[schemars(extend("x-default" = "`arm64`"))]
    pub architecture: Architecture,
    /// Memory in MB, 128 to 10240.
    #[schemars(extend("x-default" = "`256`"))]
    pub memory_mb: u32,
    /// Timeout in seconds, 1 to 900.
    #[schemars(extend("x-default" = "`60`"))]
    pub timeout_seconds: u32,
    /// Days CloudWatch keeps the logs: a value CloudWatch Logs accepts (1, 3,
    /// 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
    /// 2192, 2557, 2922, 3288, 3653). Below 365 the template records a checkov
    /// skip that says so.
    #[schemars(extend("x-default" = "`365`"))]
    pub log_retention_days: u32,
    /// TLS to the databases: `verify-full` (the certificate checked against
    /// the RDS CA bundle, and the host name) or `disabled` (plaintext; only for
    /// databases without TLS).
    #[schemars(extend("x-default" = "`verify-full`"))]
    pub tls: TlsMode,
    pub password: RawPassword,
    /// Longest MySQL user name the server accepts (16 for MySQL 5.6, 32 for
    /// 5.7 and later, up to 80 for MariaDB); sets `MYSQL_MAX_USER_LENGTH`.
    /// Only set it to override the function's default.
    pub mysql_max_user_length: Option<u32>,
    /// An AWS Signer code signing config; Lambda then refuses unsigned code.
    pub code_signing_config_arn: Option<String>,
    /// Concurrency reserved for the function, 1 or more (such as one per
    /// database that may rotate at the same time). Unset, the function shares
    /// the account's unreserved concurrency and the template has no
    /// `ReservedConcurrentExecutions`: Lambda refuses any reservation that
    /// would leave less than 100 unreserved, so a reservation fails the deploy
    /// in accounts with a reduced concurrency quota (new accounts may start at
    /// 10). Set it where the quota allows, to keep rotations from being
    /// throttled by other functions and a runaway function from taking the
    /// account's concurrency.
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
    /// Length of new passwords, 8 to 4096; at most 256 when a MySQL or
    /// MariaDB database is in the config.
    #[schemars(extend("x-default" = "`32`"))]
    pub length: u32,
    /// Characters never used in passwords; `""` excludes nothing.
    #[schemars(extend(
        "x-default" = "unset: the function leaves out `` /@\"'\\ `` (and `:` for PostgreSQL), which break connection strings and `.pgpass`"
    ))]
    pub exclude_characters: Option<String>,
    /// Leave out digits (not all four classes).
    #[schemars(extend("x-default" = "`false`"))]
    pub exclude_numbers: bool,
    /// Leave out punctuation (not all four classes).
    #[schemars(extend("x-default" = "`false`"))]
    pub exclude_punctuation: bool,
    /// Leave out uppercase letters (not all four classes).
    #[schemars(extend("x-default" = "`false`"))]
    pub exclude_uppercase: bool,
    /// Leave out lowercase letters (not all four classes).
    #[schemars(extend("x-default" = "`false`"))]
    pub exclude_lowercase: bool,
    /// At least one character of each class not excluded.
    #[schemars(extend("x-default" = "`true`"))]
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
    /// A local zip, relative to the rendered template; run `aws cloudformation
    /// package` before deploying. Or, instead, the three `s3_` keys.
    pub path: Option<String>,
    /// The bucket: 3 to 63 lowercase letters, digits, dots and dashes that
    /// starts and ends with a letter or digit. The bucket needs versioning.
    pub s3_bucket: Option<String>,
    /// The object's key, 1 to 1024 bytes.
    pub s3_key: Option<String>,
    /// The object's version id (required with `s3_bucket`): without a version,
    /// a changed object is never deployed, since the template does not change.
    pub s3_object_version: Option<String>,
}

/// Where alarms go. Give exactly one of `create_topic: true` or `topic_arn`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNotifications {
    /// `true`: create an SNS topic, encrypted with a new customer managed KMS
    /// key that CloudWatch and EventBridge may use. Subscribe to it after
    /// deploying.
    #[serde(default)]
    #[schemars(extend("x-default" = "`false`"))]
    pub create_topic: bool,
    /// Instead: an existing standard topic, whose topic policy and key policy
    /// you maintain; they must let `events.amazonaws.com` and
    /// `cloudwatch.amazonaws.com` publish (see [Alerts to an existing
    /// topic](#alerts-to-an-existing-topic)). Exactly one of the two is
    /// required.
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
    /// Lowercase letters, digits, single dashes, at most 32 characters.
    /// Becomes the prefix of the database's resources (`orders` ->
    /// `OrdersRotationSchedule`): do not rename a deployed database.
    pub name: String,
    /// Full ARN, with the 6-character suffix:
    /// `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf`. All secrets
    /// of a stack are in one account and one region.
    pub secret_arn: String,
    /// `postgres`, `aurora-postgresql`, `mysql`, `aurora-mysql` or `mariadb`.
    pub engine: Engine,
    /// The database's port. Another engine's default port is refused as a
    /// likely mistake; other custom ports are fine.
    #[schemars(extend("x-default" = "5432 / 3306"))]
    pub port: Option<u16>,
    /// `single-user` (the user changes its own password) or
    /// `alternating-users` (two users take turns; the current password keeps
    /// working during rotation).
    pub strategy: Strategy,
    /// Required with `alternating-users`, refused with `single-user`: the
    /// secret of a user that can create users and grant privileges. The
    /// function may only read it.
    pub master_secret_arn: Option<String>,
    /// The customer managed key of the secret (key ARN, not an alias). Omit for
    /// the AWS managed key.
    pub kms_key_arn: Option<String>,
    /// The customer managed key of the master secret.
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
    /// ECS services given a new deployment once a rotation has moved
    /// AWSCURRENT (see [Refreshing applications](#refreshing-applications)):
    /// long-format ARNs `arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/SERVICE` in
    /// the stack's account and Region, each once, at most 10. Needs
    /// `network.ecs_endpoint`.
    pub ecs_services: Vec<String>,
    /// Lambda functions given new execution environments (a marker in their
    /// description): unqualified ARNs
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME` (no version or alias) in
    /// the stack's account and Region, each once, at most 10, not this stack's
    /// own function. Needs `network.lambda_endpoint`.
    pub lambda_functions: Vec<String>,
}

/// When Secrets Manager rotates the secret.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    /// In UTC, the forms Secrets Manager accepts ([Rotation
    /// schedules](https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_schedule.html)):
    /// `rate(N days)` (1 to 999; `rate(1 day)`), `rate(N hours)` (4 to 23), or
    /// a six-field `cron(0 hours day-of-month month day-of-week *)`: minutes
    /// exactly `0` (windows open on the hour), hours 0-23, day-of-month 1-31
    /// (`L` for the last day), month 1-12 or JAN-DEC, day-of-week 1-7 or
    /// SUN-SAT (`MON#1`, `FRIL`), year exactly `*`, and `?` in exactly one of
    /// the day fields. No more often than every 4 hours.
    pub expression: String,
    /// Window length such as `3h` (1h to 24h). Must end before the next
    /// window and before the end of the UTC day.
    #[schemars(extend("x-default" = "Secrets Manager's"))]
    pub duration: Option<String>,
    /// Rotate as soon as the schedule is deployed or changed.
    #[serde(default)]
    #[schemars(extend("x-default" = "`false`"))]
    pub rotate_immediately: bool,
}
