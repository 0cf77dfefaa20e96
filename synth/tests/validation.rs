//! One test per kind of config mistake: each must name the file, the line to
//! edit and the fix.

const BASE: &str = r#"name: app-rotation
tags:
  team: web
network:
  vpc_id: vpc-0123456789abcdef0
  subnet_ids: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]
  database_security_group_id: sg-0123456789abcdef0
  secrets_manager_endpoint:
    create: true
code:
  function:
    path: ../dist/bootstrap.zip
  layer:
    path: ../dist/rds-ca-layer.zip
notifications:
  create_topic: true
databases:
  - name: orders
    secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-AbCdEf
    engine: postgres
    strategy: single-user
    schedule:
      expression: rate(30 days)
      duration: 3h
"#;

const SECOND: &str = r#"  - name: billing
    secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:billing-GhIjKl
    engine: mysql
    strategy: single-user
    schedule:
      expression: rate(30 days)
"#;

/// The error message for `source`, which must not validate.
fn error(source: &str) -> String {
    match synth::render_config(source, "configs/app.yaml") {
        Ok(_) => panic!("config was accepted:\n{source}"),
        Err(e) => e.to_string(),
    }
}

/// 1-based line of the first line of `source` containing `needle`.
fn line_of(source: &str, needle: &str) -> usize {
    source
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in source"))
        + 1
}

/// Asserts that `message` reports `file:line` and contains every `part`.
fn assert_reports(message: &str, line: usize, parts: &[&str]) {
    let at = format!("configs/app.yaml:{line}:");
    assert!(message.contains(&at), "expected `{at}` in:\n{message}");
    assert!(message.contains("fix:"), "no fix in:\n{message}");
    for part in parts {
        assert!(message.contains(part), "expected `{part}` in:\n{message}");
    }
}

fn with(old: &str, new: &str) -> String {
    assert!(BASE.contains(old), "`{old}` not in BASE");
    BASE.replacen(old, new, 1)
}

#[test]
fn base_config_is_valid() {
    synth::render_config(BASE, "configs/app.yaml").unwrap();
    synth::render_config(&format!("{BASE}{SECOND}"), "configs/app.yaml").unwrap();
}

#[test]
fn unknown_key_lists_allowed_keys() {
    let src = with(
        "    engine: postgres\n",
        "    engine: postgres\n    prot: 5432\n",
    );
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "prot: 5432"),
        &["unknown field `prot`", "`port`", "`secret_arn`"],
    );
}

#[test]
fn unknown_top_level_key() {
    let src = format!("{BASE}region: eu-west-1\n");
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "region:"),
        &["unknown field `region`", "`databases`"],
    );
}

#[test]
fn unknown_engine_lists_engines() {
    let src = with("engine: postgres", "engine: oracle");
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "engine: oracle"),
        &["oracle", "aurora-postgresql", "mariadb"],
    );
}

#[test]
fn missing_key_says_which() {
    let src = with("    strategy: single-user\n", "");
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "- name: orders"),
        &["missing field `strategy`", "add the key"],
    );
}

#[test]
fn yaml_syntax_error_has_line() {
    let src = with("  team: web\n", "  team: [web\n");
    let msg = error(&src);
    assert!(msg.contains("configs/app.yaml:"), "{msg}");
}

#[test]
fn secret_arn_without_suffix() {
    let src = with("secret:orders-AbCdEf", "secret:orders");
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "secret:orders"),
        &[
            "not a full Secrets Manager secret ARN",
            "6-character suffix",
        ],
    );
}

#[test]
fn kms_alias_instead_of_key() {
    let src = with(
        "    strategy: single-user\n",
        "    strategy: single-user\n    kms_key_arn: arn:aws:kms:eu-west-1:123456789012:alias/orders\n",
    );
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "kms_key_arn"),
        &["not a KMS key ARN", "not an alias"],
    );
}

#[test]
fn malformed_sns_topic_arn() {
    let src = with(
        "  create_topic: true",
        "  topic_arn: arn:aws:sns:eu-west-1:123456789012:alarms.fifo",
    );
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "topic_arn"),
        &["not the ARN of a standard SNS topic", "arn:aws:sns:"],
    );
}

#[test]
fn engine_port_mismatch_names_the_right_port() {
    let src = format!(
        "{BASE}{}",
        SECOND.replace("engine: mysql\n", "engine: mysql\n    port: 5432\n")
    );
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "port: 5432"),
        &["PostgreSQL port", "use port 3306"],
    );
}

#[test]
fn cron_with_five_fields() {
    let src = with("rate(30 days)", "cron(0 4 * * *)");
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "cron("),
        &["5 fields, not 6", "cron(0 4 ? * SUN *)"],
    );
}

#[test]
fn cron_without_question_mark() {
    let src = with("rate(30 days)", "cron(0 4 * * MON *)");
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "cron("),
        &["exactly one of day-of-month"],
    );
}

#[test]
fn schedule_more_often_than_four_hours() {
    let src = with("rate(30 days)", "rate(2 hours)");
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "rate(2 hours)"),
        &["more often than every 4 hours", "rate(4 hours)"],
    );
}

#[test]
fn duration_longer_than_interval() {
    let src = with("rate(30 days)", "rate(6 hours)").replace("duration: 3h", "duration: 8h");
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "duration: 8h"),
        &["longer than the 6 hours", "at most `6h`"],
    );
}

#[test]
fn duration_past_the_utc_day() {
    let src = with("rate(30 days)", "cron(0 22 ? * SUN *)");
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "duration: 3h"),
        &["next UTC day", "at most `2h`"],
    );
}

#[test]
fn duplicate_secret_arn() {
    let dup = SECOND.replace("secret:billing-GhIjKl", "secret:orders-AbCdEf");
    let src = format!("{BASE}{dup}");
    let msg = error(&src);
    let line = src
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("secret:orders-AbCdEf"))
        .nth(1)
        .unwrap()
        .0
        + 1;
    assert_reports(
        &msg,
        line,
        &[
            "already rotated by database `orders`",
            "only one rotation schedule",
        ],
    );
}

#[test]
fn duplicate_database_name() {
    let src = format!("{BASE}{}", SECOND.replace("name: billing", "name: orders"));
    let msg = error(&src);
    let line = src
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("name: orders"))
        .nth(1)
        .unwrap()
        .0
        + 1;
    assert_reports(&msg, line, &["clashes with `orders`", "distinct name"]);
}

#[test]
fn alternating_users_without_master_secret() {
    let src = with("strategy: single-user", "strategy: alternating-users");
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "strategy: alternating-users"),
        &["needs a master secret", "add `master_secret_arn`"],
    );
}

#[test]
fn master_secret_with_single_user() {
    let src = with(
        "    strategy: single-user\n",
        "    strategy: single-user\n    master_secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:admin-AbCdEf\n",
    );
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "master_secret_arn"),
        &["`single-user` never uses it", "remove `master_secret_arn`"],
    );
}

#[test]
fn master_secret_rotated_by_a_later_database() {
    // orders alternates with billing's secret as its master; billing comes later.
    let src = format!(
        "{}{SECOND}",
        with(
            "    strategy: single-user\n",
            "    strategy: alternating-users\n    master_secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:billing-GhIjKl\n",
        )
    );
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "master_secret_arn"),
        &[
            "`databases[0].master_secret_arn`",
            "rotated by database `billing`",
            "its own secret",
        ],
    );
}

#[test]
fn no_databases() {
    let start = BASE.find("  - name: orders").unwrap();
    let src = format!("{}[]\n", &BASE[..start].trim_end_matches('\n'));
    let src = src.replace("databases:[]", "databases: []");
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "databases:"),
        &["no databases", "at least one database"],
    );
}

#[test]
fn log_retention_cloudwatch_refuses() {
    let src = with(
        "notifications:",
        "function:\n  log_retention_days: 100\nnotifications:",
    );
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "log_retention_days"),
        &["retention of 100 days", "e.g. 90"],
    );
}

#[test]
fn endpoint_neither_created_nor_given() {
    let src = with("    create: true\n", "    create: false\n");
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "secrets_manager_endpoint"),
        &["no Secrets Manager endpoint", "`security_group_id`"],
    );
}

#[test]
fn wrong_kind_of_ec2_id() {
    let src = with(
        "database_security_group_id: sg-0123456789abcdef0",
        "database_security_group_id: vpc-0123456789abcdef0",
    );
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "database_security_group_id"),
        &["not a security group id", "sg-0123456789abcdef0"],
    );
}

#[test]
fn secrets_in_two_regions() {
    let src = format!("{BASE}{}", SECOND.replace("eu-west-1", "us-east-1"));
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "us-east-1"),
        &["region `us-east-1`", "one region"],
    );
}

#[test]
fn all_problems_reported_at_once() {
    let src =
        with("rate(30 days)", "rate(1 hours)").replace("secret:orders-AbCdEf", "secret:orders");
    let msg = error(&src);
    assert!(msg.starts_with("invalid config (2 problems)"), "{msg}");
    assert_reports(&msg, line_of(&src, "secret:orders"), &[]);
    assert_reports(&msg, line_of(&src, "rate(1 hours)"), &[]);
}

/// The password length the function accepts comes from the contract it shares with the stack,
/// and a MySQL-family database bounds it by MySQL's longest password.
#[test]
fn password_length_follows_the_contract_and_the_engines() {
    let mysql = include_str!("../../examples/mysql-alternating-users.yaml");
    let with_length =
        |source: &str, n: u32| source.replace("    length: 28\n", &format!("    length: {n}\n"));
    let error = synth::render_config(&with_length(mysql, 300), "x.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("function.password.length") && error.contains("256"),
        "{error}"
    );
    assert!(synth::render_config(&with_length(mysql, 256), "x.yaml").is_ok());
    let error = synth::render_config(&with_length(mysql, 4), "x.yaml")
        .unwrap_err()
        .to_string();
    assert!(error.contains("8 to 4096"), "{error}");
}

#[test]
fn cron_minutes_other_than_zero() {
    let src = with("rate(30 days)", "cron(30 4 ? * SUN *)");
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "cron("),
        &["minutes `30`", "write `0` in the minutes field"],
    );
    assert!(!msg.contains("rate(4 hours)"), "{msg}");
}

#[test]
fn cron_with_a_year() {
    let src = with("rate(30 days)", "cron(0 4 ? * SUN 2027)");
    assert_reports(
        &error(&src),
        line_of(&src, "cron("),
        &["year `2027`", "write `*` in the year field"],
    );
}

#[test]
fn rate_longer_than_secrets_manager_accepts() {
    let src = with("rate(30 days)", "rate(1000 days)");
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "rate("),
        &["1 to 999 days", "N from 2 to 999"],
    );
    assert!(!msg.contains("1000)"), "{msg}");
}

/// Every example a fix suggests is a schedule that synth (and so Secrets
/// Manager) accepts.
#[test]
fn schedule_fixes_suggest_only_accepted_forms() {
    for bad in [
        "every day",
        "rate(1 days)",
        "rate(30 minutes)",
        "rate(2 hours)",
        "rate(25 hours)",
        "rate(1000 days)",
        "cron(0 4 * * *)",
        "cron(30 4 ? * SUN *)",
        "cron(0 4 ? * SUN 2027)",
        "cron(0 4 * * MON *)",
        "cron(0 */2 ? * * *)",
        "cron(0 4 32 * ? *)",
        "cron(0 4 1 13 ? *)",
        "cron(0 4 ? * 9 *)",
    ] {
        let msg = error(&with("rate(30 days)", bad));
        let fix = msg.split("fix:").nth(1).unwrap_or_else(|| panic!("{msg}"));
        let mut rest = fix;
        while let Some(i) = rest.find("`rate(").or_else(|| rest.find("`cron(")) {
            let candidate = &rest[i + 1..];
            let end = candidate.find('`').unwrap();
            let suggestion = &candidate[..end];
            rest = &candidate[end..];
            if suggestion.contains(" N ")
                || suggestion.contains("(N ")
                || suggestion.contains("hours day")
            {
                continue; // a pattern, not an example
            }
            let src = with("rate(30 days)", suggestion).replace("      duration: 3h\n", "");
            synth::render_config(&src, "configs/app.yaml")
                .unwrap_or_else(|e| panic!("fix for `{bad}` suggests `{suggestion}`: {e}"));
        }
    }
}

/// A tag AWS would refuse at deploy time is refused here, at its line: a
/// newline in a value renders safely but fails the first resource it tags.
#[test]
fn tags_aws_refuses() {
    for (tag, parts) in [
        (
            "  team: \"web\\nops\"\n",
            &["tag value", "'\\n'", "letters, digits, spaces"][..],
        ),
        ("  \"team#1\": web\n", &["tag key", "'#'"][..]),
        ("  AWS:team: web\n", &["starts with `aws:`"][..]),
        ("  \"\": web\n", &["has 0 characters", "1 to 128"][..]),
        ("  team: \"a;b\"\n", &["tag value", "';'"][..]),
    ] {
        let src = with("  team: web\n", tag);
        let msg = error(&src);
        assert_reports(&msg, 3, parts);
        assert!(msg.contains("`tags."), "{msg}");
    }
    let long_key = format!("  {}: web\n", "k".repeat(129));
    assert_reports(
        &error(&with("  team: web\n", &long_key)),
        3,
        &["129 characters", "1 to 128"],
    );
    let long_value = format!("  team: {}\n", "v".repeat(257));
    assert_reports(
        &error(&with("  team: web\n", &long_value)),
        3,
        &["257 characters", "256 characters or fewer"],
    );
    // Unicode letters, digits, spaces and the allowed signs are fine, and so
    // is an empty value.
    let src = with(
        "  team: web\n",
        "  équipe: \"Zoë / ops = a+b - c@d _.: 42\"\n  empty: \"\"\n",
    );
    synth::render_config(&src, "configs/app.yaml").unwrap();
}

#[test]
fn more_tags_than_aws_allows() {
    let tags: String = (0..51).map(|i| format!("  t{i}: v\n")).collect();
    let src = with("  team: web\n", &tags);
    assert_reports(&error(&src), 2, &["51 tags", "at most 50"]);
}

#[test]
fn s3_values_aws_refuses() {
    let s3 = |bucket: &str, key: &str, version: &str| {
        with(
            "  function:\n    path: ../dist/bootstrap.zip\n",
            &format!("  function:\n    s3_bucket: {bucket}\n    s3_key: {key}\n{version}"),
        )
    };
    let src = s3("-artifacts", "bootstrap.zip", "");
    assert_reports(
        &error(&src),
        line_of(&src, "s3_bucket"),
        &["not an S3 bucket name"],
    );
    let src = s3("my..artifacts", "bootstrap.zip", "");
    assert_reports(
        &error(&src),
        line_of(&src, "s3_bucket"),
        &["not an S3 bucket name"],
    );
    let src = s3("artifacts", &"k".repeat(1025), "");
    assert_reports(&error(&src), line_of(&src, "s3_key"), &["1024 bytes"]);
    let src = s3(
        "artifacts",
        "bootstrap.zip",
        "    s3_object_version: \"a b\"\n",
    );
    assert_reports(
        &error(&src),
        line_of(&src, "s3_object_version"),
        &["not an S3 object version id"],
    );
    let src = s3(
        "artifacts",
        "bootstrap.zip",
        "    s3_object_version: 3HL4kqtJlcpXroDTDmjVBH40Nrjfkd\n",
    );
    synth::render_config(&src, "configs/app.yaml").unwrap();
}

#[test]
fn rds_managed_master_secret_without_rds_endpoint() {
    let src = with(
        "    strategy: single-user\n",
        "    strategy: alternating-users\n    master_secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-1a2b3c4d-AbCdEf\n",
    );
    let msg = error(&src);
    assert_reports(
        &msg,
        line_of(&src, "master_secret_arn"),
        &[
            "`databases[0].master_secret_arn`",
            "a master secret RDS manages",
            "add `network.rds_endpoint`",
        ],
    );
    // With the endpoint it renders.
    let src = src.replace(
        "  secrets_manager_endpoint:\n    create: true\n",
        "  secrets_manager_endpoint:\n    create: true\n  rds_endpoint:\n    create: true\n",
    );
    synth::render_config(&src, "configs/app.yaml").unwrap();
}

#[test]
fn rds_managed_secret_as_the_rotated_secret() {
    let src = with("secret:orders-AbCdEf", "secret:rds!db-0a1b2c3d-4e5f-AbCdEf");
    assert_reports(
        &error(&src),
        line_of(&src, "secret_arn"),
        &["one RDS manages", "Secrets Manager refuses"],
    );
}

#[test]
fn s3_artifact_without_object_version() {
    let src = with(
        "  layer:\n    path: ../dist/rds-ca-layer.zip\n",
        "  layer:\n    s3_bucket: artifacts\n    s3_key: rds-ca-layer.zip\n",
    );
    assert_reports(
        &error(&src),
        line_of(&src, "s3_key"),
        &[
            "`code.layer.s3_key`",
            "never deployed again",
            "add `s3_object_version`",
        ],
    );
}

#[test]
fn secrets_of_another_account() {
    let src = format!(
        "{BASE}{}",
        SECOND.replace(
            ":123456789012:secret:billing",
            ":210987654321:secret:billing"
        )
    );
    assert_reports(
        &error(&src),
        line_of(&src, "secret:billing"),
        &[
            "in account `210987654321`",
            "`123456789012`",
            "deploy a stack in the other account",
        ],
    );
    let src = with(
        "    strategy: single-user\n",
        "    strategy: alternating-users\n    master_secret_arn: arn:aws:secretsmanager:eu-west-1:210987654321:secret:admin-AbCdEf\n",
    );
    assert_reports(
        &error(&src),
        line_of(&src, "master_secret_arn"),
        &[
            "`databases[0].master_secret_arn`",
            "in account `210987654321`",
        ],
    );
}

#[test]
fn a_key_of_another_account() {
    let src = with(
        "    strategy: single-user\n",
        "    strategy: single-user\n    kms_key_arn: arn:aws:kms:eu-west-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab\n",
    );
    assert_reports(
        &error(&src),
        line_of(&src, "kms_key_arn"),
        &[
            "`databases[0].kms_key_arn`",
            "in account `210987654321`",
            "use a key of the secrets' account",
        ],
    );
}

#[test]
fn the_template_asserts_the_account_and_region_of_its_secrets() {
    let text = synth::render_config(BASE, "configs/app.yaml").unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let assertions = doc["Rules"]["StackInTheSecretsAccountAndRegion"]["Assertions"]
        .as_sequence()
        .unwrap();
    let equals: Vec<(String, String)> = assertions
        .iter()
        .map(|a| {
            let e = &a["Assert"]["Fn::Equals"];
            (
                e[0]["Ref"].as_str().unwrap().to_owned(),
                e[1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        equals,
        [
            ("AWS::AccountId".to_owned(), "123456789012".to_owned()),
            ("AWS::Region".to_owned(), "eu-west-1".to_owned())
        ]
    );
}

#[test]
fn endpoint_subnets() {
    let src = with(
        "  secrets_manager_endpoint:\n",
        "  endpoint_subnet_ids: [subnet-0123456789abcdef0, subnet-0123456789abcdef0]\n  secrets_manager_endpoint:\n",
    );
    assert_reports(
        &error(&src),
        line_of(&src, "endpoint_subnet_ids"),
        &["listed twice"],
    );
    // Their own list goes to the endpoint; the function keeps its subnets.
    let src = with(
        "  secrets_manager_endpoint:\n",
        "  endpoint_subnet_ids: [subnet-0aaaaaaaaaaaaaaaa]\n  secrets_manager_endpoint:\n",
    );
    let text = synth::render_config(&src, "configs/app.yaml").unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let subnets = |id: &str, path: &[&str]| {
        let mut v = &doc["Resources"][id]["Properties"];
        for p in path {
            v = &v[*p];
        }
        v.as_sequence()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        subnets("SecretsManagerEndpoint", &["SubnetIds"]),
        ["subnet-0aaaaaaaaaaaaaaaa"]
    );
    assert_eq!(
        subnets("RotationFunction", &["VpcConfig", "SubnetIds"]).len(),
        2
    );
    // Without a created endpoint the list is unused.
    let src = src.replace(
        "  secrets_manager_endpoint:\n    create: true\n",
        "  secrets_manager_endpoint:\n    security_group_id: sg-0aaaaaaaaaaaaaaaa\n",
    );
    assert_reports(
        &error(&src),
        line_of(&src, "endpoint_subnet_ids"),
        &["creates no interface endpoint"],
    );
}

/// A master secret's key is used to read only: decrypt, without data keys.
#[test]
fn master_secret_keys_get_decrypt_only() {
    let src = with(
        "    strategy: single-user\n",
        "    strategy: alternating-users\n    master_secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:admin-AbCdEf\n    kms_key_arn: arn:aws:kms:eu-west-1:123456789012:key/11111111-1234-4abc-8def-1234567890ab\n    master_kms_key_arn: arn:aws:kms:eu-west-1:123456789012:key/22222222-1234-4abc-8def-1234567890ab\n",
    );
    let text = synth::render_config(&src, "configs/app.yaml").unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let statements = doc["Resources"]["RotationFunctionRole"]["Properties"]["Policies"][0]
        ["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    let by_sid = |sid: &str| {
        statements
            .iter()
            .find(|s| s["Sid"].as_str() == Some(sid))
            .unwrap_or_else(|| panic!("no {sid}"))
    };
    let secret = by_sid("UseSecretKeys");
    assert_eq!(secret["Action"].as_sequence().unwrap().len(), 2);
    assert!(
        serde_yaml_ng::to_string(&secret["Resource"])
            .unwrap()
            .contains("11111111-")
    );
    let master = by_sid("ReadMasterSecretKeys");
    assert_eq!(
        master["Action"].as_sequence().unwrap(),
        &[serde_yaml_ng::Value::from("kms:Decrypt")]
    );
    let resources = serde_yaml_ng::to_string(&master["Resource"]).unwrap();
    assert!(
        resources.contains("22222222-") && !resources.contains("11111111-"),
        "{resources}"
    );
}

/// Lambda refuses a function whose environment passes 4 KB: synth refuses the
/// config first, naming the value that can grow.
#[test]
fn an_environment_past_four_kilobytes() {
    let src = format!(
        "{BASE}function:\n  password:\n    exclude_characters: \"{}\"\n",
        "x".repeat(4_000)
    );
    let msg = error(&src);
    assert!(
        msg.contains("environment variables of RotationFunction")
            && msg.contains("4 KB")
            && msg.contains("exclude_characters"),
        "{msg}"
    );
    let src = format!(
        "{BASE}function:\n  password:\n    exclude_characters: \"{}\"\n",
        "x".repeat(100)
    );
    synth::render_config(&src, "configs/app.yaml").unwrap();
}
