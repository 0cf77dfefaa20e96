//! Command-line interface: `render`, `check`, `schema` and `preflight`.
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
    /// Render the stack of CONFIG to stdout, or to FILE with -o. A stack past
    /// `layout.inline_schedules_max` databases also writes its nested stacks
    /// next to FILE (FILE.schedules-N, before FILE's extension); -o is then required.
    Render {
        config: PathBuf,
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Fail (exit 1) with a diff when FILE, or one of its nested stacks, is not
    /// what CONFIG renders to.
    Check {
        config: PathBuf,
        #[arg(long, value_name = "FILE")]
        against: PathBuf,
    },
    /// Print the JSON Schema of the config file.
    Schema,
    /// Ask the deployed function to check every database of CONFIG (its
    /// secret, network path, login and privileges) without changing anything.
    /// Exit 0 when every database is ok, 1 when one has problems, 2 when an
    /// invocation failed.
    Preflight {
        config: PathBuf,
        /// The function to invoke [default: the name the stack gives it, NAME-function].
        #[arg(long, value_name = "NAME")]
        function_name: Option<String>,
        /// Lambda's endpoint, for an emulator [default: the region's].
        #[arg(long, value_name = "URL")]
        endpoint_url: Option<String>,
        /// The function's region [default: the region of the config's secrets].
        #[arg(long)]
        region: Option<String>,
        /// Print the reports as a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}

/// Every file of the stack of `config`, the main template (named like
/// `output`, or after the config) first.
fn render_files(config: &Path, output: Option<&Path>) -> Result<Vec<(String, String)>> {
    let source = read(config)?;
    let shown = config.display().to_string();
    let parent = match output.and_then(Path::file_name) {
        Some(name) => name.to_string_lossy().into_owned(),
        None => crate::default_parent_file(&shown),
    };
    crate::render_files(&source, &shown, &parent)
}

/// Nested templates of `output` numbered past `count`: left from a larger
/// stack, they would be uploaded by nobody and reviewed by mistake.
fn leftover_nested(output: &Path, count: usize) -> Vec<PathBuf> {
    let Some(name) = output.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    (count + 1..)
        .map(|i| output.with_file_name(crate::layout::nested_file_name(&name, i)))
        .take_while(|p| p.exists())
        .collect()
}

/// Runs one command; returns the process exit code.
pub fn execute(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Render { config, output } => {
            let files = render_files(&config, output.as_deref())?;
            match output {
                Some(path) => {
                    // The main template, then its nested templates next to it.
                    for (i, (name, text)) in files.iter().enumerate() {
                        let to = if i == 0 {
                            path.clone()
                        } else {
                            path.with_file_name(name)
                        };
                        fs::write(&to, text).map_err(|source| Error::Write { path: to, source })?;
                    }
                    for stale in leftover_nested(&path, files.len() - 1) {
                        fs::remove_file(&stale).map_err(|source| Error::Write {
                            path: stale.clone(),
                            source,
                        })?;
                        eprintln!(
                            "removed {}: the stack has fewer nested stacks now",
                            stale.display()
                        );
                    }
                }
                None if files.len() > 1 => {
                    return Err(Error::NeedsOutput { files: files.len() });
                }
                None => write_stdout(&files[0].1)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { config, against } => {
            let files = render_files(&config, Some(&against))?;
            let fix = format!(
                "Run `synth render {} -o {}` (or `make examples`) and commit the result.",
                config.display(),
                against.display()
            );
            let mut fresh = true;
            for (i, (name, text)) in files.iter().enumerate() {
                let path = if i == 0 {
                    against.clone()
                } else {
                    against.with_file_name(name)
                };
                let committed = match fs::read_to_string(&path) {
                    Ok(text) => text,
                    Err(_) if i > 0 => {
                        eprintln!(
                            "{} is missing: {} renders it. {fix}",
                            path.display(),
                            config.display()
                        );
                        fresh = false;
                        continue;
                    }
                    Err(source) => return Err(Error::Read { path, source }),
                };
                if let Some(diff) =
                    crate::check::stale_diff(&committed, text, &path.display().to_string())
                {
                    eprintln!(
                        "{} is stale: it is not what {} renders to. {fix}\n{diff}",
                        path.display(),
                        config.display()
                    );
                    fresh = false;
                }
            }
            for stale in leftover_nested(&against, files.len() - 1) {
                eprintln!(
                    "{} is left over: {} renders {} nested stacks. Delete it, or {fix}",
                    stale.display(),
                    config.display(),
                    files.len() - 1
                );
                fresh = false;
            }
            Ok(if fresh {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Schema => {
            write_stdout(&crate::schema::json_schema()?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Preflight {
            config,
            function_name,
            endpoint_url,
            region,
            json,
        } => preflight(&config, function_name, endpoint_url, region, json),
    }
}

/// `synth preflight` in a build without the AWS SDK.
#[cfg(not(feature = "preflight"))]
fn preflight(
    _config: &Path,
    _function_name: Option<String>,
    _endpoint_url: Option<String>,
    _region: Option<String>,
    _json: bool,
) -> Result<ExitCode> {
    Err(Error::PreflightNotBuilt)
}

/// `synth preflight`: the invocations run on one thread, a few at a time.
#[cfg(feature = "preflight")]
fn preflight(
    config: &Path,
    function_name: Option<String>,
    endpoint_url: Option<String>,
    region: Option<String>,
    json: bool,
) -> Result<ExitCode> {
    use crate::preflight::{self, LambdaInvoker, Target};

    let source = read(config)?;
    let stack = crate::validate::load(&source, &config.display().to_string())?;
    let targets = Target::of(&stack);
    let function = function_name.unwrap_or_else(|| stack.function_name());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Runtime { source })?;
    let outcomes = runtime.block_on(async {
        let invoker = LambdaInvoker::new(
            function,
            region,
            preflight::secrets_region(&stack),
            endpoint_url,
        )
        .await;
        preflight::invoke_all(
            std::sync::Arc::new(invoker),
            &targets,
            preflight::CONCURRENCY,
        )
        .await
    });
    let text = if json {
        preflight::json_reports(&targets, &outcomes)
    } else {
        preflight::table(&targets, &outcomes)
    };
    write_stdout(&text)?;
    Ok(ExitCode::from(preflight::exit_code(&outcomes)))
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
