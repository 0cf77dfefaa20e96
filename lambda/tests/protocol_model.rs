//! The rotation protocol, explored over every interleaving up to a bound.
//!
//! A breadth-first search of our own over the REAL step code ([`Rotator::handle`] over a
//! [`CachingStore`] per function instance, over the shared in-memory [`MemoryStore`] and
//! [`MemoryConnector`]), not a re-implementation of it. Why not a model-checking crate such as
//! stateright: those need a state that can be cloned, and an in-flight step is an `async` future,
//! which cannot be. So a state is represented by the sequence of actions that reaches it from
//! the initial world, and re-executed from scratch (replay) whenever it is needed; the fakes
//! are deterministic (up to the random passwords, which only ever compare for equality, so a
//! state's key renames them canonically). Breadth-first order makes the first violation found
//! one with the shortest trace.
//!
//! # The world
//!
//! - Secrets Manager: the rotated secret's versions and stage labels, by [`MemoryStore`]'s rules
//!   (a label on one version at most, PutSecretValue idempotent per token and refusing a
//!   different value, AWSCURRENT moves only from its holder, which becomes AWSPREVIOUS).
//! - The database: its users and their passwords, one server, restartable; both strategies
//!   (single user; alternating users with a master secret).
//! - Function instances: [`SLOTS`] slots, each empty or holding an instance (its own
//!   [`CachingStore`], warm across invocations) that runs at most one invocation at a time, so
//!   at most two invocations run concurrently. Every Secrets Manager or database call an
//!   invocation makes stops at the fakes' [`Gate`]; the scheduler then chooses what happens.
//! - Secrets Manager's driver: the active token's steps are invoked in order; a step may be
//!   invoked (again) once every step before it succeeded for that token, and a step that
//!   failed or whose instance crashed is invoked again (on a warm or a cold instance). When
//!   finishSecret succeeds for the active token the service takes AWSPENDING off it and the
//!   rotation is complete.
//!
//! # Actions
//!
//! - `Start`: invoke step S of the active token on a slot that is not running (warm: its
//!   instance keeps its cache; cold: a new instance);
//! - `Release`: let a parked invocation's call take effect; the invocation runs to its next call
//!   (or returns);
//! - crashes, at most `crashes` in a run: `CrashBefore` (the instance dies before its call: the
//!   invocation and the instance's cache are gone), `CrashAfter` (the call takes effect, then
//!   the instance dies; Secrets Manager sees a failure), and with `faults`,
//!   `FailBefore`/`FailAfter` (the call fails before or after its effect, the invocation sees
//!   the error, the instance lives on, warm). A crash around a read is the same as one around
//!   the write before or after it, so crashes strike at an invocation's first call and around
//!   writes only;
//! - `CancelAndRestart`, once: CancelRotateSecret, an operator removes AWSPENDING from the
//!   version holding it, and RotateSecret starts a new token; with `zombies`, at any moment
//!   (in-flight invocations of the old token go on), else only between invocations;
//! - `RestartDatabase`, once, while a session is open: sessions opened before fail their next
//!   call.
//!
//! A state is the world (versions, labels, passwords by canonical name, database users, the
//! server's generation), Secrets Manager's progress, and each slot: empty, an idle instance and
//! its cache, or a running invocation (its event, its cache when it started, and each call it
//! made with the part of the world the answer depended on). States differing only in budgets
//! used are merged when one used no more of each.
//!
//! # Bounds
//!
//! - `make test` ([`model::Bound::QUICK`], a debug build): two concurrent invocations, two
//!   crashes, one database restart, one cancel-and-restart between invocations.
//! - `make model-check` ([`model::Bound::STATED`], `MODEL_CHECK=stated`): the same with the
//!   cancel-and-restart at any moment (zombie invocations of the cancelled token).
//! - `make model-check-long` (`MODEL_CHECK=long`): also calls failing before or after their
//!   effect with the instance kept warm, and a second rotation after a completed one.
//!
//! # Checked in every reachable state
//!
//! 1. The AWSCURRENT credential logs in; single user only: or, inside the window between
//!    setSecret and finishSecret, the AWSPENDING one does.
//! 2. Alternating users: AWSPREVIOUS logs in; with `retire_previous_after`, until the grace
//!    passes (an action that may come once, at any moment, moving the function's clock and
//!    the server's): from then on only AWSCURRENT must.
//! 3. One token never stages two passwords: a version's password never changes once stored,
//!    and every password the database holds for the rotated users is stored in some version
//!    (never a password no version keeps).
//! 4. From the state, Secrets Manager's retries converge: in-flight invocations die, the
//!    remaining steps of the active token run in order without faults (a failing one is
//!    retried from createSecret once, as the service restarts a failed rotation), then AWSCURRENT
//!    (and, alternating, AWSPREVIOUS) logs in; when the rotation was complete, a new rotation
//!    with a fresh token must start and succeed.
//!
//! Known limitations are named exceptions ([`model::Exception`]), counted and printed; nothing
//! else is excused: the single-user window; single user cancelled after setSecret (no stage
//! logs in, no retry recovers: the operator's `recover`); alternating users' AWSPREVIOUS while
//! the next rotation replaces its user; and two races of Secrets Manager's API (no
//! compare-and-set on AWSPENDING) when a rotation is cancelled while a step of it runs: a
//! zombie createSecret moving AWSPENDING back to the old token, and a zombie finishSecret
//! moving AWSCURRENT under the new rotation (alternating users then refuse its pending value
//! with IdentityMismatch). For those two, the check is that after an operator removes
//! AWSPENDING, a new rotation converges. Advice that follows: after CancelRotateSecret, wait
//! out the function's timeout before removing AWSPENDING and rotating again.
//!
//! # Not modelled
//!
//! Secret values edited by people during a rotation, rotation of the master secret, several
//! secrets, more than one database server or engine family (the fakes' engines differ only in
//! name here), the RDS API, the Lambda timeout as such (a crash covers it), and Secrets
//! Manager invoking a token that is no longer the active one (only invocations already running
//! go on after a cancel), Lambda reclaiming an idle instance (a crash covers a cold start).

#[path = "protocol_model/model.rs"]
mod model;

use model::{Bound, Strategy, explore};

/// The bound: `MODEL_CHECK=long` or `stated`, else the quick one `make test` runs.
fn bound() -> Bound {
    match std::env::var("MODEL_CHECK").as_deref() {
        Ok("long") => Bound::LONG,
        Ok("stated") => Bound::STATED,
        _ => Bound::QUICK,
    }
}

#[test]
fn single_user_protocol_holds_over_every_interleaving() {
    explore(Strategy::Single, bound());
}

#[test]
fn alternating_users_protocol_holds_over_every_interleaving() {
    explore(Strategy::Alternating, bound());
}

/// With `retire_previous_after`: the grace may pass at any moment (once), and from then on
/// AWSPREVIOUS may be retired, never AWSCURRENT, whatever crashes and retries came before.
#[test]
fn alternating_users_with_a_retired_previous_user_hold_over_every_interleaving() {
    // Under `make test`, one crash and no database restart: the grace passing at any moment
    // between invocations multiplies the states by about five. `make model-check` runs the
    // stated bound.
    let bound = match std::env::var("MODEL_CHECK").as_deref() {
        Ok("long" | "stated") => bound(),
        _ => Bound {
            crashes: 1,
            restart: false,
            ..Bound::QUICK
        },
    };
    explore(
        Strategy::Alternating,
        Bound {
            retire: true,
            ..bound
        },
    );
}
