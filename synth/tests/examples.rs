//! The example configs: each renders, matches its committed template, parses
//! as plain YAML, and renders the same bytes every time.
//!
//! The committed `examples/*.template.yaml` are the one golden copy of the
//! output (reviewers read them in diffs; there are no separate snapshots).
//! Every config in `examples/` is checked without being listed here, so
//! adding an example adds its check, and a template must have its config.

use std::fs;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Every file of `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

/// Example configs (not the rendered `*.template.yaml` beside them).
fn configs() -> Vec<PathBuf> {
    let dir = examples_dir();
    let out: Vec<PathBuf> = files(&dir).into_iter().filter(|p| is_config(p)).collect();
    assert!(!out.is_empty(), "no example configs in {}", dir.display());
    out
}

fn name_of(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

fn is_template(path: &Path) -> bool {
    name_of(path).ends_with(".template.yaml")
}

fn is_config(path: &Path) -> bool {
    name_of(path).ends_with(".yaml") && !is_template(path)
}

/// The path as `make examples` names it, relative to the repository root.
fn shown(path: &Path) -> String {
    format!("examples/{}", name_of(path))
}

/// Renders as `make examples` does: the path relative to the repository root.
fn try_render(path: &Path) -> Result<String, String> {
    let source = fs::read_to_string(path).map_err(|e| e.to_string())?;
    synth::render_config(&source, &shown(path)).map_err(|e| e.to_string())
}

fn render(path: &Path) -> String {
    try_render(path).unwrap_or_else(|e| panic!("{e}"))
}

/// Every file a config renders to, as `make examples` writes them: the main
/// template beside the config, then its nested stacks (large configs only).
fn try_render_files(path: &Path) -> Result<Vec<(String, String)>, String> {
    let source = fs::read_to_string(path).map_err(|e| e.to_string())?;
    let parent = name_of(&template_beside(path));
    synth::render_files(&source, &shown(path), &parent).map_err(|e| e.to_string())
}

fn render_files(path: &Path) -> Vec<(String, String)> {
    try_render_files(path).unwrap_or_else(|e| panic!("{e}"))
}

/// The settings layer zip a config renders to, as `make examples` writes it
/// (file name, bytes).
fn render_settings(path: &Path) -> Result<(String, Vec<u8>), String> {
    let source = fs::read_to_string(path).map_err(|e| e.to_string())?;
    let parent = name_of(&template_beside(path));
    let rendered =
        synth::render_stack(&source, &shown(path), &parent).map_err(|e| e.to_string())?;
    Ok((rendered.settings_file, rendered.settings_zip))
}

fn is_settings_zip(path: &Path) -> bool {
    name_of(path).ends_with(".settings.zip")
}

fn template_beside(config: &Path) -> PathBuf {
    config.with_file_name(name_of(config).replace(".yaml", ".template.yaml"))
}

fn config_beside(template: &Path) -> PathBuf {
    template.with_file_name(name_of(template).replace(".template.yaml", ".yaml"))
}

/// What is wrong between the configs and the committed templates of `dir`:
/// a config that does not render, a config without its template, a stale
/// template (with the diff), a template without its config, a nested stack
/// template that no config renders (left from a larger config).
fn template_problems(dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    // Nested templates and settings zips the configs render, by file name.
    let mut rendered_nested = std::collections::BTreeSet::new();
    let mut rendered_zips = std::collections::BTreeSet::new();
    for path in files(dir) {
        if !is_config(&path) {
            continue;
        }
        let rendered = match try_render_files(&path) {
            Ok(files) => files,
            Err(e) => {
                problems.push(format!("{} does not render: {e}", shown(&path)));
                continue;
            }
        };
        match render_settings(&path) {
            Err(e) => problems.push(format!("{} does not render: {e}", shown(&path))),
            Ok((name, zip)) => {
                let at = dir.join(&name);
                match fs::read(&at) {
                    Err(e) => problems.push(format!(
                        "{} is missing ({e}); run `make examples` and commit it",
                        shown(&at)
                    )),
                    Ok(committed) if committed != zip => problems.push(format!(
                        "{} is stale (its settings, or its bytes, are not what the config renders); run `make examples` to regenerate it",
                        shown(&at)
                    )),
                    Ok(_) => {}
                }
                rendered_zips.insert(name);
            }
        }
        for (i, (name, text)) in rendered.iter().enumerate() {
            let template = dir.join(name);
            if i > 0 {
                rendered_nested.insert(name.clone());
            }
            match fs::read_to_string(&template) {
                Err(e) => problems.push(format!(
                    "{} is missing ({e}); run `make examples` and commit it",
                    shown(&template)
                )),
                Ok(committed) => {
                    if let Some(diff) = synth::check::stale_diff(&committed, text, "committed") {
                        problems.push(format!(
                            "{} is stale; run `make examples` to regenerate it\n{diff}",
                            shown(&template)
                        ));
                    }
                }
            }
        }
    }
    for path in files(dir) {
        if is_settings_zip(&path) && !rendered_zips.contains(&name_of(&path)) {
            problems.push(format!(
                "{} is a settings layer zip that no config renders: delete it, or restore its config and run `make examples`",
                shown(&path)
            ));
        }
        if !is_template(&path) || rendered_nested.contains(&name_of(&path)) {
            continue;
        }
        if name_of(&path).contains(".schedules-") {
            problems.push(format!(
                "{} is a nested stack template that no config renders: delete it, or run `make examples` (which removes it)",
                shown(&path)
            ));
        } else if !config_beside(&path).exists() {
            problems.push(format!(
                "{} has no config beside it ({}): delete the template, or restore the config and run `make examples`",
                shown(&path),
                shown(&config_beside(&path))
            ));
        }
    }
    problems.sort();
    problems
}

#[test]
fn committed_templates_are_fresh() {
    // An empty or misplaced examples directory must not pass silently.
    assert!(!configs().is_empty());
    let problems = template_problems(&examples_dir());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The check itself: a new config without a template, a stale template and
/// an orphan template each fail with the way out.
#[test]
fn freshness_check_catches_missing_stale_and_orphan_templates() {
    let dir = std::env::temp_dir().join(format!("synth-examples-test-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let example = examples_dir().join("postgres-single-user.yaml");
    // Every file of a config, as `make examples` writes it.
    let write_all = |config: &Path| {
        for (name, text) in render_files(config) {
            fs::write(dir.join(name), text).unwrap();
        }
        let (name, zip) = render_settings(config).unwrap();
        fs::write(dir.join(name), zip).unwrap();
    };
    // A fresh config, and a new config whose files were never rendered.
    fs::copy(&example, dir.join("fresh.yaml")).unwrap();
    write_all(&dir.join("fresh.yaml"));
    let (zip_name, zip) = render_settings(&dir.join("fresh.yaml")).unwrap();
    assert_eq!(zip_name, "fresh.settings.zip");
    fs::copy(&example, dir.join("new.yaml")).unwrap();
    // A template edited by hand.
    fs::copy(&example, dir.join("edited.yaml")).unwrap();
    write_all(&dir.join("edited.yaml"));
    let edited = render(&dir.join("edited.yaml")).replace("MemorySize: 256", "MemorySize: 512");
    fs::write(dir.join("edited.template.yaml"), edited).unwrap();
    // Its settings zip, from another config: stale.
    let other = examples_dir().join("mysql-alternating-users.yaml");
    fs::write(
        dir.join("edited.settings.zip"),
        render_settings(&other).unwrap().1,
    )
    .unwrap();
    // A settings zip whose config was deleted.
    fs::write(dir.join("gone.settings.zip"), &zip).unwrap();
    // A template whose config was deleted.
    fs::write(dir.join("gone.template.yaml"), render(&example)).unwrap();
    // A nested stack template of a bucket that lost its last database.
    fs::write(
        dir.join("fresh.schedules-30.template.yaml"),
        "Resources: {}\n",
    )
    .unwrap();
    let new_nested = render_files(&dir.join("new.yaml"))[1].0.clone();

    let problems = template_problems(&dir);
    fs::remove_dir_all(&dir).unwrap();

    let expected = [
        "examples/edited.settings.zip is stale".to_owned(),
        "examples/edited.template.yaml is stale; run `make examples`".to_owned(),
        "examples/fresh.schedules-30.template.yaml is a nested stack template that no config renders".to_owned(),
        "examples/gone.settings.zip is a settings layer zip that no config renders".to_owned(),
        "examples/gone.template.yaml has no config beside it".to_owned(),
        format!("examples/{new_nested} is missing"),
        "examples/new.settings.zip is missing".to_owned(),
        "examples/new.template.yaml is missing".to_owned(),
    ];
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    for (problem, start) in problems.iter().zip(&expected) {
        assert!(
            problem.starts_with(start.as_str()),
            "{problem}\n  expected: {start}"
        );
        assert!(problem.contains("`make examples`"), "{problem}");
    }
    assert!(
        problems[1].contains("MemorySize: 512") && problems[1].contains("MemorySize: 256"),
        "{}",
        problems[1]
    );
}

/// Fails on YAML tags such as `!Ref`: the templates use the long form so that
/// any YAML parser (and any reviewer's tool) reads them.
fn assert_untagged(value: &Value, at: &str) {
    match value {
        Value::Tagged(t) => panic!("tag {} at {at}", t.tag),
        Value::Sequence(items) => {
            for (i, v) in items.iter().enumerate() {
                assert_untagged(v, &format!("{at}[{i}]"));
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map {
                assert_untagged(v, &format!("{at}.{}", k.as_str().unwrap_or("?")));
            }
        }
        _ => {}
    }
}

#[test]
fn every_output_is_plain_yaml_cloudformation() {
    for config in configs() {
        let text = render(&config);
        let doc: Value =
            serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", config.display()));
        assert_untagged(&doc, "");
        assert_eq!(doc["AWSTemplateFormatVersion"].as_str(), Some("2010-09-09"));
        let resources = doc["Resources"].as_mapping().expect("Resources");
        for (id, resource) in resources {
            let ty = resource["Type"].as_str().unwrap_or_default();
            assert!(ty.starts_with("AWS::"), "{id:?} has type {ty:?}");
        }
        for output in [
            "RotationFunctionArn",
            "RotationFunctionRoleArn",
            "RotationFunctionSecurityGroupId",
        ] {
            assert!(
                doc["Outputs"].get(output).is_some(),
                "missing output {output}"
            );
        }
        assert!(
            text.starts_with("# Generated by synth from \"examples/"),
            "header"
        );
    }
}

#[test]
fn rendering_is_deterministic() {
    for config in configs() {
        let first = render_files(&config);
        for _ in 0..2 {
            assert_eq!(first, render_files(&config), "{}", config.display());
        }
    }
}

/// The nested templates parse as plain CloudFormation too, and the main
/// template creates each of them from the file next to it.
#[test]
fn nested_templates_are_plain_yaml_cloudformation() {
    let mut seen = 0;
    for config in configs() {
        let files = render_files(&config);
        let main: Value = serde_yaml_ng::from_str(&files[0].1).unwrap();
        for (name, text) in &files[1..] {
            seen += 1;
            let doc: Value =
                serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_untagged(&doc, "");
            assert_eq!(doc["AWSTemplateFormatVersion"].as_str(), Some("2010-09-09"));
            assert!(
                text.starts_with("# Generated by synth from \"examples/"),
                "{name}"
            );
            let urls: Vec<&str> = main["Resources"]
                .as_mapping()
                .unwrap()
                .values()
                .filter_map(|r| r["Properties"]["TemplateURL"].as_str())
                .collect();
            assert!(
                urls.contains(&name.as_str()),
                "{name} is not created by the main template"
            );
        }
    }
    assert!(seen > 0, "no example has nested stacks");
}

#[test]
fn policy_names_every_secret_and_no_wildcard_secret() {
    for config in configs() {
        let doc: Value = serde_yaml_ng::from_str(&render(&config)).unwrap();
        if doc["Resources"].get("RotationFunctionRole").is_none() {
            // An existing role (role.existing_arn): no policy in this stack
            // (tests/role.rs checks the one documented for it).
            assert!(
                doc["Resources"]["RotationFunction"]["Properties"]["Role"].is_string(),
                "{}",
                config.display()
            );
            continue;
        }
        let statements = &doc["Resources"]["RotationFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
            ["Statement"];
        for s in statements.as_sequence().unwrap() {
            let actions = match &s["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Sequence(a) => a.iter().map(|v| v.as_str().unwrap().to_owned()).collect(),
                other => panic!("{other:?}"),
            };
            assert!(
                !actions
                    .iter()
                    .any(|a| a == "secretsmanager:GetRandomPassword"),
                "passwords are generated locally"
            );
            if actions == ["secretsmanager:ListSecrets"] {
                // The overdue audit: IAM allows ListSecrets on "*" only, and
                // it returns no value (tests/operations.rs).
                assert_eq!(s["Sid"].as_str(), Some("AuditRotations"), "{s:?}");
                continue;
            }
            if actions
                .iter()
                .any(|a| a.starts_with("secretsmanager:") || a.starts_with("kms:"))
            {
                // A wildcard only with the condition that scopes it: the
                // rotation function for secrets, Secrets Manager for keys.
                let text = serde_yaml_ng::to_string(&s["Resource"]).unwrap();
                let scoped = !s["Condition"]["StringEquals"]
                    ["secretsmanager:resource/AllowRotationLambdaArn"]
                    .is_null()
                    || !s["Condition"]["StringEquals"]["kms:ViaService"].is_null();
                assert!(
                    !text.contains('*') || scoped,
                    "unconditioned wildcard resource in {s:?}"
                );
                assert!(
                    !text.contains("\"*\"") && !text.trim().eq("'*'"),
                    "bare * in {s:?}"
                );
            }
        }
    }
}
