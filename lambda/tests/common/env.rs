//! Where the test servers are, and whether they are there at all; and fresh names for what tests
//! create on them.
//!
//! `make test` starts the servers and exports their addresses as `ROTATION_TEST_*` variables
//! (scripts/testenv.sh writes them to .testenv/env). A test that needs the servers says so first
//! ([`servers`], or `needs_servers!()`, built into `per_engine!`): without the variables it
//! prints one `skipped` line and passes, so `cargo test` on a fresh checkout passes. The env file
//! also sets `ROTATION_TEST_REQUIRE_SERVERS=1`, which turns a skip into a failure: under
//! `make test` every integration test runs, or the run fails.

use std::cell::RefCell;
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use rand::Rng;

/// Set to `1` (the env file `make test` loads does) to fail, not skip, without the servers.
pub const REQUIRE_SERVERS: &str = "ROTATION_TEST_REQUIRE_SERVERS";

/// How to get the servers, for skip and failure messages.
const HOW: &str = "run `make test`, or `make testenv-up` then `. .testenv/env`";

/// Where `make test` started everything.
#[derive(Debug)]
pub struct TestEnv {
    pub sm_endpoint: String,
    pub ca: PathBuf,
    pub pg_port: u16,
    pub pg_plain_port: u16,
    pub pg_admin: String,
    pub pg_admin_password: String,
    pub pg_log: PathBuf,
    /// The PostgreSQL 16+ server (TLS only), with the same administrator.
    pub pg_new_port: u16,
    pub pg_new_version: u16,
    /// A CA that signed nothing the servers use.
    pub other_ca: PathBuf,
    pub my_port: u16,
    pub my_plain_port: u16,
    pub my_admin: String,
    pub my_admin_password: String,
    pub my_log: PathBuf,
    /// The binary log's index file of the MariaDB TLS server.
    pub my_binlog: PathBuf,
}

/// The variables that are not set, out of how many the harness reads.
#[derive(Debug)]
struct Missing {
    names: Vec<&'static str>,
    of: usize,
}

fn load() -> &'static Result<TestEnv, Missing> {
    static ENV: OnceLock<Result<TestEnv, Missing>> = OnceLock::new();
    ENV.get_or_init(|| {
        let (missing, read) = (RefCell::new(Vec::new()), RefCell::new(0));
        let var = |name: &'static str| {
            *read.borrow_mut() += 1;
            match std::env::var(name) {
                Ok(value) if !value.is_empty() => value,
                _ => {
                    missing.borrow_mut().push(name);
                    String::new()
                }
            }
        };
        let port = |name: &'static str| match var(name) {
            value if value.is_empty() => 0,
            value => value
                .parse::<u16>()
                .unwrap_or_else(|_| panic!("{name} is `{value}`, not a port number")),
        };
        let env = TestEnv {
            sm_endpoint: var("ROTATION_TEST_SM_ENDPOINT"),
            ca: var("ROTATION_TEST_CA").into(),
            pg_port: port("ROTATION_TEST_PG_PORT"),
            pg_plain_port: port("ROTATION_TEST_PG_PLAIN_PORT"),
            pg_admin: var("ROTATION_TEST_PG_ADMIN_USER"),
            pg_admin_password: var("ROTATION_TEST_PG_ADMIN_PASSWORD"),
            pg_log: var("ROTATION_TEST_PG_LOG").into(),
            pg_new_port: port("ROTATION_TEST_PG_NEW_PORT"),
            pg_new_version: port("ROTATION_TEST_PG_NEW_VERSION"),
            other_ca: var("ROTATION_TEST_OTHER_CA").into(),
            my_port: port("ROTATION_TEST_MARIADB_PORT"),
            my_plain_port: port("ROTATION_TEST_MARIADB_PLAIN_PORT"),
            my_admin: var("ROTATION_TEST_MARIADB_ADMIN_USER"),
            my_admin_password: var("ROTATION_TEST_MARIADB_ADMIN_PASSWORD"),
            my_log: var("ROTATION_TEST_MARIADB_LOG").into(),
            my_binlog: var("ROTATION_TEST_MARIADB_BINLOG").into(),
        };
        let (names, of) = (missing.into_inner(), read.into_inner());
        if names.is_empty() {
            Ok(env)
        } else {
            Err(Missing { names, of })
        }
    })
}

fn required() -> bool {
    std::env::var(REQUIRE_SERVERS).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The running test's name: libtest runs each test on a thread named after it.
fn current_test() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_owned(),
        _ => "this test".to_owned(),
    }
}

/// The servers, for the test that calls it first thing; `None` after one `skipped` line on
/// stderr when they are not configured. Panics instead when `ROTATION_TEST_REQUIRE_SERVERS=1`
/// (as under `make test`), and when only some of the variables are set (a stale env file).
pub fn servers() -> Option<&'static TestEnv> {
    servers_for(&current_test())
}

/// [`servers`] for something other than a libtest test (the bench), named `what`.
pub fn servers_for(what: &str) -> Option<&'static TestEnv> {
    let missing = match load() {
        Ok(env) => return Some(env),
        Err(missing) => missing,
    };
    let none = missing.names.len() == missing.of;
    let unset = if none {
        "no ROTATION_TEST_* variable is set".to_owned()
    } else {
        format!("{} not set", missing.names.join(", "))
    };
    if required() {
        panic!("{what} needs the test servers and {REQUIRE_SERVERS} is set, but {unset}: {HOW}");
    }
    if !none {
        panic!(
            "{what} needs the test servers, but only some ROTATION_TEST_* variables are set \
             ({unset}): `scripts/testenv.sh up` rewrites .testenv/env, then `. .testenv/env`"
        );
    }
    // Straight to the stream: libtest captures `eprintln!` of passing tests, and a skip must
    // show.
    let line = format!("skipped {what}: needs the test servers ({HOW})\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    None
}

/// The servers, for helpers of tests that already checked with [`servers`].
pub fn env() -> &'static TestEnv {
    match load() {
        Ok(env) => env,
        Err(missing) => panic!(
            "{} not set: a test that uses the servers starts with `needs_servers!()` \
             (or `common::servers()`); {HOW}",
            missing.names.join(", ")
        ),
    }
}

/// A fresh name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{:08x}", rand::rng().random::<u32>())
}

/// A version id, as Secrets Manager makes them.
pub fn new_token() -> String {
    let mut rng = rand::rng();
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        rng.random::<u32>(),
        rng.random::<u16>(),
        rng.random::<u16>() & 0xfff,
        rng.random::<u16>() & 0xfff,
        rng.random::<u64>() & 0xffff_ffff_ffff
    )
}
