//! The stack as CloudFormation YAML.
//!
//! The layout lives in `templates/stack.yml`; this module only hands it the
//! validated `Stack` and provides the one filter every user string passes
//! through. Rendering is a pure function of the stack, so the same config
//! always gives the same bytes.

use askama::Template;

use crate::error::Result;
use crate::model::Stack;

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
pub fn render(stack: &Stack) -> Result<String> {
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
}

/// A JSON string literal for `s`.
pub fn quote(s: &str) -> String {
    // Serializing a str to JSON cannot fail.
    serde_json::to_string(s).unwrap_or_default()
}
