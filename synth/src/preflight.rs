//! `synth preflight`: asks the deployed function to check every database of a
//! config, and prints what it found.
//!
//! The checks run in the function (`{"Action": "preflight", "SecretId": ...}`),
//! inside the VPC, with the function's role and network paths: that is the only
//! place that can tell whether a rotation would work. Here they are only sent,
//! a few at a time, and printed in config order: one line per database, then
//! the failed and warning checks with their fixes, or the reports as JSON. The
//! exit code says the worst: 0 every report is ok, 1 a database has problems,
//! 2 an invocation itself failed. The function's reports never hold a
//! password, and neither does anything printed here.
//!
//! The outside world (Lambda's Invoke) is behind [`Invoker`], so the ordering,
//! the table and the exit codes are tested with canned answers.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::model::Stack;

/// Invocations in flight at once: enough to check a large config quickly,
/// few enough not to take the function's (or the account's) concurrency from
/// rotations.
pub const CONCURRENCY: usize = 4;

/// Exit code: every report is ok.
pub const EXIT_OK: u8 = 0;
/// Exit code: at least one database has a problem.
pub const EXIT_PROBLEMS: u8 = 1;
/// Exit code: at least one invocation failed (no report).
pub const EXIT_INVOCATION_FAILED: u8 = 2;

/// One database of the config, as the table shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub secret_arn: String,
    pub engine: String,
    pub strategy: String,
}

impl Target {
    /// The databases of a validated config, in config order.
    pub fn of(stack: &Stack) -> Vec<Target> {
        stack
            .databases
            .iter()
            .map(|d| Target {
                name: d.name.clone(),
                secret_arn: d.secret_arn.clone(),
                engine: d.engine.name().to_owned(),
                strategy: d.strategy.as_str().to_owned(),
            })
            .collect()
    }

    /// The event that asks the function to check this database.
    pub fn event(&self) -> Vec<u8> {
        json!({"Action": rotation_contract::report::action::PREFLIGHT, "SecretId": self.secret_arn})
            .to_string()
            .into_bytes()
    }

    /// The secret's name (with its suffix), shorter than the ARN for the table.
    fn secret_name(&self) -> &str {
        self.secret_arn
            .split_once(":secret:")
            .map_or(self.secret_arn.as_str(), |(_, name)| name)
    }
}

/// The function's report and its parts: the protocol shared with the function.
pub use rotation_contract::report::{Check, PreflightReport as Report, Status};

/// An invocation that gave no report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationError {
    /// Lambda's `FunctionError` (`Unhandled`), or the HTTP status of an
    /// emulator's error answer; `None` when the call itself failed.
    pub function_error: Option<String>,
    pub error_type: String,
    pub error_message: String,
}

/// What one invocation gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The report, parsed, and as the function wrote it (for `--json`).
    Report {
        report: Report,
        raw: Value,
    },
    Failed(InvocationError),
}

impl Outcome {
    /// Reads an invocation's answer: `function_error` is Lambda's
    /// `FunctionError`, `payload` the response payload.
    pub fn from_answer(function_error: Option<&str>, payload: &[u8]) -> Outcome {
        let value: Option<Value> = serde_json::from_slice(payload).ok();
        if let Some(kind) = function_error {
            return Outcome::Failed(error_payload(
                Some(kind.to_owned()),
                value.as_ref(),
                payload,
            ));
        }
        let Some(value) = value else {
            return Outcome::Failed(unexpected(payload));
        };
        if value.get("errorType").is_some() {
            return Outcome::Failed(error_payload(None, Some(&value), payload));
        }
        match serde_json::from_value::<Report>(value.clone()) {
            Ok(report) if report.action == rotation_contract::report::action::PREFLIGHT => {
                Outcome::Report { report, raw: value }
            }
            _ => Outcome::Failed(unexpected(payload)),
        }
    }

    fn has_problems(&self) -> bool {
        match self {
            Outcome::Report { report, .. } => !report.ok,
            Outcome::Failed(_) => false,
        }
    }
}

/// `{"errorType", "errorMessage"}`, as Lambda returns a function's error.
fn error_payload(
    function_error: Option<String>,
    value: Option<&Value>,
    payload: &[u8],
) -> InvocationError {
    let field = |name: &str| {
        value
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    InvocationError {
        function_error,
        error_type: field("errorType").unwrap_or_else(|| "Unknown".to_owned()),
        error_message: field("errorMessage").unwrap_or_else(|| excerpt(payload)),
    }
}

fn unexpected(payload: &[u8]) -> InvocationError {
    InvocationError {
        function_error: None,
        error_type: "UnexpectedResponse".to_owned(),
        error_message: format!(
            "the function answered `{}`, not a preflight report: deploy a version of the function that knows {{\"Action\": \"preflight\"}}",
            excerpt(payload)
        ),
    }
}

/// The start of a payload, for a message.
fn excerpt(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(payload);
    let mut out: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        out.push_str("...");
    }
    out
}

/// Lambda's Invoke, or a stand-in.
pub trait Invoker: Send + Sync + 'static {
    /// Invokes the function synchronously with `payload`.
    fn invoke(&self, payload: Vec<u8>) -> impl Future<Output = Outcome> + Send;
}

/// Invokes the function for every target, at most `bound` at a time; the
/// outcomes are in the order of `targets`.
pub async fn invoke_all<I: Invoker>(
    invoker: Arc<I>,
    targets: &[Target],
    bound: usize,
) -> Vec<Outcome> {
    let events: Arc<Vec<Vec<u8>>> = Arc::new(targets.iter().map(Target::event).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..bound.clamp(1, targets.len().max(1)) {
        let (invoker, events, next) = (invoker.clone(), events.clone(), next.clone());
        workers.spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(event) = events.get(i) else { break };
                done.push((i, invoker.invoke(event.clone()).await));
            }
            done
        });
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![None; targets.len()];
    while let Some(done) = workers.join_next().await {
        let done = done.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        for (i, outcome) in done {
            outcomes[i] = Some(outcome);
        }
    }
    outcomes
        .into_iter()
        .map(|o| o.expect("every target is invoked once"))
        .collect()
}

/// The process's exit code for these outcomes.
pub fn exit_code(outcomes: &[Outcome]) -> u8 {
    if outcomes.iter().any(|o| matches!(o, Outcome::Failed(_))) {
        EXIT_INVOCATION_FAILED
    } else if outcomes.iter().any(Outcome::has_problems) {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    }
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// The config's value, with the secret's own when it differs.
fn column(configured: &str, found: Option<&str>) -> String {
    match found {
        Some(found) if found != configured => format!("{configured} (secret: {found})"),
        _ => configured.to_owned(),
    }
}

/// The table, then the failed and warning checks of each database, then the
/// failed invocations.
pub fn table(targets: &[Target], outcomes: &[Outcome]) -> String {
    let mut rows = vec![[
        "DATABASE".to_owned(),
        "SECRET".to_owned(),
        "ENGINE".to_owned(),
        "STRATEGY".to_owned(),
        "RESULT".to_owned(),
    ]];
    for (target, outcome) in targets.iter().zip(outcomes) {
        let (engine, strategy, result) = match outcome {
            Outcome::Report { report, .. } => (
                column(&target.engine, report.engine.as_deref()),
                column(&target.strategy, report.strategy.as_deref()),
                if report.ok {
                    "ok".to_owned()
                } else {
                    plural(report.problems.max(1), "problem")
                },
            ),
            Outcome::Failed(_) => (
                target.engine.clone(),
                target.strategy.clone(),
                "invocation failed".to_owned(),
            ),
        };
        rows.push([
            target.name.clone(),
            target.secret_name().to_owned(),
            engine,
            strategy,
            result,
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    for (target, outcome) in targets.iter().zip(outcomes) {
        match outcome {
            Outcome::Report { report, .. } => {
                let shown: Vec<&Check> = report
                    .checks
                    .iter()
                    .filter(|c| matches!(c.status, Status::Fail | Status::Warn))
                    .collect();
                if shown.is_empty() {
                    continue;
                }
                let _ = writeln!(out, "\n{} ({}):", target.name, target.secret_arn);
                for check in shown {
                    let _ = writeln!(
                        out,
                        "  {}  {}: {}",
                        check.status.as_str(),
                        check.check,
                        check.detail
                    );
                    if let Some(fix) = &check.fix {
                        let _ = writeln!(out, "        fix: {fix}");
                    }
                }
            }
            Outcome::Failed(error) => {
                let _ = writeln!(
                    out,
                    "\n{} ({}): the invocation failed",
                    target.name, target.secret_arn
                );
                let _ = writeln!(out, "  {}: {}", error.error_type, error.error_message);
                if let Some(kind) = &error.function_error {
                    let _ = writeln!(out, "  function error: {kind}");
                }
            }
        }
    }
    out
}

/// The reports as a JSON array, in config order; a failed invocation is
/// `{"Action", "SecretId", "InvocationError": {...}}` in its place.
pub fn json_reports(targets: &[Target], outcomes: &[Outcome]) -> String {
    let items: Vec<Value> = targets
        .iter()
        .zip(outcomes)
        .map(|(target, outcome)| match outcome {
            Outcome::Report { raw, .. } => raw.clone(),
            Outcome::Failed(error) => json!({
                "Action": "preflight",
                "SecretId": target.secret_arn,
                "InvocationError": {
                    "FunctionError": error.function_error,
                    "errorType": error.error_type,
                    "errorMessage": error.error_message,
                },
            }),
        })
        .collect();
    // Serializing a Value cannot fail.
    serde_json::to_string_pretty(&items).unwrap_or_default() + "\n"
}

/// The deployed function, through the AWS SDK.
#[cfg(feature = "preflight")]
#[derive(Debug, Clone)]
pub struct LambdaInvoker {
    client: aws_sdk_lambda::Client,
    function: String,
}

#[cfg(feature = "preflight")]
impl LambdaInvoker {
    /// A client from the usual credential chain (environment, profile, SSO,
    /// container or instance role). The region is `region`, else the
    /// `fallback_region` (the region of the config's secrets, where the stack
    /// is); `endpoint_url` replaces Lambda's endpoint (an emulator).
    pub async fn new(
        function: String,
        region: Option<String>,
        fallback_region: Option<String>,
        endpoint_url: Option<String>,
    ) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = region.or(fallback_region) {
            loader = loader.region(aws_config::Region::new(region));
        }
        if let Some(url) = endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        LambdaInvoker {
            client: aws_sdk_lambda::Client::new(&sdk),
            function,
        }
    }
}

#[cfg(feature = "preflight")]
impl Invoker for LambdaInvoker {
    async fn invoke(&self, payload: Vec<u8>) -> Outcome {
        use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata};
        use aws_sdk_lambda::primitives::Blob;
        use aws_sdk_lambda::types::InvocationType;

        let sent = self
            .client
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(payload))
            .send()
            .await;
        match sent {
            Ok(out) => Outcome::from_answer(
                out.function_error(),
                out.payload().map(Blob::as_ref).unwrap_or_default(),
            ),
            Err(err) => {
                // A local emulator answers a function's error with an HTTP
                // error status and Lambda's error payload as the body.
                if let Some(raw) = err.raw_response()
                    && let Some(body) = raw.body().bytes()
                    && let Ok(value) = serde_json::from_slice::<Value>(body)
                    && value.get("errorType").is_some()
                {
                    let status = format!("HTTP {}", raw.status().as_u16());
                    return Outcome::Failed(error_payload(Some(status), Some(&value), body));
                }
                Outcome::Failed(InvocationError {
                    function_error: None,
                    error_type: err.code().unwrap_or("InvokeFailed").to_owned(),
                    error_message: format!(
                        "cannot invoke `{}`: {}",
                        self.function,
                        DisplayErrorContext(&err)
                    ),
                })
            }
        }
    }
}

/// The region of the config's secrets (all in one region, the stack's).
pub fn secrets_region(stack: &Stack) -> Option<String> {
    stack
        .databases
        .first()
        .and_then(|d| crate::arn::parse(&d.secret_arn))
        .map(|arn| arn.region.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_names_the_action_and_the_secret() {
        let t = Target {
            name: "orders".into(),
            secret_arn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app-AbCdEf".into(),
            engine: "postgres".into(),
            strategy: "single-user".into(),
        };
        let event: Value = serde_json::from_slice(&t.event()).unwrap();
        assert_eq!(
            event,
            json!({"Action": "preflight", "SecretId": t.secret_arn})
        );
        assert_eq!(t.secret_name(), "app-AbCdEf");
    }

    #[test]
    fn answers_that_are_not_reports_are_failures() {
        let Outcome::Failed(e) = Outcome::from_answer(
            Some("Unhandled"),
            br#"{"errorType":"InvalidEvent","errorMessage":"no Step"}"#,
        ) else {
            panic!("a function error is a failure")
        };
        assert_eq!(
            (e.error_type.as_str(), e.error_message.as_str()),
            ("InvalidEvent", "no Step")
        );
        assert_eq!(e.function_error.as_deref(), Some("Unhandled"));
        let Outcome::Failed(e) = Outcome::from_answer(None, b"null") else {
            panic!("null is no report")
        };
        assert_eq!(e.error_type, "UnexpectedResponse");
        assert!(e.error_message.contains("`null`"), "{e:?}");
    }
}
