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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::db::{Connector, Session};
use crate::error::RotationError;
use crate::rds::{RdsDatabase, RdsDirectory, same_host};
use crate::secret::{EngineFamily, Login, SecretValue, Tls};
use crate::store::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, SecretMetadata, SecretStore, Staged};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock leaves consistent state: every change is
    // made in one go under it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// Faults and the gate, shared by both fakes.

/// When an injected fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum When {
    /// The call fails and nothing happens.
    Before,
    /// The call takes effect, then fails: the answer is lost.
    After,
}

/// A call to fail: which operation (any when `None`), on which target (a secret id for the
/// store, a user name for the connector; any when `None`), the `nth` matching call counted from
/// when the fault was armed (once), or every matching call when `nth` is `None`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fault<Op, E> {
    pub op: Option<Op>,
    pub target: Option<String>,
    pub nth: Option<usize>,
    pub when: When,
    pub error: E,
}

impl<Op, E: Default> Fault<Op, E> {
    /// Every call of `op`, before it takes effect, with the default error.
    pub fn on(op: Op) -> Self {
        Self {
            op: Some(op),
            target: None,
            nth: None,
            when: When::Before,
            error: E::default(),
        }
    }

    /// Every call of any operation.
    pub fn any_call() -> Self {
        Self {
            op: None,
            target: None,
            nth: None,
            when: When::Before,
            error: E::default(),
        }
    }
}

impl<Op, E> Fault<Op, E> {
    /// Only the `n`-th matching call from now (1 is the next one), once.
    pub fn nth(mut self, n: usize) -> Self {
        self.nth = Some(n);
        self
    }

    /// Only the next matching call, once.
    pub fn once(self) -> Self {
        self.nth(1)
    }

    /// After the call took effect.
    pub fn after(mut self) -> Self {
        self.when = When::After;
        self
    }

    pub fn before(mut self) -> Self {
        self.when = When::Before;
        self
    }

    /// Only calls on this secret (store) or by this user (connector).
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn error(mut self, error: E) -> Self {
        self.error = error;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Armed<Op, E> {
    fault: Fault<Op, E>,
    seen: usize,
    fired: usize,
}

/// The faults armed on one fake.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Faults<Op, E> {
    armed: Vec<Armed<Op, E>>,
}

impl<Op, E> Default for Faults<Op, E> {
    fn default() -> Self {
        Self { armed: Vec::new() }
    }
}

impl<Op: Copy + PartialEq, E: Clone> Faults<Op, E> {
    fn arm(&mut self, fault: Fault<Op, E>) {
        self.armed.push(Armed {
            fault,
            seen: 0,
            fired: 0,
        });
    }

    /// Counts the call against every matching fault; the first that fires decides.
    fn strike(&mut self, op: Op, target: &str) -> Option<(When, E)> {
        let mut fired = None;
        for armed in &mut self.armed {
            let fault = &armed.fault;
            if fault.op.is_some_and(|o| o != op)
                || fault.target.as_deref().is_some_and(|t| t != target)
            {
                continue;
            }
            armed.seen += 1;
            let fires = fault.nth.is_none_or(|n| n == armed.seen);
            if fires && fired.is_none() {
                armed.fired += 1;
                fired = Some((fault.when, fault.error.clone()));
            }
        }
        fired
    }

    /// How many times the armed faults fired.
    pub fn fired(&self) -> usize {
        self.armed.iter().map(|a| a.fired).sum()
    }
}

/// Which fake a call went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    SecretsManager,
    Database,
}

/// One call, as a [`Gate`] sees it before it runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Call {
    pub service: Service,
    /// The operation's name ([`StoreOp::name`], [`DbOp::name`]).
    pub op: &'static str,
    /// The secret id (store) or the user name (connector).
    pub target: String,
}

/// Sees every call before it takes effect. A scheduler can await here to interleave function
/// instances, or never return to stop one (a crash before this call).
#[async_trait]
pub trait Gate: Send + Sync + fmt::Debug {
    async fn before(&self, call: &Call);
}

type SharedGate = Arc<Mutex<Option<Arc<dyn Gate>>>>;

async fn pass(gate: &SharedGate, call: impl FnOnce() -> Call) {
    let gate = lock(gate).clone();
    if let Some(gate) = gate {
        gate.before(&call()).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Secrets Manager.

/// The Secrets Manager operations [`SecretStore`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StoreOp {
    DescribeSecret,
    GetSecretValue,
    PutSecretValue,
    UpdateSecretVersionStage,
}

impl StoreOp {
    pub const ALL: [StoreOp; 4] = [
        Self::DescribeSecret,
        Self::GetSecretValue,
        Self::PutSecretValue,
        Self::UpdateSecretVersionStage,
    ];

    /// The API name, as the real store names the operation in its errors.
    pub fn name(self) -> &'static str {
        match self {
            Self::DescribeSecret => "DescribeSecret",
            Self::GetSecretValue => "GetSecretValue",
            Self::PutSecretValue => "PutSecretValue",
            Self::UpdateSecretVersionStage => "UpdateSecretVersionStage",
        }
    }
}

/// A failure of a Secrets Manager call, as the SDK reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SmFailure {
    /// The service answered with an error code.
    Service { code: String, message: String },
    /// No answer (timeout, no route): the SDK's dispatch failure.
    Timeout,
}

impl Default for SmFailure {
    fn default() -> Self {
        Self::service("InternalServiceError", "injected internal error")
    }
}

impl SmFailure {
    pub fn service(code: &str, message: &str) -> Self {
        Self::Service {
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }

    pub fn throttling() -> Self {
        Self::service("ThrottlingException", "Rate exceeded")
    }

    pub fn access_denied() -> Self {
        Self::service("AccessDeniedException", "injected access denied")
    }

    fn code(&self) -> Option<&str> {
        match self {
            Self::Service { code, .. } => Some(code),
            Self::Timeout => None,
        }
    }

    /// The error the real store makes of this failure: same variant, same hints.
    pub fn to_error(&self, op: StoreOp, secret: &str) -> RotationError {
        let hint = crate::store::failure_hint(self.code(), matches!(self, Self::Timeout));
        let detail = match self {
            Self::Service { code, message } => format!("{code}: {message}"),
            Self::Timeout => "dispatch failure: timeout: the request was not answered".into(),
        };
        RotationError::SecretsManager {
            op: op.name(),
            secret: secret.to_owned(),
            code: self.code().map(str::to_owned),
            detail,
            hint,
            source: None,
        }
    }

    fn not_found() -> Self {
        Self::service(
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret.",
        )
    }

    fn invalid_parameter(message: String) -> Self {
        Self::Service {
            code: "InvalidParameterException".into(),
            message,
        }
    }
}

/// A version's value: SecretString or SecretBinary.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Payload {
    Text(String),
    Binary(Vec<u8>),
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The length only: values hold passwords.
        match self {
            Self::Text(text) => write!(f, "Text({} bytes)", text.len()),
            Self::Binary(bytes) => write!(f, "Binary({} bytes)", bytes.len()),
        }
    }
}

/// One version of a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Version {
    /// `None` for the version RotateSecret creates before createSecret stores a value.
    pub payload: Option<Payload>,
    pub stages: BTreeSet<String>,
    /// The RotationToken the PutSecretValue that stored the value carried.
    pub rotation_token: Option<String>,
}

/// One secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Secret {
    pub versions: BTreeMap<String, Version>,
    pub tags: BTreeMap<String, String>,
    /// What DescribeSecret answers as `RotationEnabled`; `None` leaves the field out.
    pub rotation_enabled: Option<bool>,
    /// What DescribeSecret answers as `RotationLambdaARN`; `None` leaves the field out.
    pub rotation_lambda_arn: Option<String>,
}

impl Secret {
    /// The version carrying `stage`.
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, v)| v.stages.contains(stage))
            .map(|(id, _)| id.as_str())
    }

    /// Attaches `stage` to `version`, taking it from whichever version had it: a label is on
    /// at most one version.
    fn attach(&mut self, version: &str, stage: &str) {
        for v in self.versions.values_mut() {
            v.stages.remove(stage);
        }
        if let Some(v) = self.versions.get_mut(version) {
            v.stages.insert(stage.to_owned());
        }
    }

    /// DescribeSecret's `VersionIdsToStages`: versions without a label are not listed.
    fn labelled(&self) -> BTreeMap<String, Vec<String>> {
        self.versions
            .iter()
            .filter(|(_, v)| !v.stages.is_empty())
            .map(|(id, v)| (id.clone(), v.stages.iter().cloned().collect()))
            .collect()
    }
}

/// One call the store answered (or failed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreCall {
    pub op: StoreOp,
    pub secret: String,
}

/// Everything a [`MemoryStore`] holds: take it with [`MemoryStore::snapshot`], put it back with
/// [`MemoryStore::restore`]. `secrets` alone is the service's state; the rest is bookkeeping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct StoreState {
    pub secrets: BTreeMap<String, Secret>,
    pub calls: Vec<StoreCall>,
    pub faults: Faults<StoreOp, SmFailure>,
    next_version: u64,
}

impl StoreState {
    fn secret(&mut self, op: StoreOp, id: &str) -> Result<&mut Secret, RotationError> {
        self.secrets
            .get_mut(id)
            .ok_or_else(|| SmFailure::not_found().to_error(op, id))
    }

    fn new_version_id(&mut self) -> String {
        self.next_version += 1;
        format!("00000000-0000-4000-8000-{:012}", self.next_version)
    }
}

/// An in-memory Secrets Manager (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<StoreState>>,
    gate: SharedGate,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, StoreState> {
        lock(&self.state)
    }

    /// A copy of everything the store holds.
    pub fn snapshot(&self) -> StoreState {
        self.state().clone()
    }

    /// Puts back a snapshot (every handle sees it).
    pub fn restore(&self, state: &StoreState) {
        *self.state() = state.clone();
    }

    /// Lets `gate` see every call before it runs; `None` removes it.
    pub fn set_gate(&self, gate: Option<Arc<dyn Gate>>) {
        *lock(&self.gate) = gate;
    }

    // --- what an operator or the service does, outside the four calls (never counted) ---

    /// CreateSecret with a JSON value: one version, AWSCURRENT. Returns the version id.
    pub fn create_secret(&self, id: &str, value: &str) -> String {
        self.create_secret_with(id, Payload::Text(value.to_owned()))
    }

    /// CreateSecret with any payload (a SecretBinary, text that is not JSON).
    pub fn create_secret_with(&self, id: &str, payload: Payload) -> String {
        let mut state = self.state();
        let version = state.new_version_id();
        let mut secret = Secret::default();
        secret.versions.insert(
            version.clone(),
            Version {
                payload: Some(payload),
                stages: BTreeSet::from([AWSCURRENT.to_owned()]),
                rotation_token: None,
            },
        );
        state.secrets.insert(id.to_owned(), secret);
        version
    }

    /// PutSecretValue by an operator: a version `version` with `value` and `stages` (each moved
    /// from whichever version had it; moving AWSCURRENT gives the old version AWSPREVIOUS).
    pub fn put_version(&self, id: &str, version: &str, payload: Payload, stages: &[&str]) {
        let mut state = self.state();
        let secret = state.secrets.entry(id.to_owned()).or_default();
        let old_current = secret.version_with(AWSCURRENT).map(str::to_owned);
        secret.versions.insert(
            version.to_owned(),
            Version {
                payload: Some(payload),
                stages: BTreeSet::new(),
                rotation_token: None,
            },
        );
        for stage in stages {
            secret.attach(version, stage);
        }
        if stages.contains(&AWSCURRENT)
            && let Some(old) = old_current.filter(|old| old != version)
        {
            secret.attach(&old, AWSPREVIOUS);
        }
    }

    /// RotateSecret: rotation enabled, and a version `token` without a value staged AWSPENDING,
    /// as the service makes before it invokes createSecret. Refused, as by the service, while
    /// another version that is not AWSCURRENT is still AWSPENDING ("a previous rotation isn't
    /// complete").
    pub fn start_rotation(&self, id: &str, token: &str) -> Result<(), String> {
        let mut state = self.state();
        let secret = state
            .secrets
            .get_mut(id)
            .ok_or_else(|| format!("no secret `{id}`"))?;
        if let Some(pending) = secret.version_with(AWSPENDING)
            && pending != token
            && secret.version_with(AWSCURRENT) != Some(pending)
        {
            return Err(format!(
                "a previous rotation of `{id}` (version `{pending}`) isn't complete"
            ));
        }
        secret.rotation_enabled = Some(true);
        secret.versions.entry(token.to_owned()).or_default();
        secret.attach(token, AWSPENDING);
        Ok(())
    }

    /// What the service does when finishSecret succeeded: checks AWSCURRENT is on `token` and
    /// takes AWSPENDING off it.
    pub fn complete_rotation(&self, id: &str, token: &str) -> Result<(), String> {
        let mut state = self.state();
        let secret = state
            .secrets
            .get_mut(id)
            .ok_or_else(|| format!("no secret `{id}`"))?;
        if secret.version_with(AWSCURRENT) != Some(token) {
            return Err(format!("AWSCURRENT of `{id}` is not on version `{token}`"));
        }
        if let Some(version) = secret.versions.get_mut(token) {
            version.stages.remove(AWSPENDING);
        }
        Ok(())
    }

    /// CancelRotateSecret: rotation disabled; the labels stay where they are, as in the service.
    pub fn cancel_rotation(&self, id: &str) {
        self.set_rotation_enabled(id, Some(false));
    }

    /// What DescribeSecret answers as `RotationEnabled` (`None`: the field is left out).
    pub fn set_rotation_enabled(&self, id: &str, enabled: Option<bool>) {
        if let Some(secret) = self.state().secrets.get_mut(id) {
            secret.rotation_enabled = enabled;
        }
    }

    /// What DescribeSecret answers as `RotationLambdaARN` (`None`: the field is left out).
    pub fn set_rotation_function(&self, id: &str, arn: Option<&str>) {
        if let Some(secret) = self.state().secrets.get_mut(id) {
            secret.rotation_lambda_arn = arn.map(str::to_owned);
        }
    }

    /// UpdateSecretVersionStage by an operator, removing `stage` from `version` only.
    pub fn remove_stage(&self, id: &str, version: &str, stage: &str) {
        if let Some(v) = self
            .state()
            .secrets
            .get_mut(id)
            .and_then(|s| s.versions.get_mut(version))
        {
            v.stages.remove(stage);
        }
    }

    /// TagResource.
    pub fn set_tag(&self, id: &str, key: &str, value: &str) {
        if let Some(secret) = self.state().secrets.get_mut(id) {
            secret.tags.insert(key.to_owned(), value.to_owned());
        }
    }

    /// DeleteSecret, at once.
    pub fn delete_secret(&self, id: &str) {
        self.state().secrets.remove(id);
    }

    // --- reading the state (never counted) ---

    pub fn secret(&self, id: &str) -> Option<Secret> {
        self.state().secrets.get(id).cloned()
    }

    /// Every labelled version and its labels, as DescribeSecret lists them.
    pub fn stages(&self, id: &str) -> BTreeMap<String, Vec<String>> {
        self.state()
            .secrets
            .get(id)
            .map(Secret::labelled)
            .unwrap_or_default()
    }

    /// The version carrying `stage`.
    pub fn version_with(&self, id: &str, stage: &str) -> Option<String> {
        self.state()
            .secrets
            .get(id)
            .and_then(|s| s.version_with(stage))
            .map(str::to_owned)
    }

    /// The value staged `stage`, parsed (`None` when there is none or it is not JSON).
    pub fn value(&self, id: &str, stage: &str) -> Option<SecretValue> {
        let version = self.version_with(id, stage)?;
        self.value_of(id, &version)
    }

    /// The value of one version, parsed.
    pub fn value_of(&self, id: &str, version: &str) -> Option<SecretValue> {
        match self
            .state()
            .secrets
            .get(id)?
            .versions
            .get(version)?
            .payload
            .as_ref()?
        {
            Payload::Text(text) => SecretValue::parse(text).ok(),
            Payload::Binary(_) => None,
        }
    }

    // --- faults and counts ---

    /// Arms a fault.
    pub fn fail(&self, fault: Fault<StoreOp, SmFailure>) {
        self.state().faults.arm(fault);
    }

    pub fn clear_faults(&self) {
        self.state().faults = Faults::default();
    }

    /// How many times armed faults fired.
    pub fn faults_fired(&self) -> usize {
        self.state().faults.fired()
    }

    /// Every call, in order.
    pub fn calls(&self) -> Vec<StoreCall> {
        self.state().calls.clone()
    }

    /// Calls per operation name (operations never called are left out).
    pub fn call_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for call in &self.state().calls {
            *counts.entry(call.op.name()).or_default() += 1;
        }
        counts
    }

    pub fn calls_of(&self, op: StoreOp) -> usize {
        self.state().calls.iter().filter(|c| c.op == op).count()
    }

    pub fn reset_calls(&self) {
        self.state().calls.clear();
    }

    /// Lets the gate see the call, counts it and consults the faults; returns the locked state
    /// and the fault that fired, if any.
    async fn enter(
        &self,
        op: StoreOp,
        secret: &str,
    ) -> (MutexGuard<'_, StoreState>, Option<(When, SmFailure)>) {
        pass(&self.gate, || Call {
            service: Service::SecretsManager,
            op: op.name(),
            target: secret.to_owned(),
        })
        .await;
        let mut state = self.state();
        state.calls.push(StoreCall {
            op,
            secret: secret.to_owned(),
        });
        let fired = state.faults.strike(op, secret);
        (state, fired)
    }

    /// Runs one call: a fault before stops it, the effect runs under the lock, a fault after
    /// replaces its answer.
    async fn call<T>(
        &self,
        op: StoreOp,
        secret: &str,
        effect: impl FnOnce(&mut StoreState) -> Result<T, RotationError>,
    ) -> Result<T, RotationError> {
        let (mut state, fired) = self.enter(op, secret).await;
        if let Some((When::Before, failure)) = &fired {
            return Err(failure.to_error(op, secret));
        }
        let result = effect(&mut state)?;
        match fired {
            Some((When::After, failure)) => Err(failure.to_error(op, secret)),
            _ => Ok(result),
        }
    }
}

#[async_trait]
impl SecretStore for MemoryStore {
    async fn describe(&self, secret: &str) -> Result<SecretMetadata, RotationError> {
        self.call(StoreOp::DescribeSecret, secret, |state| {
            let s = state.secret(StoreOp::DescribeSecret, secret)?;
            Ok(SecretMetadata {
                arn: secret.starts_with("arn:").then(|| secret.to_owned()),
                name: Some(crate::steps::secret_name_of(secret).to_owned()),
                rotation_lambda_arn: s.rotation_lambda_arn.clone(),
                rotation_enabled: s.rotation_enabled,
                versions: s.labelled(),
                tags: s.tags.clone(),
            })
        })
        .await
    }

    async fn get(
        &self,
        secret: &str,
        which: Staged<'_>,
    ) -> Result<Option<SecretValue>, RotationError> {
        let op = StoreOp::GetSecretValue;
        let (state, fired) = self.enter(op, secret).await;
        // As the real store: ResourceNotFoundException (no such secret, version, stage, or a
        // version without a value) reads as `None`, whether the service or a fault says it.
        let fault = |failure: SmFailure| match failure.code() {
            Some("ResourceNotFoundException") => Ok(None),
            _ => Err(failure.to_error(op, secret)),
        };
        if let Some((When::Before, failure)) = fired {
            return fault(failure);
        }
        let payload = state.secrets.get(secret).and_then(|s| {
            let version = match which {
                Staged::Stage(stage) => s.versions.values().find(|v| v.stages.contains(stage)),
                Staged::Version(id, stage) => {
                    s.versions.get(id).filter(|v| v.stages.contains(stage))
                }
            };
            version.and_then(|v| v.payload.clone())
        });
        drop(state);
        if let Some((When::After, failure)) = fired {
            return fault(failure);
        }
        match payload {
            None => Ok(None),
            Some(Payload::Text(text)) => crate::store::read_value(secret, which, Some(&text)),
            Some(Payload::Binary(_)) => crate::store::read_value(secret, which, None),
        }
    }

    async fn put_pending(
        &self,
        secret: &str,
        token: &str,
        value: &SecretValue,
        rotation_token: Option<&str>,
    ) -> Result<(), RotationError> {
        let op = StoreOp::PutSecretValue;
        let text = value.to_json();
        self.call(op, secret, |state| {
            let s = state.secret(op, secret)?;
            match s.versions.get_mut(token) {
                // The same token with the same data: ignored, labels untouched.
                Some(Version {
                    payload: Some(existing),
                    ..
                }) if *existing == Payload::Text(text.clone()) => return Ok(()),
                Some(Version {
                    payload: Some(_), ..
                }) => {
                    return Err(SmFailure::service(
                        "ResourceExistsException",
                        "You can't modify an existing version, you can only create a new version.",
                    )
                    .to_error(op, secret));
                }
                // The version RotateSecret made gets its value.
                Some(stub) => {
                    stub.payload = Some(Payload::Text(text));
                    stub.rotation_token = rotation_token.map(str::to_owned);
                }
                None => {
                    s.versions.insert(
                        token.to_owned(),
                        Version {
                            payload: Some(Payload::Text(text)),
                            stages: BTreeSet::new(),
                            rotation_token: rotation_token.map(str::to_owned),
                        },
                    );
                }
            }
            s.attach(token, AWSPENDING);
            Ok(())
        })
        .await
    }

    async fn promote(
        &self,
        secret: &str,
        version: &str,
        from: Option<&str>,
    ) -> Result<(), RotationError> {
        let op = StoreOp::UpdateSecretVersionStage;
        self.call(op, secret, |state| {
            let s = state.secret(op, secret)?;
            if !s.versions.contains_key(version) {
                return Err(SmFailure::invalid_parameter(format!(
                    "Not a valid version: {version}"
                ))
                .to_error(op, secret));
            }
            // A version without a value (RotateSecret's) may be made AWSCURRENT: the
            // documentation names no rule against it.
            let holder = s.version_with(AWSCURRENT).map(str::to_owned);
            match (holder.as_deref(), from) {
                // Already there: nothing to move.
                (Some(holder), _) if holder == version => Ok(()),
                (Some(holder), Some(from)) if holder == from => {
                    s.attach(version, AWSCURRENT);
                    s.attach(holder, AWSPREVIOUS);
                    Ok(())
                }
                (Some(holder), _) => Err(SmFailure::invalid_parameter(format!(
                    "The parameter RemoveFromVersionId doesn't match. Staging label AWSCURRENT is \
                     currently attached to version {holder}, so you must explicitly reference \
                     that version in RemoveFromVersionId."
                ))
                .to_error(op, secret)),
                (None, Some(from)) => Err(SmFailure::invalid_parameter(format!(
                    "Version stage AWSCURRENT not found in version {from}"
                ))
                .to_error(op, secret)),
                (None, None) => {
                    s.attach(version, AWSCURRENT);
                    Ok(())
                }
            }
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------------
// Databases.

/// The [`Connector`] and [`Session`] operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DbOp {
    Login,
    SetOwnPassword,
    AccountHost,
    CloneUser,
    Verify,
}

impl DbOp {
    pub const ALL: [DbOp; 5] = [
        Self::Login,
        Self::SetOwnPassword,
        Self::AccountHost,
        Self::CloneUser,
        Self::Verify,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::SetOwnPassword => "set_own_password",
            Self::AccountHost => "account_host",
            Self::CloneUser => "clone_user",
            Self::Verify => "verify",
        }
    }

    /// What the call does, as the real sessions name it in [`RotationError::Database`].
    fn action(self) -> &'static str {
        match self {
            Self::Login => "log in",
            Self::SetOwnPassword => "change the password",
            Self::AccountHost => "read the account host",
            Self::CloneUser => "create the alternate user",
            Self::Verify => "run a test query",
        }
    }
}

/// A failure of a database call, as the real drivers report it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum DbFailure {
    /// The connection broke ([`RotationError::Database`]).
    #[default]
    ConnectionLost,
    /// [`RotationError::Unreachable`].
    Unreachable,
    /// [`RotationError::Tls`].
    Tls,
    /// [`RotationError::LoginRefused`].
    LoginRefused,
    /// [`RotationError::DatabaseTimeout`]: a lock held by another session.
    Timeout,
    /// A login answered "wrong password" (`Ok(None)`); on other calls, a lost connection.
    WrongPassword,
}

impl DbFailure {
    fn to_error(&self, op: DbOp, host: &str, port: u16, user: &str) -> RotationError {
        let (host, user) = (host.to_owned(), user.to_owned());
        match self {
            Self::ConnectionLost | Self::WrongPassword => RotationError::Database {
                host,
                port,
                action: op.action(),
                detail: "the connection was closed (injected)".into(),
                hint: "",
            },
            Self::Unreachable => RotationError::Unreachable {
                host,
                port,
                detail: "connection timed out (injected)".into(),
            },
            Self::Tls => RotationError::Tls {
                host,
                port,
                detail: "invalid peer certificate: UnknownIssuer (injected)".into(),
            },
            Self::LoginRefused => RotationError::LoginRefused {
                host,
                port,
                user,
                detail: "no pg_hba.conf entry (injected)".into(),
            },
            Self::Timeout => RotationError::DatabaseTimeout {
                host,
                port,
                action: op.action(),
                seconds: rotation_contract::env::DB_STATEMENT_TIMEOUT.default,
                detail: "canceling statement due to lock timeout (injected)".into(),
            },
        }
    }
}

/// One database user.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DbUser {
    pub password: String,
    /// `false`: the password is checked, then the login refused (NOLOGIN, a locked account).
    pub can_login: bool,
    /// May create users and grant (the master user).
    pub master: bool,
    /// Roles this user is a member of: a clone is a member of the user it was cloned from.
    pub member_of: BTreeSet<String>,
    /// Privileges of its own (`SUPERUSER`, `CREATEROLE`, a grant); a partner may hold none its
    /// user lacks.
    pub privileges: BTreeSet<String>,
}

impl fmt::Debug for DbUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbUser")
            .field("password", &"***")
            .field("can_login", &self.can_login)
            .field("master", &self.master)
            .field("member_of", &self.member_of)
            .field("privileges", &self.privileges)
            .finish()
    }
}

impl DbUser {
    pub fn new(password: &str) -> Self {
        Self {
            password: password.to_owned(),
            can_login: true,
            master: false,
            member_of: BTreeSet::new(),
            privileges: BTreeSet::new(),
        }
    }
}

/// One database server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemoryDatabase {
    pub family: EngineFamily,
    pub users: BTreeMap<String, DbUser>,
    /// The server has no TLS: a verified-TLS login fails with [`RotationError::Tls`].
    pub plaintext_only: bool,
    /// The server refuses plaintext logins (`rds.force_ssl`): [`RotationError::LoginRefused`].
    pub require_tls: bool,
    /// Stopped: every login is [`RotationError::Unreachable`].
    pub down: bool,
    /// Bumped by a restart; sessions opened before fail their next call.
    pub generation: u64,
}

impl MemoryDatabase {
    pub fn new(family: EngineFamily) -> Self {
        Self {
            family,
            users: BTreeMap::new(),
            plaintext_only: false,
            require_tls: false,
            down: false,
            generation: 0,
        }
    }

    /// With a login user.
    pub fn with_user(mut self, name: &str, password: &str) -> Self {
        self.users.insert(name.to_owned(), DbUser::new(password));
        self
    }

    /// With a master user (creates users, grants).
    pub fn with_master(mut self, name: &str, password: &str) -> Self {
        let mut user = DbUser::new(password);
        user.master = true;
        self.users.insert(name.to_owned(), user);
        self
    }

    pub fn password(&self, user: &str) -> Option<&str> {
        self.users.get(user).map(|u| u.password.as_str())
    }

    /// Whether `user` logs in with `password`.
    pub fn accepts(&self, user: &str, password: &str) -> bool {
        self.users
            .get(user)
            .is_some_and(|u| u.can_login && u.password == password)
    }
}

/// How a login attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginOutcome {
    Accepted,
    /// Wrong password or unknown user: `Ok(None)`.
    Rejected,
    /// Any error (unreachable, TLS, refused, injected).
    Failed,
}

/// One login attempt.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoginAttempt {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Whether the login asked for verified TLS.
    pub tls: bool,
    pub outcome: LoginOutcome,
}

impl LoginAttempt {
    pub fn accepted(&self) -> bool {
        self.outcome == LoginOutcome::Accepted
    }
}

/// One password a session set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PasswordChange {
    pub host: String,
    pub port: u16,
    /// The user whose password changed.
    pub user: String,
    /// The session's login user that changed it.
    pub by: String,
    /// The user was created by this change (a new alternate user).
    pub created: bool,
}

/// One call the connector or a session answered (or failed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DbCall {
    pub op: DbOp,
    /// The login user.
    pub user: String,
}

/// Everything a [`MemoryConnector`] holds. `databases` alone is the servers' state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ConnectorState {
    /// By host (lowercase, without a trailing dot) and port.
    pub databases: BTreeMap<(String, u16), MemoryDatabase>,
    pub logins: Vec<LoginAttempt>,
    pub password_changes: Vec<PasswordChange>,
    pub calls: Vec<DbCall>,
    pub faults: Faults<DbOp, DbFailure>,
    /// Sessions opened and not yet closed.
    pub open_sessions: usize,
}

fn key(host: &str, port: u16) -> (String, u16) {
    (host.trim_end_matches('.').to_ascii_lowercase(), port)
}

/// In-memory database servers behind the [`Connector`] trait (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct MemoryConnector {
    state: Arc<Mutex<ConnectorState>>,
    gate: SharedGate,
}

impl MemoryConnector {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, ConnectorState> {
        lock(&self.state)
    }

    pub fn snapshot(&self) -> ConnectorState {
        self.state().clone()
    }

    pub fn restore(&self, state: &ConnectorState) {
        *self.state() = state.clone();
    }

    pub fn set_gate(&self, gate: Option<Arc<dyn Gate>>) {
        *lock(&self.gate) = gate;
    }

    /// Adds (or replaces) the server at `host`:`port`.
    pub fn add_database(&self, host: &str, port: u16, database: MemoryDatabase) {
        self.state().databases.insert(key(host, port), database);
    }

    /// A copy of the server at `host`:`port`.
    pub fn database(&self, host: &str, port: u16) -> Option<MemoryDatabase> {
        self.state().databases.get(&key(host, port)).cloned()
    }

    /// Changes the server at `host`:`port` as an operator would (nothing is recorded).
    pub fn update<T>(
        &self,
        host: &str,
        port: u16,
        change: impl FnOnce(&mut MemoryDatabase) -> T,
    ) -> Option<T> {
        self.state().databases.get_mut(&key(host, port)).map(change)
    }

    /// A user's password on `host`:`port`.
    pub fn password(&self, host: &str, port: u16, user: &str) -> Option<String> {
        self.database(host, port)?.password(user).map(str::to_owned)
    }

    /// Restarts the server: sessions opened before fail their next call.
    pub fn restart(&self, host: &str, port: u16) {
        self.update(host, port, |db| db.generation += 1);
    }

    /// Every login attempt, in order.
    pub fn logins(&self) -> Vec<LoginAttempt> {
        self.state().logins.clone()
    }

    /// Every password set, in order.
    pub fn password_changes(&self) -> Vec<PasswordChange> {
        self.state().password_changes.clone()
    }

    pub fn open_sessions(&self) -> usize {
        self.state().open_sessions
    }

    pub fn fail(&self, fault: Fault<DbOp, DbFailure>) {
        self.state().faults.arm(fault);
    }

    pub fn clear_faults(&self) {
        self.state().faults = Faults::default();
    }

    pub fn faults_fired(&self) -> usize {
        self.state().faults.fired()
    }

    /// Every call, in order.
    pub fn calls(&self) -> Vec<DbCall> {
        self.state().calls.clone()
    }

    pub fn calls_of(&self, op: DbOp) -> usize {
        self.state().calls.iter().filter(|c| c.op == op).count()
    }

    /// Forgets the calls, logins and password changes recorded so far.
    pub fn reset_records(&self) {
        let mut state = self.state();
        state.calls.clear();
        state.logins.clear();
        state.password_changes.clear();
    }

    async fn enter(
        &self,
        op: DbOp,
        user: &str,
    ) -> (MutexGuard<'_, ConnectorState>, Option<(When, DbFailure)>) {
        pass(&self.gate, || Call {
            service: Service::Database,
            op: op.name(),
            target: user.to_owned(),
        })
        .await;
        let mut state = self.state();
        state.calls.push(DbCall {
            op,
            user: user.to_owned(),
        });
        let fired = state.faults.strike(op, user);
        (state, fired)
    }
}

/// What a login comes to, before faults after it.
enum Answer {
    Session(u64),
    Rejected,
    Failed(RotationError),
}

fn answer(state: &ConnectorState, login: &Login) -> Answer {
    let (host, port) = (login.host.clone(), login.port);
    let Some(db) = state
        .databases
        .get(&key(&login.host, login.port))
        .filter(|db| !db.down)
    else {
        return Answer::Failed(RotationError::Unreachable {
            host,
            port,
            detail: "Connection refused (os error 111)".into(),
        });
    };
    if db.family != login.engine.family() {
        return Answer::Failed(RotationError::Unreachable {
            host,
            port,
            detail: format!(
                "the server does not speak the {} protocol",
                login.engine.family().product()
            ),
        });
    }
    match login.tls {
        Tls::VerifyFull if db.plaintext_only => {
            return Answer::Failed(RotationError::Tls {
                host,
                port,
                detail: "the server does not support TLS".into(),
            });
        }
        Tls::Disabled if db.require_tls => {
            return Answer::Failed(RotationError::LoginRefused {
                host,
                port,
                user: login.username.clone(),
                detail: "the server requires TLS (SQLSTATE 28000)".into(),
            });
        }
        _ => {}
    }
    // The password is checked first (an unknown user looks the same as a wrong password), then
    // whether the user may log in.
    match db.users.get(&login.username) {
        Some(user) if user.password == login.password.expose_secret() => {
            if user.can_login {
                Answer::Session(db.generation)
            } else {
                Answer::Failed(RotationError::LoginRefused {
                    host,
                    port,
                    user: login.username.clone(),
                    detail: format!(
                        "role \"{}\" is not permitted to log in (SQLSTATE 28000)",
                        login.username
                    ),
                })
            }
        }
        _ => Answer::Rejected,
    }
}

#[async_trait]
impl Connector for MemoryConnector {
    async fn login(&self, login: &Login) -> Result<Option<Box<dyn Session>>, RotationError> {
        let (mut state, fired) = self.enter(DbOp::Login, &login.username).await;
        let record = |state: &mut ConnectorState, outcome| {
            state.logins.push(LoginAttempt {
                host: login.host.clone(),
                port: login.port,
                user: login.username.clone(),
                tls: login.tls == Tls::VerifyFull,
                outcome,
            })
        };
        let injected = |failure: DbFailure| match failure {
            DbFailure::WrongPassword => Ok(None),
            other => Err(other.to_error(DbOp::Login, &login.host, login.port, &login.username)),
        };
        if let Some((When::Before, failure)) = fired {
            let result = injected(failure);
            let outcome = if result.is_ok() {
                LoginOutcome::Rejected
            } else {
                LoginOutcome::Failed
            };
            record(&mut state, outcome);
            return result;
        }
        match answer(&state, login) {
            Answer::Failed(error) => {
                record(&mut state, LoginOutcome::Failed);
                Err(error)
            }
            Answer::Rejected => {
                record(&mut state, LoginOutcome::Rejected);
                if let Some((_, failure)) = fired {
                    return injected(failure);
                }
                Ok(None)
            }
            Answer::Session(generation) => {
                record(&mut state, LoginOutcome::Accepted);
                // A fault after: the server let the user in, the answer was lost.
                if let Some((_, failure)) = fired {
                    return injected(failure);
                }
                state.open_sessions += 1;
                Ok(Some(Box::new(MemorySession {
                    connector: self.clone(),
                    key: key(&login.host, login.port),
                    host: login.host.clone(),
                    port: login.port,
                    user: login.username.clone(),
                    generation,
                })))
            }
        }
    }
}

/// A session on a [`MemoryDatabase`].
#[derive(Debug)]
struct MemorySession {
    connector: MemoryConnector,
    key: (String, u16),
    host: String,
    port: u16,
    user: String,
    generation: u64,
}

impl MemorySession {
    fn database_error(&self, action: &'static str, detail: String) -> RotationError {
        RotationError::Database {
            host: self.host.clone(),
            port: self.port,
            action,
            detail,
            hint: "",
        }
    }

    /// Runs one call on the session's server: faults before and after, and a server that
    /// restarted or stopped since the login fails it.
    async fn call<T>(
        &self,
        op: DbOp,
        effect: impl FnOnce(&mut ConnectorState) -> Result<T, RotationError>,
    ) -> Result<T, RotationError> {
        let (mut state, fired) = self.connector.enter(op, &self.user).await;
        let failure = |failure: DbFailure| failure.to_error(op, &self.host, self.port, &self.user);
        if let Some((When::Before, f)) = fired {
            return Err(failure(f));
        }
        let alive = state
            .databases
            .get(&self.key)
            .is_some_and(|db| !db.down && db.generation == self.generation);
        if !alive {
            return Err(self.database_error(
                op.action(),
                "terminating connection due to administrator command (the server restarted)".into(),
            ));
        }
        let result = effect(&mut state)?;
        match fired {
            Some((_, f)) => Err(failure(f)),
            None => Ok(result),
        }
    }
}

#[async_trait]
impl Session for MemorySession {
    async fn set_own_password(
        &mut self,
        username: &str,
        password: &SecretString,
    ) -> Result<(), RotationError> {
        let password = password.expose_secret().to_owned();
        self.call(DbOp::SetOwnPassword, |state| {
            if username != self.user {
                return Err(self.database_error(
                    DbOp::SetOwnPassword.action(),
                    format!(
                        "the session's login user is `{}`, not `{username}`; no password was \
                         changed",
                        self.user
                    ),
                ));
            }
            let db = state.databases.get_mut(&self.key).expect("checked alive");
            let Some(user) = db.users.get_mut(username) else {
                return Err(self.database_error(
                    DbOp::SetOwnPassword.action(),
                    format!("role `{username}` does not exist"),
                ));
            };
            user.password = password;
            state.password_changes.push(PasswordChange {
                host: self.host.clone(),
                port: self.port,
                user: username.to_owned(),
                by: self.user.clone(),
                created: false,
            });
            Ok(())
        })
        .await
    }

    async fn account_host(&mut self) -> Result<Option<String>, RotationError> {
        self.call(DbOp::AccountHost, |_| Ok(None)).await
    }

    async fn clone_user(
        &mut self,
        template: &str,
        _host: Option<&str>,
        target: &str,
        password: &SecretString,
    ) -> Result<(), RotationError> {
        let password = password.expose_secret().to_owned();
        let action = DbOp::CloneUser.action();
        self.call(DbOp::CloneUser, |state| {
            let refuse = |problem: String| RotationError::UnsafePartner {
                user: target.to_owned(),
                problem,
            };
            let db = state.databases.get_mut(&self.key).expect("checked alive");
            if !db.users.get(&self.user).is_some_and(|u| u.master) {
                return Err(RotationError::Database {
                    host: self.host.clone(),
                    port: self.port,
                    action,
                    detail: format!("permission denied: `{}` may not create users", self.user),
                    hint: "; check the master user may create users and grant privileges",
                });
            }
            if target == self.user {
                return Err(refuse(format!(
                    "`{target}` is the master user this function logs in as"
                )));
            }
            let Some(template_user) = db.users.get(template).cloned() else {
                return Err(self.database_error(
                    action,
                    format!("`{template}` does not exist; AWSCURRENT names a user that is gone"),
                ));
            };
            if template_user.master || template == self.user {
                return Err(RotationError::UnsafeTemplate {
                    user: template.to_owned(),
                    problem: format!("`{template}` is a master user"),
                });
            }
            let created = match db.users.get_mut(target) {
                None => {
                    let mut user = DbUser::new(&password);
                    user.member_of.insert(template.to_owned());
                    db.users.insert(target.to_owned(), user);
                    true
                }
                Some(user) => {
                    if user.master {
                        return Err(refuse(format!("`{target}` is a master user")));
                    }
                    let extra: Vec<&str> = user
                        .privileges
                        .difference(&template_user.privileges)
                        .map(String::as_str)
                        .collect();
                    if !extra.is_empty() {
                        return Err(refuse(format!(
                            "`{target}` holds {} which `{template}` does not",
                            extra.join(", ")
                        )));
                    }
                    let target_is_clone = user.member_of.contains(template);
                    let template_is_clone = template_user.member_of.contains(target);
                    if !target_is_clone && !template_is_clone {
                        return Err(refuse(format!(
                            "`{target}` is not this pair's partner: neither it nor `{template}` \
                             is a member of the other"
                        )));
                    }
                    if target_is_clone && user.member_of.len() > 1 {
                        return Err(refuse(format!(
                            "`{target}` is a member of other roles than `{template}`"
                        )));
                    }
                    user.password = password;
                    user.can_login = true;
                    false
                }
            };
            state.password_changes.push(PasswordChange {
                host: self.host.clone(),
                port: self.port,
                user: target.to_owned(),
                by: self.user.clone(),
                created,
            });
            Ok(())
        })
        .await
    }

    async fn rehearse_own_password(&mut self, username: &str) -> Result<(), RotationError> {
        if username != self.user {
            return Err(self.database_error(
                DbOp::SetOwnPassword.action(),
                format!(
                    "the session's login user is `{}`, not `{username}`; a rotation would refuse \
                     to change the password",
                    self.user
                ),
            ));
        }
        Ok(())
    }

    /// The whole clone, then the users and the change log put back as they were: the
    /// PostgreSQL rehearsal's rolled-back transaction.
    async fn rehearse_clone(
        &mut self,
        template: &str,
        host: Option<&str>,
        target: &str,
    ) -> Result<(), RotationError> {
        let saved = {
            let state = self.connector.state();
            (state.databases.clone(), state.password_changes.len())
        };
        let throwaway = SecretString::from("rehearsal-only-password");
        let result = self.clone_user(template, host, target, &throwaway).await;
        let mut state = self.connector.state();
        state.databases = saved.0;
        state.password_changes.truncate(saved.1);
        result
    }

    async fn verify(&mut self) -> Result<(), RotationError> {
        self.call(DbOp::Verify, |_| Ok(())).await
    }

    async fn close(self: Box<Self>) {
        let mut state = self.connector.state();
        state.open_sessions = state.open_sessions.saturating_sub(1);
    }
}

// ---------------------------------------------------------------------------------------------
// The RDS API.

/// RDS databases by instance or cluster ARN, for RDS-managed master secrets.
#[derive(Debug, Clone, Default)]
pub struct MemoryRds {
    pub databases: BTreeMap<String, RdsDatabase>,
}

impl MemoryRds {
    pub fn with(mut self, database: RdsDatabase) -> Self {
        self.databases.insert(database.arn.clone(), database);
        self
    }

    fn find(&self, arn: &str, what: &str) -> Result<RdsDatabase, String> {
        self.databases
            .get(arn)
            .cloned()
            .ok_or_else(|| format!("{what}NotFound: `{arn}` not found"))
    }

    /// Whether `host` is one of the known databases' names.
    pub fn knows(&self, host: &str) -> bool {
        self.databases
            .values()
            .any(|db| db.hosts.iter().any(|h| same_host(h, host)))
    }
}

#[async_trait]
impl RdsDirectory for MemoryRds {
    async fn instance(&self, arn: &str) -> Result<RdsDatabase, String> {
        self.find(arn, "DBInstance")
    }

    async fn cluster(&self, arn: &str) -> Result<RdsDatabase, String> {
        self.find(arn, "DBCluster")
    }
}
