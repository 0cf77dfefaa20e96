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
        detail,
        hint,
        source: Some(Box::new(error)),
    }
}

#[async_trait]
impl SecretStore for AwsSecretStore {
    async fn describe(&self, secret: &str) -> Result<SecretMetadata, RotationError> {
        let out = self
            .client
            .describe_secret()
            .secret_id(secret)
            .send()
            .await
            .map_err(|e| sm_error("DescribeSecret", secret, e))?;
        Ok(SecretMetadata {
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
        let mut request = self.client.get_secret_value().secret_id(secret);
        request = match which {
            Staged::Stage(stage) => request.version_stage(stage),
            Staged::Version(id, stage) => request.version_id(id).version_stage(stage),
        };
        let out = match request.send().await {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(sm_error("GetSecretValue", secret, e)),
        };
        read_value(secret, which, out.secret_string())
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
        self.client
            .update_secret_version_stage()
            .secret_id(secret)
            .version_stage(AWSCURRENT)
            .move_to_version_id(version)
            .set_remove_from_version_id(from.map(str::to_owned))
            .send()
            .await
            .map_err(|e| sm_error("UpdateSecretVersionStage", secret, e))?;
        Ok(())
    }
}
