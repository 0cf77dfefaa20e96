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
