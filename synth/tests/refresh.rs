//! `after_rotation`: the applications refreshed after a rotation. Their ARNs are checked (with
//! the line and the fix), the role may update exactly those, the function reaches the ECS and
//! Lambda APIs only through the configured endpoints, and nothing of it is rendered for a stack
//! that refreshes nothing.

use serde_yaml_ng::Value;

const EXAMPLE: &str = include_str!("../../examples/postgres-refresh-apps.yaml");
const PLAIN: &str = include_str!("../../examples/postgres-single-user.yaml");

const SERVICE: &str = "arn:aws:ecs:eu-west-1:123456789012:service/prod/orders-api";
const FUNCTION: &str = "arn:aws:lambda:eu-west-1:123456789012:function:orders-worker";

fn render_text(source: &str) -> String {
    synth::render_config(source, "configs/app.yaml").unwrap_or_else(|e| panic!("{e}"))
}

fn render(source: &str) -> Value {
    serde_yaml_ng::from_str(&render_text(source)).unwrap()
}

fn error(source: &str) -> String {
    match synth::render_config(source, "configs/app.yaml") {
        Ok(_) => panic!("the config was accepted:\n{source}"),
        Err(e) => e.to_string(),
    }
}

fn with(old: &str, new: &str) -> String {
    assert!(EXAMPLE.contains(old), "`{old}` not in the example");
    EXAMPLE.replacen(old, new, 1)
}

/// 1-based line of the first line of `source` containing `needle`.
fn line_of(source: &str, needle: &str) -> usize {
    source
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in source"))
        + 1
}

fn assert_reports(message: &str, line: usize, parts: &[&str]) {
    let at = format!("configs/app.yaml:{line}:");
    assert!(message.contains(&at), "expected `{at}` in:\n{message}");
    assert!(message.contains("fix:"), "no fix in:\n{message}");
    for part in parts {
        assert!(message.contains(part), "expected `{part}` in:\n{message}");
    }
}

fn statements(doc: &Value) -> Vec<Value> {
    doc["Resources"]["RotationFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
        ["Statement"]
        .as_sequence()
        .unwrap()
        .clone()
}

fn statement(doc: &Value, sid: &str) -> Option<Value> {
    statements(doc).into_iter().find(|s| s["Sid"] == sid)
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Sequence(items) => items
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect(),
        Value::String(s) => vec![s.clone()],
        other => panic!("not a string or list: {other:?}"),
    }
}

#[test]
fn the_role_updates_exactly_the_listed_applications() {
    let doc = render(EXAMPLE);
    let ecs = statement(&doc, "RefreshEcsServices").expect("an ECS statement");
    assert_eq!(ecs["Effect"], "Allow");
    assert_eq!(strings(&ecs["Action"]), ["ecs:UpdateService"]);
    assert_eq!(strings(&ecs["Resource"]), [SERVICE]);
    assert!(ecs.get("Condition").is_none());
    let lambda = statement(&doc, "RefreshLambdaFunctions").expect("a Lambda statement");
    assert_eq!(
        strings(&lambda["Action"]),
        [
            "lambda:GetFunctionConfiguration",
            "lambda:UpdateFunctionConfiguration"
        ]
    );
    assert_eq!(strings(&lambda["Resource"]), [FUNCTION]);
    // No role may be passed: the refresh names none.
    for s in statements(&doc) {
        let actions = strings(&s["Action"]);
        assert!(
            !actions.iter().any(|a| a.starts_with("iam:")),
            "{actions:?}"
        );
    }
}

#[test]
fn applications_shared_by_databases_are_granted_once() {
    let second = format!(
        r#"  - name: billing
    secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/billing/app-GhIjKl
    engine: postgres
    strategy: single-user
    schedule:
      expression: rate(30 days)
    after_rotation:
      ecs_services:
        - {SERVICE}
        - arn:aws:ecs:eu-west-1:123456789012:service/prod/billing-api
"#
    );
    let doc = render(&format!("{EXAMPLE}{second}"));
    let ecs = statement(&doc, "RefreshEcsServices").unwrap();
    assert_eq!(
        strings(&ecs["Resource"]),
        [
            SERVICE,
            "arn:aws:ecs:eu-west-1:123456789012:service/prod/billing-api"
        ]
    );
    assert_eq!(
        strings(&statement(&doc, "RefreshLambdaFunctions").unwrap()["Resource"]),
        [FUNCTION]
    );
}

#[test]
fn nothing_is_rendered_for_a_stack_that_refreshes_nothing() {
    let text = render_text(PLAIN);
    for absent in [
        "RefreshEcsServices",
        "RefreshLambdaFunctions",
        "ecs:",
        "lambda:UpdateFunctionConfiguration",
        "EcsEndpoint",
        "LambdaEndpoint",
        "AWS_ENDPOINT_URL_ECS",
        "AWS_ENDPOINT_URL_LAMBDA",
        "RefreshFailed",
        "Refreshed",
    ] {
        assert!(
            !text.contains(absent),
            "`{absent}` rendered without after_rotation"
        );
    }
    // The example stack has each piece.
    let text = render_text(EXAMPLE);
    for present in [
        "RefreshFailedAlarm",
        "EcsEndpointIngress",
        "LambdaEndpointIngress",
        "\"RefreshFailed\"",
    ] {
        assert!(text.contains(present), "`{present}` missing");
    }
}

#[test]
fn the_refresh_alarm_fires_on_one_failed_refresh() {
    let doc = render(EXAMPLE);
    let alarm = &doc["Resources"]["RefreshFailedAlarm"]["Properties"];
    assert_eq!(alarm["Namespace"], "SecretsRotation");
    assert_eq!(alarm["MetricName"], "RefreshFailed");
    assert_eq!(alarm["Dimensions"][0]["Name"], "FunctionName");
    assert_eq!(alarm["Statistic"], "Sum");
    assert_eq!(alarm["Threshold"], 1);
    assert_eq!(alarm["ComparisonOperator"], "GreaterThanOrEqualToThreshold");
    assert_eq!(alarm["TreatMissingData"], "notBreaching");
    let body = doc["Resources"]["RotationDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .unwrap();
    assert!(body.contains("\"RefreshFailed\""), "{body}");
    assert!(body.contains("\"Refreshed\""), "{body}");
}

#[test]
fn created_endpoints_are_the_functions_only_way_to_the_apis() {
    let source = with(
        "  ecs_endpoint:\n    security_group_id: sg-0bbbbbbbbbbbbbbb0\n  lambda_endpoint:\n    security_group_id: sg-0ccccccccccccccc0\n",
        "  ecs_endpoint:\n    create: true\n  lambda_endpoint:\n    create: true\n",
    );
    let doc = render(&source);
    let resources = &doc["Resources"];
    for (lid, service, actions, var) in [
        (
            "Ecs",
            "ecs",
            vec!["ecs:UpdateService"],
            "AWS_ENDPOINT_URL_ECS",
        ),
        (
            "Lambda",
            "lambda",
            vec![
                "lambda:GetFunctionConfiguration",
                "lambda:UpdateFunctionConfiguration",
            ],
            "AWS_ENDPOINT_URL_LAMBDA",
        ),
    ] {
        let endpoint = &resources[format!("{lid}Endpoint").as_str()]["Properties"];
        assert_eq!(
            endpoint["ServiceName"]["Fn::Sub"],
            format!("com.amazonaws.${{AWS::Region}}.{service}").as_str()
        );
        assert_eq!(endpoint["PrivateDnsEnabled"], false);
        let policy = &endpoint["PolicyDocument"]["Statement"][0];
        assert_eq!(strings(&policy["Action"]), actions);
        assert_eq!(
            policy["Principal"]["AWS"][0]["Fn::GetAtt"][0],
            "RotationFunctionRole"
        );
        // The function is given the endpoint's own name.
        let env = &resources["RotationFunction"]["Properties"]["Environment"]["Variables"][var];
        assert!(
            serde_yaml_ng::to_string(env)
                .unwrap()
                .contains(&format!("{lid}Endpoint")),
            "{env:?}"
        );
        // Its security group admits the function only, on 443.
        let ingress = &resources[format!("{lid}EndpointIngress").as_str()]["Properties"];
        assert_eq!(ingress["FromPort"], 443);
        assert_eq!(
            ingress["SourceSecurityGroupId"]["Fn::GetAtt"][0],
            "RotationFunctionSecurityGroup"
        );
        // The function's egress reaches it.
        let egress =
            resources["RotationFunctionSecurityGroup"]["Properties"]["SecurityGroupEgress"]
                .as_sequence()
                .unwrap();
        assert!(egress.iter().any(|rule| {
            rule["DestinationSecurityGroupId"]["Fn::GetAtt"][0]
                == format!("{lid}EndpointSecurityGroup").as_str()
        }));
        // The first rotation waits for the way to it.
        let depends = strings(&resources["SecretsManagerInvokePermission"]["DependsOn"]);
        assert!(depends.contains(&format!("{lid}Endpoint")), "{depends:?}");
        assert!(
            depends.contains(&format!("{lid}EndpointIngress")),
            "{depends:?}"
        );
    }
}

#[test]
fn malformed_application_arns_are_refused_with_the_line_and_the_fix() {
    let cases = [
        (
            SERVICE,
            "arn:aws:ecs:eu-west-1:123456789012:service/orders-api",
            "databases[0].after_rotation.ecs_services[0]",
            vec!["short-format", "service/CLUSTER/SERVICE"],
        ),
        (
            SERVICE,
            "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
            "databases[0].after_rotation.ecs_services[0]",
            vec!["is not an ECS service ARN"],
        ),
        (
            FUNCTION,
            "arn:aws:lambda:eu-west-1:123456789012:function:orders-worker:live",
            "databases[0].after_rotation.lambda_functions[0]",
            vec!["version or alias", "unqualified"],
        ),
        (
            FUNCTION,
            "orders-worker",
            "databases[0].after_rotation.lambda_functions[0]",
            vec!["is not a Lambda function ARN"],
        ),
        (
            SERVICE,
            "arn:aws:ecs:eu-west-1:210987654321:service/prod/orders-api",
            "databases[0].after_rotation.ecs_services[0]",
            vec!["account `210987654321`", "stack's account and Region"],
        ),
        (
            FUNCTION,
            "arn:aws:lambda:us-east-1:123456789012:function:orders-worker",
            "databases[0].after_rotation.lambda_functions[0]",
            vec!["Region `us-east-1`"],
        ),
        (
            FUNCTION,
            "arn:aws:lambda:eu-west-1:123456789012:function:orders-refresh-function",
            "databases[0].after_rotation.lambda_functions[0]",
            vec!["this stack's rotation function"],
        ),
    ];
    for (old, new, path, parts) in cases {
        let source = with(old, new);
        let message = error(&source);
        let mut parts = parts.clone();
        parts.push(path);
        assert_reports(&message, line_of(&source, new), &parts);
    }
}

#[test]
fn duplicates_and_long_lists_are_refused() {
    let source = with(
        &format!("        - {SERVICE}\n"),
        &format!("        - {SERVICE}\n        - {SERVICE}\n"),
    );
    let message = error(&source);
    assert!(
        message.contains("databases[0].after_rotation.ecs_services[1]")
            && message.contains("listed twice"),
        "{message}"
    );

    let many: String = (0..11)
        .map(|i| format!("        - arn:aws:ecs:eu-west-1:123456789012:service/prod/s{i}\n"))
        .collect();
    let source = with(&format!("        - {SERVICE}\n"), &many);
    let message = error(&source);
    assert_reports(
        &message,
        line_of(&source, "ecs_services:"),
        &["11 applications", "at most 10"],
    );
}

#[test]
fn each_kind_needs_its_endpoint_and_an_endpoint_needs_its_kind() {
    let source = with(
        "  ecs_endpoint:\n    security_group_id: sg-0bbbbbbbbbbbbbbb0\n",
        "",
    );
    let message = error(&source);
    assert_reports(
        &message,
        line_of(&source, "ecs_services:"),
        &["network.ecs_endpoint", "`create: true`"],
    );

    let source = with(
        &format!("      lambda_functions:\n        - {FUNCTION}\n"),
        "",
    );
    let message = error(&source);
    assert_reports(
        &message,
        line_of(&source, "lambda_endpoint:"),
        &["never calls the Lambda API", "remove `lambda_endpoint`"],
    );
}

#[test]
fn the_timeout_leaves_room_for_the_refresh() {
    let source = EXAMPLE.replacen(
        "notifications:",
        "function:\n  timeout_seconds: 15\nnotifications:",
        1,
    );
    let message = error(&source);
    assert_reports(
        &message,
        line_of(&source, "timeout_seconds: 15"),
        &["function.timeout_seconds", "use 21 seconds or more"],
    );
    // Without applications to refresh, 15 s is fine.
    render_text(&PLAIN.replacen("timeout_seconds: 60", "timeout_seconds: 15", 1));
}
