//! After a rotation has moved AWSCURRENT, the applications that cache the secret's value get
//! fresh instances, so none keeps using a password about to stop working.
//!
//! Which applications is the stack's word: the `after_rotation` lists of the settings file
//! ([`rotation_contract::settings::AfterRotation`]), never the secret's value (whoever writes
//! the secret must not be able to make the function act on another application). Each kind is
//! refreshed with the one call that gives it new instances:
//!
//! - an ECS service gets a new deployment: `UpdateService { cluster, service,
//!   forceNewDeployment: true }`, cluster and service read from the service's ARN. Its tasks are
//!   replaced as its deployment configuration says; the new ones read the secret afresh.
//! - a Lambda function gets new execution environments: its `Description` is updated with a
//!   marker naming the rotated version (`[secret rotated: version TOKEN]`, replacing an earlier
//!   marker and keeping the rest of the description). Any configuration update makes Lambda
//!   provision the function anew, and invocations after it run in new environments; a
//!   description is the one setting that changes nothing the function's code sees (an
//!   environment variable would be visible to the code, and `Environment` replaces every
//!   variable, so this function would also have to read them, secrets included). The update is
//!   a read-modify-write guarded by the function's `RevisionId`: a deploy that lands between
//!   the read and the write makes the write fail (and retry) instead of undoing the deploy. A
//!   description already marked with this version is left alone, so a retried finishSecret
//!   does not recycle the function twice.
//!
//! A refresh never fails the rotation: the secret has already moved, and failing finishSecret
//! would only make Secrets Manager retry a step that is done. Every target is refreshed
//! concurrently, each attempt bounded by [`RefreshPolicy::attempt_timeout`], and a failed
//! attempt is retried once (unless the error says a retry cannot help: access denied, no such
//! service). What failed is logged with what to check and counted in the `RefreshFailed`
//! metric, which the stack's alarm watches; the operator refreshes by hand (see the README).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_smithy_types::error::display::DisplayErrorContext;
use rotation_contract::metrics;
use rotation_contract::settings::AfterRotation;

/// The longest description Lambda accepts.
pub const DESCRIPTION_MAX_CHARS: usize = 256;
/// How the marker starts: whatever follows it in a description is this function's.
pub const MARKER_PREFIX: &str = "[secret rotated: version ";

/// What kind of application a target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TargetKind {
    EcsService,
    LambdaFunction,
}

impl TargetKind {
    /// The kind as the metrics' `TargetKind` dimension names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::EcsService => metrics::TARGET_ECS_SERVICE,
            Self::LambdaFunction => metrics::TARGET_LAMBDA_FUNCTION,
        }
    }
}

/// One application to refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: TargetKind,
    /// The full ARN, as the settings file lists it.
    pub arn: String,
}

/// The targets of one secret, ECS services first, in the settings' order.
pub fn targets(after: &AfterRotation) -> Vec<Target> {
    let ecs = after.ecs_services.iter().map(|arn| Target {
        kind: TargetKind::EcsService,
        arn: arn.clone(),
    });
    let lambda = after.lambda_functions.iter().map(|arn| Target {
        kind: TargetKind::LambdaFunction,
        arn: arn.clone(),
    });
    ecs.chain(lambda).collect()
}

/// What a refresh did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refreshed {
    /// A new deployment, or a new description.
    Done,
    /// The function's description already names this version: an earlier invocation
    /// refreshed it.
    AlreadyDone,
}

/// Why a refresh failed; never holds a secret (the calls carry none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshFailure {
    pub problem: String,
    /// Whether another attempt may succeed (throttling, a conflicting update, a timeout);
    /// false for access denied or a target that does not exist.
    pub retryable: bool,
}

/// The APIs that give applications new instances.
#[async_trait]
pub trait Refresher: std::fmt::Debug + Send + Sync {
    /// Refreshes one target after the rotation to `version` (the rotated version's id).
    async fn refresh(&self, target: &Target, version: &str) -> Result<Refreshed, RefreshFailure>;
}

/// How long each attempt may take, and how long to wait before the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    pub attempt_timeout: Duration,
    pub retry_after: Duration,
}

impl Default for RefreshPolicy {
    /// Two attempts and the pause take at most
    /// [`settings::REFRESH_BUDGET_SECONDS`](rotation_contract::settings::REFRESH_BUDGET_SECONDS),
    /// which synth keeps below the function's timeout.
    fn default() -> Self {
        use rotation_contract::settings::{REFRESH_ATTEMPT_SECONDS, REFRESH_RETRY_AFTER_SECONDS};
        Self {
            attempt_timeout: Duration::from_secs(REFRESH_ATTEMPT_SECONDS),
            retry_after: Duration::from_secs(REFRESH_RETRY_AFTER_SECONDS),
        }
    }
}

/// What happened to one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetOutcome {
    pub target: Target,
    /// 1, or 2 when the first attempt failed and was retried.
    pub attempts: u32,
    pub result: Result<Refreshed, String>,
}

/// What happened to every target of one rotation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshReport {
    /// In the order of [`targets`].
    pub outcomes: Vec<TargetOutcome>,
}

impl RefreshReport {
    /// The kinds the report holds targets of, in order.
    pub fn kinds(&self) -> Vec<TargetKind> {
        let mut kinds: Vec<TargetKind> = self.outcomes.iter().map(|o| o.target.kind).collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }

    /// How many targets of `kind` were refreshed (now or by an earlier invocation).
    pub fn refreshed(&self, kind: TargetKind) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.target.kind == kind && o.result.is_ok())
            .count()
    }

    /// How many targets of `kind` could not be refreshed.
    pub fn failed(&self, kind: TargetKind) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.target.kind == kind && o.result.is_err())
            .count()
    }
}

/// Refreshes every target concurrently, each tried at most twice; never fails.
pub async fn refresh_all(
    refresher: Arc<dyn Refresher>,
    targets: Vec<Target>,
    version: &str,
    policy: RefreshPolicy,
) -> RefreshReport {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, target) in targets.iter().cloned().enumerate() {
        let refresher = Arc::clone(&refresher);
        let version = version.to_owned();
        tasks.spawn(async move {
            let outcome = refresh_one(refresher.as_ref(), target, &version, policy).await;
            (index, outcome)
        });
    }
    let mut outcomes: Vec<Option<TargetOutcome>> = vec![None; targets.len()];
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, outcome)) => outcomes[index] = Some(outcome),
            // A panic in a refresh is a bug; the target counts as failed below.
            Err(error) => tracing::error!(%error, "a refresh task ended abnormally"),
        }
    }
    RefreshReport {
        outcomes: outcomes
            .into_iter()
            .zip(targets)
            .map(|(outcome, target)| {
                outcome.unwrap_or(TargetOutcome {
                    target,
                    attempts: 1,
                    result: Err("the refresh ended abnormally; see the function's log".into()),
                })
            })
            .collect(),
    }
}

async fn refresh_one(
    refresher: &dyn Refresher,
    target: Target,
    version: &str,
    policy: RefreshPolicy,
) -> TargetOutcome {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let result =
            match tokio::time::timeout(policy.attempt_timeout, refresher.refresh(&target, version))
                .await
            {
                Ok(result) => result,
                Err(_) => Err(RefreshFailure {
                    problem: format!(
                        "no answer within {} ms; check that the function reaches the {} API \
                     (network.{}_endpoint, or a NAT route)",
                        policy.attempt_timeout.as_millis(),
                        api_of(target.kind),
                        endpoint_of(target.kind)
                    ),
                    retryable: true,
                }),
            };
        match result {
            Ok(done) => {
                return TargetOutcome {
                    target,
                    attempts,
                    result: Ok(done),
                };
            }
            Err(failure) if failure.retryable && attempts < 2 => {
                tracing::info!(
                    kind = target.kind.name(),
                    target = %target.arn,
                    problem = %failure.problem,
                    "refresh attempt failed; trying once more"
                );
                tokio::time::sleep(policy.retry_after).await;
            }
            Err(failure) => {
                return TargetOutcome {
                    target,
                    attempts,
                    result: Err(failure.problem),
                };
            }
        }
    }
}

fn api_of(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::EcsService => "ECS",
        TargetKind::LambdaFunction => "Lambda",
    }
}

fn endpoint_of(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::EcsService => "ecs",
        TargetKind::LambdaFunction => "lambda",
    }
}

/// The cluster and service of a long-format ECS service ARN
/// (`arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/SERVICE`).
pub fn ecs_service_parts(arn: &str) -> Option<(&str, &str)> {
    let (_, resource) = arn.split_once(":service/")?;
    let (cluster, service) = resource.split_once('/')?;
    (!cluster.is_empty() && !service.is_empty() && !service.contains('/'))
        .then_some((cluster, service))
}

/// The description that marks a function as refreshed for `version`, keeping the rest of
/// `current`; `None` when `current` already carries this version's marker. An earlier marker
/// is replaced (it is always at the end); the rest is shortened, never the marker, when both
/// do not fit in Lambda's 256 characters.
pub fn marked_description(current: &str, version: &str) -> Option<String> {
    let marker = format!("{MARKER_PREFIX}{version}]");
    let base = match current.find(MARKER_PREFIX) {
        Some(at) if current[at..] == marker => return None,
        Some(at) => &current[..at],
        None => current,
    }
    .trim_end();
    if base.is_empty() {
        return Some(marker);
    }
    let room = DESCRIPTION_MAX_CHARS.saturating_sub(marker.chars().count() + 1);
    let kept: String = base.chars().take(room).collect();
    Some(format!("{} {marker}", kept.trim_end()))
}

/// The real ECS and Lambda APIs. Their clients are built at the first refresh, so an instance
/// whose secrets list no application never builds them.
#[derive(Debug)]
pub struct AwsRefresher {
    sdk: aws_config::SdkConfig,
    ecs: OnceLock<aws_sdk_ecs::Client>,
    lambda: OnceLock<aws_sdk_lambda::Client>,
}

impl AwsRefresher {
    /// From the SDK's shared configuration (`AWS_ENDPOINT_URL_ECS` and
    /// `AWS_ENDPOINT_URL_LAMBDA` override the endpoints).
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            sdk: sdk.clone(),
            ecs: OnceLock::new(),
            lambda: OnceLock::new(),
        }
    }

    fn ecs(&self) -> &aws_sdk_ecs::Client {
        self.ecs.get_or_init(|| aws_sdk_ecs::Client::new(&self.sdk))
    }

    fn lambda(&self) -> &aws_sdk_lambda::Client {
        self.lambda
            .get_or_init(|| aws_sdk_lambda::Client::new(&self.sdk))
    }

    async fn ecs_service(&self, arn: &str) -> Result<Refreshed, RefreshFailure> {
        let Some((cluster, service)) = ecs_service_parts(arn) else {
            return Err(RefreshFailure {
                problem: "not a long-format ECS service ARN (`...:service/CLUSTER/SERVICE`)".into(),
                retryable: false,
            });
        };
        let out = self
            .ecs()
            .update_service()
            .cluster(cluster)
            .service(service)
            .force_new_deployment(true)
            .send()
            .await
            .map_err(|e| failure("ECS UpdateService", "ecs:UpdateService", "ecs", e))?;
        let deployment = out
            .service()
            .and_then(|s| {
                s.deployments()
                    .iter()
                    .find(|d| d.status() == Some("PRIMARY"))
            })
            .and_then(|d| d.id())
            .unwrap_or("unknown");
        tracing::info!(target = %arn, deployment, "ECS started a new deployment");
        Ok(Refreshed::Done)
    }

    async fn lambda_function(&self, arn: &str, version: &str) -> Result<Refreshed, RefreshFailure> {
        let current = self
            .lambda()
            .get_function_configuration()
            .function_name(arn)
            .send()
            .await
            .map_err(|e| {
                failure(
                    "Lambda GetFunctionConfiguration",
                    "lambda:GetFunctionConfiguration",
                    "lambda",
                    e,
                )
            })?;
        let Some(description) = marked_description(current.description().unwrap_or(""), version)
        else {
            return Ok(Refreshed::AlreadyDone);
        };
        let mut update = self
            .lambda()
            .update_function_configuration()
            .function_name(arn)
            .description(description);
        if let Some(revision) = current.revision_id() {
            update = update.revision_id(revision);
        }
        update.send().await.map_err(|e| {
            failure(
                "Lambda UpdateFunctionConfiguration",
                "lambda:UpdateFunctionConfiguration",
                "lambda",
                e,
            )
        })?;
        Ok(Refreshed::Done)
    }
}

#[async_trait]
impl Refresher for AwsRefresher {
    async fn refresh(&self, target: &Target, version: &str) -> Result<Refreshed, RefreshFailure> {
        match target.kind {
            TargetKind::EcsService => self.ecs_service(&target.arn).await,
            TargetKind::LambdaFunction => self.lambda_function(&target.arn, version).await,
        }
    }
}

/// Error codes after which a second attempt cannot succeed.
const PERMANENT: [&str; 10] = [
    "AccessDeniedException",
    "AccessDenied",
    "UnauthorizedOperation",
    "ResourceNotFoundException",
    "ServiceNotFoundException",
    "ServiceNotActiveException",
    "ClusterNotFoundException",
    "InvalidParameterException",
    "InvalidParameterValueException",
    "UnsupportedFeatureException",
];

fn failure<E, R>(
    op: &str,
    action: &str,
    endpoint: &str,
    error: aws_sdk_ecs::error::SdkError<E, R>,
) -> RefreshFailure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match error.code() {
        Some(code) => {
            let retryable = !PERMANENT.contains(&code);
            let hint = if code.starts_with("AccessDenied") || code == "UnauthorizedOperation" {
                format!(
                    "; the function's role may call {action} only on the ARNs after_rotation \
                     lists: deploy the stack rendered from the config that lists this one"
                )
            } else if !retryable {
                "; check the ARN in after_rotation names an existing, active target".to_owned()
            } else {
                String::new()
            };
            RefreshFailure {
                problem: format!(
                    "{op} failed ({code}: {}){hint}",
                    error.message().unwrap_or("no message")
                ),
                retryable,
            }
        }
        None => RefreshFailure {
            problem: format!(
                "{op} failed ({}); check that the function reaches the API (network.{endpoint}_endpoint, \
                 or a NAT route)",
                DisplayErrorContext(&error)
            ),
            retryable: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_and_service_come_from_the_long_arn() {
        assert_eq!(
            ecs_service_parts("arn:aws:ecs:eu-west-1:123456789012:service/prod/orders-api"),
            Some(("prod", "orders-api"))
        );
        assert_eq!(
            ecs_service_parts("arn:aws:ecs:eu-west-1:123456789012:service/orders-api"),
            None
        );
        assert_eq!(
            ecs_service_parts("arn:aws:ecs:eu-west-1:123456789012:service/a/b/c"),
            None
        );
    }

    #[test]
    fn the_marker_replaces_an_earlier_one_and_keeps_the_description() {
        assert_eq!(
            marked_description("", "v1").unwrap(),
            "[secret rotated: version v1]"
        );
        let once = marked_description("Orders API", "v1").unwrap();
        assert_eq!(once, "Orders API [secret rotated: version v1]");
        assert_eq!(marked_description(&once, "v1"), None);
        assert_eq!(
            marked_description(&once, "v2").unwrap(),
            "Orders API [secret rotated: version v2]"
        );
        let long = "x".repeat(300);
        let marked = marked_description(&long, "v3").unwrap();
        assert_eq!(marked.chars().count(), DESCRIPTION_MAX_CHARS);
        assert!(marked.ends_with("[secret rotated: version v3]"));
        let multibyte = "é".repeat(300);
        let marked = marked_description(&multibyte, "v3").unwrap();
        assert_eq!(marked.chars().count(), DESCRIPTION_MAX_CHARS);
    }
}
