//! The validated stack: what the template renders, and nothing else.
//!
//! Every value here has passed `validate`, so the template never checks
//! anything; it only lays values out. Derived facts (the ports to open, the
//! keys and master secrets to grant, the pinned strategy) are computed once
//! here, in config order, so adding a database appends lines instead of
//! moving them.

pub use crate::config::{Architecture, Engine, Strategy, TlsMode};

/// Path of the CA bundle inside the driver layer, as the function sees it.
pub use rotation_contract::CA_BUNDLE_PATH;
/// The metrics the function writes, which the dashboard and the alarms read.
pub use rotation_contract::metrics;

/// The event the drift check's schedule sends the function.
pub const DRIFT_EVENT: &str = r#"{"Action":"drift-check"}"#;

/// The interval of a `rate(...)` EventBridge schedule, in seconds.
fn drift_interval_seconds(expression: &str) -> Option<u64> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (count, unit) = inner.trim().split_once(' ')?;
    let count: u64 = count.parse().ok()?;
    let unit = match unit.trim() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        _ => return None,
    };
    Some(count * unit)
}

/// How often the overdue-rotation audit runs.
pub const AUDIT_INTERVAL_HOURS: u32 = 12;
/// The event the audit's schedule sends the function.
pub const AUDIT_EVENT: &str = r#"{"Action":"audit"}"#;
/// The overdue alarm's period: a day holds two audits, so a day without a
/// result means the audit itself is broken.
pub const AUDIT_ALARM_PERIOD_SECONDS: u32 = 86_400;

#[derive(Debug, Clone)]
pub struct Stack {
    pub name: String,
    /// The config path as given on the command line, for the header comment.
    pub source: String,
    /// Sorted by key.
    pub tags: Vec<(String, String)>,
    pub network: Network,
    pub function: Function,
    pub code: Artifact,
    pub layer: Artifact,
    pub notifications: Notifications,
    pub role: Role,
    pub databases: Vec<Database>,
    /// Thresholds of the large-stack layout (see `crate::layout`).
    pub layout: crate::layout::Layout,
    /// The overdue-rotation audit: its schedule, invoke permission, alarm and
    /// the role's `ListSecrets` (`alerts.overdue_audit`).
    pub overdue_audit: bool,
    /// The drift check's EventBridge schedule expression (`alerts.drift_check`),
    /// when on.
    pub drift_check: Option<String>,
    /// The settings layer's zip and digest (set by [`crate::render_stack`]).
    pub settings_layer: crate::settings::Layer,
}

/// The function's execution role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The stack creates the role.
    Create {
        path: Option<String>,
        permissions_boundary_arn: Option<String>,
    },
    /// An existing role; the stack creates no IAM resource. `policy` is the
    /// policy the role needs, as rendered for it (filled in by `render`).
    Existing { arn: String, policy: String },
    /// Only inside `render`: the role rendered to document an existing role's
    /// policy, with names that do not depend on this stack's resources.
    PolicyOf { arn: String },
}

#[derive(Debug, Clone)]
pub struct Network {
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    /// Subnets of the created interface endpoints (`subnet_ids` unless set).
    pub endpoint_subnet_ids: Vec<String>,
    pub database_security_group_id: String,
    pub endpoint: Endpoint,
    /// The route to the RDS API, only when some database alternates users.
    pub rds_endpoint: Option<Endpoint>,
    /// The route to the ECS API, only when some database lists ECS services
    /// in `after_rotation`.
    pub ecs_endpoint: Option<Endpoint>,
    /// The route to the Lambda API, only when some database lists Lambda
    /// functions in `after_rotation`.
    pub lambda_endpoint: Option<Endpoint>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The stack creates the interface endpoint and its security group.
    Create,
    /// An endpoint exists; this is its security group.
    Existing { security_group_id: String },
}

#[derive(Debug, Clone)]
pub struct Function {
    pub architecture: Architecture,
    pub memory_mb: u32,
    pub timeout_seconds: u32,
    pub log_retention_days: u32,
    pub tls: TlsMode,
    pub password: Password,
    pub mysql_max_user_length: Option<u32>,
    pub code_signing_config_arn: Option<String>,
    /// `ReservedConcurrentExecutions`, only when configured (at least 1).
    pub reserved_concurrency: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Password {
    pub length: u32,
    /// `None` leaves the function's per-engine default.
    pub exclude_characters: Option<String>,
    pub exclude_numbers: bool,
    pub exclude_punctuation: bool,
    pub exclude_uppercase: bool,
    pub exclude_lowercase: bool,
    pub require_each_included_type: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Artifact {
    /// A local zip that `aws cloudformation package` uploads.
    Local(String),
    S3 {
        bucket: String,
        key: String,
        version: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notifications {
    CreateTopic,
    Topic(String),
}

#[derive(Debug, Clone)]
pub struct Database {
    pub name: String,
    /// PascalCase of `name`, the prefix of this database's logical IDs.
    pub logical_id: String,
    pub secret_arn: String,
    pub engine: Engine,
    pub port: u16,
    pub strategy: Strategy,
    pub master_secret_arn: Option<String>,
    pub kms_key_arn: Option<String>,
    pub master_kms_key_arn: Option<String>,
    pub schedule_expression: String,
    pub duration: Option<String>,
    pub rotate_immediately: bool,
    /// The applications refreshed after a rotation (`after_rotation`).
    pub after_rotation: AfterRotation,
    /// Seconds after a rotation when the previous user stops logging in
    /// (`retire_previous_after`), alternating users only.
    pub retire_previous_after_seconds: Option<u64>,
}

/// The applications refreshed after a rotation, as the settings file carries them.
pub use rotation_contract::settings::AfterRotation;

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::SingleUser => "single-user",
            Strategy::AlternatingUsers => "alternating-users",
        }
    }
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::Arm64 => "arm64",
            Architecture::X86_64 => "x86_64",
        }
    }
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::VerifyFull => "verify-full",
            TlsMode::Disabled => "disabled",
        }
    }
}

/// A database port and the engines that use it, for security group rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub number: u16,
    /// Names of the databases on this port, for the rule's description.
    pub databases: Vec<String>,
}

impl Stack {
    /// Distinct database ports, ascending.
    pub fn ports(&self) -> Vec<Port> {
        let mut ports: Vec<Port> = Vec::new();
        for db in &self.databases {
            match ports.iter_mut().find(|p| p.number == db.port) {
                Some(p) => p.databases.push(db.name.clone()),
                None => ports.push(Port {
                    number: db.port,
                    databases: vec![db.name.clone()],
                }),
            }
        }
        ports.sort_by_key(|p| p.number);
        ports
    }

    /// `ROTATION_STRATEGY`: pinned when all databases agree, else `auto`.
    pub fn rotation_strategy(&self) -> &'static str {
        let first = self.databases[0].strategy;
        if self.databases.iter().all(|d| d.strategy == first) {
            first.as_str()
        } else {
            "auto"
        }
    }

    /// Master secret ARNs, first use first, without repeats.
    pub fn master_secrets(&self) -> Vec<&str> {
        dedup(
            self.databases
                .iter()
                .filter_map(|d| d.master_secret_arn.as_deref()),
        )
    }

    /// KMS key ARNs of secrets and master secrets, first use first, without repeats.
    pub fn kms_keys(&self) -> Vec<&str> {
        dedup(self.databases.iter().flat_map(|d| {
            d.kms_key_arn
                .as_deref()
                .into_iter()
                .chain(d.master_kms_key_arn.as_deref())
        }))
    }

    /// KMS key ARNs of rotated secrets, first use first, without repeats.
    pub fn secret_kms_keys(&self) -> Vec<&str> {
        dedup(
            self.databases
                .iter()
                .filter_map(|d| d.kms_key_arn.as_deref()),
        )
    }

    /// KMS key ARNs of master secrets that no rotated secret uses: the
    /// function only decrypts with them.
    pub fn master_only_kms_keys(&self) -> Vec<&str> {
        let secret_keys = self.secret_kms_keys();
        dedup(
            self.databases
                .iter()
                .filter_map(|d| d.master_kms_key_arn.as_deref())
                .filter(|k| !secret_keys.contains(k)),
        )
    }

    pub fn create_endpoint(&self) -> bool {
        self.network.endpoint == Endpoint::Create
    }

    pub fn existing_endpoint_security_group(&self) -> Option<&str> {
        match &self.network.endpoint {
            Endpoint::Existing { security_group_id } => Some(security_group_id),
            Endpoint::Create => None,
        }
    }

    /// The stack creates an `rds` interface endpoint for the function.
    pub fn create_rds_endpoint(&self) -> bool {
        self.network.rds_endpoint == Some(Endpoint::Create)
    }

    /// The security group of an existing `rds` interface endpoint.
    pub fn existing_rds_endpoint_security_group(&self) -> Option<&str> {
        match &self.network.rds_endpoint {
            Some(Endpoint::Existing { security_group_id }) => Some(security_group_id),
            _ => None,
        }
    }

    /// The stack creates an `ecs` interface endpoint for the function.
    pub fn create_ecs_endpoint(&self) -> bool {
        self.network.ecs_endpoint == Some(Endpoint::Create)
    }

    /// The security group of an existing `ecs` interface endpoint.
    pub fn existing_ecs_endpoint_security_group(&self) -> Option<&str> {
        match &self.network.ecs_endpoint {
            Some(Endpoint::Existing { security_group_id }) => Some(security_group_id),
            _ => None,
        }
    }

    /// The stack creates a `lambda` interface endpoint for the function.
    pub fn create_lambda_endpoint(&self) -> bool {
        self.network.lambda_endpoint == Some(Endpoint::Create)
    }

    /// The security group of an existing `lambda` interface endpoint.
    pub fn existing_lambda_endpoint_security_group(&self) -> Option<&str> {
        match &self.network.lambda_endpoint {
            Some(Endpoint::Existing { security_group_id }) => Some(security_group_id),
            _ => None,
        }
    }

    /// The ECS services some database refreshes after a rotation, first use
    /// first, without repeats (databases often share their applications).
    pub fn refreshed_ecs_services(&self) -> Vec<&str> {
        dedup(
            self.databases
                .iter()
                .flat_map(|d| d.after_rotation.ecs_services.iter().map(String::as_str)),
        )
    }

    /// The Lambda functions some database refreshes after a rotation, first
    /// use first, without repeats.
    pub fn refreshed_lambda_functions(&self) -> Vec<&str> {
        dedup(
            self.databases
                .iter()
                .flat_map(|d| d.after_rotation.lambda_functions.iter().map(String::as_str)),
        )
    }

    /// Some database refreshes applications after a rotation: the refresh
    /// alarm and the dashboard's refresh graph exist.
    pub fn refreshes_applications(&self) -> bool {
        self.databases.iter().any(|d| !d.after_rotation.is_empty())
    }

    /// The metric the refresh alarm watches.
    pub fn refresh_failed_metric(&self) -> &'static str {
        metrics::REFRESH_FAILED
    }

    /// The template has a `RotationFunctionRole` resource (or renders one to
    /// document an existing role's policy).
    pub fn creates_role(&self) -> bool {
        !matches!(self.role, Role::Existing { .. })
    }

    /// The role is rendered as documentation for an existing role: it may not
    /// name resources of this stack that do not exist before the function.
    pub fn portable_policy(&self) -> bool {
        matches!(self.role, Role::PolicyOf { .. })
    }

    /// The existing role's ARN and the policy it needs, as YAML.
    pub fn existing_role(&self) -> Option<(&str, &str)> {
        match &self.role {
            Role::Existing { arn, policy } => Some((arn, policy)),
            _ => None,
        }
    }

    /// `Path` and `PermissionsBoundary` of a created role.
    pub fn role_path(&self) -> Option<&str> {
        match &self.role {
            Role::Create { path, .. } => path.as_deref(),
            _ => None,
        }
    }

    pub fn role_permissions_boundary(&self) -> Option<&str> {
        match &self.role {
            Role::Create {
                permissions_boundary_arn,
                ..
            } => permissions_boundary_arn.as_deref(),
            _ => None,
        }
    }

    pub fn create_topic(&self) -> bool {
        self.notifications == Notifications::CreateTopic
    }

    pub fn topic_arn(&self) -> Option<&str> {
        match &self.notifications {
            Notifications::Topic(arn) => Some(arn),
            Notifications::CreateTopic => None,
        }
    }

    pub fn any_local_artifact(&self) -> bool {
        matches!(self.code, Artifact::Local(_)) || matches!(self.layer, Artifact::Local(_))
    }
}

fn dedup<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// `orders-eu-2` -> `OrdersEu2`.
pub fn pascal_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

impl Artifact {
    /// The local path, when the zip is packaged from disk.
    pub fn local(&self) -> Option<&str> {
        match self {
            Artifact::Local(p) => Some(p),
            Artifact::S3 { .. } => None,
        }
    }

    /// Bucket, key and optional version, when the zip is already in S3.
    pub fn s3(&self) -> Option<(&str, &str, Option<&str>)> {
        match self {
            Artifact::S3 {
                bucket,
                key,
                version,
            } => Some((bucket, key, version.as_deref())),
            Artifact::Local(_) => None,
        }
    }
}

impl Stack {
    /// The CloudWatch dashboard's body (JSON, for `Fn::Sub`).
    pub fn dashboard_body(&self) -> String {
        crate::dashboard::body(self)
    }

    /// The namespace of the function's own metrics.
    pub fn metric_namespace(&self) -> &'static str {
        metrics::NAMESPACE
    }

    /// The dimension that names the function in its metrics.
    pub fn function_dimension(&self) -> &'static str {
        metrics::DIM_FUNCTION
    }

    /// The audit's metric the overdue alarm watches.
    pub fn overdue_metric(&self) -> &'static str {
        metrics::OVERDUE_SECRETS
    }

    /// The audit's schedule, as EventBridge writes it.
    pub fn audit_schedule(&self) -> String {
        format!("rate({AUDIT_INTERVAL_HOURS} hours)")
    }

    pub fn audit_event(&self) -> &'static str {
        AUDIT_EVENT
    }

    pub fn audit_alarm_period(&self) -> u32 {
        AUDIT_ALARM_PERIOD_SECONDS
    }

    /// Whether any database retires its previous user (`retire_previous_after`).
    pub fn retires_previous_users(&self) -> bool {
        self.databases
            .iter()
            .any(|d| d.retire_previous_after_seconds.is_some())
    }

    /// The event the drift check's schedule sends the function.
    pub fn drift_event(&self) -> &'static str {
        DRIFT_EVENT
    }

    /// The drift check's metric the drift alarm watches.
    pub fn drifted_metric(&self) -> &'static str {
        metrics::DRIFTED_SECRETS
    }

    /// The drift check's metric of retired users still in use.
    pub fn retired_in_use_metric(&self) -> &'static str {
        metrics::RETIRED_USER_IN_USE
    }

    /// The drift alarms' period and number of periods: two runs' worth of time without a
    /// result is missing data (the check did not run). A `cron(...)` schedule, whose gaps
    /// vary, counts as daily; CloudWatch evaluates at most 7 days.
    pub fn drift_alarm_periods(&self) -> (u32, u32) {
        let interval = self
            .drift_check
            .as_deref()
            .and_then(drift_interval_seconds)
            .unwrap_or(86_400);
        let window = (2 * interval).min(7 * 86_400);
        let period = window.min(86_400);
        (period as u32, window.div_ceil(period) as u32)
    }

    pub fn drift_alarm_period(&self) -> u32 {
        self.drift_alarm_periods().0
    }

    pub fn drift_alarm_evaluations(&self) -> u32 {
        self.drift_alarm_periods().1
    }

    /// The account of the secrets (all in one, validated), which the
    /// template asserts is the stack's.
    pub fn secrets_account(&self) -> &str {
        crate::arn::secret(&self.databases[0].secret_arn).map_or("", |a| a.account)
    }

    /// The Region of the secrets (all in one, validated), which the template
    /// asserts is the stack's.
    pub fn secrets_region(&self) -> &str {
        crate::arn::secret(&self.databases[0].secret_arn).map_or("", |a| a.region)
    }

    /// The dashboard's name, `Fn::Sub` text: dashboards are global to an
    /// account, so the same config deployed in two Regions needs two names.
    pub fn dashboard_name_sub(&self) -> String {
        format!("{}-${{AWS::Region}}", self.function_name())
    }

    /// `DB_CA_BUNDLE`: where the driver layer puts the RDS CA bundle.
    pub fn ca_bundle_path(&self) -> &'static str {
        CA_BUNDLE_PATH
    }
}
