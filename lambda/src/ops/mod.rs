//! Operator actions: what a person (or the stack's schedule) invokes the function with, beside
//! the four rotation steps Secrets Manager sends.
//!
//! - [`preflight`]: every check a rotation of one secret needs, read-only, in one report;
//! - [`recover`]: a stuck secret's versions, which of them log in, and the one safe action;
//! - [`audit`]: every secret this function rotates, checked for an overdue rotation;
//! - [`adopt`]: records an existing MySQL/MariaDB alternate user as the function's to rotate.
//!
//! Each answers a JSON report (the invocation's response) that never holds a password: only
//! names, hosts, stages, version ids and the function's own error messages, which never carry
//! one. They read through [`SecretAdmin`](crate::store::SecretAdmin), fresh, never through a warm
//! instance's cache of stages.

pub mod adopt;
pub mod audit;
pub mod preflight;
pub mod recover;

use serde::Serialize;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Warn,
    /// Not run, because a check it needs failed first.
    Skip,
}

/// One line of a report: what was checked, what was found, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Check {
    pub check: &'static str,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn pass(check: &'static str, detail: impl Into<String>) -> Self {
        Self {
            check,
            status: Status::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn fail(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            check,
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn warn(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            check,
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn skip(check: &'static str, detail: impl Into<String>) -> Self {
        Self {
            check,
            status: Status::Skip,
            detail: detail.into(),
            fix: None,
        }
    }
}

/// Formats a date as RFC 3339 (UTC), as reports show it.
pub(crate) fn rfc3339(date: &aws_smithy_types::DateTime) -> String {
    date.fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| date.secs().to_string())
}
