//! In-memory Secrets Manager and databases, so the guard, the steps and the strategy choice can
//! be tested offline in microseconds, and explored by the protocol's model checker
//! (`tests/protocol_model.rs`).
//!
//! [`MemoryStore`] keeps versions and staging labels by Secrets Manager's documented rules
//! (a label is on at most one version; PutSecretValue is idempotent per ClientRequestToken and
//! refuses a different value; moving AWSCURRENT needs the version it leaves and gives that
//! version AWSPREVIOUS; versions without a label are not listed). [`MemoryConnector`] keeps
//! databases keyed by host and port whose users and passwords live in a map, and answers logins
//! the way the real drivers do ([`Connector`]'s contract: `Ok(None)` only for a wrong password).
//!
//! Both are handles to state behind `Arc<Mutex<..>>`: clones share it, the state is `Clone`,
//! `Eq` and `Hash`, and [`MemoryStore::snapshot`]/[`MemoryStore::restore`] (and the connector's)
//! take and put back the whole of it. Nothing here is random or depends on time. Every call can
//! be made to fail ([`Fault`]) before it takes effect or after (the effect happened, the answer
//! is lost), and a [`Gate`] sees each call before it runs, so a scheduler can interleave or stop
//! (crash) function instances at any call. `Debug` output never shows a stored value or a
//! password.
//!
//! By concern: [`faults`] (when a call fails, the gate), [`store`] (Secrets Manager), [`db`]
//! (the databases), [`rds`] (the RDS API) and [`refresh`] (the ECS and Lambda APIs that
//! refresh applications after a rotation).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::db::{Connector, Session};
use crate::error::RotationError;
use crate::rds::{ProxyLookupError, RdsDatabase, RdsDirectory, RdsProxy, same_host};
use crate::secret::{EngineFamily, Login, SecretValue, Tls};
use crate::store::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, SecretMetadata, SecretStore, Staged};

mod db;
mod faults;
mod rds;
mod refresh;
mod store;

pub use db::*;
pub use faults::*;
pub use rds::*;
pub use refresh::*;
pub use store::*;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock leaves consistent state: every change is
    // made in one go under it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
