//! The one error type of the crate.
//!
//! Every failure a user can meet is a variant with its context in fields, so
//! the binary can print a message that says what went wrong and what to do.
//! Config problems carry one diagnostic per mistake, each with the file, the
//! line and the fix, and all of them are reported at once.

use std::fmt;
use std::path::PathBuf;

/// One mistake in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line in the config file.
    pub line: usize,
    /// Dotted path of the offending key, e.g. `databases[0].port`.
    pub path: String,
    /// What is wrong.
    pub problem: String,
    /// What to change.
    pub fix: String,
}

/// The diagnostics of one file, printed one per paragraph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    pub file: String,
    pub items: Vec<Diagnostic>,
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let at = if d.path.is_empty() {
                String::new()
            } else {
                format!(" `{}`:", d.path)
            };
            write!(
                f,
                "{}:{}:{at} {}\n  fix: {}",
                self.file, d.line, d.problem, d.fix
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write `{}`", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config ({count} problem{s}):\n{diagnostics}", count = diagnostics.items.len(), s = if diagnostics.items.len() == 1 { "" } else { "s" })]
    Config { diagnostics: Diagnostics },
    #[error("cannot render the template")]
    Render(#[from] askama::Error),
    #[error("the stack would not deploy ({count} limit{s} passed):\n{list}", count = problems.len(), s = if problems.len() == 1 { "" } else { "s" }, list = problems.join("\n"))]
    Limits { problems: Vec<String> },
    #[error("rendered `{file}` is not YAML (a bug in the template)")]
    Rendered {
        file: String,
        source: serde_yaml_ng::Error,
    },
    #[error("cannot plan against `{file}`: {problem}")]
    Plan { file: String, problem: String },
    #[error("cannot start the runtime that invokes the function")]
    Runtime { source: std::io::Error },
    #[error(
        "this synth was built without its AWS client (the `preflight` feature); build it with \
         `cargo build -p synth` (the default features) or `cargo install --path synth`"
    )]
    PreflightNotBuilt,
    #[error("`{}` has no config reference markers: {fix}", path.display())]
    NoReferenceMarkers { path: PathBuf, fix: String },
    #[error("cannot serialize the JSON schema")]
    Schema(#[from] serde_json::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
