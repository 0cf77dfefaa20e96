//! The Lambda entry point: read the configuration, build the clients once, serve events.
//!
//! Rotation steps answer nothing (Secrets Manager reads only success or failure) and print
//! their metric line (Embedded Metric Format) whatever the outcome; operator actions
//! (preflight, recover, audit, drift-check) answer their JSON report.
//!
//! A configuration error does not crash the runtime at start (Lambda would only report an exit
//! status): it is logged once and returned by every invocation with its own error type, so the
//! rotation failure in Secrets Manager names the variable to fix.

use lambda_runtime::{LambdaEvent, service_fn};
use rotation::cache::CachingStore;
use rotation::db::Drivers;
use rotation::metrics::{self, StepMetrics};
use rotation::ops::{adopt, audit, drift, preflight, recover};
use rotation::rds::AwsRds;
use rotation::refresh::AwsRefresher;
use rotation::store::AwsSecretStore;
use rotation::{Config, Invocation, RotationError, Rotator};
use serde_json::Value;
use tracing_subscriber::EnvFilter;

/// What every invocation works with, built once per instance.
struct Function {
    rotator: Rotator<CachingStore<AwsSecretStore>, Drivers>,
    /// The same Secrets Manager client, uncached, for the operator actions.
    admin: AwsSecretStore,
    /// This function's name, the metrics' `FunctionName` dimension.
    name: String,
}

impl Function {
    async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, RotationError> {
        let function_arn = event.context.invoked_function_arn.clone();
        // A secret whose rotation function is another function is refused (see settings.rs).
        if !function_arn.is_empty() {
            self.rotator.know_function_arn(&function_arn);
        }
        match Invocation::from_json(event.payload)? {
            Invocation::Rotation(step) => {
                let (result, outcome) = self.rotator.handle_measured(&step).await;
                let line = StepMetrics {
                    function: self.name.clone(),
                    secret_name: outcome.secret_name.clone(),
                    strategy: outcome.strategy,
                    step: step.step.name(),
                    duration_ms: outcome.duration.as_millis() as u64,
                    error_kind: result.as_ref().err().map(RotationError::kind),
                }
                .line(metrics::now_ms());
                println!("{line}");
                for line in metrics::refresh_lines(
                    &self.name,
                    &outcome.secret_name,
                    outcome.refresh.as_ref(),
                    metrics::now_ms(),
                ) {
                    println!("{line}");
                }
                result.map(|()| Value::Null)
            }
            Invocation::Preflight { secret_id } => {
                let report = preflight::preflight(
                    &self.rotator,
                    &self.admin,
                    Some(&function_arn),
                    &secret_id,
                )
                .await;
                tracing::info!(secret = %secret_id, problems = report.problems, "preflight");
                Ok(serde_json::to_value(report).expect("a report serializes"))
            }
            Invocation::Recover { secret_id, apply } => {
                let report = recover::recover(
                    &self.rotator,
                    &self.admin,
                    &secret_id,
                    apply,
                    metrics::now_secs(),
                )
                .await?;
                tracing::info!(
                    secret = %secret_id,
                    proposal = ?report.proposal.kind,
                    applied = report.applied,
                    "recover"
                );
                Ok(serde_json::to_value(report).expect("a report serializes"))
            }
            Invocation::AdoptPartner { secret_id } => {
                let report = adopt::adopt(&self.rotator, &self.admin, &secret_id).await?;
                Ok(serde_json::to_value(report).expect("a report serializes"))
            }
            Invocation::DriftCheck => {
                let limits =
                    drift::RunLimits::from_deadline_ms(event.context.deadline, metrics::now_ms());
                let report =
                    drift::drift_check(&self.rotator, &self.admin, Some(&function_arn), limits)
                        .await?;
                let drifted: Vec<String> = report
                    .results
                    .iter()
                    .filter(|r| r.status == rotation_contract::report::DriftStatus::Drifted)
                    .map(|r| rotation::steps::secret_name_of(&r.secret_id).to_owned())
                    .collect();
                let counts = metrics::DriftCounts {
                    checked: report.checked,
                    drifted: report.drifted,
                    retired_in_use: report
                        .results
                        .iter()
                        .filter(|r| r.retired_user_sessions.is_some_and(|n| n > 0))
                        .count(),
                };
                for line in metrics::drift_lines(&self.name, counts, &drifted, metrics::now_ms()) {
                    println!("{line}");
                }
                tracing::info!(
                    secrets = report.secrets,
                    checked = report.checked,
                    drifted = report.drifted,
                    not_reached = report.not_reached,
                    "drift check"
                );
                Ok(serde_json::to_value(report).expect("a report serializes"))
            }
            Invocation::Audit => {
                let report = audit::audit(&self.admin, &function_arn, metrics::now_secs()).await?;
                println!(
                    "{}",
                    metrics::audit_line(
                        &self.name,
                        report.secrets,
                        report.overdue.len(),
                        metrics::now_ms()
                    )
                );
                tracing::info!(
                    secrets = report.secrets,
                    overdue = report.overdue.len(),
                    "audit"
                );
                Ok(serde_json::to_value(report).expect("a report serializes"))
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // JSON lines for CloudWatch Logs Insights; level from AWS_LAMBDA_LOG_LEVEL or RUST_LOG.
    let filter = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .map(|level| EnvFilter::new(level.to_ascii_lowercase()))
        .unwrap_or_else(|| {
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
        });
    // The database drivers log statement text at debug level, and a statement that sets a
    // password carries its SCRAM verifier (PostgreSQL) or the password (MySQL): whatever level
    // an operator asks for, the drivers say no more than warnings.
    let filter = [
        "tokio_postgres=warn",
        "mysql_async=warn",
        "mysql_common=warn",
    ]
    .into_iter()
    .fold(filter, |filter, directive| {
        filter.add_directive(directive.parse().expect("a valid directive"))
    });
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_target(false)
        .without_time()
        .init();

    // One TLS provider for the whole binary: the SDK's HTTPS client and both database drivers.
    rotation::install_tls_provider();

    let function = match Config::from_env() {
        Ok(config) => {
            let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .http_client(rotation::https_client())
                .load()
                .await;
            let secrets_manager =
                AwsSecretStore::new(&sdk, config.secrets_manager_endpoint.as_deref());
            // Warm instances keep the values of the versions they read or wrote.
            let store = CachingStore::new(secrets_manager.clone());
            let drivers = Drivers::from_config(&config);
            Ok(Function {
                rotator: Rotator::new(store, drivers, config)
                    .with_rds(AwsRds::new(&sdk))
                    // Its ECS and Lambda clients are built at the first refresh, if any.
                    .with_refresher(AwsRefresher::new(&sdk)),
                admin: secrets_manager,
                name: std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default(),
            })
        }
        Err(error) => {
            tracing::error!(kind = error.kind(), %error, "invalid configuration");
            Err(match error {
                RotationError::Config { var, problem } => (var, problem),
                other => ("environment", other.to_string()),
            })
        }
    };

    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let function = &function;
        async move {
            let function = function
                .as_ref()
                .map_err(|(var, problem)| RotationError::Config {
                    var,
                    problem: problem.clone(),
                })?;
            function.handle(event).await
        }
    }))
    .await
}
