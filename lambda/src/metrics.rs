//! CloudWatch metrics in Embedded Metric Format: one JSON line per rotation step and per audit,
//! and per kind of application a finishSecret refreshed.
//!
//! Lambda sends what the function prints to CloudWatch Logs, and CloudWatch extracts the
//! metrics from any line that carries an `_aws` object: no PutMetricData call, no permission,
//! no added latency, and nothing lost when the step fails. The names come from the contract
//! the stack's dashboard and alarm read ([`rotation_contract::metrics`]). A line holds names,
//! counts and durations only; the secret's name is metadata, never its value.

use rotation_contract::metrics as m;
use serde_json::{Map, Value, json};

/// What one rotation step did, for its metric line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepMetrics {
    /// The Lambda function's name (`AWS_LAMBDA_FUNCTION_NAME`).
    pub function: String,
    pub secret_name: String,
    /// `single-user`, `alternating-users`, or `unknown` when the step read no value that says.
    pub strategy: &'static str,
    /// The step's name as Secrets Manager sends it.
    pub step: &'static str,
    pub duration_ms: u64,
    /// The error type of a failed step (the invocation's `errorType`), `None` on success.
    pub error_kind: Option<&'static str>,
}

impl StepMetrics {
    /// The EMF line, stamped `timestamp_ms` (milliseconds since the epoch).
    pub fn line(&self, timestamp_ms: u64) -> String {
        let failed = u8::from(self.error_kind.is_some());
        let mut body = envelope(
            timestamp_ms,
            &m::STEP_DIMENSIONS,
            &[
                (m::STEP_SUCCEEDED, "Count"),
                (m::STEP_FAILED, "Count"),
                (m::STEP_DURATION, "Milliseconds"),
            ],
        );
        body.insert(m::DIM_FUNCTION.into(), json!(self.function));
        body.insert(m::DIM_SECRET.into(), json!(self.secret_name));
        body.insert(m::DIM_STRATEGY.into(), json!(self.strategy));
        body.insert(m::DIM_STEP.into(), json!(self.step));
        body.insert(m::STEP_SUCCEEDED.into(), json!(1 - failed));
        body.insert(m::STEP_FAILED.into(), json!(failed));
        body.insert(m::STEP_DURATION.into(), json!(self.duration_ms));
        body.insert(
            "Outcome".into(),
            json!(if failed == 1 { "failed" } else { "succeeded" }),
        );
        if let Some(kind) = self.error_kind {
            body.insert(m::ERROR_KIND.into(), json!(kind));
        }
        Value::Object(body).to_string()
    }
}

/// The metric line of one audit: how many secrets name this function, how many are overdue.
pub fn audit_line(function: &str, audited: usize, overdue: usize, timestamp_ms: u64) -> String {
    let mut body = envelope(
        timestamp_ms,
        &[&[m::DIM_FUNCTION]],
        &[(m::OVERDUE_SECRETS, "Count"), (m::AUDITED_SECRETS, "Count")],
    );
    body.insert(m::DIM_FUNCTION.into(), json!(function));
    body.insert(m::OVERDUE_SECRETS.into(), json!(overdue));
    body.insert(m::AUDITED_SECRETS.into(), json!(audited));
    Value::Object(body).to_string()
}

/// The metric lines of one rotation's refresh of its applications: one per kind of
/// application it lists (a line has one `TargetKind`), each counting the refreshed and the
/// failed ones. Empty without a report.
pub fn refresh_lines(
    function: &str,
    secret_name: &str,
    report: Option<&crate::refresh::RefreshReport>,
    timestamp_ms: u64,
) -> Vec<String> {
    let Some(report) = report else {
        return Vec::new();
    };
    report
        .kinds()
        .into_iter()
        .map(|kind| {
            let mut body = envelope(
                timestamp_ms,
                &m::REFRESH_DIMENSIONS,
                &[(m::REFRESHED, "Count"), (m::REFRESH_FAILED, "Count")],
            );
            body.insert(m::DIM_FUNCTION.into(), json!(function));
            body.insert(m::DIM_SECRET.into(), json!(secret_name));
            body.insert(m::DIM_TARGET_KIND.into(), json!(kind.name()));
            body.insert(m::REFRESHED.into(), json!(report.refreshed(kind)));
            body.insert(m::REFRESH_FAILED.into(), json!(report.failed(kind)));
            Value::Object(body).to_string()
        })
        .collect()
}

/// The metric line of one drift check (see [`crate::ops::drift`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriftCounts {
    /// Secrets checked to the end.
    pub checked: usize,
    /// Secrets with a problem.
    pub drifted: usize,
    /// Secrets whose retired previous user still holds sessions.
    pub retired_in_use: usize,
}

/// The drift check's lines: one per function with the counts, then one per secret with a
/// problem (dimensions function and secret name), so the alarm watches one metric and the
/// dashboard can say which secret.
pub fn drift_lines(
    function: &str,
    counts: DriftCounts,
    drifted_secrets: &[String],
    timestamp_ms: u64,
) -> Vec<String> {
    let mut body = envelope(
        timestamp_ms,
        &[&[m::DIM_FUNCTION]],
        &[
            (m::DRIFTED_SECRETS, "Count"),
            (m::DRIFT_CHECKED_SECRETS, "Count"),
            (m::RETIRED_USER_IN_USE, "Count"),
        ],
    );
    body.insert(m::DIM_FUNCTION.into(), json!(function));
    body.insert(m::DRIFTED_SECRETS.into(), json!(counts.drifted));
    body.insert(m::DRIFT_CHECKED_SECRETS.into(), json!(counts.checked));
    body.insert(m::RETIRED_USER_IN_USE.into(), json!(counts.retired_in_use));
    let mut lines = vec![Value::Object(body).to_string()];
    for name in drifted_secrets {
        let mut body = envelope(
            timestamp_ms,
            &[&[m::DIM_FUNCTION, m::DIM_SECRET]],
            &[(m::SECRET_DRIFTED, "Count")],
        );
        body.insert(m::DIM_FUNCTION.into(), json!(function));
        body.insert(m::DIM_SECRET.into(), json!(name));
        body.insert(m::SECRET_DRIFTED.into(), json!(1));
        lines.push(Value::Object(body).to_string());
    }
    lines
}

/// The `_aws` member that tells CloudWatch which of the line's members are metrics.
fn envelope(
    timestamp_ms: u64,
    dimensions: &[&[&str]],
    metrics: &[(&str, &str)],
) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": m::NAMESPACE,
                "Dimensions": dimensions,
                "Metrics": metrics
                    .iter()
                    .map(|(name, unit)| json!({"Name": name, "Unit": unit}))
                    .collect::<Vec<_>>(),
            }],
        }),
    );
    body
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Seconds since the epoch, now: the clock the operator actions measure ages against.
pub fn now_secs() -> i64 {
    (now_ms() / 1000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Value {
        assert!(!line.contains('\n'), "one line: {line}");
        serde_json::from_str(line).unwrap()
    }

    /// Every dimension and metric the envelope names is a member of the line, as CloudWatch
    /// requires (a missing member drops the whole line's metrics).
    fn assert_well_formed(line: &Value) {
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], m::NAMESPACE);
        for set in directive["Dimensions"].as_array().unwrap() {
            let set = set.as_array().unwrap();
            assert!(!set.is_empty() && set.len() <= 30);
            for name in set {
                assert!(line[name.as_str().unwrap()].is_string(), "{name}");
            }
        }
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(line[name].is_number(), "{name}");
        }
        assert!(line["_aws"]["Timestamp"].is_u64());
    }

    #[test]
    fn a_step_line_carries_outcome_duration_and_both_dimension_sets() {
        let mut step = StepMetrics {
            function: "rotate-app".into(),
            secret_name: "prod/app \"db\"".into(),
            strategy: "single-user",
            step: "setSecret",
            duration_ms: 412,
            error_kind: None,
        };
        let ok = parse(&step.line(1_700_000_000_000));
        assert_well_formed(&ok);
        assert_eq!(ok[m::STEP_SUCCEEDED], 1);
        assert_eq!(ok[m::STEP_FAILED], 0);
        assert_eq!(ok[m::STEP_DURATION], 412);
        assert_eq!(ok[m::DIM_SECRET], "prod/app \"db\"");
        assert_eq!(
            ok["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["FunctionName", "Step"], ["SecretName", "Strategy", "Step"]])
        );
        assert!(ok.get("ErrorKind").is_none());

        step.error_kind = Some("DatabaseUnreachable");
        let failed = parse(&step.line(1));
        assert_well_formed(&failed);
        assert_eq!(failed[m::STEP_SUCCEEDED], 0);
        assert_eq!(failed[m::STEP_FAILED], 1);
        assert_eq!(failed["Outcome"], "failed");
        assert_eq!(failed["ErrorKind"], "DatabaseUnreachable");
    }

    #[test]
    fn a_refresh_line_per_kind_counts_refreshed_and_failed_applications() {
        use crate::refresh::{RefreshReport, Refreshed, Target, TargetKind, TargetOutcome};
        assert!(refresh_lines("f", "s", None, 1).is_empty());
        let outcome = |kind, arn: &str, ok: bool| TargetOutcome {
            target: Target {
                kind,
                arn: arn.into(),
            },
            attempts: 1,
            result: if ok {
                Ok(Refreshed::Done)
            } else {
                Err("no".into())
            },
        };
        let report = RefreshReport {
            outcomes: vec![
                outcome(TargetKind::EcsService, "a", true),
                outcome(TargetKind::EcsService, "b", false),
                outcome(TargetKind::EcsService, "c", true),
                outcome(TargetKind::LambdaFunction, "d", true),
            ],
        };
        let lines = refresh_lines("rotate-app", "prod/app", Some(&report), 7);
        assert_eq!(lines.len(), 2);
        let ecs = parse(&lines[0]);
        assert_well_formed(&ecs);
        assert_eq!(ecs[m::DIM_TARGET_KIND], "ecs-service");
        assert_eq!(ecs[m::REFRESHED], 2);
        assert_eq!(ecs[m::REFRESH_FAILED], 1);
        assert_eq!(
            ecs["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["FunctionName"], ["SecretName", "TargetKind"]])
        );
        let lambda = parse(&lines[1]);
        assert_eq!(lambda[m::DIM_TARGET_KIND], "lambda-function");
        assert_eq!(lambda[m::REFRESHED], 1);
        assert_eq!(lambda[m::REFRESH_FAILED], 0);
    }

    #[test]
    fn drift_lines_count_per_function_and_name_each_drifted_secret() {
        let counts = DriftCounts {
            checked: 5,
            drifted: 2,
            retired_in_use: 1,
        };
        let lines = drift_lines("rotate-app", counts, &["a".into(), "b/c".into()], 9);
        assert_eq!(lines.len(), 3);
        let total = parse(&lines[0]);
        assert_well_formed(&total);
        assert_eq!(total[m::DRIFTED_SECRETS], 2);
        assert_eq!(total[m::DRIFT_CHECKED_SECRETS], 5);
        assert_eq!(total[m::RETIRED_USER_IN_USE], 1);
        let one = parse(&lines[2]);
        assert_well_formed(&one);
        assert_eq!(one[m::SECRET_DRIFTED], 1);
        assert_eq!(one[m::DIM_SECRET], "b/c");
        assert_eq!(
            one["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["FunctionName", "SecretName"]])
        );
    }

    #[test]
    fn an_audit_line_counts_overdue_secrets_per_function() {
        let line = parse(&audit_line("rotate-app", 12, 2, 5));
        assert_well_formed(&line);
        assert_eq!(line[m::OVERDUE_SECRETS], 2);
        assert_eq!(line[m::AUDITED_SECRETS], 12);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["FunctionName"]])
        );
    }
}
