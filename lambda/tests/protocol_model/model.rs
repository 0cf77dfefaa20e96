//! The explorer behind `tests/protocol_model.rs` (see its documentation for what is modelled).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use async_trait::async_trait;
use rotation::cache::CachingStore;
use rotation::fakes::{
    Call, DbFailure, DbOp, Fault, Gate, MemoryConnector, MemoryDatabase, MemoryStore, Payload,
    Service, SmFailure, StoreOp,
};
use rotation::secret::{EngineFamily, SecretValue};
use rotation::store::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, SecretMetadata, SecretStore, Staged};
use rotation::{Config, RotationError, RotationEvent, Rotator, Step};
use serde_json::json;

const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/app-AbCdEf";
const MASTER: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/master-GhIjKl";
const HOST: &str = "orders.db.internal";
const PORT: u16 = 5432;
const APP_PASSWORD: &str = "app-initial-Pa55word";
const MASTER_PASSWORD: &str = "master-initial-Pa55word";
const STEPS: [Step; 4] = [Step::Create, Step::Set, Step::Test, Step::Finish];
/// The rotation's token, the one a cancel-and-restart starts, and the one the convergence
/// check starts when the rotation was complete.
const TOKENS: [&str; 3] = [
    "00000000-aaaa-4bbb-8ccc-000000000001",
    "00000000-aaaa-4bbb-8ccc-000000000002",
    "00000000-aaaa-4bbb-8ccc-000000000009",
];
/// Function instances (and so concurrent invocations).
pub const SLOTS: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    Single,
    Alternating,
}

/// How far the search goes.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// Crashes and injected call failures in one run.
    pub crashes: u8,
    /// Invocations started while another one runs (two run at once at most: [`SLOTS`]).
    pub overlaps: u8,
    /// Whether a step may start on a warm instance even when a cold one is possible, and on a
    /// cold one when a warm one is there; without, a slot's instance is reused until it dies.
    pub cold_starts: bool,
    /// Whether calls may fail (before or after their effect) with the instance living on.
    pub faults: bool,
    /// Whether one cancel-and-restart with a new token may happen.
    pub cancel: bool,
    /// Whether the cancel-and-restart may come while an invocation runs (which then goes on
    /// as a zombie of the cancelled token); without, only between invocations.
    pub zombies: bool,
    /// Whether the cancel-and-restart may also come after the rotation completed (a second
    /// rotation, as a new RotateSecret would start).
    pub second_rotation: bool,
    /// Whether the database may restart once (while a session is open).
    pub restart: bool,
    /// Whether Secrets Manager may invoke a step again after later ones succeeded (it restarts
    /// a failed rotation at createSecret); without, only the next step or the failed one.
    pub rerun_earlier: bool,
    /// Whether the secret retires its previous user ([`GRACE`] after finishSecret), and the
    /// grace may pass once, at any moment.
    pub retire: bool,
}

impl Bound {
    /// `make test` (a debug build, under a minute): two concurrent invocations, two crashes,
    /// one database restart, one cancel-and-restart between invocations (a cancel while an
    /// invocation runs multiplies the states by thirty: [`Bound::STATED`], `make model-check`).
    pub const QUICK: Bound = Bound {
        zombies: false,
        ..Bound::STATED
    };
    /// `make model-check` (a release build): two concurrent invocations, two crashes, one
    /// cancel-and-restart, one database restart.
    pub const STATED: Bound = Bound {
        crashes: 2,
        overlaps: 1,
        cold_starts: false,
        faults: false,
        cancel: true,
        zombies: true,
        second_rotation: false,
        restart: true,
        rerun_earlier: false,
        retire: false,
    };
    /// `make model-check-long`: also calls failing (before or after their effect) with the
    /// instance kept warm, and the cancel-and-restart after a completed rotation (a second
    /// rotation). Cold starts of a warm slot, steps invoked again after later ones succeeded
    /// and two overlaps are switches here too, but past a few hundred thousand states.
    pub const LONG: Bound = Bound {
        faults: true,
        second_rotation: true,
        ..Bound::STATED
    };
}

/// Known limitations: states that break an invariant by design, excused by name and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Exception {
    /// Single user: between setSecret and finishSecret the database holds the AWSPENDING
    /// password, so AWSCURRENT does not log in (AWSPENDING does). The README's window.
    SingleUserWindow,
    /// Single user: the rotation was cancelled (and AWSPENDING removed) after setSecret, so
    /// the database holds a password only an unlabelled version keeps: no stage logs in, and
    /// no retry of any rotation can recover (setSecret has no working credential). An operator
    /// must put the stored password back (the `recover` action).
    SingleUserCancelledAfterSet,
    /// Alternating users: the next rotation's setSecret gives the AWSPREVIOUS user (the one
    /// not in use) a new password, so AWSPREVIOUS stops logging in until finishSecret.
    AlternatingPreviousReplaced,
    /// Alternating users with `retire_previous_after`: once the grace has passed, the
    /// previous user (AWSPREVIOUS) no longer logs in, by design; AWSCURRENT still must.
    PreviousRetired,
    /// A createSecret of the cancelled token that passed its guard before the cancel stores
    /// its value after it: PutSecretValue moves AWSPENDING to the old token, away from the new
    /// one (Secrets Manager's API has no compare-and-set), so the new rotation's steps fail
    /// with UnknownVersion and RotateSecret is refused until an operator removes AWSPENDING
    /// again. Checked instead: after that cleanup, a new rotation converges.
    ZombieCreateStolePending,
    /// Another step of the cancelled token that passed its guard before the cancel writes after
    /// it (finishSecret moves AWSCURRENT to the old token under the new rotation, whose
    /// pending value was derived from the AWSCURRENT before: alternating users then refuse it
    /// in setSecret with IdentityMismatch). The new rotation cannot finish; checked instead:
    /// after an operator removes AWSPENDING, a new rotation converges.
    ZombieWroteAfterCancel,
}

// ---------------------------------------------------------------------------------------------
// The gate: every call of every instance parks here until the scheduler releases it.

#[derive(Debug, Default)]
struct ModelGate {
    state: Mutex<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    /// The slot being polled.
    current: usize,
    parked: [Option<Call>; SLOTS],
    release: [bool; SLOTS],
}

impl ModelGate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl Gate for ModelGate {
    async fn before(&self, call: &Call) {
        let slot = {
            let mut gate = self.lock();
            let slot = gate.current;
            gate.parked[slot] = Some(call.clone());
            slot
        };
        std::future::poll_fn(|_| {
            let mut gate = self.lock();
            if gate.release[slot] {
                gate.release[slot] = false;
                gate.parked[slot] = None;
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------------
// One function instance: its own cache over the shared store.

/// The shared store, as an instance's cache sees it (`Debug` says nothing, so an instance's
/// `Debug` is its cache alone).
struct Shared(MemoryStore);

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("shared")
    }
}

#[async_trait]
impl SecretStore for Shared {
    async fn describe(&self, secret: &str) -> Result<SecretMetadata, RotationError> {
        self.0.describe(secret).await
    }
    async fn get(
        &self,
        secret: &str,
        which: Staged<'_>,
    ) -> Result<Option<SecretValue>, RotationError> {
        self.0.get(secret, which).await
    }
    async fn put_pending(
        &self,
        secret: &str,
        token: &str,
        value: &SecretValue,
        rotation_token: Option<&str>,
    ) -> Result<(), RotationError> {
        self.0
            .put_pending(secret, token, value, rotation_token)
            .await
    }
    async fn promote(
        &self,
        secret: &str,
        version: &str,
        from: Option<&str>,
    ) -> Result<(), RotationError> {
        self.0.promote(secret, version, from).await
    }
}

struct Instance {
    cache: Arc<CachingStore<Shared>>,
    rotator: Arc<Rotator<Arc<CachingStore<Shared>>, MemoryConnector>>,
}

impl Instance {
    fn new(store: &MemoryStore, db: &MemoryConnector, retire: bool) -> Self {
        let cache = Arc::new(CachingStore::new(Shared(store.clone())));
        let rotator =
            Arc::new(Rotator::new(cache.clone(), db.clone(), config(retire)).with_clock(model_now));
        Self { cache, rotator }
    }

    /// What the instance remembers (the values' field names, never a password).
    fn key(&self) -> String {
        let text = format!("{:?}", self.cache);
        // `CachingStore { inner: shared, state: Mutex { data: Cache {..}, .. } }`
        text.replace("CachingStore { inner: shared, ", "")
    }
}

fn config(retire: bool) -> Config {
    if retire {
        CONFIG_RETIRING.with(Config::clone)
    } else {
        CONFIG.with(Config::clone)
    }
}

/// The grace of the retiring secret.
pub const GRACE: i64 = 3600;
/// The function's clock when a run starts.
const START_CLOCK: i64 = 1_000;

/// The model's clock, the function's `now`: fixed, so that a replay reaches the same state,
/// and moved by [`Action::GracePasses`] (the server's with it).
fn model_now() -> i64 {
    MODEL_CLOCK.with(std::cell::Cell::get)
}

type Invocation = Pin<Box<dyn Future<Output = Result<(), RotationError>>>>;

struct Running {
    future: Invocation,
    token: usize,
    step: usize,
    /// The instance's cache when the invocation started.
    start_cache: String,
    /// Each call released so far, with the part of the world its answer depends on (the
    /// invocation's local state is a function of these).
    history: Vec<String>,
}

#[derive(Default)]
struct Slot {
    instance: Option<Instance>,
    running: Option<Running>,
}

/// Secrets Manager's view of the rotation, and the budgets used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
struct Sm {
    /// Index into [`TOKENS`].
    active: usize,
    /// Steps of the active token that succeeded in order.
    progress: usize,
    completed: bool,
    crashes: u8,
    overlaps: u8,
    cancelled: bool,
    restarted: bool,
    /// The retirement's grace has passed (the function's clock and the server's moved on).
    grace_passed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Start {
        slot: usize,
        step: usize,
        cold: bool,
    },
    Release {
        slot: usize,
    },
    CrashBefore {
        slot: usize,
    },
    CrashAfter {
        slot: usize,
    },
    FailBefore {
        slot: usize,
    },
    FailAfter {
        slot: usize,
    },
    CancelAndRestart,
    RestartDatabase,
    GracePasses,
}

/// One execution from the initial world.
struct Run {
    strategy: Strategy,
    bound: Bound,
    store: MemoryStore,
    db: MemoryConnector,
    gate: Arc<ModelGate>,
    slots: Vec<Slot>,
    service: Sm,
    /// An invocation of a cancelled token made a write after the cancel.
    zombie_wrote: bool,
    /// A PutSecretValue was released: look at the versions after the poll.
    track_puts: bool,
    /// A version whose password changed, once seen.
    changed: Option<String>,
    /// Run-stable names of passwords (by first sight).
    names: BTreeMap<String, usize>,
    /// The password each version was first seen with.
    staged: BTreeMap<String, String>,
    /// What each action did, for traces (kept only when `tracing`).
    log: Vec<String>,
    tracing: bool,
}

fn world_value(user: &str, password: &str, alternating: bool) -> String {
    let mut value = json!({
        "engine": "postgres",
        "host": HOST,
        "port": PORT,
        "username": user,
        "password": password,
        "dbname": "orders",
        "team": {"owner": "payments"},
    });
    if alternating {
        value["masterarn"] = json!(MASTER);
    }
    value.to_string()
}

thread_local! {
    /// Parsed payloads of the current run (a version's value never changes).
    static PARSED: std::cell::RefCell<HashMap<String, Option<(String, String)>>> =
        std::cell::RefCell::new(HashMap::new());
    static MODEL_CLOCK: std::cell::Cell<i64> = const { std::cell::Cell::new(START_CLOCK) };
    /// The stack's settings: the secret alternating with its master, retiring its previous
    /// user [`GRACE`] after each rotation.
    static CONFIG_RETIRING: Config = {
        let mut secrets = std::collections::BTreeMap::new();
        secrets.insert(SECRET.to_owned(), rotation_contract::settings::SecretSettings {
            retire_previous_after_seconds: Some(GRACE as u64),
            ..rotation_contract::settings::SecretSettings::new(
                rotation_contract::settings::Strategy::AlternatingUsers,
                Some(MASTER.to_owned()),
            )
        });
        let path = std::env::temp_dir().join(format!("protocol-model-{}.json", std::process::id()));
        std::fs::write(&path, rotation_contract::settings::Settings::new(secrets).to_json())
            .expect("write the settings file");
        let path = path.display().to_string();
        Config::from_lookup(|name| match name {
            "DB_CA_BUNDLE" => Some("/nonexistent/ca.pem".into()),
            "ROTATION_SETTINGS" => Some(path.clone()),
            _ => None,
        })
        .expect("test configuration")
    };
    static CONFIG: Config = Config::from_lookup(|name| {
        (name == "DB_CA_BUNDLE").then(|| "/nonexistent/ca.pem".into())
            // Without a stack: the strategy and master from each secret's value.
            .or_else(|| (name == "ROTATION_SETTINGS").then(|| "from-secrets".into()))
    })
    .expect("test configuration");
}

fn user_and_password(payload: &Option<Payload>) -> Option<(String, String)> {
    let Some(Payload::Text(text)) = payload else {
        return None;
    };
    if let Some(known) = PARSED.with(|p| p.borrow().get(text).cloned()) {
        return known;
    }
    let parsed = SecretValue::parse(text).ok().and_then(|value| {
        Some((
            value.str_field("username")?.to_owned(),
            value.str_field("password")?.to_owned(),
        ))
    });
    PARSED.with(|p| p.borrow_mut().insert(text.clone(), parsed.clone()));
    parsed
}

fn poll_once(future: &mut Invocation) -> Poll<Result<(), RotationError>> {
    let mut context = Context::from_waker(Waker::noop());
    future.as_mut().poll(&mut context)
}

/// Whether a call changes the world (crashing after a read is crashing before it).
fn is_write(call: &Call) -> bool {
    [
        StoreOp::PutSecretValue.name(),
        StoreOp::UpdateSecretVersionStage.name(),
        DbOp::SetOwnPassword.name(),
        DbOp::CloneUser.name(),
        DbOp::RetirePartner.name(),
    ]
    .contains(&call.op)
}

fn describe_call(call: &Call) -> String {
    let target = match call.target.as_str() {
        SECRET => "secret",
        MASTER => "master",
        other => other,
    };
    format!("{}({target})", call.op)
}

impl Run {
    fn new(strategy: Strategy, bound: Bound) -> Self {
        PARSED.with(|p| p.borrow_mut().clear());
        MODEL_CLOCK.with(|c| c.set(START_CLOCK));
        let alternating = strategy == Strategy::Alternating;
        let store = MemoryStore::new();
        store.create_secret(SECRET, &world_value("app", APP_PASSWORD, alternating));
        store.set_rotation_enabled(SECRET, Some(true));
        if alternating {
            store.create_secret(
                MASTER,
                &json!({"engine": "postgres", "host": HOST, "port": PORT,
                        "username": "admin", "password": MASTER_PASSWORD})
                .to_string(),
            );
        }
        let db = MemoryConnector::new();
        db.add_database(
            HOST,
            PORT,
            MemoryDatabase::new(EngineFamily::Postgres)
                .with_user("app", APP_PASSWORD)
                .with_master("admin", MASTER_PASSWORD),
        );
        // RotateSecret: the rotation starts with its token pending.
        store
            .start_rotation(SECRET, TOKENS[0])
            .expect("RotateSecret");
        let gate = Arc::new(ModelGate::default());
        store.set_gate(Some(gate.clone()));
        db.set_gate(Some(gate.clone()));
        Self {
            strategy,
            bound,
            store,
            db,
            gate,
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
            service: Sm::default(),
            changed: None,
            track_puts: false,
            zombie_wrote: false,
            names: BTreeMap::new(),
            staged: BTreeMap::new(),
            log: Vec::new(),
            tracing: false,
        }
    }

    fn replay(strategy: Strategy, bound: Bound, actions: &[Action], tracing: bool) -> Self {
        let mut run = Self::new(strategy, bound);
        run.tracing = tracing;
        for &action in actions {
            run.apply(action);
        }
        run
    }

    fn parked(&self, slot: usize) -> Option<Call> {
        self.gate.lock().parked[slot].clone()
    }

    /// The actions possible now.
    fn enabled(&self) -> Vec<Action> {
        let mut actions = Vec::new();
        let service = &self.service;
        for slot in 0..SLOTS {
            if self.slots[slot].running.is_some() {
                actions.push(Action::Release { slot });
                if service.crashes < self.bound.crashes {
                    // A crash before a read is a crash after the write before it (or before the
                    // invocation's first call), and a crash after a read one before the next
                    // call: the instance dies, the world is the same. So crashes strike at the
                    // first call (the guard's DescribeSecret) and around writes only.
                    let running = self.slots[slot].running.as_ref().expect("running");
                    let write = self.parked(slot).is_some_and(|call| is_write(&call));
                    if write || running.history.is_empty() {
                        actions.push(Action::CrashBefore { slot });
                    }
                    if write {
                        actions.push(Action::CrashAfter { slot });
                    }
                    if self.bound.faults {
                        actions.push(Action::FailBefore { slot });
                        actions.push(Action::FailAfter { slot });
                    }
                }
            }
        }
        let busy = self.slots.iter().any(|s| s.running.is_some());
        if !service.completed && (!busy || service.overlaps < self.bound.overlaps) {
            let last = service.progress.min(3);
            let first = if self.bound.rerun_earlier { 0 } else { last };
            for slot in 0..SLOTS {
                let here = &self.slots[slot];
                if here.running.is_some() {
                    continue;
                }
                // Two idle slots alike: starting on the second is the same as on the first.
                if slot > 0
                    && self.slots[..slot].iter().any(|other| {
                        other.running.is_none()
                            && other.instance.as_ref().map(Instance::key)
                                == here.instance.as_ref().map(Instance::key)
                    })
                {
                    continue;
                }
                for step in first..=last {
                    if here.instance.is_none() || self.bound.cold_starts {
                        actions.push(Action::Start {
                            slot,
                            step,
                            cold: true,
                        });
                    }
                    if here.instance.is_some() {
                        actions.push(Action::Start {
                            slot,
                            step,
                            cold: false,
                        });
                    }
                }
            }
        }
        if self.bound.cancel
            && !service.cancelled
            && (self.bound.zombies || !busy)
            && (!service.completed || self.bound.second_rotation)
        {
            actions.push(Action::CancelAndRestart);
        }
        // A restart matters only to an open session: one parked at a session's call (a restart
        // at any other moment only uses up the budget).
        if self.bound.restart
            && !service.restarted
            && (0..SLOTS).any(|slot| {
                self.parked(slot).is_some_and(|call| {
                    call.service == Service::Database && call.op != DbOp::Login.name()
                })
            })
        {
            actions.push(Action::RestartDatabase);
        }
        // Between invocations: the clocks move on while nothing runs (mid-invocation, the
        // function reads its clock once, at the retirement).
        if self.bound.retire && !service.grace_passed && !busy {
            actions.push(Action::GracePasses);
        }
        actions
    }

    /// Polls the invocation in `slot` once (to its next call, or to its end).
    fn poll(&mut self, slot: usize) -> String {
        self.gate.lock().current = slot;
        let running = self.slots[slot].running.as_mut().expect("running");
        let polled = poll_once(&mut running.future);
        if std::mem::take(&mut self.track_puts) {
            self.track_staged();
        }
        match polled {
            Poll::Pending => {
                let call = self
                    .parked(slot)
                    .expect("an invocation waits only at the gate");
                if self.tracing {
                    format!("-> parked at {}", describe_call(&call))
                } else {
                    String::new()
                }
            }
            Poll::Ready(result) => {
                let running = self.slots[slot].running.take().expect("running");
                self.returned(running.token, running.step, &result);
                match result {
                    _ if !self.tracing => String::new(),
                    Ok(()) => "-> returned Ok".into(),
                    Err(error) => format!("-> returned Err({}: {error})", error.kind()),
                }
            }
        }
    }

    /// What Secrets Manager does with an invocation's answer.
    fn returned(&mut self, token: usize, step: usize, result: &Result<(), RotationError>) {
        let service = &mut self.service;
        if result.is_err() || token != service.active || service.completed {
            return;
        }
        if step == service.progress {
            service.progress += 1;
        }
        if service.progress == 4 {
            self.store
                .complete_rotation(SECRET, TOKENS[token])
                .expect("finishSecret succeeded, so AWSCURRENT is on the token");
            service.completed = true;
        }
    }

    fn apply(&mut self, action: Action) {
        let label = match action {
            Action::Start { slot, step, cold } => {
                if self.slots.iter().any(|s| s.running.is_some()) {
                    self.service.overlaps += 1;
                }
                if cold || self.slots[slot].instance.is_none() {
                    self.slots[slot].instance =
                        Some(Instance::new(&self.store, &self.db, self.bound.retire));
                }
                let instance = self.slots[slot].instance.as_ref().expect("an instance");
                let rotator = instance.rotator.clone();
                let token = self.service.active;
                let event = RotationEvent {
                    secret_id: SECRET.into(),
                    token: TOKENS[token].into(),
                    step: STEPS[step],
                    rotation_token: None,
                };
                self.slots[slot].running = Some(Running {
                    future: Box::pin(async move { rotator.handle(&event).await }),
                    token,
                    step,
                    start_cache: instance.key(),
                    history: Vec::new(),
                });
                let polled = self.poll(slot);
                format!(
                    "instance {slot}: start {}(T{}) {} {polled}",
                    Step::NAMES[step],
                    token + 1,
                    if cold { "cold" } else { "warm" }
                )
            }
            Action::Release { slot } => {
                let call = self.release(slot, "");
                let polled = self.poll(slot);
                format!("instance {slot}: {call} takes effect {polled}")
            }
            Action::CrashBefore { slot } => {
                let call = self.parked(slot).map(|c| describe_call(&c));
                self.crash(slot);
                format!("instance {slot}: CRASH before {}", call.unwrap_or_default())
            }
            Action::CrashAfter { slot } => {
                let call = self.release(slot, "");
                let polled = self.poll(slot);
                self.crash(slot);
                format!("instance {slot}: {call} takes effect, then CRASH (lost: {polled})")
            }
            Action::FailBefore { slot } | Action::FailAfter { slot } => {
                let after = matches!(action, Action::FailAfter { .. });
                let call = self.parked(slot).expect("parked");
                self.arm(&call, after);
                let what = self.release(slot, if after { "fail-after" } else { "fail-before" });
                let polled = self.poll(slot);
                self.store.clear_faults();
                self.db.clear_faults();
                self.service.crashes += 1;
                format!(
                    "instance {slot}: {what} FAILS {} its effect {polled}",
                    if after { "after" } else { "before" }
                )
            }
            Action::CancelAndRestart => {
                self.store.cancel_rotation(SECRET);
                if let Some(pending) = self.store.version_with(SECRET, AWSPENDING) {
                    self.store.remove_stage(SECRET, &pending, AWSPENDING);
                }
                self.store
                    .start_rotation(SECRET, TOKENS[1])
                    .expect("RotateSecret after the cleanup");
                self.service.active = 1;
                self.service.progress = 0;
                self.service.completed = false;
                self.service.cancelled = true;
                "CancelRotateSecret, AWSPENDING removed by hand, RotateSecret(T2)".into()
            }
            Action::RestartDatabase => {
                self.db.restart(HOST, PORT);
                self.service.restarted = true;
                "the database restarts".into()
            }
            Action::GracePasses => {
                let now = model_now() + 2 * GRACE;
                MODEL_CLOCK.with(|c| c.set(now));
                self.db.update(HOST, PORT, |db| db.clock = now);
                self.service.grace_passed = true;
                "the grace passes (the function's clock and the server's)".into()
            }
        };
        if self.tracing {
            let state = self.summary();
            self.log.push(format!("{label}\n        {state}"));
        }
    }

    /// Releases the parked call of `slot` (recording what it saw); returns its description.
    fn release(&mut self, slot: usize, note: &str) -> String {
        let call = self.parked(slot).expect("parked");
        let world = self.answer_key(&call);
        let running = self.slots[slot].running.as_mut().expect("running");
        running.history.push(format!(
            "{}:{}{note}@{world}",
            call.op,
            describe_call(&call)
        ));
        let zombie = running.token != self.service.active;
        self.gate.lock().release[slot] = true;
        if zombie && is_write(&call) {
            self.zombie_wrote = true;
        }
        if call.op == StoreOp::PutSecretValue.name() {
            self.track_puts = true;
        }
        describe_call(&call)
    }

    fn arm(&self, call: &Call, after: bool) {
        match call.service {
            Service::SecretsManager => {
                let op = *StoreOp::ALL
                    .iter()
                    .find(|op| op.name() == call.op)
                    .expect("a store operation");
                let fault = Fault::<StoreOp, SmFailure>::on(op)
                    .target(call.target.clone())
                    .once();
                self.store.fail(if after { fault.after() } else { fault });
            }
            Service::Database => {
                let op = *DbOp::ALL
                    .iter()
                    .find(|op| op.name() == call.op)
                    .expect("a database operation");
                let fault = Fault::<DbOp, DbFailure>::on(op)
                    .target(call.target.clone())
                    .once();
                self.db.fail(if after { fault.after() } else { fault });
            }
        }
    }

    /// The instance in `slot` dies, and its invocation with it.
    fn crash(&mut self, slot: usize) {
        let mut gate = self.gate.lock();
        gate.parked[slot] = None;
        gate.release[slot] = false;
        drop(gate);
        self.slots[slot] = Slot::default();
        self.service.crashes += 1;
    }

    /// Remembers each version's first password; notes a version whose password changed.
    fn track_staged(&mut self) {
        let secret = self.store.secret(SECRET).expect("the secret");
        for (id, version) in &secret.versions {
            if let Some((_, password)) = user_and_password(&version.payload) {
                let first = self.staged.entry(id.clone()).or_insert(password.clone());
                if *first != password && self.changed.is_none() {
                    self.changed = Some(id.clone());
                }
            }
        }
    }

    // --- reading the world ---

    fn name(&mut self, password: &str) -> String {
        let next = self.names.len();
        let n = *self.names.entry(password.to_owned()).or_insert(next);
        format!("\u{1}{n}\u{2}")
    }

    /// The world (secret and database), with passwords by run-stable name.
    fn world_key(&mut self) -> String {
        let store = self.store_key();
        let db = self.db_key();
        format!("{store}{db}")
    }

    /// What the answer of `call` depends on, besides the invocation's own state: Secrets
    /// Manager's answers on the secret; a login's on that user and the server's generation; a
    /// session call's on the generation (and clone_user's on every user).
    fn answer_key(&mut self, call: &Call) -> String {
        match (call.service, call.op) {
            (Service::SecretsManager, _) if call.target == MASTER => "master".into(),
            (Service::SecretsManager, _) => self.store_key(),
            (Service::Database, "login") => {
                let db = self.db.database(HOST, PORT).expect("the database");
                let user = db.users.get(&call.target).map(|u| {
                    let retired = u.retired_from.is_some_and(|t| t <= db.clock);
                    (u.password.clone(), u.can_login && !retired)
                });
                let user = match user {
                    Some((password, can_login)) => format!("{}{can_login}", self.name(&password)),
                    None => "none".into(),
                };
                format!("{user};gen={};down={}", db.generation, db.down)
            }
            (Service::Database, "clone_user" | "retire_partner") => self.db_key(),
            (Service::Database, _) => {
                let db = self.db.database(HOST, PORT).expect("the database");
                format!("gen={}", db.generation)
            }
        }
    }

    fn store_key(&mut self) -> String {
        let mut key = String::new();
        let secret = self.store.secret(SECRET).expect("the secret");
        let _ = write!(key, "enabled={:?};", secret.rotation_enabled);
        for (id, version) in &secret.versions {
            let value = match user_and_password(&version.payload) {
                Some((user, password)) => format!("{user}/{}", self.name(&password)),
                None => "-".into(),
            };
            let _ = write!(key, "{}:{:?}:{value};", &id[id.len() - 2..], version.stages);
        }
        key
    }

    fn db_key(&mut self) -> String {
        let mut key = String::new();
        let db = self.db.database(HOST, PORT).expect("the database");
        for (user, entry) in &db.users {
            let password = self.name(&entry.password);
            let _ = write!(
                key,
                "{user}={password}{}{:?}{:?};",
                entry.can_login, entry.member_of, entry.retired_from
            );
        }
        let _ = write!(key, "gen={};clock={}", db.generation, db.clock);
        key
    }

    /// The state's key: the world, the service, and each slot (sorted: slots are alike), with
    /// passwords renamed by first appearance.
    fn key(&mut self) -> String {
        let world = self.world_key();
        let mut slots: Vec<String> = self
            .slots
            .iter()
            .enumerate()
            .map(|(index, slot)| match (&slot.instance, &slot.running) {
                (None, _) => "empty".into(),
                (Some(instance), None) => format!("idle:{}", instance.key()),
                (Some(_), Some(running)) => format!(
                    "run:T{}:{}:{}:{}:{:?}",
                    running.token,
                    running.step,
                    running.start_cache,
                    running.history.join("|"),
                    self.parked(index).map(|c| describe_call(&c)),
                ),
            })
            .collect();
        slots.sort();
        // The budgets used are left out: see [`Run::budgets`].
        let s = &self.service;
        canonical(&format!(
            "{world}#{}:{}:{}:{}:{}:{}:{}#{}",
            self.zombie_wrote,
            s.active,
            s.progress,
            s.completed,
            s.cancelled,
            s.restarted,
            s.grace_passed,
            slots.join("#")
        ))
    }

    /// The budgets used: a state reached with no more of each than a state seen before (same
    /// key) can do nothing that one could not.
    fn budgets(&self) -> (u8, u8) {
        (self.service.crashes, self.service.overlaps)
    }

    fn summary(&self) -> String {
        let secret = self.store.secret(SECRET).expect("the secret");
        let mut names = self.names.clone();
        let mut name = |password: &str| {
            let next = names.len();
            format!("p{}", *names.entry(password.to_owned()).or_insert(next))
        };
        let mut out = String::from("secret:");
        for (id, version) in &secret.versions {
            let value = match user_and_password(&version.payload) {
                Some((user, password)) => format!("{user}/{}", name(&password)),
                None => "no value".into(),
            };
            let stages: Vec<&str> = version.stages.iter().map(String::as_str).collect();
            let id = match TOKENS.iter().position(|t| t == id) {
                Some(i) => format!("T{}", i + 1),
                None => "T0".into(),
            };
            let _ = write!(out, " {id}[{}]={value}", stages.join(","));
        }
        let db = self.db.database(HOST, PORT).expect("the database");
        out.push_str("; db:");
        for (user, entry) in &db.users {
            if !entry.master {
                let _ = write!(out, " {user}/{}", name(&entry.password));
            }
        }
        out
    }

    fn staged_value(&self, stage: &str) -> Option<(String, String)> {
        let secret = self.store.secret(SECRET)?;
        let version = secret
            .versions
            .values()
            .find(|v| v.stages.contains(stage))?;
        user_and_password(&version.payload)
    }

    fn logs_in(&self, value: &Option<(String, String)>) -> bool {
        let db = self.db.database(HOST, PORT).expect("the database");
        value
            .as_ref()
            .is_some_and(|(user, password)| db.accepts(user, password))
    }

    /// Checks invariants 1 to 3; `Err` names the violation. Exceptions used are added to
    /// `excused`.
    fn check(&mut self, excused: &mut BTreeSet<Exception>) -> Result<(), String> {
        let current = self.staged_value(AWSCURRENT);
        let pending = self.staged_value(AWSPENDING);
        let previous = self.staged_value(AWSPREVIOUS);
        let secret = self.store.secret(SECRET).expect("the secret");
        let db = self.db.database(HOST, PORT).expect("the database");

        // 3. A version's password never changes; the database keeps only stored passwords.
        let mut stored = BTreeSet::new();
        if let Some(id) = &self.changed {
            return Err(format!("version {id} changed its password"));
        }
        for version in secret.versions.values() {
            if let Some((_, password)) = user_and_password(&version.payload) {
                stored.insert(password);
            }
        }
        for (user, entry) in &db.users {
            if !entry.master && !stored.contains(&entry.password) {
                return Err(format!(
                    "the database holds a password for `{user}` that no version stores"
                ));
            }
        }

        // 1. AWSCURRENT logs in (single user: or AWSPENDING, inside the window).
        if !self.logs_in(&current) {
            match self.strategy {
                Strategy::Single if self.logs_in(&pending) => {
                    excused.insert(Exception::SingleUserWindow);
                }
                Strategy::Single if self.cancelled_after_set(&current) => {
                    excused.insert(Exception::SingleUserCancelledAfterSet);
                }
                _ => return Err("AWSCURRENT does not log in".into()),
            }
        }
        // 2. Alternating users: AWSPREVIOUS logs in.
        if self.strategy == Strategy::Alternating
            && let Some((previous_user, _)) = &previous
            && !self.logs_in(&previous)
        {
            if pending.as_ref().is_some_and(|(u, _)| u == previous_user) {
                excused.insert(Exception::AlternatingPreviousReplaced);
            } else if self.retired(previous_user) {
                excused.insert(Exception::PreviousRetired);
            } else {
                return Err("AWSPREVIOUS does not log in".into());
            }
        }
        Ok(())
    }

    /// Whether `user` is retired: the grace has passed and the user's retirement with it.
    fn retired(&self, user: &str) -> bool {
        let db = self.db.database(HOST, PORT).expect("the database");
        self.service.grace_passed
            && db
                .users
                .get(user)
                .is_some_and(|u| u.retired_from.is_some_and(|t| t <= db.clock))
    }

    /// Single user, after a cancel: the database holds the password of a version no stage
    /// names (the cancelled token's).
    fn cancelled_after_set(&self, current: &Option<(String, String)>) -> bool {
        if !self.service.cancelled {
            return false;
        }
        let Some((user, _)) = current else {
            return false;
        };
        let secret = self.store.secret(SECRET).expect("the secret");
        let db = self.db.database(HOST, PORT).expect("the database");
        let Some(password) = db.password(user) else {
            return false;
        };
        secret.versions.iter().any(|(id, version)| {
            id == TOKENS[0]
                && version.stages.is_empty()
                && user_and_password(&version.payload).is_some_and(|(_, p)| p == password)
        })
    }

    /// What [`Run::converges`] depends on.
    fn convergence_key(&mut self) -> String {
        let world = self.world_key();
        let instance = self
            .slots
            .iter()
            .find_map(|s| s.instance.as_ref())
            .map(Instance::key);
        let s = &self.service;
        canonical(&format!(
            "{world}#{}:{}:{}:{}#{instance:?}",
            s.active, s.progress, s.completed, self.zombie_wrote
        ))
    }

    /// Invariant 4, destructively: every in-flight invocation dies, then Secrets Manager's
    /// retries run without faults.
    fn converges(mut self) -> Result<Option<Exception>, String> {
        for slot in 0..SLOTS {
            self.slots[slot].running = None;
        }
        self.store.set_gate(None);
        self.db.set_gate(None);
        self.store.clear_faults();
        self.db.clear_faults();
        // A warm instance if there is one: its cache is the likelier to mislead it.
        let instance = match self.slots.iter_mut().find_map(|s| s.instance.take()) {
            Some(instance) => instance,
            None => Instance::new(&self.store, &self.db, self.bound.retire),
        };
        let run_steps = |token: &str, from: usize| -> Result<(), String> {
            for (index, step) in STEPS.iter().enumerate().skip(from) {
                let event = RotationEvent {
                    secret_id: SECRET.into(),
                    token: token.into(),
                    step: *step,
                    rotation_token: None,
                };
                let mut future: Invocation = Box::pin({
                    let rotator = instance.rotator.clone();
                    async move { rotator.handle(&event).await }
                });
                match poll_once(&mut future) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(error)) => {
                        return Err(format!(
                            "{} failed: {}: {error}",
                            Step::NAMES[index],
                            error.kind()
                        ));
                    }
                    Poll::Pending => unreachable!("no gate"),
                }
            }
            Ok(())
        };
        let service = self.service.clone();
        let token = TOKENS[service.active];
        let mut excused = None;
        let stolen = !service.completed
            && self.store.secret(SECRET).is_some_and(|secret| {
                secret.versions[token].stages.is_empty()
                    && secret.version_with(AWSPENDING).is_some()
            });
        if stolen {
            // The operator's cleanup, then a new rotation.
            excused = Some(Exception::ZombieCreateStolePending);
            let pending = self.store.version_with(SECRET, AWSPENDING).expect("stolen");
            self.store.remove_stage(SECRET, &pending, AWSPENDING);
        }
        if service.completed || stolen {
            self.store
                .start_rotation(SECRET, TOKENS[2])
                .map_err(|e| format!("a new rotation cannot start: {e}"))?;
            run_steps(TOKENS[2], 0).map_err(|e| format!("the next rotation: {e}"))?;
        } else if let Err(first) = run_steps(token, service.progress) {
            // The service restarts a failed rotation at createSecret, with the same token.
            if let Err(again) = run_steps(token, 0) {
                let failure = format!(
                    "retrying the remaining steps: {first}; the whole rotation again: {again}"
                );
                if !self.zombie_wrote {
                    return Err(failure);
                }
                // The operator's cleanup, then a new rotation.
                excused = Some(Exception::ZombieWroteAfterCancel);
                if let Some(pending) = self.store.version_with(SECRET, AWSPENDING) {
                    self.store.remove_stage(SECRET, &pending, AWSPENDING);
                }
                self.store
                    .start_rotation(SECRET, TOKENS[2])
                    .map_err(|e| format!("{failure}; after the cleanup: {e}"))?;
                run_steps(TOKENS[2], 0)
                    .map_err(|e| format!("{failure}; after the cleanup: {e}"))?;
            }
        }
        let current = self.staged_value(AWSCURRENT);
        if !self.logs_in(&current) {
            return Err("after the retries, AWSCURRENT does not log in".into());
        }
        let previous = self.staged_value(AWSPREVIOUS);
        if self.strategy == Strategy::Alternating && !self.logs_in(&previous) {
            match &previous {
                Some((user, _)) if self.retired(user) => {
                    excused = excused.or(Some(Exception::PreviousRetired));
                }
                _ => return Err("after the retries, AWSPREVIOUS does not log in".into()),
            }
        }
        Ok(excused)
    }
}

/// Renames the `\u{1}n\u{2}` password names by order of first appearance.
fn canonical(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut seen: Vec<&str> = Vec::new();
    let mut rest = key;
    while let Some(start) = rest.find('\u{1}') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('\u{2}').expect("a closed name") + start;
        let name = &rest[start + 1..end];
        let index = match seen.iter().position(|n| *n == name) {
            Some(i) => i,
            None => {
                seen.push(name);
                seen.len() - 1
            }
        };
        let _ = write!(out, "P{index}");
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Breadth-first search from the initial world; panics with the shortest trace to a
/// violation.
pub fn explore(strategy: Strategy, bound: Bound) {
    let started = Instant::now();
    let mut seen: HashMap<String, Vec<(u8, u8)>> = HashMap::new();
    let mut queue: VecDeque<(Vec<Action>, Vec<Action>)> = VecDeque::new();
    let mut excused: BTreeMap<Exception, usize> = BTreeMap::new();
    let mut transitions = 0usize;
    let mut depth = 0usize;
    let mut convergence_excused = 0usize;
    let mut convergence: HashMap<String, Result<Option<Exception>, String>> = HashMap::new();

    let mut states = 0usize;
    let mut next_report = 20_000;
    let mut visit = |path: Vec<Action>,
                     states: &mut usize,
                     seen: &mut HashMap<String, Vec<(u8, u8)>>,
                     queue: &mut VecDeque<(Vec<Action>, Vec<Action>)>|
     -> Result<(), (Vec<String>, String)> {
        let mut run = Run::replay(strategy, bound, &path, false);
        let (crashes, overlaps) = run.budgets();
        let key = run.key();
        let known = seen.entry(key).or_default();
        if known.iter().any(|&(c, o)| c <= crashes && o <= overlaps) {
            return Ok(());
        }
        known.push((crashes, overlaps));
        *states += 1;
        let trace = || Run::replay(strategy, bound, &path, true).log;
        let mut here = BTreeSet::new();
        if let Err(violation) = run.check(&mut here) {
            return Err((trace(), violation));
        }
        for exception in &here {
            *excused.entry(*exception).or_default() += 1;
        }
        let enabled = run.enabled();
        let cancelled_after_set = here.contains(&Exception::SingleUserCancelledAfterSet);
        let convergence_key = run.convergence_key();
        let converged = match convergence.get(&convergence_key) {
            Some(known) => known.clone(),
            None => {
                let outcome = run.converges();
                convergence.insert(convergence_key, outcome.clone());
                outcome
            }
        };
        match converged {
            Ok(None) => {}
            Ok(Some(exception)) => *excused.entry(exception).or_default() += 1,
            Err(_) if cancelled_after_set => convergence_excused += 1,
            Err(violation) => {
                return Err((trace(), format!("retries do not converge: {violation}")));
            }
        }
        queue.push_back((path, enabled));
        Ok(())
    };

    let mut outcome = visit(Vec::new(), &mut states, &mut seen, &mut queue);
    while outcome.is_ok()
        && let Some((path, enabled)) = queue.pop_front()
    {
        depth = depth.max(path.len());
        if transitions >= next_report {
            next_report += 20_000;
            eprintln!(
                "  {strategy:?}: {states} states, {} queued, depth {}, {:.1} s",
                queue.len(),
                path.len(),
                started.elapsed().as_secs_f64(),
            );
        }
        for action in enabled {
            transitions += 1;
            let mut next = path.clone();
            next.push(action);
            outcome = visit(next, &mut states, &mut seen, &mut queue);
            if outcome.is_err() {
                break;
            }
        }
    }
    println!(
        "protocol model, {strategy:?}, bound {bound:?}: {states} states, {transitions} \
         transitions, depth {depth}, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for (exception, count) in &excused {
        println!("  excused {exception:?}: {count} states");
    }
    if convergence_excused > 0 {
        println!(
            "  excused {:?} (no retry converges): {convergence_excused} states",
            Exception::SingleUserCancelledAfterSet
        );
    }
    if let Err((log, violation)) = outcome {
        let mut trace = String::new();
        for (i, line) in log.iter().enumerate() {
            let _ = writeln!(trace, "  {:>2}. {line}", i + 1);
        }
        panic!(
            "{strategy:?}: {violation}\nshortest trace ({} actions) from the initial world (T0 \
             AWSCURRENT, T1 AWSPENDING without a value):\n{trace}",
            log.len()
        );
    }
}
