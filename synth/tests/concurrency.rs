//! Reserved concurrency is opt-in: the default stack deploys in an account
//! whatever its concurrency quota, and a configured value is rendered as given.

use serde_yaml_ng::Value;

const EXAMPLE: &str = include_str!("../../examples/postgres-single-user.yaml");

fn render(source: &str) -> Result<Value, String> {
    let text = synth::render_config(source, "examples/app.yaml").map_err(|e| e.to_string())?;
    Ok(serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}")))
}

fn with_reserved(value: &str) -> String {
    let src = EXAMPLE.replace(
        "  memory_mb: 256\n",
        &format!("  memory_mb: 256\n  reserved_concurrency: {value}\n"),
    );
    assert_ne!(src, EXAMPLE);
    src
}

#[test]
fn default_reserves_no_concurrency() {
    let doc = render(EXAMPLE).unwrap();
    let function = &doc["Resources"]["RotationFunction"];
    assert!(
        function["Properties"]
            .get("ReservedConcurrentExecutions")
            .is_none(),
        "{function:?}"
    );
    // checkov's concurrency check is skipped with the reason, next to the resource.
    let skips = function["Metadata"]["checkov"]["skip"]
        .as_sequence()
        .unwrap();
    assert!(
        skips.iter().any(|s| s["id"].as_str() == Some("CKV_AWS_115")
            && s["comment"]
                .as_str()
                .unwrap()
                .contains("reserved_concurrency")),
        "{skips:?}"
    );
}

#[test]
fn configured_concurrency_is_reserved() {
    let doc = render(&with_reserved("3")).unwrap();
    let function = &doc["Resources"]["RotationFunction"];
    assert_eq!(
        function["Properties"]["ReservedConcurrentExecutions"].as_u64(),
        Some(3)
    );
    let skips = function["Metadata"]["checkov"]["skip"]
        .as_sequence()
        .unwrap();
    assert!(
        !skips
            .iter()
            .any(|s| s["id"].as_str() == Some("CKV_AWS_115"))
    );
}

#[test]
fn zero_concurrency_is_refused_at_its_line() {
    let src = with_reserved("0");
    let err = render(&src).unwrap_err();
    let line = src
        .lines()
        .position(|l| l.contains("reserved_concurrency"))
        .unwrap()
        + 1;
    assert!(err.contains(&format!("examples/app.yaml:{line}:")), "{err}");
    assert!(
        err.contains("function.reserved_concurrency") && err.contains("fix:"),
        "{err}"
    );
}

#[test]
fn schema_knows_reserved_concurrency() {
    let schema: serde_json::Value =
        serde_json::from_str(&synth::schema::json_schema().unwrap()).unwrap();
    let function = &schema["$defs"]["RawFunction"]["properties"]["reserved_concurrency"];
    assert_eq!(function["minimum"], serde_json::json!(1), "{function}");
    assert!(
        function["description"]
            .as_str()
            .is_some_and(|d| d.contains("quota")),
        "{function}"
    );
}
