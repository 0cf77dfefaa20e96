//! The Lambda entry point: read the configuration, build the clients once, serve events.
//!
//! A configuration error does not crash the runtime at start (Lambda would only report an exit
//! status): it is logged once and returned by every invocation with its own error type, so the
//! rotation failure in Secrets Manager names the variable to fix.

use lambda_runtime::{LambdaEvent, service_fn};
use rotation::cache::CachingStore;
use rotation::db::Drivers;
use rotation::rds::AwsRds;
use rotation::store::AwsSecretStore;
use rotation::{Config, RotationError, RotationEvent, Rotator};
use tracing_subscriber::EnvFilter;

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
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    let rotator = match Config::from_env() {
        Ok(config) => {
            let sdk = aws_config::load_from_env().await;
            // Warm instances keep the values of the versions they read or wrote.
            let store = CachingStore::new(AwsSecretStore::new(
                &sdk,
                config.secrets_manager_endpoint.as_deref(),
            ));
            let drivers = Drivers::from_config(&config);
            Ok(Rotator::new(store, drivers, config).with_rds(AwsRds::new(&sdk)))
        }
        Err(error) => {
            tracing::error!(kind = error.kind(), %error, "invalid configuration");
            Err(match error {
                RotationError::Config { var, problem } => (var, problem),
                other => ("environment", other.to_string()),
            })
        }
    };

    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let rotator = &rotator;
        async move {
            let rotator = rotator
                .as_ref()
                .map_err(|(var, problem)| RotationError::Config {
                    var,
                    problem: problem.clone(),
                })?;
            let event = RotationEvent::from_json(event.payload)?;
            rotator.handle(&event).await?;
            Ok::<(), RotationError>(())
        }
    }))
    .await
}
