//! The repository's CloudFormation Guard rules (`guard/*.guard`) hold on every
//! rendered example, and each rule fails on a template broken on purpose, so a
//! rule that silently stopped matching anything would be noticed.
//!
//! The rules run through the `cfn-guard` library (the same engine as the
//! `cfn-guard validate` CLI), so `cargo test` and `make test` need no extra tool.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use serde_yaml_ng::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every rules file of `guard/`, sorted.
fn rule_files() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(root().join("guard"))
        .expect("guard/ holds the rules")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "guard"))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no rules in guard/");
    out
}

/// Every rendered file under `examples/`: the `*.template.*` files at the top,
/// and any file in a subfolder (nested stacks), but not the configs.
fn rendered(dir: &Path, top: bool, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            rendered(&path, false, out);
        } else if (name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json"))
            && (!top || name.contains(".template."))
        {
            out.push(path);
        }
    }
}

/// The failed rule names of `rules` on `template`, with cfn-guard's report.
fn failures(rules: &Path, template: &str, name: &str) -> Vec<(String, String)> {
    let rules_text = fs::read_to_string(rules).unwrap();
    let report = cfn_guard::run_checks(
        cfn_guard::ValidateInput {
            content: template,
            file_name: name,
        },
        cfn_guard::ValidateInput {
            content: &rules_text,
            file_name: &rules.display().to_string(),
        },
        false,
    )
    .unwrap_or_else(|e| panic!("cfn-guard on {name} with {}: {e}", rules.display()));
    let report: Json = serde_json::from_str(&report)
        .unwrap_or_else(|e| panic!("{e}: {}", &report[..report.len().min(3000)]));
    let mut out = Vec::new();
    for item in report["not_compliant"].as_array().into_iter().flatten() {
        let rule = item["Rule"]["name"].as_str().unwrap_or("?").to_owned();
        out.push((rule, serde_json::to_string_pretty(item).unwrap()));
    }
    if out.is_empty() {
        assert_ne!(
            report["status"].as_str(),
            Some("FAIL"),
            "{name}: FAIL without a failed rule: {report}"
        );
    }
    out
}

/// Failed rule names over every rules file.
fn failed_rules(template: &str, name: &str) -> Vec<String> {
    let mut out: Vec<String> = rule_files()
        .iter()
        .flat_map(|r| failures(r, template, name))
        .map(|(rule, _)| rule)
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn every_rendered_example_passes_the_guard_rules() {
    let mut templates = Vec::new();
    rendered(&root().join("examples"), true, &mut templates);
    templates.sort();
    assert!(
        templates.len() >= 3,
        "too few rendered examples: {templates:?}"
    );
    let mut problems = Vec::new();
    for template in &templates {
        let text = fs::read_to_string(template).unwrap();
        let name = template
            .strip_prefix(root())
            .unwrap_or(template)
            .display()
            .to_string();
        for rules in rule_files() {
            for (rule, report) in failures(&rules, &text, &name) {
                problems.push(format!("{name}: rule {rule} failed:\n{report}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// A rendered example, as YAML to break.
fn example(name: &str) -> Value {
    let path = root().join("examples").join(name);
    serde_yaml_ng::from_str(&fs::read_to_string(&path).unwrap()).unwrap()
}

/// Asserts that the rules pass on `good` and that, after `breaking` it,
/// exactly `rule` fails.
fn assert_only_rule_fails(rule: &str, good: Value, breaking: impl FnOnce(&mut Value)) {
    let text = serde_yaml_ng::to_string(&good).unwrap();
    assert_eq!(failed_rules(&text, "good.yaml"), Vec::<String>::new());
    let mut bad = good;
    breaking(&mut bad);
    let text = serde_yaml_ng::to_string(&bad).unwrap();
    assert_eq!(failed_rules(&text, "bad.yaml"), [rule], "{text}");
}

fn statements(doc: &mut Value) -> &mut Vec<Value> {
    doc["Resources"]["RotationFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
        ["Statement"]
        .as_sequence_mut()
        .unwrap()
}

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

#[test]
fn a_wildcard_secret_without_the_rotation_condition_fails() {
    let rule = "secret_permissions_named_or_rotation_scoped";
    assert_only_rule_fails(rule, example("postgres-single-user.template.yaml"), |doc| {
        statements(doc)[0]["Resource"] =
            yaml(r#"["arn:aws:secretsmanager:eu-west-1:123456789012:secret:*"]"#);
    });
    // Also in a separate policy resource, and for `Action: "*"`.
    assert_only_rule_fails(rule, example("postgres-single-user.template.yaml"), |doc| {
        doc["Resources"]["ExtraPolicy"] = yaml(
            r#"
Type: AWS::IAM::Policy
Properties:
  PolicyName: extra
  Roles: [{Ref: RotationFunctionRole}]
  PolicyDocument:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Action: "*"
        Resource: "*"
"#,
        );
    });
    // The audit's ListSecrets on "*" passes alone, and only alone.
    assert_only_rule_fails(rule, example("postgres-single-user.template.yaml"), |doc| {
        let audit = statements(doc)
            .iter_mut()
            .find(|s| s["Sid"].as_str() == Some("AuditRotations"))
            .expect("the audit's statement");
        audit["Action"] = yaml("[secretsmanager:ListSecrets, secretsmanager:GetSecretValue]");
    });
    // With the rotation-function condition, a wildcard is the intended design.
    let mut scoped = example("postgres-single-user.template.yaml");
    statements(&mut scoped)[0]["Resource"] = yaml(r#""*""#);
    statements(&mut scoped)[0]["Condition"] = yaml(
        r#"{ArnEquals: {"secretsmanager:resource/AllowRotationLambdaArn": {"Fn::GetAtt": [RotationFunction, Arn]}}}"#,
    );
    let text = serde_yaml_ng::to_string(&scoped).unwrap();
    assert_eq!(failed_rules(&text, "scoped.yaml"), Vec::<String>::new());
}

#[test]
fn ingress_on_the_function_security_group_fails() {
    let rule = "function_security_group_has_no_ingress";
    assert_only_rule_fails(rule, example("postgres-single-user.template.yaml"), |doc| {
        doc["Resources"]["RotationFunctionSecurityGroup"]["Properties"]["SecurityGroupIngress"] =
            yaml(r#"[{IpProtocol: tcp, FromPort: 22, ToPort: 22, CidrIp: 10.0.0.0/8}]"#);
    });
    assert_only_rule_fails(rule, example("postgres-single-user.template.yaml"), |doc| {
        doc["Resources"]["SneakyIngress"] = yaml(
            r#"
Type: AWS::EC2::SecurityGroupIngress
Properties:
  GroupId: {"Fn::GetAtt": [RotationFunctionSecurityGroup, GroupId]}
  IpProtocol: tcp
  FromPort: 22
  ToPort: 22
  CidrIp: 10.0.0.0/8
"#,
        );
    });
}

#[test]
fn egress_beyond_databases_and_https_fails() {
    let rule = "function_egress_only_to_databases_and_https";
    fn egress(doc: &mut Value) -> &mut Vec<Value> {
        doc["Resources"]["RotationFunctionSecurityGroup"]["Properties"]["SecurityGroupEgress"]
            .as_sequence_mut()
            .unwrap()
    }
    // To the internet on 443.
    assert_only_rule_fails(rule, example("postgres-single-user.template.yaml"), |doc| {
        egress(doc).push(yaml(
            r#"{IpProtocol: tcp, FromPort: 443, ToPort: 443, CidrIp: 0.0.0.0/0}"#,
        ));
    });
    // A port no database uses.
    assert_only_rule_fails(rule, example("postgres-single-user.template.yaml"), |doc| {
        egress(doc)[0]["FromPort"] = yaml("22");
        egress(doc)[0]["ToPort"] = yaml("22");
    });
    // Every protocol.
    assert_only_rule_fails(rule, example("multi-database.template.yaml"), |doc| {
        egress(doc)[0]["IpProtocol"] = yaml(r#""-1""#);
    });
    // No egress at all means CloudFormation's allow-all.
    assert_only_rule_fails(rule, example("postgres-single-user.template.yaml"), |doc| {
        doc["Resources"]["RotationFunctionSecurityGroup"]["Properties"]
            .as_mapping_mut()
            .unwrap()
            .remove("SecurityGroupEgress");
    });
}

#[test]
fn a_schedule_more_often_than_every_four_hours_fails() {
    // The nested stack that holds `orders` (its name's bucket, 04).
    const SCHEDULES: &str = "postgres-single-user.schedules-04.template.yaml";
    let rule = "schedules_at_least_four_hours_apart";
    for expression in [
        "rate(2 hours)",
        "cron(0 */2 * * ? *)",
        "cron(0 * * * ? *)",
        "rate(30 minutes)",
    ] {
        assert_only_rule_fails(rule, example(SCHEDULES), |doc| {
            doc["Resources"]["OrdersRotationSchedule"]["Properties"]["RotationRules"]["ScheduleExpression"] =
                Value::from(expression);
        });
    }
    // What the rule lets through.
    for expression in [
        "rate(4 hours)",
        "rate(1 day)",
        "cron(0 4 ? * SUN *)",
        "cron(0 */6 * * ? *)",
    ] {
        let mut doc = example(SCHEDULES);
        doc["Resources"]["OrdersRotationSchedule"]["Properties"]["RotationRules"]["ScheduleExpression"] =
            Value::from(expression);
        let text = serde_yaml_ng::to_string(&doc).unwrap();
        assert_eq!(
            failed_rules(&text, "ok.yaml"),
            Vec::<String>::new(),
            "{expression}"
        );
    }
}

#[test]
fn a_schedule_in_the_main_template_fails() {
    let schedule = yaml(
        "Type: AWS::SecretsManager::RotationSchedule\nDeletionPolicy: Delete\nUpdateReplacePolicy: Delete\nProperties:\n  SecretId: x\n  RotationLambdaARN: y\n  RotationRules:\n    ScheduleExpression: rate(30 days)\n",
    );
    assert_only_rule_fails(
        "schedules_only_in_nested_stacks",
        example("postgres-single-user.template.yaml"),
        |doc| {
            doc["Resources"]
                .as_mapping_mut()
                .unwrap()
                .insert(Value::from("MovedRotationSchedule"), schedule);
        },
    );
}

#[test]
fn a_schedule_without_its_deletion_policy_fails() {
    assert_only_rule_fails(
        "schedules_say_what_their_removal_does",
        example("postgres-single-user.schedules-04.template.yaml"),
        |doc| {
            doc["Resources"]["OrdersRotationSchedule"]
                .as_mapping_mut()
                .unwrap()
                .remove("DeletionPolicy");
        },
    );
}
