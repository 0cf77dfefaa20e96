//! The in-memory Secrets Manager.

use super::*;

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
    /// What DescribeSecret answers as `LastRotatedDate` (seconds since the epoch): set by
    /// the test, since nothing here reads a clock.
    pub last_rotated: Option<i64>,
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
    /// Sets what DescribeSecret answers as `LastRotatedDate`.
    pub fn set_last_rotated(&self, id: &str, secs: Option<i64>) {
        if let Some(secret) = lock(&self.state).secrets.get_mut(id) {
            secret.last_rotated = secs;
        }
    }

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

/// The operator's reads, for the operator actions' offline tests. Listing and moving stages
/// by hand are not modelled.
#[async_trait]
impl crate::store::SecretAdmin for MemoryStore {
    async fn details(&self, secret: &str) -> Result<crate::store::SecretDetails, RotationError> {
        let metadata = self.describe(secret).await?;
        let last_rotated = self.secret(secret).and_then(|s| s.last_rotated);
        Ok(crate::store::SecretDetails {
            arn: metadata.arn.unwrap_or_default(),
            name: metadata.name.unwrap_or_default(),
            rotation_enabled: metadata.rotation_enabled,
            rotation_lambda_arn: metadata.rotation_lambda_arn,
            last_rotated: last_rotated.map(crate::store::DateTime::from_secs),
            versions: metadata.versions,
            ..crate::store::SecretDetails::default()
        })
    }

    async fn versions(
        &self,
        secret: &str,
    ) -> Result<Vec<crate::store::VersionInfo>, RotationError> {
        Ok(self
            .stages(secret)
            .into_iter()
            .map(|(id, stages)| crate::store::VersionInfo {
                id,
                stages,
                created: None,
            })
            .collect())
    }

    async fn value_of(
        &self,
        secret: &str,
        version: &str,
    ) -> Result<Option<SecretValue>, RotationError> {
        Ok(MemoryStore::value_of(self, secret, version))
    }

    async fn move_stage(
        &self,
        secret: &str,
        _stage: &str,
        _to: Option<&str>,
        _from: Option<&str>,
    ) -> Result<(), RotationError> {
        Err(RotationError::InvalidEvent(format!(
            "the in-memory store does not move stages by hand (`{secret}`)"
        )))
    }

    async fn rotated_by(
        &self,
        _function_arn: &str,
    ) -> Result<Vec<crate::store::SecretDetails>, RotationError> {
        Ok(Vec::new())
    }
}
