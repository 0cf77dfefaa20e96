//! Properties reviewers rely on: adding a database touches only its own
//! lines, and no config value can change the structure of the template.

use serde_yaml_ng::Value;
use similar::{ChangeTag, TextDiff};

const EXAMPLE: &str = include_str!("../../examples/postgres-single-user.yaml");

const INVOICES: &str = r#"
  - name: invoices
    secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/invoices/app-Xy12Zw
    engine: postgres
    strategy: single-user
    schedule:
      expression: rate(14 days)
      duration: 2h
"#;

fn render(source: &str) -> String {
    synth::render_config(source, "examples/postgres-single-user.yaml")
        .unwrap_or_else(|e| panic!("{e}"))
}

fn render_all(source: &str) -> Vec<(String, String)> {
    synth::render_files(
        source,
        "examples/postgres-single-user.yaml",
        "postgres-single-user.template.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Lines removed and added from `before` to `after`.
fn line_diff(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let diff = TextDiff::from_lines(before, after);
    let mut removed = Vec::new();
    let mut added = Vec::new();
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Delete => removed.push(change.value().to_owned()),
            ChangeTag::Insert => added.push(change.value().to_owned()),
            ChangeTag::Equal => {}
        }
    }
    (removed, added)
}

#[test]
fn adding_a_database_changes_only_its_lines() {
    let before = render_all(EXAMPLE);
    let after = render_all(&format!("{EXAMPLE}{INVOICES}"));
    // `orders` is in bucket 04 and `invoices` in bucket 14: a new nested
    // stack; the one of `orders` is untouched.
    assert_eq!(synth::layout::bucket("invoices"), 14);
    assert_eq!(before.len(), 2);
    assert_eq!(after.len(), 3);
    assert_eq!(
        before[1], after[1],
        "the nested stack of orders is untouched"
    );
    assert_eq!(
        after[2].0,
        "postgres-single-user.schedules-14.template.yaml"
    );
    let nested = &after[2].1;
    assert!(nested.contains("  InvoicesRotationSchedule:\n"), "{nested}");
    assert_eq!(
        nested
            .matches("Type: AWS::SecretsManager::RotationSchedule")
            .count(),
        1
    );

    // In the main template: nothing is removed but the settings layer's digest
    // (the settings now hold the new secret); the secret in the policy, then
    // the new nested stack's block, are added.
    let (removed, added) = line_diff(&before[0].1, &after[0].1);
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert!(removed[0].contains("settings.json sha256"), "{removed:?}");
    let added: Vec<String> = added
        .into_iter()
        .filter(|l| !l.contains("settings.json sha256"))
        .collect();
    assert!(
        added[0].contains("prod/invoices/app-Xy12Zw") && added[0].contains("# invoices"),
        "{added:?}"
    );
    let block: String = added[1..]
        .iter()
        .filter(|l| !l.trim().is_empty())
        .cloned()
        .collect();
    assert!(block.contains("  RotationSchedules14:\n"), "{block}");
    // Exactly the new nested stack's block, from its comment to the blank line after it.
    let main = &after[0].1;
    let start = main
        .find("  # The rotation schedules of the databases whose name falls in bucket 14\n")
        .unwrap();
    let end = start + main[start..].find("\n\n").unwrap() + 1;
    assert_eq!(block, main[start..end]);
    for line in added[1..].iter().filter(|l| !l.trim().is_empty()) {
        assert!(line.starts_with("  "), "{line:?}");
    }
    assert!(block.lines().count() <= 36, "{block}");
}

/// Printable ASCII that means something to YAML (quotes, escapes, flow and
/// block indicators, comments, anchors, tags).
const HOSTILE: &str = "x\"  Evil: {Type: AWS::IAM::User} # \\ ' : { } [ ] & * ! | > % @ `";
/// What AWS allows in tags that still means something to YAML.
const HOSTILE_TAG: &str = "- Evil: AWS::IAM::User @x";

fn hostile_config() -> String {
    EXAMPLE
        .replace(
            "  team: payments\n",
            &format!(
                "  team: {}\n  {}: value\n",
                serde_json::to_string(HOSTILE_TAG).unwrap(),
                serde_json::to_string(HOSTILE_TAG).unwrap()
            ),
        )
        .replace(
            "    length: 32\n",
            &format!(
                "    length: 32\n    exclude_characters: {}\n",
                serde_json::to_string(HOSTILE).unwrap()
            ),
        )
        .replace(
            "path: ../dist/bootstrap.zip",
            "path: \"../dist/x\\\": y #.zip\"",
        )
}

#[test]
fn config_values_cannot_inject_yaml() {
    let text = render(&hostile_config());
    let doc: Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let benign: Value = serde_yaml_ng::from_str(&render(EXAMPLE)).unwrap();
    let ids = |d: &Value| -> Vec<String> {
        d["Resources"]
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&doc), ids(&benign), "no resource added or removed");
    let function = &doc["Resources"]["RotationFunction"]["Properties"];
    let tags = function["Tags"].as_sequence().unwrap();
    assert!(
        tags.iter()
            .any(|t| t["Key"].as_str() == Some("team") && t["Value"].as_str() == Some(HOSTILE_TAG)),
        "{tags:?}"
    );
    assert!(
        tags.iter().any(|t| t["Key"].as_str() == Some(HOSTILE_TAG)),
        "{tags:?}"
    );
    assert_eq!(
        function["Environment"]["Variables"]["EXCLUDE_CHARACTERS"].as_str(),
        Some(HOSTILE)
    );
    assert_eq!(function["Code"].as_str(), Some("../dist/x\": y #.zip"));
}

/// A tag value with a newline or other characters AWS refuses never reaches
/// the template.
#[test]
fn hostile_tags_are_refused() {
    let src = EXAMPLE.replace(
        "  team: payments\n",
        "  team: \"x\\n  Evil:\\n    Type: AWS::IAM::User\"\n",
    );
    assert_ne!(src, EXAMPLE);
    let err = synth::render_config(&src, "examples/x.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`tags.team`") && err.contains("'\\n'"),
        "{err}"
    );
}

#[test]
fn hostile_names_are_refused() {
    let src = EXAMPLE.replace("- name: orders", "- name: \"orders\\n  Evil: 1\"");
    let err = synth::render_config(&src, "examples/x.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot name resources"), "{err}");
    let src = EXAMPLE.replace("name: orders-rotation", "name: \"a\\\" b\"");
    let err = synth::render_config(&src, "examples/x.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a valid name"), "{err}");
}

#[test]
fn hostile_source_path_stays_in_its_comment() {
    let text = synth::render_config(EXAMPLE, "a\nResources: {}\n#").unwrap();
    let doc: Value = serde_yaml_ng::from_str(&text).unwrap();
    assert!(doc["Resources"].get("RotationFunction").is_some());
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains("\"a\\nResources: {}\\n#\"")
    );
}

/// The RDS read permissions that find an RDS-managed master secret's database are granted only
/// when some database names a master secret, and only to read.
#[test]
fn rds_reads_only_with_a_master_secret() {
    let single = render(EXAMPLE);
    assert!(!single.contains("rds:"), "single user needs no RDS API");
    let alternating = synth::render_config(
        include_str!("../../examples/mysql-alternating-users.yaml"),
        "examples/mysql-alternating-users.yaml",
    )
    .unwrap();
    let doc: Value = serde_yaml_ng::from_str(&alternating).unwrap();
    let statements = doc["Resources"]["RotationFunctionRole"]["Properties"]["Policies"][0]
        ["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    let find = statements
        .iter()
        .find(|s| s["Sid"].as_str() == Some("FindMasterDatabases"))
        .expect("FindMasterDatabases");
    let actions: Vec<&str> = find["Action"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["rds:DescribeDBInstances", "rds:DescribeDBClusters"]
    );
    let read = statements
        .iter()
        .find(|s| s["Sid"].as_str() == Some("ReadMasterSecrets"))
        .unwrap();
    assert!(
        read["Action"]
            .as_sequence()
            .unwrap()
            .iter()
            .all(|a| matches!(
                a.as_str(),
                Some("secretsmanager:DescribeSecret" | "secretsmanager:GetSecretValue")
            ))
    );
}

/// Every text AWS limits that synth derives from config names (descriptions,
/// display names) fits its limit even for the longest names synth accepts.
#[test]
fn descriptions_fit_aws_limits_for_the_longest_names() {
    let name = format!("a{}", "-b".repeat(19) + "c");
    assert_eq!(name.len(), 40);
    let src = EXAMPLE
        .replace("name: orders-rotation", &format!("name: {name}"))
        .replace("- name: orders", &format!("- name: {}", "o".repeat(32)));
    let doc: Value = serde_yaml_ng::from_str(&render(&src)).unwrap();
    // (resource type, property, AWS's limit in characters)
    let limits = [
        ("AWS::Lambda::Function", "Description", 256),
        ("AWS::Lambda::LayerVersion", "Description", 256),
        ("AWS::IAM::Role", "Description", 1000),
        ("AWS::EC2::SecurityGroup", "GroupDescription", 255),
        ("AWS::EC2::SecurityGroupIngress", "Description", 255),
        ("AWS::CloudWatch::Alarm", "AlarmDescription", 1024),
        ("AWS::Events::Rule", "Description", 512),
        ("AWS::SNS::Topic", "DisplayName", 100),
        ("AWS::KMS::Key", "Description", 8192),
    ];
    let mut seen = 0;
    for r in doc["Resources"].as_mapping().unwrap().values() {
        for (ty, prop, max) in limits {
            if r["Type"].as_str() != Some(ty) {
                continue;
            }
            let text = r["Properties"][prop]
                .as_str()
                .unwrap_or_else(|| panic!("{ty} has no {prop}"));
            assert!(text.chars().count() <= max, "{ty}.{prop}: {text}");
            // Security group descriptions take ASCII only.
            if ty.starts_with("AWS::EC2::") {
                assert!(text.is_ascii(), "{ty}.{prop}: {text}");
            }
            seen += 1;
        }
    }
    assert!(seen >= limits.len(), "{seen}");
}
