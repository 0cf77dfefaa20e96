//! What the stack gives its operators: the dashboard reads exactly the metrics
//! the function writes, the overdue-rotation audit runs, may invoke the
//! function and alarms to the stack's topic, its `ListSecrets` is the only
//! Secrets Manager grant on "*", and `alerts.overdue_audit: false` removes all
//! of it.

use rotation_contract::metrics;
use serde_json::Value as Json;
use serde_yaml_ng::Value;

const EXAMPLE: &str = include_str!("../../examples/postgres-single-user.yaml");
const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:alerts";

fn render_text(source: &str) -> String {
    synth::render_config(source, "examples/app.yaml").unwrap_or_else(|e| panic!("{e}"))
}

fn render(source: &str) -> Value {
    let text = render_text(source);
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn without_audit(source: &str) -> String {
    format!("{source}alerts:\n  overdue_audit: false\n")
}

fn with_topic(source: &str) -> String {
    source.replace("create_topic: true", &format!("topic_arn: {TOPIC}"))
}

fn resource<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["Resources"]
        .get(id)
        .unwrap_or_else(|| panic!("no resource {id}"))
}

fn of_type<'a>(doc: &'a Value, ty: &str) -> Vec<(&'a str, &'a Value)> {
    doc["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(ty))
        .map(|(id, r)| (id.as_str().unwrap(), r))
        .collect()
}

/// The dashboard's body, parsed (its `${...}` references sit inside JSON strings).
fn dashboard(doc: &Value) -> Json {
    let body = resource(doc, "RotationDashboard")["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .expect("the body is one Fn::Sub string");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}\n{body}"))
}

/// One metric row of a widget: namespace, metric name, dimensions (name, value).
type Row = (String, String, Vec<(String, String)>);

/// Every metric row of every metric widget.
fn metric_rows(body: &Json) -> Vec<Row> {
    let mut out = Vec::new();
    for widget in body["widgets"].as_array().unwrap() {
        if widget["type"] != "metric" {
            continue;
        }
        for row in widget["properties"]["metrics"].as_array().unwrap() {
            let items: Vec<&str> = row
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Json::as_str)
                .collect();
            assert!(
                items.len() >= 2 && items.len().is_multiple_of(2),
                "a row is namespace, metric, then name-value pairs: {row}"
            );
            assert!(!items.contains(&"."), "rows are written out in full: {row}");
            let dims = items[2..]
                .chunks(2)
                .map(|p| (p[0].to_owned(), p[1].to_owned()))
                .collect();
            out.push((items[0].to_owned(), items[1].to_owned(), dims));
        }
    }
    out
}

#[test]
fn the_dashboard_reads_only_the_contracts_metrics_of_this_function() {
    let doc = render(EXAMPLE);
    let dash = &resource(&doc, "RotationDashboard")["Properties"];
    // Named like the function, with the Region: dashboards are global to an
    // account, and the same config may deploy in two Regions.
    let function = resource(&doc, "RotationFunction")["Properties"]["FunctionName"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        dash["DashboardName"]["Fn::Sub"].as_str(),
        Some(format!("{function}-${{AWS::Region}}").as_str()),
        "named like the function, per Region"
    );
    let body = dashboard(&doc);
    let rows = metric_rows(&body);
    let step_metrics = [
        metrics::STEP_FAILED,
        metrics::STEP_SUCCEEDED,
        metrics::STEP_DURATION,
    ];
    let audit_metrics = [metrics::OVERDUE_SECRETS, metrics::AUDITED_SECRETS];
    for (namespace, name, dims) in &rows {
        let function = dims
            .iter()
            .find(|(k, _)| k == metrics::DIM_FUNCTION)
            .map(|(_, v)| v.as_str());
        assert_eq!(
            function,
            Some("${RotationFunction}"),
            "{name}: every graph is of this function"
        );
        let keys: Vec<&str> = dims.iter().map(|(k, _)| k.as_str()).collect();
        match namespace.as_str() {
            metrics::NAMESPACE if step_metrics.contains(&name.as_str()) => {
                assert_eq!(keys, metrics::STEP_DIMENSIONS[0], "{name}");
            }
            metrics::NAMESPACE => {
                assert!(
                    audit_metrics.contains(&name.as_str()),
                    "{name} is not in the contract"
                );
                assert_eq!(keys, [metrics::DIM_FUNCTION], "{name}");
            }
            "AWS/Lambda" => {
                assert!(
                    ["Errors", "Throttles", "Duration"].contains(&name.as_str()),
                    "{name}"
                );
                assert_eq!(keys, [metrics::DIM_FUNCTION], "{name}");
            }
            other => panic!("namespace {other}"),
        }
    }
    // Each step metric, for each step; and the audit's.
    for metric in step_metrics {
        for step in synth::dashboard::STEPS {
            assert!(
                rows.iter().any(|(_, n, d)| n == metric
                    && d.contains(&(metrics::DIM_STEP.to_owned(), step.to_owned()))),
                "{metric} of {step} is not graphed"
            );
        }
    }
    for metric in audit_metrics {
        assert!(rows.iter().any(|(_, n, _)| n == metric), "{metric}");
    }
    // The failed steps, from the function's own log group.
    let log = body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["type"] == "log")
        .expect("a Logs Insights widget");
    let query = log["properties"]["query"].as_str().unwrap();
    assert!(
        query.starts_with("SOURCE '${RotationFunctionLogGroup}'"),
        "{query}"
    );
    // From the failed steps' metric lines, by the contract's names.
    for field in [
        format!("filter {} = 1", metrics::STEP_FAILED),
        format!("{} as secret", metrics::DIM_SECRET),
        format!("{} as step", metrics::DIM_STEP),
        format!("{} as kind", synth::dashboard::ERROR_KIND),
    ] {
        assert!(query.contains(&field), "{field} in {query}");
    }
    // Within CloudWatch's 24-column grid.
    for w in body["widgets"].as_array().unwrap() {
        let (x, width) = (w["x"].as_u64().unwrap(), w["width"].as_u64().unwrap());
        assert!(x + width <= 24, "{w}");
    }
}

/// The metric names are typed once, in the contract: neither synth's code nor
/// its templates spell them out.
#[test]
fn metric_names_are_never_retyped() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [
        root.join("src"),
        root.join("src/validate"),
        root.join("../templates"),
    ] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for name in [
            metrics::NAMESPACE,
            metrics::STEP_SUCCEEDED,
            metrics::STEP_FAILED,
            metrics::STEP_DURATION,
            metrics::OVERDUE_SECRETS,
            metrics::AUDITED_SECRETS,
        ] {
            assert!(
                !text.contains(&format!("\"{name}\"")) && !text.contains(&format!(" {name}\n")),
                "{} spells out {name}: use rotation_contract::metrics",
                path.display()
            );
        }
    }
}

#[test]
fn the_audit_runs_twice_a_day_and_alarms_to_the_topic() {
    for (source, topic) in [
        (EXAMPLE.to_owned(), None),
        (with_topic(EXAMPLE), Some(TOPIC)),
    ] {
        let doc = render(&source);
        let rule = &resource(&doc, "OverdueAuditRule")["Properties"];
        assert_eq!(rule["ScheduleExpression"].as_str(), Some("rate(12 hours)"));
        assert_eq!(rule["State"].as_str(), Some("ENABLED"));
        let target = &rule["Targets"][0];
        assert_eq!(
            target["Arn"]["Fn::GetAtt"][0].as_str(),
            Some("RotationFunction")
        );
        let input: Json = serde_json::from_str(target["Input"].as_str().unwrap()).unwrap();
        assert_eq!(input, serde_json::json!({"Action": "audit"}));

        let permission = &resource(&doc, "OverdueAuditInvokePermission")["Properties"];
        assert_eq!(
            permission["Principal"].as_str(),
            Some("events.amazonaws.com")
        );
        assert_eq!(permission["Action"].as_str(), Some("lambda:InvokeFunction"));
        assert_eq!(
            permission["FunctionName"]["Fn::GetAtt"][0].as_str(),
            Some("RotationFunction")
        );
        assert_eq!(
            permission["SourceArn"]["Fn::GetAtt"],
            Value::from(vec!["OverdueAuditRule", "Arn"])
        );

        let alarm = &resource(&doc, "OverdueRotationsAlarm")["Properties"];
        assert_eq!(alarm["Namespace"].as_str(), Some(metrics::NAMESPACE));
        assert_eq!(alarm["MetricName"].as_str(), Some(metrics::OVERDUE_SECRETS));
        assert_eq!(
            alarm["Dimensions"][0]["Name"].as_str(),
            Some(metrics::DIM_FUNCTION)
        );
        assert_eq!(
            alarm["Dimensions"][0]["Value"]["Ref"].as_str(),
            Some("RotationFunction")
        );
        assert_eq!(alarm["Statistic"].as_str(), Some("Maximum"));
        assert_eq!(alarm["Period"].as_u64(), Some(86_400));
        assert_eq!(alarm["EvaluationPeriods"].as_u64(), Some(1));
        assert_eq!(alarm["Threshold"].as_u64(), Some(1));
        assert_eq!(
            alarm["ComparisonOperator"].as_str(),
            Some("GreaterThanOrEqualToThreshold")
        );
        assert_eq!(alarm["TreatMissingData"].as_str(), Some("breaching"));
        assert!(
            alarm["AlarmDescription"]
                .as_str()
                .unwrap()
                .contains("the audit itself is broken")
        );
        // The actions are the errors alarm's, whatever the topic.
        let errors = &resource(&doc, "RotationErrorsAlarm")["Properties"]["AlarmActions"];
        assert_eq!(&alarm["AlarmActions"], errors);
        match topic {
            Some(arn) => assert_eq!(alarm["AlarmActions"][0].as_str(), Some(arn)),
            None => assert_eq!(alarm["AlarmActions"][0]["Ref"].as_str(), Some("AlarmTopic")),
        }
    }
}

/// Secrets Manager actions on "*": only ListSecrets, alone in its statement.
#[test]
fn list_secrets_is_the_only_secrets_manager_action_on_every_resource() {
    let configs = [
        EXAMPLE.to_owned(),
        include_str!("../../examples/mysql-alternating-users.yaml").to_owned(),
        include_str!("../../examples/multi-database.yaml").to_owned(),
    ];
    for source in configs {
        let doc = render(&source);
        let statements = resource(&doc, "RotationFunctionRole")["Properties"]["Policies"][0]
            ["PolicyDocument"]["Statement"]
            .as_sequence()
            .unwrap();
        let mut audit = 0;
        for s in statements {
            let on_everything = s["Resource"].as_str() == Some("*");
            let actions: Vec<&str> = match &s["Action"] {
                Value::String(a) => vec![a.as_str()],
                Value::Sequence(a) => a.iter().map(|v| v.as_str().unwrap()).collect(),
                other => panic!("{other:?}"),
            };
            if s["Sid"].as_str() == Some("AuditRotations") {
                audit += 1;
                assert!(on_everything, "{s:?}");
                assert_eq!(actions, ["secretsmanager:ListSecrets"]);
                assert_eq!(s["Effect"].as_str(), Some("Allow"));
                continue;
            }
            assert!(
                !actions.contains(&"secretsmanager:ListSecrets"),
                "ListSecrets only in AuditRotations: {s:?}"
            );
            if on_everything && s["Effect"].as_str() == Some("Allow") {
                assert!(
                    actions.iter().all(|a| a.starts_with("ec2:Describe")),
                    "only reads without resource-level permissions on \"*\": {s:?}"
                );
            }
        }
        assert_eq!(audit, 1);
        // The recover action lists the versions of the rotated secrets.
        let rotate = statements
            .iter()
            .find(|s| s["Sid"].as_str() == Some("RotateSecrets"))
            .unwrap();
        assert!(
            rotate["Action"]
                .as_sequence()
                .unwrap()
                .iter()
                .any(|a| a.as_str() == Some("secretsmanager:ListSecretVersionIds"))
        );
    }
    // The policy printed for an existing role has it too.
    let text = render_text(&format!(
        "{EXAMPLE}role:\n  existing_arn: arn:aws:iam::123456789012:role/orders-rotation\n"
    ));
    let comment: String = text
        .lines()
        .filter(|l| l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    for needle in [
        "Sid: AuditRotations",
        "secretsmanager:ListSecrets",
        "secretsmanager:ListSecretVersionIds",
    ] {
        assert!(
            comment.contains(needle),
            "{needle} not in the printed policy"
        );
    }
}

#[test]
fn the_audit_can_be_switched_off() {
    let on = render(EXAMPLE);
    let off = render(&without_audit(EXAMPLE));
    for id in [
        "OverdueAuditRule",
        "OverdueAuditInvokePermission",
        "OverdueRotationsAlarm",
    ] {
        assert!(on["Resources"].get(id).is_some(), "{id}");
        assert!(off["Resources"].get(id).is_none(), "{id} stays");
    }
    let text = render_text(&without_audit(EXAMPLE));
    assert!(!text.contains("ListSecrets\n") && !text.contains("AuditRotations"));
    assert!(
        !text.contains("OverdueRotationsAlarm"),
        "not in the topic policy"
    );
    // The dashboard stays, without the audit's graph.
    let rows = metric_rows(&dashboard(&off));
    assert!(!rows.iter().any(|(_, n, _)| n == metrics::OVERDUE_SECRETS));
    assert!(rows.iter().any(|(_, n, _)| n == metrics::STEP_FAILED));
    // The limits count what is rendered: three resources fewer.
    let count = |text: &str| synth::limits::shape("t.yaml", text).unwrap().resources;
    assert_eq!(count(&render_text(EXAMPLE)), count(&text) + 3);
    assert_eq!(
        count(&render_text(EXAMPLE)),
        on["Resources"].as_mapping().unwrap().len(),
        "the dashboard's body lines are not counted as resources"
    );
    assert_eq!(of_type(&off, "AWS::CloudWatch::Dashboard").len(), 1);
}

#[test]
fn alerts_mistakes_are_refused() {
    for (alerts, expected) in [
        (
            "alerts:\n  overdue_audit: sometimes\n",
            "alerts.overdue_audit",
        ),
        ("alerts:\n  overdue: false\n", "unknown field `overdue`"),
    ] {
        let err = synth::render_config(&format!("{EXAMPLE}{alerts}"), "examples/app.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected) && err.contains("fix:"), "{err}");
    }
    let schema: Json = serde_json::from_str(&synth::schema::json_schema().unwrap()).unwrap();
    let text = schema.to_string();
    assert!(schema["properties"].get("alerts").is_some() && text.contains("overdue_audit"));
}

/// Named at every size, and the metrics' dimension reads the same name.
#[test]
fn the_function_is_always_named() {
    for source in [EXAMPLE, include_str!("../../examples/existing-role.yaml")] {
        let doc = render(source);
        let name = resource(&doc, "RotationFunction")["Properties"]["FunctionName"]
            .as_str()
            .unwrap()
            .to_owned();
        let stack = doc["Description"].as_str().unwrap();
        assert!(name.ends_with("-function"), "{name}");
        assert!(
            stack.contains(name.trim_end_matches("-function")),
            "{stack}"
        );
    }
}
