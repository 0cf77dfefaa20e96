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

#[test]
fn adding_a_database_changes_only_its_lines() {
    let before = render(EXAMPLE);
    let after = render(&format!("{EXAMPLE}{INVOICES}"));
    let diff = TextDiff::from_lines(&before, &after);
    let mut removed = Vec::new();
    let mut added = Vec::new();
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Delete => removed.push(change.value().to_owned()),
            ChangeTag::Insert => added.push(change.value().to_owned()),
            ChangeTag::Equal => {}
        }
    }
    // The only line that changes is the count that must change.
    assert_eq!(
        removed,
        ["      ReservedConcurrentExecutions: 1\n"],
        "{added:?}"
    );
    assert_eq!(added[0], "      ReservedConcurrentExecutions: 2\n");
    // The secret in the policy, then the database's own schedule block.
    assert!(
        added[1].contains("prod/invoices/app-Xy12Zw") && added[1].contains("# invoices"),
        "{added:?}"
    );
    let block: String = added[2..].concat();
    assert!(block.contains("  InvoicesRotationSchedule:\n"), "{block}");
    assert!(after.contains(&block), "the schedule block is contiguous");
    for line in added[2..].iter().filter(|l| !l.trim().is_empty()) {
        assert!(line.starts_with("  "), "{line:?}");
    }
    assert_eq!(added.len(), 2 + block.lines().count());
    assert!(block.lines().count() <= 14, "{block}");
}

const HOSTILE: &str = "x\"\n  Evil:\n    Type: AWS::IAM::User\n# \\ ' : { } [ ] & * ! | > % @ `";

fn hostile_config() -> String {
    EXAMPLE
        .replace(
            "  team: payments\n",
            &format!(
                "  team: {}\n  {}: value\n",
                serde_json::to_string(HOSTILE).unwrap(),
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
    let tags = doc["Resources"]["RotationFunction"]["Properties"]["Tags"]
        .as_sequence()
        .unwrap();
    assert!(
        tags.iter()
            .any(|t| t["Key"].as_str() == Some("team") && t["Value"].as_str() == Some(HOSTILE)),
        "{tags:?}"
    );
    assert!(
        tags.iter().any(|t| t["Key"].as_str() == Some(HOSTILE)),
        "{tags:?}"
    );
    assert_eq!(
        doc["Resources"]["RotationFunction"]["Properties"]["Code"].as_str(),
        Some("../dist/x\": y #.zip")
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
