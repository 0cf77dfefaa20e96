//! Faults and the gate, shared by both fakes: when a call fails, and who sees each call first.
//!
//! The fault plan ([`Fault`], armed in [`Faults`]) is also the one the integration tests' spies
//! use around the real Secrets Manager and databases, so a test describes "fail PutSecretValue
//! once after its effect" the same way for a fake and for a real service.

use super::*;

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
    pub fn arm(&mut self, fault: Fault<Op, E>) {
        self.armed.push(Armed {
            fault,
            seen: 0,
            fired: 0,
        });
    }

    /// Counts the call against every matching fault; the first that fires decides. The caller
    /// fails the call before its effect or after it, as the answer says.
    pub fn strike(&mut self, op: Op, target: &str) -> Option<(When, E)> {
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

pub(super) type SharedGate = Arc<Mutex<Option<Arc<dyn Gate>>>>;

pub(super) async fn pass(gate: &SharedGate, call: impl FnOnce() -> Call) {
    let gate = lock(gate).clone();
    if let Some(gate) = gate {
        gate.before(&call()).await;
    }
}
