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
