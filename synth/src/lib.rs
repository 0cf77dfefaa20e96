//! Renders the CloudFormation stack of the secret rotation function from a
//! YAML config, and checks committed templates against their configs.
//!
//! The flow is `config` (raw serde structs) -> `validate` (diagnostics with
//! file, line and fix) -> `model::Stack` -> `render` (askama template) ->
//! text. The binary is a thin shell over [`cli::run`].

pub mod arn;
pub mod check;
pub mod cli;
pub mod config;
pub mod error;
pub mod locate;
pub mod model;
pub mod render;
pub mod schedule;
pub mod schema;
pub mod validate;

pub use error::{Error, Result};

/// Validates and renders a config. `file` names it in errors and in the
/// header of the output; pass it as users would type it (e.g. a path relative
/// to the repository root) so the output does not depend on the machine.
pub fn render_config(source: &str, file: &str) -> Result<String> {
    let stack = validate::load(source, file)?;
    render::render(&stack)
}
