//! Stacks of any size: the policy stays the same size, the schedules split
//! into nested stacks, and a stack past a CloudFormation or IAM limit fails
//! before any deploy, naming the limit and the fix.

use std::path::PathBuf;
use std::process::ExitCode;

use synth::cli::{Args, Command, execute};

/// A config of `n` databases. Every tenth alternates users with a master
/// secret (`masters` distinct ones, shared round-robin); `layout` is appended
/// as the config's `layout` section when not empty.
fn config(n: usize, masters: usize, layout: &str) -> String {
    let mut s = String::from(
        "name: fleet-rotation\n\
         network:\n  vpc_id: vpc-0123456789abcdef0\n  subnet_ids: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]\n  \
         database_security_group_id: sg-0123456789abcdef0\n  secrets_manager_endpoint:\n    create: true\n\
         code:\n  function:\n    path: ../dist/bootstrap.zip\n  layer:\n    path: ../dist/rds-ca-layer.zip\n\
         notifications:\n  create_topic: true\n",
    );
    if !layout.is_empty() {
        s.push_str("layout:\n");
        s.push_str(layout);
    }
    s.push_str("databases:\n");
    for i in 0..n {
        let arn = format!(
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-{i:05}/app-{:06}",
            i % 1_000_000
        );
        let strategy = if masters > 0 && i % 10 == 0 {
            format!(
                "strategy: alternating-users, master_secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/admin-{m:05}/admin-{m:06}",
                m = (i / 10) % masters
            )
        } else {
            "strategy: single-user".to_owned()
        };
        s.push_str(&format!(
            "  - {{name: db-{i:05}, engine: postgres, {strategy}, secret_arn: {arn}, schedule: {{expression: rate(30 days)}}}}\n"
        ));
    }
    s
}

fn render(source: &str) -> Result<Vec<(String, String)>, String> {
    synth::render_files(source, "examples/fleet.yaml", "fleet.template.yaml")
        .map_err(|e| e.to_string())
}

fn shapes(source: &str) -> Vec<synth::limits::Shape> {
    synth::render_measured(source, "examples/fleet.yaml", "fleet.template.yaml")
        .unwrap_or_else(|e| panic!("{e}"))
        .1
}

#[test]
fn small_stacks_list_secrets_and_keep_schedules_inline() {
    let files = render(&config(50, 0, "")).unwrap();
    assert_eq!(files.len(), 1);
    let text = &files[0].1;
    assert!(text.contains("prod/db-00049/app-000049"), "secret listed");
    assert!(!text.contains("AllowRotationLambdaArn"));
    // Named at any size, so operators and `synth preflight` find it.
    assert!(text.contains("      FunctionName: \"fleet-rotation-function\""));
    assert_eq!(
        text.matches("Type: AWS::SecretsManager::RotationSchedule")
            .count(),
        50
    );
}

#[test]
fn the_secret_policy_does_not_grow_with_the_databases() {
    let sizes: Vec<usize> = [51, 500, 5000]
        .iter()
        .map(|&n| shapes(&config(n, 3, ""))[0].role_policy_chars.unwrap())
        .collect();
    assert!(sizes.iter().all(|&s| s == sizes[0]), "{sizes:?}");
    let files = render(&config(51, 3, "")).unwrap();
    let main = &files[0].1;
    assert!(main.contains("secretsmanager:resource/AllowRotationLambdaArn"));
    assert!(main.contains("function:fleet-rotation-function\""));
    assert!(main.contains("FunctionName: \"fleet-rotation-function\""));
    assert!(
        !main.contains("prod/db-00050/app-"),
        "rotated secrets are not listed"
    );
    // Master secrets are not rotated by this function: still listed.
    assert!(main.contains("prod/admin-00002/admin-000002"));
}

#[test]
fn many_kms_keys_become_the_keys_of_their_account_via_secrets_manager() {
    let mut source = config(20, 0, "");
    for i in 0..20 {
        source = source.replacen(
            "strategy: single-user,",
            &format!("strategy: single-user, kms_key_arn: \"arn:aws:kms:eu-west-1:123456789012:key/{i:08}-1234-4abc-8def-1234567890ab\",").replace("strategy: single-user", "strategy: single-user-x"),
            1,
        );
    }
    let source = source.replace("single-user-x", "single-user");
    let main = &render(&source).unwrap()[0].1;
    assert!(
        main.contains("- \"arn:aws:kms:eu-west-1:123456789012:key/*\""),
        "{main}"
    );
    assert!(
        !main.contains("key/00000019-"),
        "keys are not listed one by one"
    );
    assert!(main.contains("kms:ViaService"));
}

#[test]
fn schedules_split_into_nested_stacks_within_every_limit() {
    let files = render(&config(1001, 5, "")).unwrap();
    assert_eq!(files.len(), 1 + 11);
    assert_eq!(files[1].0, "fleet.schedules-1.template.yaml");
    assert_eq!(files[11].0, "fleet.schedules-11.template.yaml");
    let s = shapes(&config(1001, 5, ""));
    assert!(s[0].resources < 60, "{:?}", s[0]);
    assert_eq!(s[1].resources, 100);
    assert_eq!(s[11].resources, 1);
    for shape in &s {
        assert!(shape.resources <= 500 && shape.bytes <= 1_000_000 && shape.outputs <= 200);
        assert!(shape.parameters <= 200, "{shape:?}");
    }
    let main = &files[0].1;
    assert_eq!(main.matches("Type: AWS::CloudFormation::Stack").count(), 11);
    assert!(main.contains("TemplateURL: \"fleet.schedules-11.template.yaml\""));
    assert!(!main.contains("Type: AWS::SecretsManager::RotationSchedule"));
}

#[test]
fn appending_a_database_changes_only_the_last_nested_stack() {
    let before = render(&config(950, 5, "")).unwrap();
    let after = render(&config(951, 5, "")).unwrap();
    assert_eq!(before.len(), after.len());
    let changed: Vec<&str> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b != a)
        .map(|(b, _)| b.0.as_str())
        .collect();
    assert_eq!(
        changed,
        ["fleet.template.yaml", "fleet.schedules-10.template.yaml"]
    );
    // In the main template, only the settings layer's digest: the new secret's settings.
    let lines = |t: &str| t.lines().map(str::to_owned).collect::<Vec<_>>();
    let (b, a) = (lines(&before[0].1), lines(&after[0].1));
    assert_eq!(b.len(), a.len());
    let differ: Vec<&String> = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x != y)
        .map(|(x, _)| x)
        .collect();
    assert_eq!(differ.len(), 1, "{differ:?}");
    assert!(differ[0].contains("settings.json sha256"), "{differ:?}");
}

#[test]
fn the_layout_keys_move_the_threshold_and_the_size() {
    let files = render(&config(
        10,
        0,
        "  inline_schedules_max: 0\n  schedules_per_nested_stack: 4\n",
    ))
    .unwrap();
    assert_eq!(files.len(), 1 + 3);
    let err = render(&config(10, 0, "  schedules_per_nested_stack: 0\n")).unwrap_err();
    assert!(
        err.contains("layout.schedules_per_nested_stack") && err.contains("fix:"),
        "{err}"
    );
}

#[test]
fn too_many_resources_in_a_nested_stack_fail_naming_the_limit_and_the_fix() {
    let err = render(&config(600, 0, "  schedules_per_nested_stack: 501\n")).unwrap_err();
    assert!(
        err.contains("fleet.schedules-1.template.yaml` has 501 resources"),
        "{err}"
    );
    assert!(err.contains("limit of 500 resources per template"), "{err}");
    assert!(
        err.contains("fix: lower `layout.schedules_per_nested_stack`"),
        "{err}"
    );
}

#[test]
fn too_many_resources_in_the_main_template_fail_naming_the_limit_and_the_fix() {
    let err = render(&config(600, 0, "  inline_schedules_max: 1000\n")).unwrap_err();
    assert!(err.contains("`fleet.template.yaml` has"), "{err}");
    assert!(err.contains("limit of 500 resources per template"), "{err}");
    assert!(
        err.contains("fix: lower `layout.inline_schedules_max`"),
        "{err}"
    );
    // Nested stacks past the main template's limit: fewer, bigger ones.
    let err = render(&config(600, 0, "  schedules_per_nested_stack: 1\n")).unwrap_err();
    assert!(
        err.contains("fix: raise `layout.schedules_per_nested_stack`"),
        "{err}"
    );
}

#[test]
fn too_many_master_secrets_fail_naming_the_policy_limit_and_the_fix() {
    // 2,000 databases, 200 distinct master secrets, each listed in the policy.
    let err = render(&config(2000, 200, "")).unwrap_err();
    assert!(err.contains("IAM's limit of 10240 characters"), "{err}");
    assert!(
        err.contains("fix:") && err.contains("master secrets"),
        "{err}"
    );
    // The same databases sharing 20 master secrets deploy.
    render(&config(2000, 20, "")).unwrap();
}

#[test]
fn large_renders_are_deterministic() {
    let source = config(1200, 7, "");
    assert_eq!(render(&source).unwrap(), render(&source).unwrap());
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synth-large-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn cli_writes_checks_and_prunes_nested_templates() {
    let cfg = scratch("fleet.yaml");
    let out = scratch("fleet.template.yaml");
    let nested = |i: usize| scratch(&format!("fleet.schedules-{i}.template.yaml"));
    let render_to = |output: Option<PathBuf>| {
        execute(Args {
            command: Command::Render {
                config: cfg.clone(),
                output,
            },
        })
    };
    let check = || {
        execute(Args {
            command: Command::Check {
                config: cfg.clone(),
                against: out.clone(),
            },
        })
        .unwrap()
    };
    std::fs::write(&cfg, config(250, 3, "")).unwrap();
    // Several files cannot go to stdout.
    let err = render_to(None).unwrap_err();
    assert!(err.to_string().contains("give `-o FILE`"), "{err}");

    assert_eq!(render_to(Some(out.clone())).unwrap(), ExitCode::SUCCESS);
    assert!(nested(3).exists() && !nested(4).exists());
    assert_eq!(check(), ExitCode::SUCCESS);

    // A nested template edited by hand is stale.
    let text = std::fs::read_to_string(nested(2)).unwrap();
    std::fs::write(nested(2), text.replace("rate(30 days)", "rate(1 days)")).unwrap();
    assert_eq!(check(), ExitCode::FAILURE);

    // Fewer databases: the third nested template is left over until rendered again.
    std::fs::write(&cfg, config(150, 3, "")).unwrap();
    assert_eq!(check(), ExitCode::FAILURE);
    assert_eq!(render_to(Some(out.clone())).unwrap(), ExitCode::SUCCESS);
    assert!(!nested(3).exists());
    assert_eq!(check(), ExitCode::SUCCESS);
}

/// The limits count resources, outputs and parameters from the lines of the
/// rendered templates: the counts must be what a YAML parser sees.
#[test]
fn line_counts_match_a_yaml_parse_of_every_example() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".template.yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        let len = |k: &str| {
            doc.get(k)
                .and_then(|v| v.as_mapping())
                .map_or(0, |m| m.len())
        };
        assert_eq!(
            synth::limits::count_sections(&text),
            (len("Resources"), len("Outputs"), len("Parameters")),
            "{}",
            path.display()
        );
        seen += 1;
    }
    assert!(seen > 3);
}
