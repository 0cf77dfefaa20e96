//! `synth plan`: what a deploy of a changed config does to each rotation schedule.
//!
//! A schedule that CloudFormation moves (a new logical ID or another stack for
//! the same secret) is created in its new place and then deleted in the old
//! one, and the delete cancels rotation on the secret. The layout never moves
//! a schedule on its own (see `layout`), but a rename does, and so does the
//! first deploy over a stack rendered by an earlier version. The plan compares
//! the schedules of the deployed templates with those the config renders, per
//! secret, and refuses a move unless forced, so nobody finds out from a secret
//! that quietly stopped rotating.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_yaml_ng::Value;

use crate::error::{Error, Result};

/// The stack a schedule is in, as CloudFormation names it: the main template,
/// or the logical ID of a nested stack resource in it.
pub const MAIN: &str = "(main template)";

/// One `AWS::SecretsManager::RotationSchedule` of a stack.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// [`MAIN`] or the nested stack's logical ID.
    pub stack: String,
    pub logical_id: String,
    pub secret_id: String,
    /// The resource's `Properties`, to tell a kept schedule from a changed one.
    pub properties: Value,
}

impl Schedule {
    fn place(&self) -> String {
        format!("{}/{}", self.stack, self.logical_id)
    }

    fn rotates_immediately(&self) -> bool {
        self.properties["RotateImmediatelyOnUpdate"]
            .as_bool()
            .unwrap_or(true)
    }
}

/// What a deploy does to one secret's schedule.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Created(Schedule),
    Kept(Schedule),
    /// Updated in place; the names of the properties that differ.
    Changed(Schedule, Vec<String>),
    /// Created in its new place, then deleted in the old one.
    Moved {
        from: Schedule,
        to: Schedule,
    },
    Deleted(Schedule),
}

/// Reads every schedule of a set of rendered files (the main template first,
/// then its nested templates by file name), as `render_files` returns them.
pub fn schedules(files: &[(String, String)]) -> Result<Vec<Schedule>> {
    let Some((main_name, main_text)) = files.first() else {
        return Ok(Vec::new());
    };
    let nested: BTreeMap<&str, &str> = files[1..]
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    schedules_with(main_name, main_text, |url| {
        nested
            .get(url)
            .map(|t| (*t).to_owned())
            .ok_or_else(|| format!("`{url}` is not among the rendered files"))
    })
}

/// Reads every schedule of the main template at `path` and of the nested
/// templates it names by relative path (as rendered, before `package`).
pub fn schedules_on_disk(path: &Path) -> Result<Vec<Schedule>> {
    let main = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let name = path.display().to_string();
    schedules_with(&name, &main, |url| {
        if url.contains("://") {
            return Err(format!(
                "its TemplateURL `{url}` is already packaged: give the template as rendered (before `aws cloudformation package`), with its nested templates beside it"
            ));
        }
        let nested = path.with_file_name(url);
        std::fs::read_to_string(&nested)
            .map_err(|e| format!("cannot read `{}`: {e}", nested.display()))
    })
}

fn schedules_with(
    main_name: &str,
    main_text: &str,
    mut nested: impl FnMut(&str) -> std::result::Result<String, String>,
) -> Result<Vec<Schedule>> {
    let bad = |file: &str, problem: String| Error::Plan {
        file: file.to_owned(),
        problem,
    };
    let doc: Value =
        serde_yaml_ng::from_str(main_text).map_err(|e| bad(main_name, format!("not YAML: {e}")))?;
    let mut out = Vec::new();
    collect(&doc, MAIN, &mut out);
    let Some(resources) = doc["Resources"].as_mapping() else {
        return Err(bad(main_name, "no Resources".to_owned()));
    };
    for (id, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::CloudFormation::Stack") {
            continue;
        }
        let id = id.as_str().unwrap_or_default();
        let Some(url) = resource["Properties"]["TemplateURL"].as_str() else {
            return Err(bad(
                main_name,
                format!("the nested stack `{id}` has no TemplateURL path"),
            ));
        };
        let text = nested(url).map_err(|p| bad(main_name, format!("nested stack `{id}`: {p}")))?;
        let nested_doc: Value =
            serde_yaml_ng::from_str(&text).map_err(|e| bad(url, format!("not YAML: {e}")))?;
        collect(&nested_doc, id, &mut out);
    }
    Ok(out)
}

fn collect(doc: &Value, stack: &str, out: &mut Vec<Schedule>) {
    let Some(resources) = doc["Resources"].as_mapping() else {
        return;
    };
    for (id, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::SecretsManager::RotationSchedule") {
            continue;
        }
        let properties = resource["Properties"].clone();
        out.push(Schedule {
            stack: stack.to_owned(),
            logical_id: id.as_str().unwrap_or_default().to_owned(),
            secret_id: properties["SecretId"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            properties,
        });
    }
}

/// The change of each secret's schedule, from `before` (deployed) to `after`
/// (rendered): the secrets of `after` in its order, then those only in `before`.
pub fn plan(before: &[Schedule], after: &[Schedule]) -> Vec<Change> {
    let old: BTreeMap<&str, &Schedule> = before.iter().map(|s| (s.secret_id.as_str(), s)).collect();
    let mut out = Vec::new();
    for new in after {
        out.push(match old.get(new.secret_id.as_str()) {
            None => Change::Created(new.clone()),
            Some(was) if was.stack != new.stack || was.logical_id != new.logical_id => {
                Change::Moved {
                    from: (*was).clone(),
                    to: new.clone(),
                }
            }
            Some(was) if was.properties == new.properties => Change::Kept(new.clone()),
            Some(was) => Change::Changed(new.clone(), differing(&was.properties, &new.properties)),
        });
    }
    for was in before {
        if !after.iter().any(|n| n.secret_id == was.secret_id) {
            out.push(Change::Deleted(was.clone()));
        }
    }
    out
}

fn differing(a: &Value, b: &Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_mapping(), b.as_mapping()) else {
        return vec!["Properties".to_owned()];
    };
    let mut keys: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter_map(Value::as_str)
        .filter(|k| a.get(*k) != b.get(*k))
        .map(str::to_owned)
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The number of schedules that would move.
pub fn moves(changes: &[Change]) -> usize {
    changes
        .iter()
        .filter(|c| matches!(c, Change::Moved { .. }))
        .count()
}

/// One line per secret, for people.
pub fn report(changes: &[Change]) -> String {
    let mut out = String::new();
    for change in changes {
        let line = match change {
            Change::Created(s) => format!(
                "created  {}  {}{}",
                s.place(),
                s.secret_id,
                if s.rotates_immediately() {
                    ": rotate_immediately, so the secret rotates as soon as the deploy creates the schedule"
                } else {
                    ": Secrets Manager runs a test rotation (no password change) when the schedule is created"
                }
            ),
            Change::Kept(s) => format!("kept     {}  {}", s.place(), s.secret_id),
            Change::Changed(s, keys) => format!(
                "changed  {}  {}: {} updated in place{}",
                s.place(),
                s.secret_id,
                keys.join(", "),
                if s.rotates_immediately() {
                    "; rotate_immediately, so the update rotates the secret at once"
                } else {
                    ""
                }
            ),
            Change::Moved { from, to } => format!(
                "MOVED    {} -> {}  {}: created there, then deleted here, which turns rotation off for the secret{}",
                from.place(),
                to.place(),
                to.secret_id,
                if to.rotates_immediately() {
                    " (its creation, with rotate_immediately, also rotates it at once)"
                } else {
                    ""
                }
            ),
            Change::Deleted(s) => format!(
                "deleted  {}  {}: rotation turns off for the secret (it keeps its current password)",
                s.place(),
                s.secret_id
            ),
        };
        out.push_str(&line);
        out.push('\n');
    }
    let count = |f: fn(&Change) -> bool| changes.iter().filter(|c| f(c)).count();
    let _ = writeln!(
        out,
        "{} created, {} kept, {} changed, {} moved, {} deleted",
        count(|c| matches!(c, Change::Created(_))),
        count(|c| matches!(c, Change::Kept(_))),
        count(|c| matches!(c, Change::Changed(..))),
        moves(changes),
        count(|c| matches!(c, Change::Deleted(_))),
    );
    out
}

/// For each moved schedule, the command that turns rotation back on after the
/// deploy (without rotating at once), with the function named after the stack
/// in the secret's account and region.
pub fn restore_commands(changes: &[Change], function_name: &str) -> String {
    let mut out = String::new();
    for change in changes {
        let Change::Moved { to, .. } = change else {
            continue;
        };
        let Some(arn) = crate::arn::secret(&to.secret_id) else {
            continue;
        };
        let rules = serde_json::to_string(&yaml_to_json(&to.properties["RotationRules"]))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "aws secretsmanager rotate-secret --region {} --secret-id '{}' --rotation-lambda-arn 'arn:{}:lambda:{}:{}:function:{function_name}' --rotation-rules '{rules}' --no-rotate-immediately",
            arn.region, to.secret_id, arn.partition, arn.region, arn.account
        );
    }
    out
}

fn yaml_to_json(v: &Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(stack: &str, id: &str, secret: &str, rate: &str) -> Schedule {
        Schedule {
            stack: stack.to_owned(),
            logical_id: id.to_owned(),
            secret_id: secret.to_owned(),
            properties: serde_yaml_ng::from_str(&format!(
                "SecretId: {secret}\nRotateImmediatelyOnUpdate: true\nRotationRules:\n  ScheduleExpression: {rate}\n"
            ))
            .unwrap(),
        }
    }

    #[test]
    fn each_kind_of_change_is_named() {
        let before = [
            schedule(MAIN, "ARotationSchedule", "a", "rate(1 day)"),
            schedule(
                "RotationSchedules01",
                "BRotationSchedule",
                "b",
                "rate(1 day)",
            ),
            schedule(
                "RotationSchedules02",
                "CRotationSchedule",
                "c",
                "rate(1 day)",
            ),
            schedule(
                "RotationSchedules03",
                "DRotationSchedule",
                "d",
                "rate(1 day)",
            ),
        ];
        let after = [
            schedule(
                "RotationSchedules04",
                "ARotationSchedule",
                "a",
                "rate(1 day)",
            ),
            schedule(
                "RotationSchedules01",
                "BRotationSchedule",
                "b",
                "rate(1 day)",
            ),
            schedule(
                "RotationSchedules02",
                "CRotationSchedule",
                "c",
                "rate(2 days)",
            ),
            schedule(
                "RotationSchedules05",
                "ERotationSchedule",
                "e",
                "rate(1 day)",
            ),
        ];
        let changes = plan(&before, &after);
        assert!(matches!(&changes[0], Change::Moved { from, .. } if from.stack == MAIN));
        assert!(matches!(&changes[1], Change::Kept(_)));
        assert!(matches!(&changes[2], Change::Changed(_, k) if k == &["RotationRules"]));
        assert!(matches!(&changes[3], Change::Created(_)));
        assert!(matches!(&changes[4], Change::Deleted(s) if s.secret_id == "d"));
        assert_eq!(moves(&changes), 1);
        let text = report(&changes);
        assert!(text.contains("turns rotation off"), "{text}");
        assert!(
            text.contains("rotates as soon as the deploy creates"),
            "{text}"
        );
        assert!(
            text.ends_with("1 created, 1 kept, 1 changed, 1 moved, 1 deleted\n"),
            "{text}"
        );
    }

    #[test]
    fn a_renamed_database_is_a_move_of_its_secret() {
        let before = [schedule(
            "RotationSchedules01",
            "OldRotationSchedule",
            "s",
            "rate(1 day)",
        )];
        let after = [schedule(
            "RotationSchedules01",
            "NewRotationSchedule",
            "s",
            "rate(1 day)",
        )];
        assert_eq!(moves(&plan(&before, &after)), 1);
    }
}
