//! Renders the CloudFormation stack of the secret rotation function from a
//! YAML config, and checks committed templates against their configs.
//!
//! The flow is `config` (raw serde structs) -> `validate` (diagnostics with
//! file, line and fix) -> `model::Stack` -> `render` (askama template) ->
//! text. `preflight` asks the deployed function to check a config's databases.
//! The binary is a thin shell over [`cli::run`].

pub mod arn;
pub mod check;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod layout;
pub mod limits;
pub mod locate;
pub mod model;
pub mod plan;
pub mod preflight;
pub mod reference;
pub mod render;
pub mod schedule;
pub mod schema;
pub mod settings;
pub mod trail;
pub mod validate;

pub use error::{Error, Result};

/// Validates and renders a config. `file` names it in errors and in the
/// header of the output; pass it as users would type it (e.g. a path relative
/// to the repository root) so the output does not depend on the machine.
/// Returns the main template only; a large config also has nested stacks
/// ([`render_files`] returns every file).
pub fn render_config(source: &str, file: &str) -> Result<String> {
    let name = default_parent_file(file);
    let mut files = render_files(source, file, &name)?;
    Ok(files.swap_remove(0).1)
}

/// The main template's file name when none is given: `dir/x.yaml` -> `x.template.yaml`.
pub fn default_parent_file(config: &str) -> String {
    let name = config.rsplit(['/', '\\']).next().unwrap_or(config);
    let stem = name
        .strip_suffix(".yaml")
        .or_else(|| name.strip_suffix(".yml"))
        .unwrap_or(name);
    format!("{stem}.template.yaml")
}

/// Validates and renders a config into every file of its stack: the main
/// template, named `parent_file` (a file name, no directory), first, then its
/// nested templates (see [`layout`]), each as (file name, text). Fails when a
/// file would pass a CloudFormation or IAM limit ([`limits`]).
pub fn render_files(source: &str, file: &str, parent_file: &str) -> Result<Vec<(String, String)>> {
    Ok(render_measured(source, file, parent_file)?.0)
}

/// Rendered files as (file name, text), the main template first.
pub type Files = Vec<(String, String)>;

/// [`render_files`], with each file's [`limits::Shape`] (for `make bench-synth`).
pub fn render_measured(
    source: &str,
    file: &str,
    parent_file: &str,
) -> Result<(Files, Vec<limits::Shape>)> {
    let rendered = render_stack(source, file, parent_file)?;
    Ok((rendered.files, rendered.shapes))
}

/// Everything a config renders to: the templates, and the settings layer zip.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The main template first, then its nested templates.
    pub files: Files,
    /// The settings layer zip's file name, next to the main template.
    pub settings_file: String,
    /// The settings file the zip holds ([`settings`]).
    pub settings_json: String,
    /// The zip's bytes.
    pub settings_zip: Vec<u8>,
    /// Each template's shape, as [`limits`] measured it.
    pub shapes: Vec<limits::Shape>,
}

/// Validates and renders a config into every file of its stack (see
/// [`render_files`]) and the settings layer zip ([`settings`]).
pub fn render_stack(source: &str, file: &str, parent_file: &str) -> Result<Rendered> {
    let mut stack = validate::load(source, file)?;
    stack.layout.parent_file = parent_file.to_owned();
    let settings_json = settings::of(&stack).to_json();
    stack.settings_layer = settings::Layer {
        file: settings::file_name(parent_file),
        digest: settings::digest(&settings_json),
    };
    let settings_zip = settings::zip(&settings_json).map_err(|source| Error::Write {
        path: stack.settings_layer.file.clone().into(),
        source,
    })?;
    let mut files = vec![(parent_file.to_owned(), render::render(&stack)?)];
    for nested in stack.nested_stacks() {
        let text = render::render_nested(&stack, &nested)?;
        files.push((nested.file.clone(), text));
    }
    let shapes = limits::check(&files)?;
    Ok(Rendered {
        files,
        settings_file: stack.settings_layer.file.clone(),
        settings_json,
        settings_zip,
        shapes,
    })
}
