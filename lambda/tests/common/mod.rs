//! Shared harness of the integration tests (and of the bench): the moto server as Secrets
//! Manager, the throwaway PostgreSQL and MariaDB servers, and a rotator wired to them as Secrets
//! Manager would drive it.
//!
//! Each test creates its own database users and secrets with unique names, so tests run in
//! parallel without sharing state. A test that needs the servers starts with `needs_servers!()`
//! (`per_engine!` does it for its tests): without them it is skipped with one line, and under
//! `make test` it fails instead. The parts, each in its own file:
//!
//! - `env`: where the servers are, the skip rule, fresh names and tokens;
//! - `admin`: which server a test means ([`Kind`]) and administrator connections ([`Admin`]);
//! - `spies`: counting and fault-injecting wrappers of the secret store and the connector (the
//!   faults are the in-memory fakes');
//! - `harness`: the rotator wired to moto and the servers ([`Harness`]);
//! - [`pair`]: alternating-users fixtures and application connections.
//!
//! Tests use the names re-exported here, and `common::pair::*`.

// Each test binary compiles the whole harness and uses a part of it.
#![allow(dead_code, unused_imports)]

/// Taken first by the tests that change a setting or hold a lock for a whole server, and by the
/// log capture, so they never run at the same time (see `tests/server_wide.rs`).
pub static SERVER_WIDE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The first line of a test that needs the servers: when they are not configured, prints one
/// `skipped <test>` line and returns (the test passes), unless `ROTATION_TEST_REQUIRE_SERVERS=1`
/// (as under `make test`), which makes it fail. See [`servers`].
#[allow(unused_macros)]
macro_rules! needs_servers {
    () => {
        if crate::common::servers().is_none() {
            return;
        }
    };
}

/// Generates one `#[tokio::test]` per engine for each scenario: `scenario(Kind)` must be in
/// scope where the macro is used. Each test needs the servers.
#[allow(unused_macros)]
macro_rules! per_engine {
    ($($scenario:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test] async fn $scenario() {
                needs_servers!();
                super::$scenario(super::Kind::Postgres).await
            })*
        }
        mod postgres_new {
            $(#[tokio::test] async fn $scenario() {
                needs_servers!();
                super::$scenario(super::Kind::PostgresNew).await
            })*
        }
        mod mariadb {
            $(#[tokio::test] async fn $scenario() {
                needs_servers!();
                super::$scenario(super::Kind::MariaDb).await
            })*
        }
    };
}

mod admin;
mod env;
mod harness;
pub mod pair;
mod spies;

pub use admin::{Admin, Kind};
pub use env::{REQUIRE_SERVERS, TestEnv, env, new_token, servers, servers_for, unique};
pub use harness::{Harness, TestRotator, rds_client, sm_client};
pub use spies::{
    CountingConnector, CountingStore, DbFaults, FaultPlan, FaultyConnector, FaultySession,
    FaultyStore, Stats, StoreFaults,
};
