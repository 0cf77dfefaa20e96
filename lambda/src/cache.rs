//! Fewer Secrets Manager calls from a warm function: a version's value never changes once
//! written, so values read or written are kept, keyed by secret and version id.
//!
//! The four steps of a rotation usually run in one warm instance. Each step's guard still calls
//! DescribeSecret (stages move between steps, and the guard must see them as they are); the
//! cache only answers reads of a version whose value it already holds, resolving a stage to its
//! version through the stages that same step's DescribeSecret returned. A warm rotation then
//! makes 8 calls (4 DescribeSecret, the AWSCURRENT read, the check for an existing pending
//! value, PutSecretValue, UpdateSecretVersionStage); a cold one, each step in a new instance,
//! makes the 11 it always did. Absent values are never cached (a version may get its value
//! later), and the cache is bounded, oldest first out.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::RotationError;
use crate::secret::SecretValue;
use crate::store::{SecretMetadata, SecretStore, Staged};

/// How many values a warm instance keeps: a rotation needs two or three per secret, and the
/// function may rotate many secrets.
pub const CAPACITY: usize = 256;

/// A [`SecretStore`] that remembers the values of versions.
#[derive(Debug)]
pub struct CachingStore<S> {
    inner: S,
    state: Mutex<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    /// (secret, version id) -> value.
    values: BTreeMap<(String, String), SecretValue>,
    /// Insertion order, for eviction.
    order: VecDeque<(String, String)>,
    /// The stages of each secret as its last DescribeSecret saw them.
    stages: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl Cache {
    fn insert(&mut self, key: (String, String), value: SecretValue) {
        if self.values.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
            while self.order.len() > CAPACITY {
                if let Some(oldest) = self.order.pop_front() {
                    self.values.remove(&oldest);
                }
            }
        }
    }

    /// The version a read means, by the stages the last DescribeSecret of `secret` returned.
    fn version_for(&self, secret: &str, which: Staged<'_>) -> Option<String> {
        let stages = self.stages.get(secret)?;
        match which {
            Staged::Stage(stage) => stages
                .iter()
                .find(|(_, labels)| labels.iter().any(|l| l == stage))
                .map(|(id, _)| id.clone()),
            Staged::Version(id, stage) => stages
                .get(id)
                .filter(|labels| labels.iter().any(|l| l == stage))
                .map(|_| id.to_owned()),
        }
    }
}

impl<S: SecretStore> CachingStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            state: Mutex::new(Cache::default()),
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        // A panic while holding the lock leaves only a cache behind: use it anyway.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl<S: SecretStore> SecretStore for CachingStore<S> {
    async fn describe(&self, secret: &str) -> Result<SecretMetadata, RotationError> {
        let metadata = self.inner.describe(secret).await?;
        self.cache()
            .stages
            .insert(secret.to_owned(), metadata.versions.clone());
        Ok(metadata)
    }

    async fn get(
        &self,
        secret: &str,
        which: Staged<'_>,
    ) -> Result<Option<SecretValue>, RotationError> {
        let version = self.cache().version_for(secret, which);
        let Some(version) = version else {
            // Not known from this step's DescribeSecret: ask, and keep nothing (the answer does
            // not say which version it came from).
            return self.inner.get(secret, which).await;
        };
        let key = (secret.to_owned(), version);
        if let Some(value) = self.cache().values.get(&key) {
            return Ok(Some(value.clone()));
        }
        // Ask for exactly the version the stages named, so the value can be kept under it.
        let value = self
            .inner
            .get(secret, Staged::Version(&key.1, which.stage()))
            .await?;
        if let Some(value) = &value {
            self.cache().insert(key, value.clone());
        }
        Ok(value)
    }

    async fn put_pending(
        &self,
        secret: &str,
        token: &str,
        value: &SecretValue,
        rotation_token: Option<&str>,
    ) -> Result<(), RotationError> {
        self.inner
            .put_pending(secret, token, value, rotation_token)
            .await?;
        // The version now holds exactly this value, for good.
        self.cache()
            .insert((secret.to_owned(), token.to_owned()), value.clone());
        Ok(())
    }

    async fn promote(
        &self,
        secret: &str,
        version: &str,
        from: Option<&str>,
    ) -> Result<(), RotationError> {
        self.inner.promote(secret, version, from).await
    }

    fn cached(&self, secret: &str, version: &str) -> Option<SecretValue> {
        self.cache()
            .values
            .get(&(secret.to_owned(), version.to_owned()))
            .cloned()
    }
}
