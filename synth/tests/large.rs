//! Stacks of any size: the policy stays the same size, the schedules are in
//! nested stacks chosen by each database's name, a change never moves an
//! untouched database's schedule, and a stack past a CloudFormation or IAM
//! limit fails before any deploy, naming the limit and the fix.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use synth::cli::{Args, Command, execute};

/// A config of `n` databases. Every tenth alternates users with a master
/// secret (`masters` distinct ones, shared round-robin); `layout` is appended
/// as the config's `layout` section when not empty.
fn config(n: usize, masters: usize, layout: &str) -> String {
    let mut s = String::from(
        "name: fleet-rotation\n\
         network:\n  vpc_id: vpc-0123456789abcdef0\n  subnet_ids: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]\n  \
         database_security_group_id: sg-0123456789abcdef0\n  secrets_manager_endpoint:\n    create: true\n\
         code:\n  function:\n    path: ../dist/bootstrap.zip\n  layer:\n    path: ../dist/rds-ca-layer.zip\n\
         notifications:\n  create_topic: true\n",
    );
    if !layout.is_empty() {
        s.push_str("layout:\n");
        s.push_str(layout);
    }
    s.push_str("databases:\n");
    for i in 0..n {
        let arn = format!(
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-{i:05}/app-{:06}",
            i % 1_000_000
        );
        let strategy = if masters > 0 && i % 10 == 0 {
            format!(
                "strategy: alternating-users, master_secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/admin-{m:05}/admin-{m:06}",
                m = (i / 10) % masters
            )
        } else {
            "strategy: single-user".to_owned()
        };
        s.push_str(&format!(
            "  - {{name: db-{i:05}, engine: postgres, {strategy}, secret_arn: {arn}, schedule: {{expression: rate(30 days)}}}}\n"
        ));
    }
    s
}

fn render(source: &str) -> Result<Vec<(String, String)>, String> {
    synth::render_files(source, "examples/fleet.yaml", "fleet.template.yaml")
        .map_err(|e| e.to_string())
}

fn shapes(source: &str) -> Vec<synth::limits::Shape> {
    synth::render_measured(source, "examples/fleet.yaml", "fleet.template.yaml")
        .unwrap_or_else(|e| panic!("{e}"))
        .1
}

#[test]
fn small_stacks_list_secrets_and_put_each_schedule_in_its_bucket() {
    let files = render(&config(50, 0, "")).unwrap();
    let text = &files[0].1;
    assert!(text.contains("prod/db-00049/app-000049"), "secret listed");
    assert!(!text.contains("AllowRotationLambdaArn"));
    // Named at any size, so operators and `synth preflight` find it.
    assert!(text.contains("      FunctionName: \"fleet-rotation-function\""));
    assert!(!text.contains("Type: AWS::SecretsManager::RotationSchedule"));
    let placed = placement(&files);
    assert_eq!(placed.len(), 50);
    for i in 0..50 {
        let name = format!("db-{i:05}");
        let file = &placed[&format!("Db{i:05}RotationSchedule")].0;
        assert_eq!(
            *file,
            format!(
                "fleet.schedules-{:02}.template.yaml",
                synth::layout::bucket(&name)
            )
        );
    }
}

#[test]
fn the_secret_policy_does_not_grow_with_the_databases() {
    let sizes: Vec<usize> = [51, 500, 5000]
        .iter()
        .map(|&n| shapes(&config(n, 3, ""))[0].role_policy_chars.unwrap())
        .collect();
    assert!(sizes.iter().all(|&s| s == sizes[0]), "{sizes:?}");
    let files = render(&config(51, 3, "")).unwrap();
    let main = &files[0].1;
    assert!(main.contains("secretsmanager:resource/AllowRotationLambdaArn"));
    assert!(main.contains("function:fleet-rotation-function\""));
    assert!(main.contains("FunctionName: \"fleet-rotation-function\""));
    assert!(
        !main.contains("prod/db-00050/app-"),
        "rotated secrets are not listed"
    );
    // Master secrets are not rotated by this function: still listed.
    assert!(main.contains("prod/admin-00002/admin-000002"));
}

#[test]
fn many_kms_keys_become_the_keys_of_their_account_via_secrets_manager() {
    let mut source = config(20, 0, "");
    for i in 0..20 {
        source = source.replacen(
            "strategy: single-user,",
            &format!("strategy: single-user, kms_key_arn: \"arn:aws:kms:eu-west-1:123456789012:key/{i:08}-1234-4abc-8def-1234567890ab\",").replace("strategy: single-user", "strategy: single-user-x"),
            1,
        );
    }
    let source = source.replace("single-user-x", "single-user");
    let main = &render(&source).unwrap()[0].1;
    assert!(
        main.contains("- \"arn:aws:kms:eu-west-1:123456789012:key/*\""),
        "{main}"
    );
    assert!(
        !main.contains("key/00000019-"),
        "keys are not listed one by one"
    );
    assert!(main.contains("kms:ViaService"));
}

#[test]
fn schedules_split_into_nested_stacks_within_every_limit() {
    let files = render(&config(1001, 5, "")).unwrap();
    assert_eq!(files.len(), 1 + 32);
    assert_eq!(files[1].0, "fleet.schedules-00.template.yaml");
    assert_eq!(files[32].0, "fleet.schedules-31.template.yaml");
    let s = shapes(&config(1001, 5, ""));
    assert!(s[0].resources < 70, "{:?}", s[0]);
    assert_eq!(s[1..].iter().map(|s| s.resources).sum::<usize>(), 1001);
    for shape in &s {
        assert!(shape.resources <= 500 && shape.bytes <= 1_000_000 && shape.outputs <= 200);
        assert!(shape.parameters <= 200, "{shape:?}");
    }
    let main = &files[0].1;
    assert_eq!(main.matches("Type: AWS::CloudFormation::Stack").count(), 32);
    assert!(main.contains("TemplateURL: \"fleet.schedules-31.template.yaml\""));
    assert!(!main.contains("Type: AWS::SecretsManager::RotationSchedule"));
}

/// Every rotation schedule of a rendered stack: logical ID -> (file, the
/// resource as YAML).
fn placement(files: &[(String, String)]) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for (file, text) in files {
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).unwrap();
        for (id, resource) in doc["Resources"].as_mapping().unwrap() {
            if resource["Type"].as_str() == Some("AWS::SecretsManager::RotationSchedule") {
                let id = id.as_str().unwrap().to_owned();
                let body = serde_yaml_ng::to_string(resource).unwrap();
                assert!(
                    out.insert(id.clone(), (file.clone(), body)).is_none(),
                    "{id} twice"
                );
            }
        }
    }
    out
}

/// A config of the databases `ids` (numbers as in `config`), in that order.
fn config_of(ids: &[usize]) -> String {
    let full = config(1, 0, "");
    let head = &full[..full.find("  - {name: db-").unwrap()];
    let mut s = head.to_owned();
    for &i in ids {
        s.push_str(&format!(
            "  - {{name: db-{i:05}, engine: postgres, strategy: single-user, secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-{i:05}/app-{:06}, schedule: {{expression: rate(30 days)}}}}\n",
            i % 1_000_000
        ));
    }
    s
}

/// Asserts that every database in both configs keeps its schedule's logical
/// ID, its file (its stack) and its text.
fn assert_untouched_stay(before: &[usize], after: &[usize], what: &str) {
    let b = placement(&render(&config_of(before)).unwrap());
    let a = placement(&render(&config_of(after)).unwrap());
    for i in before.iter().filter(|i| after.contains(i)) {
        let id = format!("Db{i:05}RotationSchedule");
        assert!(b.contains_key(&id), "{what}: {id} not rendered");
        assert_eq!(b.get(&id), a.get(&id), "{what}: {id} moved or changed");
    }
    assert_eq!(a.len(), after.len(), "{what}");
    assert_eq!(b.len(), before.len(), "{what}");
}

/// A small deterministic generator (xorshift64*), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Random changes (adds, removes and swaps, up to four at once) of configs
/// of 1 to 1,200 databases, crossing the old 50-database threshold both ways:
/// no untouched database's schedule moves or changes. `PROPTEST_CASES` sets
/// the number of changes (default 24; `make fuzz` runs more).
#[test]
fn no_change_moves_an_untouched_schedule() {
    let cases: usize = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for case in 0..cases {
        let size = match case % 4 {
            0 => 1 + rng.below(60),
            1 => 45 + rng.below(12),
            2 => 1 + rng.below(300),
            _ => 900 + rng.below(300),
        };
        let mut before: Vec<usize> = (0..size * 2).filter(|_| rng.below(2) == 0).collect();
        before.truncate(size);
        if before.is_empty() {
            before.push(7);
        }
        let mut after = before.clone();
        let mut changes = Vec::new();
        for _ in 0..1 + rng.below(4) {
            match rng.below(3) {
                0 => {
                    let new = 5_000 + rng.below(5_000);
                    if !after.contains(&new) {
                        let at = rng.below(after.len() + 1);
                        after.insert(at, new);
                        changes.push(format!("add db-{new:05} at {at}"));
                    }
                }
                1 if after.len() > 1 => {
                    let at = rng.below(after.len());
                    changes.push(format!("remove db-{:05}", after[at]));
                    after.remove(at);
                }
                _ => {
                    let (x, y) = (rng.below(after.len()), rng.below(after.len()));
                    after.swap(x, y);
                    changes.push(format!("swap {x} and {y}"));
                }
            }
        }
        assert_untouched_stay(
            &before,
            &after,
            &format!("case {case}: {} databases, {changes:?}", before.len()),
        );
    }
}

#[test]
fn crossing_fifty_databases_moves_nothing() {
    let fifty: Vec<usize> = (0..50).collect();
    let fifty_one: Vec<usize> = (0..51).collect();
    assert_untouched_stay(&fifty, &fifty_one, "50 -> 51");
    assert_untouched_stay(&fifty_one, &fifty, "51 -> 50");
    assert_untouched_stay(&[3], &(0..600).collect::<Vec<_>>(), "1 -> 600");
}

/// At 10,000 databases: one added at the front and one removed from the
/// middle change only those two buckets' files and, in the main template, the
/// settings digest.
#[test]
fn at_ten_thousand_databases_a_change_touches_only_its_buckets() {
    let before: Vec<usize> = (0..10_000).collect();
    let mut after = before.clone();
    after.remove(5_000);
    after.insert(0, 20_000);
    let b = render(&config_of(&before)).unwrap();
    let a = render(&config_of(&after)).unwrap();
    assert_eq!(b.len(), a.len());
    let mut changed: Vec<String> = b
        .iter()
        .zip(&a)
        .filter(|(x, y)| x != y)
        .map(|(x, _)| x.0.clone())
        .collect();
    let mut expected = vec!["fleet.template.yaml".to_owned()];
    for name in ["db-05000", "db-20000"] {
        expected.push(format!(
            "fleet.schedules-{:02}.template.yaml",
            synth::layout::bucket(name)
        ));
    }
    expected.sort();
    expected.dedup();
    changed.sort();
    assert_eq!(changed, expected);
    let differ: Vec<(&str, &str)> = b[0]
        .1
        .lines()
        .zip(a[0].1.lines())
        .filter(|(x, y)| x != y)
        .collect();
    assert_eq!(differ.len(), 1, "{differ:?}");
    assert!(differ[0].0.contains("settings.json sha256"));
}

#[test]
fn the_retired_layout_keys_are_refused_with_the_fix() {
    for key in ["inline_schedules_max: 0", "schedules_per_nested_stack: 4"] {
        let err = render(&config(10, 0, &format!("  {key}\n"))).unwrap_err();
        let name = key.split(':').next().unwrap();
        assert!(
            err.contains(&format!("`layout.{name}` is retired"))
                && err.contains("fix: remove the key"),
            "{err}"
        );
    }
}

#[test]
fn the_main_template_does_not_grow_with_the_databases() {
    let small = shapes(&config(40, 0, ""))[0].resources;
    let large = shapes(&config(10_000, 20, ""));
    // The nested stacks: at most one per bucket.
    assert!(large[0].resources <= small + 32, "{small} {:?}", large[0]);
    assert!(large[1..].iter().all(|s| s.resources < 450), "{large:?}");
}

#[test]
fn too_many_master_secrets_fail_naming_the_policy_limit_and_the_fix() {
    // 2,000 databases, 200 distinct master secrets, each listed in the policy.
    let err = render(&config(2000, 200, "")).unwrap_err();
    assert!(err.contains("IAM's limit of 10240 characters"), "{err}");
    assert!(
        err.contains("fix:") && err.contains("master secrets"),
        "{err}"
    );
    // The same databases sharing 20 master secrets deploy.
    render(&config(2000, 20, "")).unwrap();
}

#[test]
fn large_renders_are_deterministic() {
    let source = config(1200, 7, "");
    assert_eq!(render(&source).unwrap(), render(&source).unwrap());
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synth-large-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn cli_writes_checks_and_prunes_nested_templates() {
    let cfg = scratch("fleet.yaml");
    let out = scratch("fleet.template.yaml");
    let nested = |name: &str| {
        scratch(&format!(
            "fleet.schedules-{:02}.template.yaml",
            synth::layout::bucket(name)
        ))
    };
    let render_to = |output: Option<PathBuf>| {
        execute(Args {
            command: Command::Render {
                config: cfg.clone(),
                output,
            },
        })
    };
    let check = || {
        execute(Args {
            command: Command::Check {
                config: cfg.clone(),
                against: out.clone(),
            },
        })
        .unwrap()
    };
    // Two databases in two buckets.
    let first = synth::layout::bucket("db-00000");
    let b = (1..100)
        .find(|i| synth::layout::bucket(&format!("db-{i:05}")) != first)
        .unwrap();
    std::fs::write(&cfg, config_of(&[0, b])).unwrap();
    // Stdout gets the main template only (and a note on stderr).
    assert_eq!(render_to(None).unwrap(), ExitCode::SUCCESS);

    assert_eq!(render_to(Some(out.clone())).unwrap(), ExitCode::SUCCESS);
    let (na, nb) = (nested("db-00000"), nested(&format!("db-{b:05}")));
    assert!(na.exists() && nb.exists());
    assert_eq!(check(), ExitCode::SUCCESS);

    // A nested template edited by hand is stale.
    let text = std::fs::read_to_string(&nb).unwrap();
    std::fs::write(&nb, text.replace("rate(30 days)", "rate(1 days)")).unwrap();
    assert_eq!(check(), ExitCode::FAILURE);

    // One database fewer: its bucket's template is left over until rendered again.
    std::fs::write(&cfg, config_of(&[0])).unwrap();
    assert_eq!(check(), ExitCode::FAILURE);
    assert_eq!(render_to(Some(out.clone())).unwrap(), ExitCode::SUCCESS);
    assert!(na.exists() && !nb.exists());
    assert_eq!(check(), ExitCode::SUCCESS);
}

/// The limits count resources, outputs and parameters from the lines of the
/// rendered templates: the counts must be what a YAML parser sees.
#[test]
fn line_counts_match_a_yaml_parse_of_every_example() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".template.yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        let len = |k: &str| {
            doc.get(k)
                .and_then(|v| v.as_mapping())
                .map_or(0, |m| m.len())
        };
        assert_eq!(
            synth::limits::count_sections(&text),
            (len("Resources"), len("Outputs"), len("Parameters")),
            "{}",
            path.display()
        );
        seen += 1;
    }
    assert!(seen > 3);
}
