//! The CloudWatch metrics the function writes and the stack's dashboard and alarm read.
//!
//! The function prints them in Embedded Metric Format on its log lines, so they cost no API
//! call and no permission; CloudWatch Logs extracts them. The names live here because a metric
//! the function writes under one name and the dashboard reads under another is a blank graph
//! nobody notices until the night it matters.

/// The CloudWatch namespace of every metric below.
pub const NAMESPACE: &str = "SecretsRotation";

/// Dimension: the function's name (Lambda's `AWS_LAMBDA_FUNCTION_NAME`), so the stack's
/// dashboard and alarm read only their own function's metrics.
pub const DIM_FUNCTION: &str = "FunctionName";
/// Dimension: the rotation step (`createSecret`, `setSecret`, `testSecret`, `finishSecret`).
pub const DIM_STEP: &str = "Step";
/// Dimension: the rotated secret's name, as DescribeSecret gives it.
pub const DIM_SECRET: &str = "SecretName";
/// Dimension: the strategy, `single-user` or `alternating-users`.
pub const DIM_STRATEGY: &str = "Strategy";

/// The rotation steps, as Secrets Manager sends them and the function writes them in the
/// [`DIM_STEP`] dimension.
pub const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

/// The member of a failed step's metric line that holds its error type (the invocation's
/// `errorType`), for the dashboard's table of failed steps. Not a dimension.
pub const ERROR_KIND: &str = "ErrorKind";

/// Per step: 1 when the step succeeded (0 otherwise). Unit Count.
pub const STEP_SUCCEEDED: &str = "StepSucceeded";
/// Per step: 1 when the step failed (0 otherwise). Unit Count.
pub const STEP_FAILED: &str = "StepFailed";
/// Per step: how long the step took. Unit Milliseconds.
pub const STEP_DURATION: &str = "StepDuration";

/// The dimension sets of the step metrics: per function and step (the dashboard's totals),
/// and per secret, strategy and step (which secret failed).
pub const STEP_DIMENSIONS: [&[&str]; 2] = [
    &[DIM_FUNCTION, DIM_STEP],
    &[DIM_SECRET, DIM_STRATEGY, DIM_STEP],
];

/// Per audit (`{"Action": "audit"}`): how many secrets this function rotates are overdue.
/// Dimension: [`DIM_FUNCTION`]. Unit Count. The overdue alarm fires on a value of 1 or more,
/// and on no value for a day (the audit itself did not run).
pub const OVERDUE_SECRETS: &str = "OverdueSecrets";
/// Per audit: how many secrets name this function as their rotation function. Unit Count.
pub const AUDITED_SECRETS: &str = "AuditedSecrets";

/// Dimension: the kind of application a refresh acts on, `ecs-service` or `lambda-function`.
pub const DIM_TARGET_KIND: &str = "TargetKind";

/// Per rotation that refreshes applications (`after_rotation`), after finishSecret: how many
/// of the listed applications could not be refreshed. Dimensions: [`DIM_FUNCTION`], and
/// [`DIM_SECRET`] with [`DIM_TARGET_KIND`]. Unit Count. The refresh alarm fires on 1 or more.
pub const REFRESH_FAILED: &str = "RefreshFailed";
/// Per rotation that refreshes applications: how many were refreshed. Unit Count.
pub const REFRESHED: &str = "Refreshed";
/// The [`DIM_TARGET_KIND`] of an ECS service.
pub const TARGET_ECS_SERVICE: &str = "ecs-service";
/// The [`DIM_TARGET_KIND`] of a Lambda function.
pub const TARGET_LAMBDA_FUNCTION: &str = "lambda-function";
/// The dimension sets of the refresh metrics: per function (the alarm and the dashboard), and
/// per secret and kind of application (which secret's applications failed).
pub const REFRESH_DIMENSIONS: [&[&str]; 2] = [&[DIM_FUNCTION], &[DIM_SECRET, DIM_TARGET_KIND]];

/// Per drift check (`{"Action": "drift-check"}`): how many configured secrets have a problem
/// a rotation would meet. Dimension: [`DIM_FUNCTION`]. Unit Count. The drift alarm fires on 1
/// or more, and on no value for two periods (the check itself did not run).
pub const DRIFTED_SECRETS: &str = "DriftedSecrets";
/// Per drift check and secret with a problem: 1. Dimensions: [`DIM_FUNCTION`] and
/// [`DIM_SECRET`]. Unit Count.
pub const SECRET_DRIFTED: &str = "SecretDrifted";
/// Per drift check: how many configured secrets were checked. Unit Count.
pub const DRIFT_CHECKED_SECRETS: &str = "DriftCheckedSecrets";
/// Per drift check: how many secrets whose previous user is retired (`retire_previous_after`,
/// past the grace) still had database sessions of that user open: an application that logged
/// in with AWSPREVIOUS before the grace and kept its connection, which fails at its next login.
/// Dimension: [`DIM_FUNCTION`]. Unit Count. The retired-user alarm fires on 1 or more.
pub const RETIRED_USER_IN_USE: &str = "RetiredUserInUse";
