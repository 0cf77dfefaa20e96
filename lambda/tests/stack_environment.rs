//! The stack and the function agree: the `Environment` of every committed example template
//! (which a synth test keeps in step with its config) is accepted by the function's own
//! configuration parser, and names only variables the function reads; the settings layer beside
//! it is attached to the function, and is the file the function reads its settings from, at the
//! path the layer mounts it. Offline: no server.

use std::fs;
use std::path::Path;

use rotation::Config;
use rotation_contract::env;
use serde_yaml_ng::Value;

/// A value as CloudFormation would resolve it in us-east-1. The templates build endpoint URLs
/// with `Fn::Sub` (the regional name) or from a created endpoint's DNS entries
/// (`Fn::Join`/`Fn::Select`/`Fn::GetAtt`), which resolve to an endpoint's host name.
fn resolve(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Mapping(m) => match m.get("Fn::Sub").and_then(Value::as_str) {
            Some(sub) => sub
                .replace("${AWS::Region}", "us-east-1")
                .replace("${AWS::URLSuffix}", "amazonaws.com"),
            None if m.contains_key("Fn::Join") => {
                "https://vpce-0123456789abcdef0-abcdefgh.secretsmanager.us-east-1.vpce.amazonaws.com"
                    .to_owned()
            }
            None => panic!("unexpected intrinsic {m:?}"),
        },
        other => panic!("unexpected environment value {other:?}"),
    }
}

#[test]
fn every_example_stack_environment_is_accepted_by_the_function() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut checked = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".template.yaml") {
            continue;
        }
        let template: Value = serde_yaml_ng::from_str(&fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Nested stacks hold schedules only.
        let Some(function) = template["Resources"].get("RotationFunction") else {
            continue;
        };
        let variables = function["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{}: no Environment", path.display()));
        let environment: Vec<(String, String)> = variables
            .iter()
            .map(|(k, v)| (k.as_str().unwrap().to_owned(), resolve(v)))
            .collect();
        for (name, _) in &environment {
            assert!(
                env::NAMES.contains(&name.as_str()),
                "{}: the stack sets {name}, which the function does not read",
                path.display()
            );
        }
        // The settings layer: attached, and its zip holds the file at the path Lambda mounts.
        let layers = function["Properties"]["Layers"].as_sequence().unwrap();
        assert!(
            layers
                .iter()
                .any(|l| l["Ref"].as_str() == Some("SettingsLayer")),
            "{}: the settings layer is not attached",
            path.display()
        );
        let content = template["Resources"]["SettingsLayer"]["Properties"]["Content"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no local settings layer", path.display()));
        let zip = fs::File::open(path.parent().unwrap().join(content)).unwrap();
        let mut archive = zip::ZipArchive::new(zip).unwrap();
        let inside = rotation_contract::settings::SETTINGS_PATH
            .strip_prefix("/opt/")
            .unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut archive.by_name(inside).unwrap(), &mut text).unwrap();
        let mounted = std::env::temp_dir().join(format!(
            "stack-environment-{}-{content}.json",
            std::process::id()
        ));
        fs::write(&mounted, &text).unwrap();

        let config = Config::from_lookup(|name| {
            environment
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .or_else(|| (name == "ROTATION_SETTINGS").then(|| mounted.display().to_string()))
        })
        .unwrap_or_else(|e| panic!("{}: the function refuses its stack: {e}", path.display()));
        fs::remove_file(&mounted).unwrap();
        match &config.settings {
            rotation::settings::Source::Stack { settings, .. } => assert!(
                !settings.secrets.is_empty(),
                "{}: no secret in the settings",
                path.display()
            ),
            other => panic!("{}: {other:?}", path.display()),
        }
        assert_eq!(
            config.ca_bundle.to_str(),
            Some(rotation_contract::CA_BUNDLE_PATH),
            "{}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} example templates found");
}
