//! Render time and output shape for 10, 1,000 and 10,000 databases.
//!
//! `make bench-synth` (or `cargo bench -p synth --bench render`). Prints, for
//! each size, the wall time of a full `synth render` in-process (parse,
//! validate, render every file, measure every limit), best and median of a
//! few runs, and the shape of the output: files, resources per file, bytes,
//! and the role policy's size against IAM's limit. It never asserts on time:
//! the goal (under 1 s for 10,000 databases) is read, not enforced.

use std::time::{Duration, Instant};

/// `n` databases: every tenth alternates users with one of 20 master secrets,
/// the others use one of 30 KMS keys; two engines, so two ports.
fn config(n: usize) -> String {
    let mut s = String::from(
        "name: bench-rotation\n\
         network:\n  vpc_id: vpc-0123456789abcdef0\n  subnet_ids: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]\n  \
         database_security_group_id: sg-0123456789abcdef0\n  secrets_manager_endpoint:\n    create: true\n\
         code:\n  function:\n    path: ../dist/bootstrap.zip\n  layer:\n    path: ../dist/rds-ca-layer.zip\n\
         notifications:\n  create_topic: true\n\
         databases:\n",
    );
    for i in 0..n {
        let engine = if i % 3 == 0 { "mysql" } else { "postgres" };
        let access = if i % 10 == 0 {
            format!(
                "strategy: alternating-users, master_secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/{engine}-admin-{m:02}-{m:06}",
                m = (i / 10) % 20
            )
        } else {
            format!(
                "strategy: single-user, kms_key_arn: arn:aws:kms:eu-west-1:123456789012:key/{:08}-1234-4abc-8def-1234567890ab",
                i % 30
            )
        };
        s.push_str(&format!(
            "  - {{name: db-{i:05}, engine: {engine}, {access}, secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-{i:05}/app-{i:06}, schedule: {{expression: rate(30 days), duration: 4h}}}}\n"
        ));
    }
    s
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument picks sizes.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    println!("synth render: time and output shape (best and median of the runs; never asserted)");
    for n in [10usize, 1_000, 10_000] {
        if !filter.is_empty() && !filter.iter().any(|f| f == &n.to_string()) {
            continue;
        }
        let source = config(n);
        let runs = if n >= 10_000 { 5 } else { 15 };
        let mut times = Vec::with_capacity(runs);
        let mut last = None;
        for _ in 0..runs {
            let start = Instant::now();
            let out = synth::render_measured(&source, "bench.yaml", "bench.template.yaml")
                .unwrap_or_else(|e| panic!("{n} databases: {e}"));
            times.push(start.elapsed());
            last = Some(out);
        }
        times.sort();
        let (files, shapes) = last.expect("at least one run");
        // Where the time goes: parsing and validating, then measuring the files.
        let start = Instant::now();
        let _stack = synth::validate::load(&source, "bench.yaml").expect("valid");
        let load = start.elapsed();
        let start = Instant::now();
        for (name, text) in &files {
            synth::limits::shape(name, text).expect("measurable");
        }
        let measure = start.elapsed();
        let main = &shapes[0];
        let nested = &shapes[1..];
        let total: usize = files.iter().map(|(_, t)| t.len()).sum();
        println!(
            "\n{n:>6} databases ({} KB config): {} best, {} median",
            source.len() / 1024,
            ms(times[0]),
            ms(times[runs / 2])
        );
        println!(
            "  of which: parse and validate {}, measure the limits {}, render the rest",
            ms(load),
            ms(measure)
        );
        println!(
            "  files: {} (main + {} nested), {} KB in all",
            files.len(),
            nested.len(),
            total / 1024
        );
        println!(
            "  main template: {} resources, {} outputs, {} parameters, {} bytes",
            main.resources, main.outputs, main.parameters, main.bytes
        );
        if let (Some(max_r), Some(max_b)) = (
            nested.iter().map(|s| s.resources).max(),
            nested.iter().map(|s| s.bytes).max(),
        ) {
            println!(
                "  nested templates: at most {max_r} resources and {max_b} bytes each (limits {} and {})",
                synth::limits::MAX_RESOURCES,
                synth::limits::MAX_TEMPLATE_BYTES
            );
        }
        if let Some(chars) = main.role_policy_chars {
            println!(
                "  role policy: {chars} characters as written (IAM limit {}, {} kept for references)",
                synth::limits::MAX_ROLE_POLICY_CHARS,
                synth::limits::ROLE_POLICY_RESERVE
            );
        }
    }
}
