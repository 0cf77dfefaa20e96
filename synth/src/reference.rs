//! The config reference tables of synth/README.md, written from the JSON Schema.
//!
//! The reference once was prose kept beside `config.rs` by hand, and it drifted (it said a
//! password takes 16 to 128 characters long after the validator took 8 to 4096). Now the doc
//! comments of `config.rs` are the one text: schemars carries them into the schema, this module
//! lays the schema out as Markdown tables, and a test fails when the README's copy differs.
//!
//! The layout rules, from the schema alone:
//! - a key whose value is a required struct (`network`) is not a row: its keys are, with the
//!   path as prefix (`network.vpc_id`);
//! - a key whose value is an optional struct (`network.rds_endpoint`) is one row: its doc says
//!   what to give, and the struct's own keys are listed in it;
//! - a list of structs (`databases`) is one row, and a table of its own follows for the keys of
//!   each entry;
//! - the default column is the key's `x-default` (set with `#[schemars(extend(...))]` where
//!   the config has a default), else `required` when the key is, else `none`.

use std::collections::VecDeque;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::error::Result;

/// Where the generated text starts and ends in synth/README.md.
pub const BEGIN: &str = "<!-- BEGIN config reference: generated from synth/src/config.rs by `make reference`; edit the doc comments there -->";
pub const END: &str = "<!-- END config reference -->";

/// The Markdown tables, from the heading's first table to the last row, ending with a newline.
pub fn markdown() -> Result<String> {
    let schema: Value = serde_json::from_str(&crate::schema::json_schema()?)?;
    let defs = schema["$defs"].as_object().cloned().unwrap_or_default();
    let mut tables: Vec<(String, Vec<Row>)> = Vec::new();
    // Tables of list entries follow the table that lists them, in the order the lists appear.
    let mut pending = VecDeque::from([(String::new(), schema.clone())]);
    while let Some((title, object)) = pending.pop_front() {
        let mut rows = Vec::new();
        rows_of(&object, "", &defs, &mut rows, &mut pending);
        tables.push((title, rows));
    }
    let mut out = String::new();
    for (i, (title, rows)) in tables.iter().enumerate() {
        if i > 0 {
            let _ = write!(out, "\n{title}\n\n");
        }
        out.push_str("| key | default | meaning |\n| --- | --- | --- |\n");
        for row in rows {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                row.key,
                cell(&row.default),
                cell(&row.meaning)
            );
        }
    }
    Ok(out)
}

/// The README with its reference section replaced by `tables`; `None` when the markers are
/// missing.
pub fn splice(readme: &str, tables: &str) -> Option<String> {
    let start = readme.find(BEGIN)? + BEGIN.len();
    let end = readme[start..].find(END)? + start;
    Some(format!(
        "{}\n\n{tables}\n{}",
        &readme[..start],
        &readme[end..]
    ))
}

#[derive(Debug)]
struct Row {
    key: String,
    default: String,
    meaning: String,
}

/// One paragraph of Markdown for a table cell: doc comment lines joined, pipes escaped.
fn cell(text: &str) -> String {
    text.split('\n')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .replace('|', "\\|")
}

/// The struct a property names: `{"$ref"}`, or an `anyOf` of one `$ref` and null (optional).
fn referenced<'a>(prop: &'a Value, defs: &'a Map<String, Value>) -> Option<(&'a Value, bool)> {
    let name = |r: &'a Value| r.as_str()?.strip_prefix("#/$defs/");
    if let Some(n) = prop.get("$ref").and_then(name) {
        return defs.get(n).map(|d| (d, false));
    }
    let any = prop.get("anyOf")?.as_array()?;
    let mut target = None;
    for alt in any {
        match alt.get("$ref").and_then(name) {
            Some(n) => target = defs.get(n),
            None if alt.get("type") == Some(&Value::from("null")) => {}
            None => return None,
        }
    }
    target.map(|d| (d, true))
}

fn is_struct(def: &Value) -> bool {
    def.get("properties").is_some()
}

fn rows_of(
    object: &Value,
    prefix: &str,
    defs: &Map<String, Value>,
    rows: &mut Vec<Row>,
    pending: &mut VecDeque<(String, Value)>,
) {
    let required: Vec<&str> = object["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = object["properties"].as_object() else {
        return;
    };
    for (name, prop) in props {
        let key = format!("{prefix}{name}");
        let is_required = required.contains(&name.as_str());
        let default = match prop.get("x-default") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => format!("`{other}`"),
            None if is_required => "required".to_owned(),
            None => "none".to_owned(),
        };
        let own = prop
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("");
        match referenced(prop, defs) {
            // A required struct without its own words: its keys are the rows.
            Some((def, false)) if is_struct(def) && prop.get("x-row").is_none() => {
                rows_of(def, &format!("{key}."), defs, rows, pending);
                continue;
            }
            Some((def, _)) if is_struct(def) => {
                let keys: Vec<String> = def["properties"]
                    .as_object()
                    .map(|p| p.keys().map(|k| format!("`{k}`")).collect())
                    .unwrap_or_default();
                let meaning = format!("{} Keys: {}.", own.trim(), keys.join(", "));
                rows.push(Row {
                    key,
                    default,
                    meaning,
                });
                continue;
            }
            _ => {}
        }
        let entry = prop
            .get("items")
            .and_then(|items| referenced(items, defs))
            .filter(|(def, _)| is_struct(def));
        if let Some((def, _)) = entry {
            pending.push_back((format!("Each entry of `{key}`:"), def.clone()));
        }
        rows.push(Row {
            key,
            default,
            meaning: own.to_owned(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_only_the_marked_text() {
        let readme = format!("a\n{BEGIN}\nold\n{END}\nb\n");
        assert_eq!(
            splice(&readme, "new\n").unwrap(),
            format!("a\n{BEGIN}\n\nnew\n\n{END}\nb\n")
        );
        assert!(splice("no markers", "x").is_none());
    }

    #[test]
    fn every_key_of_the_config_has_a_row_with_words() {
        let text = markdown().unwrap();
        for key in [
            "`name`",
            "`network.vpc_id`",
            "`network.secrets_manager_endpoint.create`",
            "`network.rds_endpoint`",
            "`function.password.length`",
            "`code.function.path`",
            "`alerts.overdue_audit`",
            "`databases`",
            "`schedule.expression`",
        ] {
            assert!(
                text.contains(&format!("| {key} |")),
                "no row for {key}:\n{text}"
            );
        }
        for line in text.lines().filter(|l| l.starts_with("| `")) {
            assert!(!line.ends_with("|  |"), "a key without words: {line}");
        }
    }
}
