//! The function's CloudWatch dashboard, as the JSON body CloudFormation takes.
//!
//! The body is built here rather than typed into the template so that every
//! metric name, namespace and dimension comes from `rotation_contract::metrics`,
//! the names the function writes: a graph of a misspelt metric is blank, and
//! nobody notices until the night it matters. It is printed for a reviewer:
//! one widget property per line, each metric on one line, always in the same
//! order, so the same stack always gives the same bytes. The body goes into
//! the template as a `Fn::Sub` string: `${RotationFunction}` (the function's
//! name), `${RotationFunctionLogGroup}` and `${AWS::Region}` are CloudFormation's.

use rotation_contract::metrics;
use serde_json::{Value, json};

use crate::model::Stack;

pub use rotation_contract::metrics::{ERROR_KIND, STEPS};

/// The metrics of the function that Lambda itself writes (namespace `AWS/Lambda`).
pub const LAMBDA_NAMESPACE: &str = "AWS/Lambda";

/// `Fn::Sub` reference to the function's name (its `Ref`).
const FUNCTION: &str = "${RotationFunction}";
/// `Fn::Sub` reference to the region the stack is deployed in.
const REGION: &str = "${AWS::Region}";

/// How far back the dashboard looks when opened: rotations are days apart and
/// the audit runs twice a day, so the usual 3 hours would show empty graphs.
const START: &str = "-P7D";
/// One point per hour for the step graphs; the audit's graph uses its own interval.
const PERIOD: u32 = 3600;
/// Longest a line of the body may be before it is broken over several lines.
const INLINE_WIDTH: usize = 160;

/// One step metric of the function, per step, with the `[FunctionName, Step]`
/// dimension set.
fn step_metric(metric: &str, step: &str, extra: Option<Value>) -> Value {
    let mut row = vec![
        json!(metrics::NAMESPACE),
        json!(metric),
        json!(metrics::DIM_FUNCTION),
        json!(FUNCTION),
        json!(metrics::DIM_STEP),
        json!(step),
    ];
    row.extend(extra);
    Value::Array(row)
}

fn metric_widget(
    (x, y, width, height): (u32, u32, u32, u32),
    title: &str,
    stat: &str,
    period: u32,
    rows: Vec<Value>,
) -> Value {
    json!({
        "type": "metric",
        "x": x,
        "y": y,
        "width": width,
        "height": height,
        "properties": {
            "title": title,
            "region": REGION,
            "view": "timeSeries",
            "stat": stat,
            "period": period,
            "metrics": rows,
        },
    })
}

/// The Logs Insights query of the failed steps. It reads the function's metric
/// line of each step (the Embedded Metric Format line, one JSON object per step
/// with its dimensions at the top level): `StepFailed` is 1 on a failed step,
/// and the line names the secret, the step, the strategy and the error's
/// stable kind (`ErrorKind`, the invocation's `errorType`). The function's
/// `step failed` log line (with the message) is one click away in the log
/// stream.
fn failed_steps_query() -> String {
    format!(
        "SOURCE '${{RotationFunctionLogGroup}}' | filter {failed} = 1 | fields @timestamp, {secret} as secret, {step} as step, {strategy} as strategy, {kind} as kind, @logStream | sort @timestamp desc | limit 100",
        failed = metrics::STEP_FAILED,
        secret = metrics::DIM_SECRET,
        step = metrics::DIM_STEP,
        strategy = metrics::DIM_STRATEGY,
        kind = ERROR_KIND,
    )
}

/// The secrets the drift checks found a problem with, from their metric lines.
fn drifted_secrets_query() -> String {
    format!(
        "SOURCE '${{RotationFunctionLogGroup}}' | filter {drifted} = 1 | fields @timestamp, {secret} as secret, @logStream | sort @timestamp desc | limit 100",
        drifted = metrics::SECRET_DRIFTED,
        secret = metrics::DIM_SECRET,
    )
}

/// The dashboard's widgets, top to bottom, left to right.
pub fn widgets(stack: &Stack) -> Vec<Value> {
    let mut widgets = vec![json!({
        "type": "text",
        "x": 0,
        "y": 0,
        "width": 24,
        "height": 2,
        "properties": {
            "markdown": format!(
                "Rotation function of **{}**. A failed step: its `kind` in the table at the bottom (the message is in the same log stream), then `synth preflight CONFIG`, which checks every database of the config through the function.",
                stack.name
            ),
        },
    })];
    let per_step = |metric: &str| -> Vec<Value> {
        STEPS
            .iter()
            .map(|step| step_metric(metric, step, None))
            .collect()
    };
    widgets.push(metric_widget(
        (0, 2, 8, 6),
        "Failed steps",
        "Sum",
        PERIOD,
        per_step(metrics::STEP_FAILED),
    ));
    widgets.push(metric_widget(
        (8, 2, 8, 6),
        "Succeeded steps",
        "Sum",
        PERIOD,
        per_step(metrics::STEP_SUCCEEDED),
    ));
    let durations = ["p50", "p99"]
        .iter()
        .flat_map(|stat| {
            STEPS.iter().map(move |step| {
                step_metric(
                    metrics::STEP_DURATION,
                    step,
                    Some(json!({"stat": stat, "label": format!("{step} {stat}")})),
                )
            })
        })
        .collect();
    widgets.push(metric_widget(
        (16, 2, 8, 6),
        "Step duration (ms), p50 and p99",
        "p99",
        PERIOD,
        durations,
    ));
    let lambda = |metric: &str, stat: &str| json!([LAMBDA_NAMESPACE, metric, metrics::DIM_FUNCTION, FUNCTION, {"stat": stat, "label": format!("{metric} {stat}")}]);
    widgets.push(metric_widget(
        (0, 8, 8, 6),
        "Invocation errors and throttles (Lambda)",
        "Sum",
        PERIOD,
        vec![lambda("Errors", "Sum"), lambda("Throttles", "Sum")],
    ));
    widgets.push(metric_widget(
        (8, 8, 8, 6),
        "Invocation duration (Lambda, ms)",
        "p99",
        PERIOD,
        vec![
            lambda("Duration", "p50"),
            lambda("Duration", "p99"),
            lambda("Duration", "Maximum"),
        ],
    ));
    if stack.overdue_audit {
        let audit = |metric: &str| json!([metrics::NAMESPACE, metric, metrics::DIM_FUNCTION, FUNCTION, {"stat": "Maximum"}]);
        let mut widget = metric_widget(
            (16, 8, 8, 6),
            "Overdue secrets (audit every 12 hours)",
            "Maximum",
            crate::model::AUDIT_INTERVAL_HOURS * 3600,
            vec![
                audit(metrics::OVERDUE_SECRETS),
                audit(metrics::AUDITED_SECRETS),
            ],
        );
        widget["properties"]["annotations"] =
            json!({"horizontal": [{"label": "alarm", "value": 1}]});
        widgets.push(widget);
    }
    // The refresh graph takes a row of its own, only in a stack that refreshes applications:
    // the dashboard of every other stack stays as it was.
    let mut log_y = 14;
    if stack.refreshes_applications() {
        let refresh = |metric: &str| json!([metrics::NAMESPACE, metric, metrics::DIM_FUNCTION, FUNCTION, {"stat": "Sum"}]);
        let mut widget = metric_widget(
            (0, 14, 24, 6),
            "Applications refreshed after rotations (after_rotation), and those that could not be",
            "Sum",
            PERIOD,
            vec![
                refresh(metrics::REFRESHED),
                refresh(metrics::REFRESH_FAILED),
            ],
        );
        widget["properties"]["annotations"] =
            json!({"horizontal": [{"label": "alarm (failed)", "value": 1}]});
        widgets.push(widget);
        log_y = 20;
    }
    widgets.push(json!({
        "type": "log",
        "x": 0,
        "y": log_y,
        "width": 24,
        "height": 8,
        "properties": {
            "title": "Failed steps, most recent first (the function's log)",
            "region": REGION,
            "view": "table",
            "query": failed_steps_query(),
        },
    }));
    if stack.drift_check.is_some() {
        let drift = |metric: &str| json!([metrics::NAMESPACE, metric, metrics::DIM_FUNCTION, FUNCTION, {"stat": "Maximum"}]);
        let mut widget = metric_widget(
            (0, 22, 12, 6),
            "Drift check: secrets with a problem, checked, retired users still in use",
            "Maximum",
            stack.drift_alarm_period(),
            vec![
                drift(metrics::DRIFTED_SECRETS),
                drift(metrics::DRIFT_CHECKED_SECRETS),
                drift(metrics::RETIRED_USER_IN_USE),
            ],
        );
        widget["properties"]["annotations"] =
            json!({"horizontal": [{"label": "alarm", "value": 1}]});
        widgets.push(widget);
        widgets.push(json!({
            "type": "log",
            "x": 12,
            "y": 22,
            "width": 12,
            "height": 6,
            "properties": {
                "title": "Secrets the drift check found a problem with, most recent first",
                "region": REGION,
                "view": "table",
                "query": drifted_secrets_query(),
            },
        }));
    }
    widgets
}

/// The dashboard body, pretty-printed for review (see the module doc).
pub fn body(stack: &Stack) -> String {
    let body = json!({
        "start": START,
        "periodOverride": "inherit",
        "widgets": widgets(stack),
    });
    let mut out = String::new();
    write_value(&mut out, &body, 0);
    out
}

/// Short values on one line, with a space after `,` and `:`.
fn inline(value: &Value) -> String {
    match value {
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(inline).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", Value::from(k.as_str()), inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        scalar => scalar.to_string(),
    }
}

/// Objects and arrays that do not fit on a line are broken, one entry a line.
fn write_value(out: &mut String, value: &Value, indent: usize) {
    let short = inline(value);
    if indent + short.len() <= INLINE_WIDTH || !(value.is_array() || value.is_object()) {
        out.push_str(&short);
        return;
    }
    let pad = " ".repeat(indent + 2);
    let close = " ".repeat(indent);
    let entries: Vec<(Option<&str>, &Value)> = match value {
        Value::Array(items) => items.iter().map(|v| (None, v)).collect(),
        Value::Object(map) => map.iter().map(|(k, v)| (Some(k.as_str()), v)).collect(),
        _ => unreachable!("scalars are inline"),
    };
    let (open, end) = if value.is_array() {
        ('[', ']')
    } else {
        ('{', '}')
    };
    out.push(open);
    for (i, (key, item)) in entries.iter().enumerate() {
        out.push('\n');
        out.push_str(&pad);
        if let Some(key) = key {
            out.push_str(&Value::from(*key).to_string());
            out.push_str(": ");
        }
        write_value(out, item, indent + 2);
        if i + 1 < entries.len() {
            out.push(',');
        }
    }
    out.push('\n');
    out.push_str(&close);
    out.push(end);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_body_is_the_json_it_was_built_from() {
        let value = json!({"a": [1, 2, {"b": "c"}], "long": ["x".repeat(60), "y".repeat(60)]});
        let mut out = String::new();
        write_value(&mut out, &value, 0);
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), value);
        assert!(out.contains("\"a\": [1, 2, {\"b\": \"c\"}]"), "{out}");
        assert!(out.lines().count() > 3, "{out}");
    }
}
