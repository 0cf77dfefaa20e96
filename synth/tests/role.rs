//! The execution role: created with an optional permissions boundary and path,
//! or an existing role, in which case the stack creates no IAM resource and
//! the template lists the policy that role needs.

use serde_yaml_ng::Value;

const EXAMPLE: &str = include_str!("../../examples/postgres-single-user.yaml");

fn with_role(role: &str) -> String {
    format!("{EXAMPLE}role:\n{role}")
}

fn render_text(source: &str) -> String {
    synth::render_config(source, "examples/app.yaml").unwrap_or_else(|e| panic!("{e}"))
}

fn render(source: &str) -> Value {
    serde_yaml_ng::from_str(&render_text(source)).unwrap()
}

fn error(source: &str) -> String {
    match synth::render_config(source, "examples/app.yaml") {
        Ok(_) => panic!("the config was accepted:\n{source}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_created_role_takes_a_boundary_and_a_path() {
    let doc = render(&with_role(
        "  permissions_boundary_arn: arn:aws:iam::123456789012:policy/team-boundary\n  path: /rotation/\n",
    ));
    let role = &doc["Resources"]["RotationFunctionRole"]["Properties"];
    assert_eq!(
        role["PermissionsBoundary"].as_str(),
        Some("arn:aws:iam::123456789012:policy/team-boundary")
    );
    assert_eq!(role["Path"].as_str(), Some("/rotation/"));
    // Neither by default.
    let doc = render(EXAMPLE);
    let role = &doc["Resources"]["RotationFunctionRole"]["Properties"];
    assert!(role.get("PermissionsBoundary").is_none() && role.get("Path").is_none());
}

const EXISTING: &str = "arn:aws:iam::123456789012:role/platform/orders-rotation";

#[test]
fn an_existing_role_creates_no_iam_resource() {
    let text = render_text(&with_role(&format!("  existing_arn: {EXISTING}\n")));
    let doc: Value = serde_yaml_ng::from_str(&text).unwrap();
    for (id, r) in doc["Resources"].as_mapping().unwrap() {
        let ty = r["Type"].as_str().unwrap();
        assert!(!ty.starts_with("AWS::IAM::"), "{id:?} is {ty}");
    }
    let function = &doc["Resources"]["RotationFunction"]["Properties"];
    assert_eq!(function["Role"].as_str(), Some(EXISTING));
    assert_eq!(
        doc["Outputs"]["RotationFunctionRoleArn"]["Value"].as_str(),
        Some(EXISTING)
    );
}

/// The comment holds exactly the policy a created role would get, except for
/// names of this stack's resources, which do not exist before the function.
#[test]
fn an_existing_role_gets_its_policy_in_a_comment() {
    let text = render_text(&with_role(&format!("  existing_arn: {EXISTING}\n")));
    let start = text
        .find("  # The function runs as the existing role")
        .expect("the policy comment");
    let comment: Vec<&str> = text[start..]
        .lines()
        .take_while(|l| l.trim_start().starts_with('#'))
        .collect();
    let policy: String = comment
        .iter()
        .skip_while(|l| !l.contains("- PolicyName:"))
        .map(|l| format!("{}\n", l.trim_start().strip_prefix('#').unwrap()))
        .collect();
    let policies: Value =
        serde_yaml_ng::from_str(&policy).unwrap_or_else(|e| panic!("{e}\n{policy}"));
    let created = render(EXAMPLE);
    let created = &created["Resources"]["RotationFunctionRole"]["Properties"]["Policies"];
    let sids = |p: &Value| -> Vec<String> {
        p.as_sequence()
            .unwrap()
            .iter()
            .flat_map(|p| {
                p["PolicyDocument"]["Statement"]
                    .as_sequence()
                    .unwrap()
                    .clone()
            })
            .map(|s| s["Sid"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(sids(&policies), sids(created));
    let policy_text = serde_yaml_ng::to_string(&policies).unwrap();
    assert!(
        policy_text.contains("prod/orders/app-AbCdEf"),
        "{policy_text}"
    );
    // Nothing that only exists once this stack is deployed.
    assert!(
        !policy_text.contains("RotationFunctionSecurityGroup")
            && !policy_text.contains("Fn::GetAtt"),
        "{policy_text}"
    );
    assert!(policy_text.contains(":security-group/*"), "{policy_text}");
}

#[test]
fn role_mistakes_are_refused() {
    let err = error(&with_role(&format!(
        "  existing_arn: {EXISTING}\n  path: /rotation/\n"
    )));
    assert!(
        err.contains("`role`:") && err.contains("only apply to a role the stack creates"),
        "{err}"
    );
    let err = error(&with_role(
        "  existing_arn: arn:aws:iam::123456789012:user/bob\n",
    ));
    assert!(
        err.contains("`role.existing_arn`") && err.contains("not an IAM role ARN"),
        "{err}"
    );
    let err = error(&with_role(
        "  permissions_boundary_arn: arn:aws:iam::123456789012:role/x\n",
    ));
    assert!(
        err.contains("`role.permissions_boundary_arn`")
            && err.contains("not an IAM managed policy ARN"),
        "{err}"
    );
    let err = error(&with_role("  path: rotation\n"));
    assert!(
        err.contains("`role.path`") && err.contains("not an IAM path"),
        "{err}"
    );
}

/// An existing role writes only to the log group of a stack named after the
/// config, and the template's Rules make CloudFormation deploy it under that name.
#[test]
fn an_existing_role_writes_only_this_stacks_log_group() {
    let source = with_role("  existing_arn: arn:aws:iam::123456789012:role/rotation\n");
    let text = render_text(&source);
    assert!(
        text.contains("log-group:orders-rotation-RotationFunctionLogGroup-*"),
        "{text}"
    );
    assert!(!text.contains("log-group:*-"), "{text}");
    let doc: Value = serde_yaml_ng::from_str(&text).unwrap();
    let assertions = doc["Rules"]["StackInTheSecretsAccountAndRegion"]["Assertions"]
        .as_sequence()
        .unwrap();
    assert!(
        assertions.iter().any(|a| {
            a["Assert"]["Fn::Equals"][0]["Ref"].as_str() == Some("AWS::StackName")
                && a["Assert"]["Fn::Equals"][1].as_str() == Some("orders-rotation")
        }),
        "{assertions:?}"
    );
    // A created role names its own log group: no stack-name rule.
    let doc = render(EXAMPLE);
    let text = serde_yaml_ng::to_string(&doc["Rules"]).unwrap();
    assert!(!text.contains("AWS::StackName"), "{text}");
}
