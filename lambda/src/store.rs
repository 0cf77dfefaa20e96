//! Secrets Manager, seen through the four calls rotation needs.
//!
//! The rotation steps talk to a [`SecretStore`]; [`AwsSecretStore`] is the real one. Reads always
//! name a stage (and a version where there is one): asking without a stage returns whatever
//! version the service picks, which after a stage move need not be the one the step means.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::error::RotationError;
use crate::secret::{InvalidField, SecretValue};

pub const AWSCURRENT: &str = "AWSCURRENT";
pub const AWSPENDING: &str = "AWSPENDING";
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// What DescribeSecret says about a secret's rotation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretMetadata {
    /// The secret's full ARN, which the stack's settings are keyed by (`None` when the answer
    /// leaves it out).
    pub arn: Option<String>,
    /// The secret's name, for metrics and reports (`None` when the answer leaves it out).
    pub name: Option<String>,
    /// The function Secrets Manager invokes to rotate it, if rotation was ever configured.
    pub rotation_lambda_arn: Option<String>,
    /// `None` when the answer leaves the field out: AWS's own templates refuse only an explicit
    /// `false`, and so does the guard.
    pub rotation_enabled: Option<bool>,
    /// Version id to its staging labels.
    pub versions: BTreeMap<String, Vec<String>>,
    /// The secret's tags, key to value. RDS tags the master secrets it manages with the
    /// database they belong to (`aws:rds:primaryDBInstanceArn`, `aws:rds:primaryDBClusterArn`).
    pub tags: BTreeMap<String, String>,
}

impl SecretMetadata {
    pub fn stages_of(&self, version: &str) -> Option<&[String]> {
        self.versions.get(version).map(Vec::as_slice)
    }

    /// The version that carries `stage`, if any.
    pub fn version_with_stage(&self, stage: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(version, _)| version.as_str())
    }
}

/// Which value to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staged<'a> {
    /// The version that carries this stage now.
    Stage(&'static str),
    /// This version, which must also carry this stage.
    Version(&'a str, &'static str),
}

impl Staged<'_> {
    pub fn stage(&self) -> &'static str {
        match self {
            Self::Stage(stage) | Self::Version(_, stage) => stage,
        }
    }
}

/// The Secrets Manager operations a rotation uses.
#[async_trait]
pub trait SecretStore: Send + Sync {
    async fn describe(&self, secret: &str) -> Result<SecretMetadata, RotationError>;

    /// The value at `which`, or `None` when that version or stage has no value.
    async fn get(
        &self,
        secret: &str,
        which: Staged<'_>,
    ) -> Result<Option<SecretValue>, RotationError>;

    /// Stores `value` as version `token`, staged AWSPENDING.
    async fn put_pending(
        &self,
        secret: &str,
        token: &str,
        value: &SecretValue,
        rotation_token: Option<&str>,
    ) -> Result<(), RotationError>;

    /// Moves AWSCURRENT to `version`, from `from` (which becomes AWSPREVIOUS).
    async fn promote(
        &self,
        secret: &str,
        version: &str,
        from: Option<&str>,
    ) -> Result<(), RotationError>;

    /// The value of `version` if this store already holds it, without a call (a warm
    /// instance's cache); for metrics, which must cost nothing.
    fn cached(&self, _secret: &str, _version: &str) -> Option<SecretValue> {
        None
    }
}

/// A shared store is a store: a function instance and the code that inspects its version cache
/// (a test, the protocol model) can hold the same one.
#[async_trait]
impl<S: SecretStore + ?Sized> SecretStore for std::sync::Arc<S> {
    async fn describe(&self, secret: &str) -> Result<SecretMetadata, RotationError> {
        (**self).describe(secret).await
    }

    async fn get(
        &self,
        secret: &str,
        which: Staged<'_>,
    ) -> Result<Option<SecretValue>, RotationError> {
        (**self).get(secret, which).await
    }

    async fn put_pending(
        &self,
        secret: &str,
        token: &str,
        value: &SecretValue,
        rotation_token: Option<&str>,
    ) -> Result<(), RotationError> {
        (**self)
            .put_pending(secret, token, value, rotation_token)
            .await
    }

    async fn promote(
        &self,
        secret: &str,
        version: &str,
        from: Option<&str>,
    ) -> Result<(), RotationError> {
        (**self).promote(secret, version, from).await
    }

    fn cached(&self, secret: &str, version: &str) -> Option<SecretValue> {
        (**self).cached(secret, version)
    }
}

/// The real Secrets Manager.
#[derive(Debug, Clone)]
pub struct AwsSecretStore {
    client: Client,
}

impl AwsSecretStore {
    /// A store from the SDK's shared configuration, with an optional endpoint override.
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: Option<&str>) -> Self {
        let mut builder = aws_sdk_secretsmanager::config::Builder::from(sdk);
        if let Some(endpoint) = endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Self {
            client: Client::from_conf(builder.build()),
        }
    }

    pub fn from_client(client: Client) -> Self {
        Self { client }
    }

    /// Sends a GetSecretValue; a version or stage that does not exist is `None`.
    async fn read(
        request: aws_sdk_secretsmanager::operation::get_secret_value::builders::GetSecretValueFluentBuilder,
        secret: &str,
        which: Staged<'_>,
    ) -> Result<Option<SecretValue>, RotationError> {
        match request.send().await {
            Ok(out) => read_value(secret, which, out.secret_string()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(sm_error("GetSecretValue", secret, e)),
        }
    }

    async fn describe_secret(
        &self,
        secret: &str,
    ) -> Result<
        aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput,
        RotationError,
    > {
        self.client
            .describe_secret()
            .secret_id(secret)
            .send()
            .await
            .map_err(|e| sm_error("DescribeSecret", secret, e))
    }
}

/// What to check when a Secrets Manager call fails, as a sentence: by the error code, or for
/// a call that got no answer (`code` is `None` and `unanswered` true). Shared with the
/// in-memory store, so both report a failure the same way.
pub fn failure_hint(code: Option<&str>, unanswered: bool) -> &'static str {
    if unanswered {
        return "The function cannot reach Secrets Manager: check its VPC endpoint (or NAT \
                route) and that its security group allows HTTPS (443) to it.";
    }
    match code {
        Some("AccessDeniedException") => {
            "Check that the function role's policy names this secret, and that the KMS key \
             policy lets the role decrypt it."
        }
        Some("DecryptionFailure") | Some("KMSAccessDeniedException") => {
            "Check that the KMS key policy lets the function role use the secret's key."
        }
        Some("ResourceExistsException") => {
            "A different value already exists for this version: start a new rotation."
        }
        Some("ThrottlingException") | Some("TooManyRequestsException") => {
            "Secrets Manager throttled the call: the rotation will be retried."
        }
        _ => "",
    }
}

/// Reads a version's SecretString into a value; `None` is a binary value (SecretBinary). Shared
/// with the in-memory store, so both refuse the same values the same way.
pub fn read_value(
    secret: &str,
    which: Staged<'_>,
    text: Option<&str>,
) -> Result<Option<SecretValue>, RotationError> {
    let invalid = |source| RotationError::InvalidSecret {
        secret: secret.to_owned(),
        stage: which.stage().to_owned(),
        source,
    };
    let text = text.ok_or_else(|| {
        invalid(InvalidField::new(
            "SecretString",
            "the value is binary (SecretBinary); store the RDS JSON format in SecretString",
        ))
    })?;
    SecretValue::parse(text).map(Some).map_err(invalid)
}

/// Turns an SDK failure into an error that says what to check. The SDK error stays as the
/// cause: it holds the request's outcome, never a secret value.
fn sm_error<E, R>(op: &'static str, secret: &str, error: SdkError<E, R>) -> RotationError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let unanswered = matches!(
        &error,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)
    );
    let hint = failure_hint(error.code(), unanswered);
    let detail = match error.code() {
        Some(code) => format!("{code}: {}", error.message().unwrap_or("no message")),
        None => DisplayErrorContext(&error).to_string(),
    };
    RotationError::SecretsManager {
        op,
        secret: secret.to_owned(),
        code: error.code().map(str::to_owned),
        detail,
        hint,
        source: Some(Box::new(error)),
    }
}

#[async_trait]
impl SecretStore for AwsSecretStore {
    async fn describe(&self, secret: &str) -> Result<SecretMetadata, RotationError> {
        let out = self.describe_secret(secret).await?;
        Ok(SecretMetadata {
            arn: out.arn().map(str::to_owned),
            name: out.name().map(str::to_owned),
            rotation_lambda_arn: out.rotation_lambda_arn().map(str::to_owned),
            rotation_enabled: out.rotation_enabled(),
            versions: out
                .version_ids_to_stages()
                .map(|map| map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            tags: out
                .tags()
                .iter()
                .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value()?.to_owned())))
                .collect(),
        })
    }

    async fn get(
        &self,
        secret: &str,
        which: Staged<'_>,
    ) -> Result<Option<SecretValue>, RotationError> {
        let request = self.client.get_secret_value().secret_id(secret);
        let request = match which {
            Staged::Stage(stage) => request.version_stage(stage),
            Staged::Version(id, stage) => request.version_id(id).version_stage(stage),
        };
        Self::read(request, secret, which).await
    }

    async fn put_pending(
        &self,
        secret: &str,
        token: &str,
        value: &SecretValue,
        rotation_token: Option<&str>,
    ) -> Result<(), RotationError> {
        self.client
            .put_secret_value()
            .secret_id(secret)
            .client_request_token(token)
            .secret_string(value.to_json())
            .version_stages(AWSPENDING)
            .set_rotation_token(rotation_token.map(str::to_owned))
            .send()
            .await
            .map_err(|e| sm_error("PutSecretValue", secret, e))?;
        Ok(())
    }

    async fn promote(
        &self,
        secret: &str,
        version: &str,
        from: Option<&str>,
    ) -> Result<(), RotationError> {
        SecretAdmin::move_stage(self, secret, AWSCURRENT, Some(version), from).await
    }
}

/// What an operator action needs to know about a secret beyond a rotation step's view: its
/// name, its rotation settings and dates (DescribeSecret, or one entry of ListSecrets).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecretDetails {
    pub arn: String,
    pub name: String,
    pub rotation_enabled: Option<bool>,
    /// The function Secrets Manager invokes to rotate it.
    pub rotation_lambda_arn: Option<String>,
    pub last_rotated: Option<DateTime>,
    pub next_rotation: Option<DateTime>,
    pub created: Option<DateTime>,
    /// `AutomaticallyAfterDays`.
    pub rotate_after_days: Option<i64>,
    /// `ScheduleExpression`: `rate(...)` or `cron(...)`.
    pub schedule: Option<String>,
    /// `Duration` of the rotation window, e.g. `3h`.
    pub window: Option<String>,
    /// Version id to its staging labels (labelled versions only).
    pub versions: BTreeMap<String, Vec<String>>,
}

/// One version of a secret, labelled or not.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionInfo {
    pub id: String,
    pub stages: Vec<String>,
    pub created: Option<DateTime>,
}

/// The Secrets Manager reads and the one write the operator actions (preflight, recover,
/// audit) use. Separate from [`SecretStore`]: the rotation steps never list versions or move a
/// stage other than AWSCURRENT, and operator actions always read fresh (never through the
/// warm instance's cache).
#[async_trait]
pub trait SecretAdmin: Send + Sync {
    async fn details(&self, secret: &str) -> Result<SecretDetails, RotationError>;

    /// Every version, including those without a label (ListSecretVersionIds,
    /// IncludeDeprecated), newest first.
    async fn versions(&self, secret: &str) -> Result<Vec<VersionInfo>, RotationError>;

    /// The value of one version, whatever its labels; `None` when the version is gone.
    async fn value_of(
        &self,
        secret: &str,
        version: &str,
    ) -> Result<Option<SecretValue>, RotationError>;

    /// Moves `stage` to `to` (removing it from `from`), or, with `to` `None`, removes it from
    /// `from`. Secrets Manager refuses the call when `from` no longer carries the stage, so a
    /// move decided on a stale view fails instead of acting on it.
    async fn move_stage(
        &self,
        secret: &str,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> Result<(), RotationError>;

    /// Every secret of the account and region whose rotation function is `function_arn`
    /// (ListSecrets, compared without a version or alias qualifier).
    async fn rotated_by(&self, function_arn: &str) -> Result<Vec<SecretDetails>, RotationError>;
}

pub use aws_smithy_types::DateTime;

/// A Lambda function ARN without its version or alias qualifier:
/// `arn:aws:lambda:region:account:function:name[:qualifier]`.
pub fn unqualified_function_arn(arn: &str) -> &str {
    let mut colons = arn.match_indices(':').map(|(i, _)| i);
    match colons.nth(6) {
        Some(end) => &arn[..end],
        None => arn,
    }
}

/// A [`SecretDetails`] from DescribeSecret's answer or a ListSecrets entry: the SDK gives both
/// the same accessors, on two types, and names the stage map differently.
macro_rules! secret_details {
    ($out:expr, $stages:ident) => {{
        let out = &$out;
        let rules = out.rotation_rules();
        SecretDetails {
            arn: out.arn().unwrap_or_default().to_owned(),
            name: out.name().unwrap_or_default().to_owned(),
            rotation_enabled: out.rotation_enabled(),
            rotation_lambda_arn: out.rotation_lambda_arn().map(str::to_owned),
            last_rotated: out.last_rotated_date().copied(),
            next_rotation: out.next_rotation_date().copied(),
            created: out.created_date().copied(),
            rotate_after_days: rules.and_then(|r| r.automatically_after_days()),
            schedule: rules
                .and_then(|r| r.schedule_expression())
                .map(str::to_owned),
            window: rules.and_then(|r| r.duration()).map(str::to_owned),
            versions: out
                .$stages()
                .map(|map| map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        }
    }};
}

#[async_trait]
impl SecretAdmin for AwsSecretStore {
    async fn details(&self, secret: &str) -> Result<SecretDetails, RotationError> {
        let out = self.describe_secret(secret).await?;
        let mut details = secret_details!(out, version_ids_to_stages);
        if details.arn.is_empty() {
            details.arn = secret.to_owned();
        }
        if details.name.is_empty() {
            details.name = secret.to_owned();
        }
        Ok(details)
    }

    async fn versions(&self, secret: &str) -> Result<Vec<VersionInfo>, RotationError> {
        let mut versions = Vec::new();
        let mut pages = self
            .client
            .list_secret_version_ids()
            .secret_id(secret)
            .include_deprecated(true)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sm_error("ListSecretVersionIds", secret, e))?;
            for version in page.versions() {
                let Some(id) = version.version_id() else {
                    continue;
                };
                versions.push(VersionInfo {
                    id: id.to_owned(),
                    stages: version.version_stages().to_vec(),
                    created: version.created_date().copied(),
                });
            }
        }
        versions.sort_by(|a, b| {
            let key = |v: &VersionInfo| v.created.map(|d| (d.secs(), d.subsec_nanos()));
            key(b).cmp(&key(a)).then_with(|| a.id.cmp(&b.id))
        });
        Ok(versions)
    }

    async fn value_of(
        &self,
        secret: &str,
        version: &str,
    ) -> Result<Option<SecretValue>, RotationError> {
        let request = self
            .client
            .get_secret_value()
            .secret_id(secret)
            .version_id(version);
        Self::read(request, secret, Staged::Version(version, "(by version id)")).await
    }

    async fn move_stage(
        &self,
        secret: &str,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> Result<(), RotationError> {
        self.client
            .update_secret_version_stage()
            .secret_id(secret)
            .version_stage(stage)
            .set_move_to_version_id(to.map(str::to_owned))
            .set_remove_from_version_id(from.map(str::to_owned))
            .send()
            .await
            .map_err(|e| sm_error("UpdateSecretVersionStage", secret, e))?;
        Ok(())
    }

    async fn rotated_by(&self, function_arn: &str) -> Result<Vec<SecretDetails>, RotationError> {
        let wanted = unqualified_function_arn(function_arn);
        let mut found = Vec::new();
        let mut pages = self
            .client
            .list_secrets()
            .include_planned_deletion(false)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sm_error("ListSecrets", "(all secrets)", e))?;
            for entry in page.secret_list() {
                let lambda = entry.rotation_lambda_arn();
                if lambda.map(unqualified_function_arn) != Some(wanted) {
                    continue;
                }
                found.push(secret_details!(entry, secret_versions_to_stages));
            }
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }
}

#[cfg(test)]
mod admin_tests {
    use super::unqualified_function_arn;

    #[test]
    fn function_arns_compare_without_their_qualifier() {
        let arn = "arn:aws:lambda:eu-west-1:123456789012:function:rotate";
        assert_eq!(unqualified_function_arn(arn), arn);
        assert_eq!(unqualified_function_arn(&format!("{arn}:live")), arn);
        assert_eq!(unqualified_function_arn(&format!("{arn}:7")), arn);
        assert_eq!(unqualified_function_arn("rotate"), "rotate");
    }
}
