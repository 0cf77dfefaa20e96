//! Operator actions: what a person (or the stack's schedule) invokes the function with, beside
//! the four rotation steps Secrets Manager sends.
//!
//! - [`preflight`]: every check a rotation of one secret needs, read-only, in one report
//!   ([`proxy`]: whether an RDS Proxy logs in with the secret);
//! - [`recover`]: a stuck secret's versions, which of them log in, and the one safe action;
//! - [`audit`]: every secret this function rotates, checked for an overdue rotation;
//! - [`drift`]: preflight's read-only checks on every configured secret, on a schedule, and
//!   the retirement of previous users once their grace has passed;
//! - [`adopt`]: records an existing MySQL/MariaDB alternate user as the function's to rotate.
//!
//! Each answers a JSON report (the invocation's response; its type is the contract's, in
//! [`rotation_contract::report`]) that never holds a password: only
//! names, hosts, stages, version ids and the function's own error messages, which never carry
//! one. They read through [`SecretAdmin`](crate::store::SecretAdmin), fresh, never through a warm
//! instance's cache of stages.

pub mod adopt;
pub mod audit;
pub mod drift;
pub mod logins;
pub mod preflight;
pub mod proxy;
pub mod recover;

/// The reports' checks and statuses: the protocol shared with `synth preflight`.
pub use rotation_contract::report::{Check, Status, check};

/// Formats a date as RFC 3339 (UTC), as reports show it.
pub(crate) fn rfc3339(date: &aws_smithy_types::DateTime) -> String {
    date.fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| date.secs().to_string())
}
