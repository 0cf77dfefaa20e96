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
//! later), and the cache is bounded, oldest first out. A stage is resolved only through the
//! latest DescribeSecret, of the same secret, with no write since: never through stages an
//! earlier step, or a step of another secret, saw.

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
        // Only the latest DescribeSecret resolves stages: each step starts with its own, so a
        // read in a later step (or of another secret, such as the master secret) never
        // resolves a stage through stages an earlier step saw.
        let mut cache = self.cache();
        cache.stages.clear();
        cache
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
        // The version now holds exactly this value, for good; the stages have moved.
        let mut cache = self.cache();
        cache.insert((secret.to_owned(), token.to_owned()), value.clone());
        cache.stages.remove(secret);
        Ok(())
    }

    async fn promote(
        &self,
        secret: &str,
        version: &str,
        from: Option<&str>,
    ) -> Result<(), RotationError> {
        let result = self.inner.promote(secret, version, from).await;
        // Whatever the answer, the stages may have moved.
        self.cache().stages.remove(secret);
        result
    }

    fn cached(&self, secret: &str, version: &str) -> Option<SecretValue> {
        self.cache()
            .values
            .get(&(secret.to_owned(), version.to_owned()))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::MemoryStore;
    use crate::store::AWSCURRENT;

    const SECRET: &str = "s";

    fn value(password: &str) -> String {
        format!(r#"{{"engine":"postgres","host":"h","username":"u","password":"{password}"}}"#)
    }

    async fn current(store: &CachingStore<MemoryStore>) -> String {
        let value = store.get(SECRET, Staged::Stage(AWSCURRENT)).await.unwrap();
        value.unwrap().str_field("password").unwrap().to_owned()
    }

    #[tokio::test]
    async fn stages_seen_by_an_earlier_step_never_answer_a_later_read() {
        let memory = MemoryStore::new();
        memory.create_secret(SECRET, &value("one"));
        let store = CachingStore::new(memory.clone());
        store.describe(SECRET).await.unwrap();
        assert_eq!(current(&store).await, "one");

        // This instance promotes a new version: its next read sees it.
        memory.put_version(SECRET, "v2", crate::fakes::Payload::Text(value("two")), &[]);
        let from = memory.version_with(SECRET, AWSCURRENT);
        store.promote(SECRET, "v2", from.as_deref()).await.unwrap();
        assert_eq!(current(&store).await, "two");

        // Another secret's DescribeSecret (a master secret, say) forgets this one's stages, and
        // a change made elsewhere is then read, not answered from the cache.
        store.describe(SECRET).await.unwrap();
        memory.create_secret("other", &value("x"));
        store.describe("other").await.unwrap();
        memory.put_version(
            SECRET,
            "v3",
            crate::fakes::Payload::Text(value("three")),
            &[],
        );
        let from = memory.version_with(SECRET, AWSCURRENT);
        memory.promote(SECRET, "v3", from.as_deref()).await.unwrap();
        assert_eq!(current(&store).await, "three");
    }
}
