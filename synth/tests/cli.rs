//! The commands, run in-process.

use std::path::PathBuf;
use std::process::ExitCode;

use synth::cli::{Args, Command, execute};

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/postgres-single-user.yaml")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synth-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn render_then_check_passes_and_a_stale_file_fails() {
    let out = scratch("fresh.template.yaml");
    let code = execute(Args {
        command: Command::Render {
            config: example(),
            output: Some(out.clone()),
        },
    })
    .unwrap();
    assert_eq!(code, ExitCode::SUCCESS);
    let check = |against: PathBuf| {
        execute(Args {
            command: Command::Check {
                config: example(),
                against,
            },
        })
        .unwrap()
    };
    assert_eq!(check(out.clone()), ExitCode::SUCCESS);

    let text = std::fs::read_to_string(&out).unwrap();
    let stale = scratch("stale.template.yaml");
    std::fs::write(&stale, text.replace("MemorySize: 256", "MemorySize: 512")).unwrap();
    assert_eq!(check(stale), ExitCode::FAILURE);
}

#[test]
fn render_writes_the_settings_zip_and_check_fails_when_it_is_stale_or_missing() {
    let out = scratch("settings.template.yaml");
    let render = || {
        execute(Args {
            command: Command::Render {
                config: example(),
                output: Some(out.clone()),
            },
        })
        .unwrap()
    };
    let check = || {
        execute(Args {
            command: Command::Check {
                config: example(),
                against: out.clone(),
            },
        })
        .unwrap()
    };
    assert_eq!(render(), ExitCode::SUCCESS);
    let zip = scratch("settings.settings.zip");
    let bytes = std::fs::read(&zip).unwrap();
    let json = synth::settings::read_zip(&bytes).unwrap();
    assert!(
        json.contains("\"arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/orders/app-"),
        "{json}"
    );
    assert!(json.contains("\"strategy\":\"single-user\""), "{json}");
    assert_eq!(check(), ExitCode::SUCCESS);

    // Another config's settings: stale, though the template is fresh.
    let other = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/mysql-alternating-users.settings.zip");
    std::fs::copy(&other, &zip).unwrap();
    assert_eq!(check(), ExitCode::FAILURE);
    std::fs::remove_file(&zip).unwrap();
    assert_eq!(check(), ExitCode::FAILURE);

    // Rendering again gives the same bytes.
    assert_eq!(render(), ExitCode::SUCCESS);
    assert_eq!(std::fs::read(&zip).unwrap(), bytes);
    assert_eq!(check(), ExitCode::SUCCESS);
}

#[test]
fn missing_config_is_an_error_naming_the_path() {
    let err = execute(Args {
        command: Command::Render {
            config: PathBuf::from("no/such/config.yaml"),
            output: None,
        },
    })
    .unwrap_err();
    assert!(err.to_string().contains("no/such/config.yaml"), "{err}");
}

#[test]
fn schema_describes_the_config() {
    let schema: serde_json::Value =
        serde_json::from_str(&synth::schema::json_schema().unwrap()).unwrap();
    let props = &schema["properties"];
    for key in [
        "name",
        "tags",
        "network",
        "function",
        "code",
        "notifications",
        "databases",
    ] {
        assert!(props.get(key).is_some(), "schema lacks `{key}`");
    }
    assert_eq!(
        schema["additionalProperties"],
        serde_json::Value::Bool(false)
    );
    let text = schema.to_string();
    assert!(text.contains("aurora-postgresql") && text.contains("alternating-users"));
}

/// The committed schema and the README's reference are what `config.rs` generates today.
#[test]
fn the_committed_schema_and_reference_are_not_stale() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fix = "run `make reference` and commit the result";
    let committed = std::fs::read_to_string(dir.join("config.schema.json")).unwrap();
    assert!(
        committed == synth::schema::json_schema().unwrap(),
        "synth/config.schema.json is stale: {fix}"
    );
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let tables = synth::reference::markdown().unwrap();
    let expected = synth::reference::splice(&readme, &tables)
        .expect("synth/README.md has the config reference markers");
    assert!(
        readme == expected,
        "synth/README.md's config reference is stale: {fix}"
    );
    // The validator's range, not an older one, is what the reference states.
    assert!(tables.contains("8 to 4096"), "{tables}");
}

/// `synth plan` over the files of `config` rendered to `dir/deployed.template.yaml`.
fn plan_exit(config: &std::path::Path, against: &std::path::Path, force: bool) -> ExitCode {
    execute(Args {
        command: Command::Plan {
            config: config.to_owned(),
            against: against.to_owned(),
            force,
        },
    })
    .unwrap()
}

/// The plan's changes, through the library (the command prints them).
fn plan_changes(config: &str, against: &std::path::Path) -> Vec<synth::plan::Change> {
    let files = synth::render_files(config, "c.yaml", "next.template.yaml").unwrap();
    let before = synth::plan::schedules_on_disk(against).unwrap();
    synth::plan::plan(&before, &synth::plan::schedules(&files).unwrap())
}

const INVOICES: &str = "  - name: invoices
    secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/invoices/app-Xy12Zw
    engine: postgres
    strategy: single-user
    schedule:
      expression: rate(14 days)
";

#[test]
fn plan_says_what_a_deploy_does_to_each_schedule_and_refuses_a_move() {
    use synth::plan::Change;

    let base = std::fs::read_to_string(example()).unwrap();
    let deployed_cfg = scratch("plan-deployed.yaml");
    std::fs::write(&deployed_cfg, format!("{base}{INVOICES}")).unwrap();
    let deployed = scratch("plan-deployed.template.yaml");
    execute(Args {
        command: Command::Render {
            config: deployed_cfg.clone(),
            output: Some(deployed.clone()),
        },
    })
    .unwrap();

    // The same config: every schedule kept.
    assert_eq!(
        plan_exit(&deployed_cfg, &deployed, false),
        ExitCode::SUCCESS
    );
    let same = plan_changes(&format!("{base}{INVOICES}"), &deployed);
    assert_eq!(same.len(), 2);
    assert!(
        same.iter().all(|c| matches!(c, Change::Kept(_))),
        "{same:?}"
    );

    // invoices removed, orders' schedule changed: deleted and changed.
    let next = scratch("plan-next.yaml");
    let changed = base.replace("rate(30 days)", "rate(20 days)");
    assert_ne!(changed, base);
    std::fs::write(&next, &changed).unwrap();
    assert_eq!(plan_exit(&next, &deployed, false), ExitCode::SUCCESS);
    let changes = plan_changes(&changed, &deployed);
    assert!(
        matches!(&changes[0], Change::Changed(s, keys) if s.logical_id == "OrdersRotationSchedule" && keys == &["RotationRules"]),
        "{changes:?}"
    );
    assert!(
        matches!(&changes[1], Change::Deleted(s) if s.logical_id == "InvoicesRotationSchedule"),
        "{changes:?}"
    );
    let text = synth::plan::report(&changes);
    assert!(text.contains("rotates the secret at once"), "{text}");
    assert!(text.contains("rotation turns off"), "{text}");

    // A rename moves the schedule: refused, unless forced.
    let renamed = format!(
        "{base}{}",
        INVOICES.replace("name: invoices", "name: bills")
    );
    std::fs::write(&next, &renamed).unwrap();
    assert_eq!(plan_exit(&next, &deployed, false), ExitCode::FAILURE);
    assert_eq!(plan_exit(&next, &deployed, true), ExitCode::SUCCESS);
    let changes = plan_changes(&renamed, &deployed);
    assert_eq!(synth::plan::moves(&changes), 1, "{changes:?}");
    let commands = synth::plan::restore_commands(&changes, "orders-rotation-function");
    assert!(
        commands.contains("--secret-id 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/invoices/app-Xy12Zw'")
            && commands.contains("function:orders-rotation-function'")
            && commands.contains("\"ScheduleExpression\":\"rate(14 days)\"")
            && commands.contains("--no-rotate-immediately"),
        "{commands}"
    );
}

/// A stack of an earlier version, its schedule in the main template: the
/// first deploy of the stable layout moves it, and the plan refuses.
#[test]
fn plan_refuses_the_move_from_an_inline_schedule() {
    let old = scratch("plan-old.template.yaml");
    std::fs::write(
        &old,
        "Resources:\n  OrdersRotationSchedule:\n    Type: AWS::SecretsManager::RotationSchedule\n    Properties:\n      SecretId: \"arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/orders/app-AbCdEf\"\n      RotationLambdaARN:\n        Fn::GetAtt: [RotationFunction, Arn]\n      RotateImmediatelyOnUpdate: true\n      RotationRules:\n        ScheduleExpression: \"rate(30 days)\"\n        Duration: \"3h\"\n",
    )
    .unwrap();
    assert_eq!(plan_exit(&example(), &old, false), ExitCode::FAILURE);
    let changes = plan_changes(&std::fs::read_to_string(example()).unwrap(), &old);
    let text = synth::plan::report(&changes);
    assert!(
        text.starts_with("MOVED    (main template)/OrdersRotationSchedule -> RotationSchedules04/OrdersRotationSchedule"),
        "{text}"
    );

    // A packaged template cannot be read back: the error says what to give.
    std::fs::write(
        &old,
        "Resources:\n  RotationSchedules04:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      TemplateURL: https://s3.amazonaws.com/b/k.template\n",
    )
    .unwrap();
    let err = execute(Args {
        command: Command::Plan {
            config: example(),
            against: old,
            force: false,
        },
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("already packaged"), "{err}");
}
