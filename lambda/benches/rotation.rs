//! How long a rotation takes against real servers, and how much of the outside world it touches.
//!
//! `make bench` starts the test servers (moto as Secrets Manager, PostgreSQL and MariaDB with TLS)
//! and runs this with `--bench`. For each engine it rotates one user's secret many times, the way
//! the service drives the function, and prints per step the wall time (median and p95), the
//! Secrets Manager calls and the database logins; then the release `bootstrap` as a process
//! under a Runtime API on loopback (`process.rs`): its size, cold start and peak RSS.
//!
//! It measures and prints; it never asserts on time. Under `cargo test --all-targets` (no
//! `--bench` argument) it only runs one rotation per engine as a smoke check, so the bench itself
//! cannot rot unnoticed. Without the servers it prints one `skipped` line and exits 0, like the
//! integration tests, and fails instead under `make test` (`ROTATION_TEST_REQUIRE_SERVERS=1`).

#[path = "../tests/common/mod.rs"]
mod common;
mod process;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Harness, Kind, unique};
use rotation::Step;

const STEPS: [Step; 4] = [Step::Create, Step::Set, Step::Test, Step::Finish];
/// Rotations measured per engine, after one warm-up rotation that is not counted.
const DEFAULT_ROTATIONS: usize = 20;

/// What one step of one rotation cost.
#[derive(Debug, Clone)]
struct StepSample {
    time: Duration,
    calls: Vec<&'static str>,
    logins: usize,
}

/// Every rotation of one engine: `steps[i][r]` is step `i` of rotation `r`.
#[derive(Debug)]
struct EngineRun {
    kind: Kind,
    steps: [Vec<StepSample>; 4],
    full: Vec<Duration>,
}

#[tokio::main]
async fn main() {
    if common::servers_for("the rotation bench").is_none() {
        return;
    }
    let bench = std::env::args().any(|arg| arg == "--bench");
    // Only the release binary as a process (its size, cold start and RSS), for comparing builds.
    if bench && std::env::var_os("ROTATION_BENCH_PROCESS_ONLY").is_some() {
        print_process_report().await;
        return;
    }
    if !bench {
        smoke().await;
        return;
    }
    let rotations = std::env::var("ROTATION_BENCH_ROTATIONS")
        .ok()
        .map(|n| {
            n.parse::<usize>()
                .expect("ROTATION_BENCH_ROTATIONS is a whole number")
        })
        .unwrap_or(DEFAULT_ROTATIONS)
        .max(1);

    let mut runs = Vec::new();
    for kind in [Kind::Postgres, Kind::MariaDb] {
        runs.push(measure(kind, rotations).await);
    }
    print_report(&runs, rotations);
    print_process_report().await;
}

/// Fresh processes per engine, for the cold start and peak RSS medians.
const PROCESS_SAMPLES: usize = 5;

/// The release binary as a process: cold start, peak RSS and one rotation's time, per engine.
async fn print_process_report() {
    let binary = bootstrap_path();
    if !binary.exists() {
        println!(
            "process: no release bootstrap at {} (`make bench` builds it)",
            binary.display()
        );
        return;
    }
    println!();
    println!(
        "release bootstrap as a process (median of {PROCESS_SAMPLES} fresh processes, \
         one rotation each, under a Runtime API on loopback)"
    );
    println!(
        "{:<9} {:>15} {:>14} {:>20} {:>18}",
        "engine", "cold start ms", "peak RSS MiB", "after: file / anon", "rotation ms (cold)"
    );
    for kind in [Kind::Postgres, Kind::MariaDb] {
        let h = Harness::new();
        let arn = process::secret(&h, kind).await;
        let mut samples = Vec::new();
        for _ in 0..PROCESS_SAMPLES {
            samples.push(process::sample(&binary, &h, &arn).await);
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let mib = |kib: u64| kib as f64 / 1024.0;
        println!(
            "{:<9} {:>15.1} {:>14.1} {:>20} {:>18.1}",
            kind.engine(),
            median(
                samples
                    .iter()
                    .map(|s| s.cold_start.as_secs_f64() * 1e3)
                    .collect()
            ),
            median(samples.iter().map(|s| mib(s.peak_rss_kib)).collect()),
            format!(
                "{:.1} / {:.1}",
                median(samples.iter().map(|s| mib(s.rss_file_kib)).collect()),
                median(samples.iter().map(|s| mib(s.rss_anon_kib)).collect())
            ),
            median(
                samples
                    .iter()
                    .map(|s| s.rotation.as_secs_f64() * 1e3)
                    .collect()
            ),
        );
    }
}

/// One rotation per engine, checked for success only: what `cargo test --all-targets` runs.
async fn smoke() {
    for kind in [Kind::Postgres, Kind::MariaDb] {
        let run = measure(kind, 1).await;
        assert_eq!(run.full.len(), 1);
    }
    println!("rotation bench: smoke run ok (one rotation per engine; `make bench` measures)");
}

/// Rotates one fresh user's secret `rotations` times, after a warm-up rotation.
async fn measure(kind: Kind, rotations: usize) -> EngineRun {
    let h = Harness::new();
    let user = unique("bench");
    kind.create_user(&user, "initial-Pa55").await;
    let arn = h.create_secret(&kind.secret(&user, "initial-Pa55")).await;

    // The first rotation pays for the first TLS handshakes and the servers' cold caches.
    h.rotate(&arn)
        .await
        .unwrap_or_else(|(step, e)| panic!("{kind:?} warm-up rotation, {}: {e}", step.name()));

    let mut run = EngineRun {
        kind,
        steps: Default::default(),
        full: Vec::with_capacity(rotations),
    };
    for _ in 0..rotations {
        // RotateSecret and the final stage removal are the service's work, not the function's:
        // they are outside the measured time.
        let token = h.start_rotation(&arn).await;
        let mut full = Duration::ZERO;
        for (i, step) in STEPS.into_iter().enumerate() {
            h.reset_stats();
            let start = Instant::now();
            h.step(&arn, &token, step)
                .await
                .unwrap_or_else(|e| panic!("{kind:?} {}: {e}", step.name()));
            let time = start.elapsed();
            full += time;
            run.steps[i].push(StepSample {
                time,
                calls: h.calls(),
                logins: h.logins().len(),
            });
        }
        h.end_rotation(&arn, &token).await;
        run.full.push(full);
    }
    let current = h.password(&arn, "AWSCURRENT").await;
    assert!(
        kind.can_login(&user, &current).await,
        "{kind:?}: AWSCURRENT must log in after the bench"
    );
    run
}

/// The nearest-rank percentile `p` (0..=100) of `values`.
fn percentile(values: &[Duration], p: usize) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn millis(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// "4" when every rotation made the same number, else "3-4".
fn range(counts: impl Iterator<Item = usize>) -> String {
    let counts: Vec<usize> = counts.collect();
    let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    if min == max {
        min.to_string()
    } else {
        format!("{min}-{max}")
    }
}

/// The operations of the first sample, e.g. "Describe 1, Get 2, Put 1".
fn call_mix(calls: &[&'static str]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for call in calls {
        let short = call
            .trim_end_matches("Secret")
            .trim_end_matches("SecretValue")
            .trim_end_matches("SecretVersionStage");
        *counts.entry(short).or_default() += 1;
    }
    counts
        .iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_report(runs: &[EngineRun], rotations: usize) {
    println!();
    println!(
        "rotation bench: {rotations} rotations per engine after one warm-up; \
         TLS (verify-full) to the database, moto as Secrets Manager, all on loopback"
    );
    println!("times in ms; SM = Secrets Manager calls per step; logins = database logins per step");
    println!();
    println!(
        "{:<9} {:<13} {:>8} {:>8} {:>4}  {:<36} {:>6}",
        "engine", "step", "median", "p95", "SM", "SM operations", "logins"
    );
    for run in runs {
        for (i, step) in STEPS.iter().enumerate() {
            let samples = &run.steps[i];
            let times: Vec<Duration> = samples.iter().map(|s| s.time).collect();
            println!(
                "{:<9} {:<13} {:>8} {:>8} {:>4}  {:<36} {:>6}",
                run.kind.engine(),
                step.name(),
                millis(percentile(&times, 50)),
                millis(percentile(&times, 95)),
                range(samples.iter().map(|s| s.calls.len())),
                call_mix(&samples[0].calls),
                range(samples.iter().map(|s| s.logins)),
            );
        }
        let per_rotation = |f: &dyn Fn(&StepSample) -> usize| {
            range((0..run.full.len()).map(|r| run.steps.iter().map(|s| f(&s[r])).sum()))
        };
        println!(
            "{:<9} {:<13} {:>8} {:>8} {:>4}  {:<36} {:>6}",
            run.kind.engine(),
            "full rotation",
            millis(percentile(&run.full, 50)),
            millis(percentile(&run.full, 95)),
            per_rotation(&|s| s.calls.len()),
            "",
            per_rotation(&|s| s.logins),
        );
    }
    println!();
    let binary = bootstrap_path();
    match std::fs::metadata(&binary) {
        Ok(meta) => println!(
            "release bootstrap: {:.1} MiB ({} bytes, {}, host target)",
            meta.len() as f64 / (1024.0 * 1024.0),
            meta.len(),
            binary.display()
        ),
        Err(_) => println!(
            "release bootstrap: not found at {} (`cargo build --release -p rotation-lambda --bin bootstrap`)",
            binary.display()
        ),
    }
}

/// The release binary: `ROTATION_BENCH_BOOTSTRAP` if set, else the workspace's target directory.
fn bootstrap_path() -> PathBuf {
    if let Some(path) = std::env::var_os("ROTATION_BENCH_BOOTSTRAP") {
        return path.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("release/bootstrap");
    std::fs::canonicalize(&path).unwrap_or(path)
}
