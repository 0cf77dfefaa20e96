//! The stack as CloudFormation YAML.
//!
//! The layout lives in `templates/stack.yml`; this module only hands it the
//! validated `Stack` and provides the one filter every user string passes
//! through. Rendering is a pure function of the stack, so the same config
//! always gives the same bytes.

use askama::Template;

use crate::error::Result;
use crate::model::{Role, Stack};

#[derive(Template)]
#[template(path = "stack.yml")]
struct StackTemplate<'a> {
    stack: &'a Stack,
}

impl std::fmt::Debug for StackTemplate<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackTemplate").finish_non_exhaustive()
    }
}

/// Renders `stack` as a CloudFormation template.
///
/// With an existing role, the stack is first rendered as if it created the
/// role (with names that do not depend on this stack's resources), and that
/// role's policy goes into the real template as a comment: what the existing
/// role needs is then always exactly what a created role would get.
pub fn render(stack: &Stack) -> Result<String> {
    let Role::Existing { arn, .. } = &stack.role else {
        return render_text(stack);
    };
    let mut probe = stack.clone();
    probe.role = Role::PolicyOf { arn: arn.clone() };
    let policy = role_policy(&render_text(&probe)?)?;
    let mut real = stack.clone();
    real.role = Role::Existing {
        arn: arn.clone(),
        policy,
    };
    render_text(&real)
}

/// The inline policies of `RotationFunctionRole`, and every IAM policy
/// resource, of a rendered template, as YAML.
fn role_policy(template: &str) -> Result<String> {
    let bug = |what: &str| askama::Error::Custom(format!("role policy: {what}").into());
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(template).map_err(|e| bug(&e.to_string()))?;
    let resources = doc["Resources"]
        .as_mapping()
        .ok_or_else(|| bug("no Resources"))?;
    let mut policies = Vec::new();
    for resource in resources.values() {
        let properties = &resource["Properties"];
        match resource["Type"].as_str() {
            Some("AWS::IAM::Role") => {
                if let Some(list) = properties["Policies"].as_sequence() {
                    policies.extend(list.iter().cloned());
                }
            }
            Some("AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy") => {
                let mut p = serde_yaml_ng::Mapping::new();
                p.insert("PolicyName".into(), properties["PolicyName"].clone());
                p.insert(
                    "PolicyDocument".into(),
                    properties["PolicyDocument"].clone(),
                );
                policies.push(p.into());
            }
            _ => {}
        }
    }
    if policies.is_empty() {
        return Err(bug("the role has no policy").into());
    }
    serde_yaml_ng::to_string(&policies).map_err(|e| bug(&e.to_string()).into())
}

fn render_text(stack: &Stack) -> Result<String> {
    let mut text = StackTemplate { stack }.render()?;
    // Askama drops the template file's final newline; files end with one.
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

mod filters {
    /// Writes a value as a JSON string, which is also a YAML double-quoted
    /// scalar: quotes, newlines, `#`, `:` and every other character that means
    /// something in YAML are escaped, so a value can never add keys or comments.
    #[askama::filter_fn]
    pub fn yaml(
        value: impl std::fmt::Display,
        _env: &dyn askama::Values,
    ) -> askama::Result<String> {
        Ok(super::quote(&value.to_string()))
    }

    /// Indents every line of `value` by `lead` spaces, for the body of a YAML
    /// block scalar (`|-`): no line can end the block or start a key. Only for
    /// text synth builds itself; a user string goes through `yaml`.
    #[askama::filter_fn]
    pub fn indented(
        value: impl std::fmt::Display,
        _env: &dyn askama::Values,
        lead: usize,
    ) -> askama::Result<String> {
        let lead = " ".repeat(lead);
        Ok(value
            .to_string()
            .lines()
            .map(|l| format!("{lead}{l}"))
            .collect::<Vec<_>>()
            .join("\n"))
    }

    /// Turns text into YAML comment lines (`lead` spaces, `#`, `pad` spaces,
    /// the line), so nothing in it can become part of the template.
    #[askama::filter_fn]
    pub fn comment(
        value: impl std::fmt::Display,
        _env: &dyn askama::Values,
        lead: usize,
        pad: usize,
    ) -> askama::Result<String> {
        let (lead, pad) = (" ".repeat(lead), " ".repeat(pad));
        Ok(value
            .to_string()
            .lines()
            .map(|l| format!("{lead}#{pad}{l}").trim_end().to_owned())
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

/// A JSON string literal for `s`.
pub fn quote(s: &str) -> String {
    // Serializing a str to JSON cannot fail.
    serde_json::to_string(s).unwrap_or_default()
}

/// One nested stack of rotation schedules (`templates/schedules.yml`).
#[derive(Template)]
#[template(path = "schedules.yml")]
struct NestedTemplate<'a> {
    stack: &'a Stack,
    nested: &'a crate::layout::NestedStack<'a>,
}

/// Renders one nested stack of rotation schedules.
pub fn render_nested(stack: &Stack, nested: &crate::layout::NestedStack<'_>) -> Result<String> {
    let mut text = NestedTemplate { stack, nested }.render()?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}
