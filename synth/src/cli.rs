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
    /// Render the stack of CONFIG to FILE with -o, and next to it the settings
    /// layer zip (FILE.settings.zip, in place of FILE's extension) and the
    /// nested stacks of rotation schedules (FILE.schedules-BB, before FILE's
    /// extension, one per bucket of database names). Without -o the main
    /// template goes to stdout for reading, and nothing else is written.
    Render {
        /// The config file (YAML) describing the databases and the stack.
        config: PathBuf,
        /// Write the main template here, and the settings zip and nested stacks beside it
        /// [default: the main template to stdout, nothing else written].
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Fail (exit 1) with a diff when FILE, or one of its nested stacks, is not
    /// what CONFIG renders to.
    Check {
        /// The config file (YAML) describing the databases and the stack.
        config: PathBuf,
        /// The committed main template to compare (its nested stacks and settings zip
        /// beside it).
        #[arg(long, value_name = "FILE")]
        against: PathBuf,
    },
    /// Say, per database, what deploying the stack of CONFIG over the stack
    /// rendered as FILE (the deployed main template, before `package`, with its
    /// nested templates beside it) does to its rotation schedule: created,
    /// kept, changed, moved or deleted. Exit 1 when a schedule would move (a
    /// move turns rotation off), unless --force, which prints the commands that
    /// turn rotation back on after the deploy.
    Plan {
        /// The config file (YAML) describing the databases and the stack.
        config: PathBuf,
        /// The deployed main template, as rendered (before `package`), with its nested
        /// templates beside it.
        #[arg(long, value_name = "FILE")]
        against: PathBuf,
        /// Accept moves; print the `aws secretsmanager rotate-secret` commands
        /// to run after the deploy.
        #[arg(long)]
        force: bool,
    },
    /// Print the JSON Schema of the config file (for editors).
    Schema {
        /// Print the config reference instead: the Markdown tables of every key, its
        /// default and its meaning, as synth/README.md holds them.
        #[arg(long)]
        reference: bool,
        /// With --reference: replace the reference between the markers of this Markdown file
        /// (synth/README.md) instead of printing it.
        #[arg(long, value_name = "FILE", requires = "reference")]
        into: Option<PathBuf>,
    },
    /// Ask the deployed function to check every database of CONFIG (its
    /// secret, network path, login and privileges) without changing anything.
    /// Exit 0 when every database is ok, 1 when one has problems, 2 when an
    /// invocation failed.
    Preflight {
        /// The config file (YAML) of the deployed stack.
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
/// `output`, or after the config) first, and the settings layer zip.
fn render_files(config: &Path, output: Option<&Path>) -> Result<crate::Rendered> {
    let source = read(config)?;
    let shown = config.display().to_string();
    let parent = match output.and_then(Path::file_name) {
        Some(name) => name.to_string_lossy().into_owned(),
        None => crate::default_parent_file(&shown),
    };
    crate::render_stack(&source, &shown, &parent)
}

/// Why the committed settings zip at `path` is not `rendered`'s, or `None`.
fn stale_settings(path: &Path, rendered: &crate::Rendered) -> Option<String> {
    let committed = match fs::read(path) {
        Ok(bytes) if bytes == rendered.settings_zip => return None,
        Ok(bytes) => bytes,
        Err(e) => return Some(format!("is missing ({e})")),
    };
    Some(match crate::settings::read_zip(&committed) {
        Ok(json) => match crate::check::stale_diff(
            &json,
            &rendered.settings_json,
            &format!("{}:{}", path.display(), crate::settings::entry_name()),
        ) {
            Some(diff) => format!("is stale: its settings differ\n{diff}"),
            None => "is stale: same settings, other bytes (written by another version of synth)"
                .to_owned(),
        },
        Err(e) => format!("is not a settings layer zip ({e})"),
    })
}

/// Nested templates next to `output` that the stack no longer renders: left
/// from a bucket that lost its last database (or from the positional layout
/// of earlier versions, `NAME.schedules-1...`), they would be uploaded by
/// nobody and reviewed by mistake.
fn leftover_nested(output: &Path, files: &[(String, String)]) -> Vec<PathBuf> {
    let Some(name) = output.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let rendered = |p: &PathBuf| {
        files
            .iter()
            .any(|(f, _)| p.file_name().is_some_and(|n| n.to_string_lossy() == *f))
    };
    let buckets = (0..crate::layout::BUCKETS)
        .map(|b| output.with_file_name(crate::layout::nested_file_name(&name, b)));
    let positional = (1..)
        .map(|i| {
            output.with_file_name(crate::layout::nested_file_name(&name, 0).replacen(
                ".schedules-00",
                &format!(".schedules-{i}"),
                1,
            ))
        })
        .take_while(|p| p.exists());
    let mut out: Vec<PathBuf> = buckets
        .chain(positional)
        .filter(|p| p.exists() && !rendered(p))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Runs one command; returns the process exit code.
pub fn execute(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Render { config, output } => {
            let rendered = render_files(&config, output.as_deref())?;
            let files = &rendered.files;
            match output {
                Some(path) => {
                    let zip = path.with_file_name(&rendered.settings_file);
                    fs::write(&zip, &rendered.settings_zip)
                        .map_err(|source| Error::Write { path: zip, source })?;
                    // The main template, then its nested templates next to it.
                    for (i, (name, text)) in files.iter().enumerate() {
                        let to = if i == 0 {
                            path.clone()
                        } else {
                            path.with_file_name(name)
                        };
                        fs::write(&to, text).map_err(|source| Error::Write { path: to, source })?;
                    }
                    for stale in leftover_nested(&path, files) {
                        fs::remove_file(&stale).map_err(|source| Error::Write {
                            path: stale.clone(),
                            source,
                        })?;
                        eprintln!(
                            "removed {}: the stack no longer has this nested stack",
                            stale.display()
                        );
                    }
                }
                None => {
                    write_stdout(&files[0].1)?;
                    // Stdout is for reading: the template names files that only -o writes.
                    eprintln!(
                        "note: only the main template was printed; its settings layer zip ({}) and {} nested template(s) are written only with -o FILE: deploy a stack rendered with -o",
                        rendered.settings_file,
                        files.len() - 1
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { config, against } => {
            let rendered = render_files(&config, Some(&against))?;
            let files = &rendered.files;
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
            let zip = against.with_file_name(&rendered.settings_file);
            if let Some(problem) = stale_settings(&zip, &rendered) {
                eprintln!("{} {problem}. {fix}", zip.display());
                fresh = false;
            }
            for stale in leftover_nested(&against, files) {
                eprintln!(
                    "{} is left over: {} does not render it. Delete it, or {fix}",
                    stale.display(),
                    config.display(),
                );
                fresh = false;
            }
            Ok(if fresh {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Plan {
            config,
            against,
            force,
        } => plan(&config, &against, force),
        Command::Schema { reference, into } => {
            let text = if reference {
                crate::reference::markdown()?
            } else {
                crate::schema::json_schema()?
            };
            match into {
                Some(path) => splice_reference(&path, &text)?,
                None => write_stdout(&text)?,
            }
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

/// `synth plan`: the deployed schedules against those CONFIG renders.
fn plan(config: &Path, against: &Path, force: bool) -> Result<ExitCode> {
    use crate::plan;

    let rendered = render_files(config, Some(against))?;
    let before = plan::schedules_on_disk(against)?;
    let after = plan::schedules(&rendered.files)?;
    let changes = plan::plan(&before, &after);
    write_stdout(&plan::report(&changes))?;
    let moves = plan::moves(&changes);
    if moves == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    let source = read(config)?;
    let stack = crate::validate::load(&source, &config.display().to_string())?;
    if !force {
        eprintln!(
            "refused: {moves} schedule(s) would move, and CloudFormation deletes a moved schedule after creating it, which turns rotation off for its secret. Keep each database's `name` (a rename moves its schedule), or see \"Moving a deployed stack to the stable layout\" in synth/README.md; `--force` accepts the moves and prints the commands that turn rotation back on after the deploy."
        );
        return Ok(ExitCode::FAILURE);
    }
    eprintln!(
        "forced: {moves} schedule(s) move. Right after the deploy, turn their rotation back on (no immediate rotation) with:"
    );
    write_stdout(&plan::restore_commands(&changes, &stack.function_name()))?;
    Ok(ExitCode::SUCCESS)
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
    let trail_region = region.clone().or_else(|| preflight::secrets_region(&stack));
    let (outcomes, trail) = runtime.block_on(async {
        let invoker = LambdaInvoker::new(
            function,
            region,
            preflight::secrets_region(&stack),
            endpoint_url,
        )
        .await;
        let outcomes = preflight::invoke_all(
            std::sync::Arc::new(invoker),
            &targets,
            preflight::CONCURRENCY,
        )
        .await;
        // CloudTrail through its own endpoint (AWS_ENDPOINT_URL_CLOUDTRAIL for an emulator),
        // never Lambda's.
        let trail = match &trail_region {
            Some(r) => {
                let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .region(aws_config::Region::new(r.clone()))
                    .load()
                    .await;
                crate::trail::check(&sdk, r).await
            }
            None => crate::trail::TrailCheck::Unknown("the stack's Region is not known".into()),
        };
        (outcomes, trail)
    });
    let trail_line = trail.line(trail_region.as_deref().unwrap_or("the stack's Region"));
    if json {
        write_stdout(&preflight::json_reports(&targets, &outcomes))?;
        eprintln!("{trail_line}");
    } else {
        write_stdout(&format!(
            "{}\n{trail_line}\n",
            preflight::table(&targets, &outcomes)
        ))?;
    }
    let code = match preflight::exit_code(&outcomes) {
        preflight::EXIT_OK if trail.is_problem() => preflight::EXIT_PROBLEMS,
        code => code,
    };
    Ok(ExitCode::from(code))
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

/// Replaces the config reference between the markers of the Markdown file at `path`.
fn splice_reference(path: &Path, tables: &str) -> Result<()> {
    let read = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let text = fs::read_to_string(path).map_err(read)?;
    let Some(new) = crate::reference::splice(&text, tables) else {
        return Err(Error::NoReferenceMarkers {
            path: path.to_owned(),
            fix: format!(
                "add the lines `{}` and `{}` where the reference goes",
                crate::reference::BEGIN,
                crate::reference::END
            ),
        });
    };
    fs::write(path, new).map_err(|source| Error::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod help_tests {
    use clap::CommandFactory;

    use super::Args;

    #[test]
    fn every_argument_and_option_has_help() {
        let command = Args::command();
        for sub in command.get_subcommands() {
            for arg in sub.get_arguments() {
                assert!(
                    arg.get_help().is_some() || arg.get_long_help().is_some(),
                    "`synth {} {}` has no help text",
                    sub.get_name(),
                    arg.get_id()
                );
            }
        }
    }
}
