//! The operator protocol: the events a person sends the function besides Secrets Manager's
//! steps, and the reports it answers with.
//!
//! The function writes these reports and `synth preflight` reads them; both once declared their
//! own copy, and a field renamed on one side would have made every preflight an "unexpected
//! answer". Here is the one copy: the report of every action (preflight, recover, adopt-partner,
//! audit; serialized in PascalCase, as Lambda's own answers are), the statuses, every check
//! name, and the actions.
//!
//! These are the wire types only: what an action computes with but never answers (a version's
//! age in seconds, the database a version names) stays in the function, in its own types that
//! convert into these.

use serde::{Deserialize, Serialize};

/// The `Action` of each operator event.
pub mod action {
    pub const PREFLIGHT: &str = "preflight";
    pub const RECOVER: &str = "recover";
    pub const AUDIT: &str = "audit";
    pub const ADOPT_PARTNER: &str = "adopt-partner";
    /// The scheduled drift check: preflight's read-only checks on every configured secret.
    pub const DRIFT_CHECK: &str = "drift-check";
}

/// The name of every preflight check, in the order a rotation needs them.
pub mod check {
    pub const ROTATION_SETTINGS: &str = "rotation-settings";
    pub const PENDING_VERSION: &str = "pending-version";
    pub const SECRET_VALUE: &str = "secret-value";
    pub const DNS: &str = "dns";
    pub const TCP: &str = "tcp";
    pub const LOGIN: &str = "login";
    pub const SERVER_SETTINGS: &str = "server-settings";
    pub const OWN_PASSWORD: &str = "own-password";
    pub const MASTER_SECRET: &str = "master-secret";
    pub const MASTER_LOGIN: &str = "master-login";
    pub const MASTER_PRIVILEGES: &str = "master-privileges";
    pub const PARTNER_NAME: &str = "partner-name";
    pub const PARTNER_OBJECTS: &str = "partner-objects";
    /// Whether the secret serves an RDS Proxy (which logs in as one user per secret).
    pub const RDS_PROXY: &str = "rds-proxy";
}

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Warn,
    /// Not run, because a check it needs failed first.
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Warn => "warn",
            Self::Skip => "skip",
        }
    }
}

/// One line of a report: what was checked, what was found, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Check {
    pub check: String,
    pub status: Status,
    #[serde(default)]
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn new(check: &str, status: Status, detail: String, fix: Option<String>) -> Self {
        Self {
            check: check.to_owned(),
            status,
            detail,
            fix,
        }
    }

    pub fn pass(check: &str, detail: impl Into<String>) -> Self {
        Self::new(check, Status::Pass, detail.into(), None)
    }

    pub fn fail(check: &str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(check, Status::Fail, detail.into(), Some(fix.into()))
    }

    pub fn warn(check: &str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(check, Status::Warn, detail.into(), Some(fix.into()))
    }

    pub fn skip(check: &str, detail: impl Into<String>) -> Self {
        Self::new(check, Status::Skip, detail.into(), None)
    }
}

/// The answer to `{"Action": "preflight", "SecretId": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PreflightReport {
    /// Always [`action::PREFLIGHT`].
    pub action: String,
    pub secret_id: String,
    /// The engine AWSCURRENT names, once it parsed.
    pub engine: Option<String>,
    /// The strategy the secret rotates with (`single-user`, `alternating-users`), once known.
    pub strategy: Option<String>,
    /// True when no check failed (warnings allowed).
    pub ok: bool,
    /// How many checks failed.
    pub problems: usize,
    pub checks: Vec<Check>,
}

impl PreflightReport {
    /// A report of no checks yet.
    pub fn new(secret_id: &str) -> Self {
        Self {
            action: action::PREFLIGHT.to_owned(),
            secret_id: secret_id.to_owned(),
            engine: None,
            strategy: None,
            ok: false,
            problems: 0,
            checks: Vec::new(),
        }
    }

    /// The status of the check `name`, if it is in the report.
    pub fn status(&self, name: &str) -> Option<Status> {
        self.checks
            .iter()
            .find(|c| c.check == name)
            .map(|c| c.status)
    }
}

/// One version of a secret as recovery saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionReport {
    pub version_id: String,
    pub stages: Vec<String>,
    /// When the version was created (RFC 3339, UTC).
    pub created: Option<String>,
    pub username: Option<String>,
    /// The database host the version names (its credential was tried there only).
    pub host: Option<String>,
    /// `Some(true)` logs in, `Some(false)` refused, `None` not known (not tried, unreadable,
    /// or the server could not be asked).
    pub logs_in: Option<bool>,
    pub detail: String,
}

impl VersionReport {
    /// Whether the version carries the staging label `stage`.
    pub fn has(&self, stage: &str) -> bool {
        self.stages.iter().any(|s| s == stage)
    }
}

/// What recovery proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProposalKind {
    None,
    ClearPending,
    Promote,
}

/// The one action recovery proposes, on which version, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Proposal {
    pub kind: ProposalKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    pub reason: String,
}

impl Proposal {
    /// No action, and why.
    pub fn none(reason: impl Into<String>) -> Self {
        Self {
            kind: ProposalKind::None,
            version_id: None,
            reason: reason.into(),
        }
    }
}

/// The answer to `{"Action": "recover", "SecretId": ..., "Apply": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecoverReport {
    /// Always [`action::RECOVER`].
    pub action: String,
    pub secret_id: String,
    pub versions: Vec<VersionReport>,
    pub proposal: Proposal,
    pub applied: bool,
    /// After an applied action: the secret as it is then, and the next proposal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Box<RecoverReport>>,
}

/// The answer to `{"Action": "adopt-partner", "SecretId": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdoptReport {
    /// Always [`action::ADOPT_PARTNER`].
    pub action: String,
    pub secret_id: String,
    /// The secret's current user, whose privileges the partner may hold.
    pub user: String,
    /// The existing user now recorded as its partner.
    pub partner: String,
    /// The account host both share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub master: String,
}

/// A secret the audit found overdue, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Overdue {
    pub secret_id: String,
    pub name: String,
    pub reason: String,
}

/// The answer to `{"Action": "audit"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuditReport {
    /// Always [`action::AUDIT`].
    pub action: String,
    pub function_arn: String,
    /// How many secrets name this function.
    pub secrets: usize,
    pub overdue: Vec<Overdue>,
}

/// How the drift check found one secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftStatus {
    /// Every read-only check passed (warnings allowed).
    Ok,
    /// A check failed: the next rotation would meet the problem.
    Drifted,
    /// Not checked: the run's time was up before the secret's turn, or its check did not end
    /// in time.
    NotReached,
}

/// One secret in a [`DriftReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretDrift {
    /// The secret's full ARN, as the settings name it.
    pub secret_id: String,
    pub status: DriftStatus,
    /// The checks that failed (or, for a secret not reached, why), each with its fix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Check>,
    /// What the check found or did about the previous user (`retire_previous_after`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retirement: Option<String>,
    /// Sessions of the retired previous user still open (an application kept AWSPREVIOUS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_user_sessions: Option<u64>,
}

/// The answer to `{"Action": "drift-check"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DriftReport {
    /// Always [`action::DRIFT_CHECK`].
    pub action: String,
    /// How many secrets the settings configure.
    pub secrets: usize,
    /// How many were checked to the end.
    pub checked: usize,
    /// How many have a problem.
    pub drifted: usize,
    /// How many were not reached in the run's time.
    pub not_reached: usize,
    /// Every secret, in the settings' order.
    pub results: Vec<SecretDrift>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_round_trips_in_the_shape_lambda_answers() {
        let mut report = PreflightReport::new("arn:aws:secretsmanager:us-east-1:1:secret:a-AbCdEf");
        report.engine = Some("postgres".into());
        report.strategy = Some("single-user".into());
        report.checks = vec![
            Check::pass(check::LOGIN, "AWSCURRENT logs in"),
            Check::fail(check::OWN_PASSWORD, "refused", "grant it"),
            Check::skip(check::TCP, "not checked"),
        ];
        report.problems = 1;
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["Action"], "preflight");
        assert_eq!(json["Checks"][1]["Status"], "fail");
        assert_eq!(json["Checks"][1]["Fix"], "grant it");
        assert!(json["Checks"][0].get("Fix").is_none(), "no fix: no field");
        let back: PreflightReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
        assert_eq!(back.status(check::OWN_PASSWORD), Some(Status::Fail));
        assert_eq!(back.status("nothing"), None);
    }

    /// Serializes `report`, parses it back, and expects the same report.
    fn round_trips<T>(report: &T) -> serde_json::Value
    where
        T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
    {
        let json = serde_json::to_value(report).unwrap();
        let back: T = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(&back, report);
        json
    }

    fn version(id: &str, stages: &[&str], logs_in: Option<bool>) -> VersionReport {
        VersionReport {
            version_id: id.into(),
            stages: stages.iter().map(|s| s.to_string()).collect(),
            created: Some("2026-01-02T03:04:05Z".into()),
            username: Some("app".into()),
            host: Some("db.internal".into()),
            logs_in,
            detail: String::new(),
        }
    }

    #[test]
    fn a_recover_report_round_trips() {
        let after = RecoverReport {
            action: action::RECOVER.into(),
            secret_id: "orders/app".into(),
            versions: vec![version("n", &["AWSCURRENT"], Some(true))],
            proposal: Proposal::none("nothing to do"),
            applied: false,
            after: None,
        };
        let mut unknown = version("u", &[], None);
        unknown.username = None;
        unknown.host = None;
        unknown.created = None;
        let report = RecoverReport {
            action: action::RECOVER.into(),
            secret_id: "orders/app".into(),
            versions: vec![
                version("c", &["AWSCURRENT"], Some(false)),
                version("n", &["AWSPENDING"], Some(true)),
                unknown,
            ],
            proposal: Proposal {
                kind: ProposalKind::Promote,
                version_id: Some("n".into()),
                reason: "it logs in".into(),
            },
            applied: true,
            after: Some(Box::new(after)),
        };
        let json = round_trips(&report);
        assert_eq!(json["Proposal"]["Kind"], "promote");
        assert_eq!(json["Versions"][2]["LogsIn"], serde_json::Value::Null);
        assert!(json["After"]["Proposal"].get("VersionId").is_none());
        assert!(json["After"].get("After").is_none());
        assert!(report.versions[1].has("AWSPENDING"));
        assert!(!report.versions[2].has("AWSPENDING"));
        for (kind, name) in [
            (ProposalKind::None, "none"),
            (ProposalKind::ClearPending, "clear-pending"),
            (ProposalKind::Promote, "promote"),
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
            assert_eq!(round_trips(&kind), name);
        }
    }

    #[test]
    fn an_adopt_report_round_trips() {
        let mut report = AdoptReport {
            action: action::ADOPT_PARTNER.into(),
            secret_id: "shop/app".into(),
            user: "shop".into(),
            partner: "shop_clone".into(),
            host: Some("10.0.%".into()),
            master: "admin".into(),
        };
        assert_eq!(round_trips(&report)["Host"], "10.0.%");
        report.host = None;
        assert!(round_trips(&report).get("Host").is_none());
    }

    #[test]
    fn an_audit_report_round_trips() {
        let mut report = AuditReport {
            action: action::AUDIT.into(),
            function_arn: "arn:aws:lambda:us-east-1:1:function:rotation".into(),
            secrets: 2,
            overdue: vec![Overdue {
                secret_id: "arn:aws:secretsmanager:us-east-1:1:secret:a-AbCdEf".into(),
                name: "a".into(),
                reason: "rotation is turned off on the secret".into(),
            }],
        };
        assert_eq!(round_trips(&report)["Overdue"][0]["Name"], "a");
        report.overdue.clear();
        round_trips(&report);
    }
}
