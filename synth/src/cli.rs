//! Command-line interface: `render`, `check` and `schema`.
//!
//! Kept apart from `main` so the commands can be tested without a process.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::{Error, Result};

#[derive(Debug, Parser)]
#[command(
    name = "synth",
    version,
    about = "Renders the CloudFormation stack of the secret rotation function"
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render the stack of CONFIG to stdout, or to FILE with -o.
    Render {
        config: PathBuf,
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Fail (exit 1) with a diff when FILE is not what CONFIG renders to.
    Check {
        config: PathBuf,
        #[arg(long, value_name = "FILE")]
        against: PathBuf,
    },
    /// Print the JSON Schema of the config file.
    Schema,
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}

fn render_file(config: &Path) -> Result<String> {
    let source = read(config)?;
    crate::render_config(&source, &config.display().to_string())
}

/// Runs one command; returns the process exit code.
pub fn execute(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Render { config, output } => {
            let text = render_file(&config)?;
            match output {
                Some(path) => {
                    fs::write(&path, text).map_err(|source| Error::Write { path, source })?
                }
                None => write_stdout(&text)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { config, against } => {
            let text = render_file(&config)?;
            let committed = read(&against)?;
            match crate::check::stale_diff(&committed, &text, &against.display().to_string()) {
                None => Ok(ExitCode::SUCCESS),
                Some(diff) => {
                    eprintln!(
                        "{} is stale: it is not what {} renders to. Run `synth render {} -o {}` (or `make examples`) and commit the result.\n{diff}",
                        against.display(),
                        config.display(),
                        config.display(),
                        against.display()
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Schema => {
            write_stdout(&crate::schema::json_schema()?)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn write_stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|source| Error::Write {
            path: PathBuf::from("<stdout>"),
            source,
        })
}

/// Parses the command line and runs it.
pub fn run() -> anyhow::Result<ExitCode> {
    Ok(execute(Args::parse())?)
}
