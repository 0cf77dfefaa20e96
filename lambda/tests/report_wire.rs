//! The operator reports on the wire, byte for byte: each report below is serialized as the
//! function answers it (`serde_json::to_value`, then the runtime writes the value) and compared
//! with a JSON fixture in `fixtures/reports/`. The fixtures were written by the function's own
//! report types, before those moved into the contract (recover's versions now convert from
//! recover's internal view): a field renamed, reordered, dropped or added on either side fails
//! here. Each report is also parsed back from its fixture into the contract's type.

use rotation::ops::recover::{Database, VersionView};
use rotation::secret::{EngineFamily, Tls};
use rotation_contract::report::{
    AdoptReport, AuditReport, Overdue, Proposal, ProposalKind, RecoverReport, VersionReport, action,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The bytes the function answers for `report`, and the same value pretty-printed (as the
/// fixture keeps it, for review); both must match the fixture.
fn assert_wire<T>(report: &T, fixture: &str)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let value = serde_json::to_value(report).unwrap();
    let pretty = serde_json::to_string_pretty(&value).unwrap() + "\n";
    assert_eq!(pretty, fixture, "the pretty form differs from the fixture");
    let expected: serde_json::Value = serde_json::from_str(fixture).unwrap();
    assert_eq!(
        serde_json::to_vec(&value).unwrap(),
        serde_json::to_vec(&expected).unwrap(),
        "the wire bytes differ from the fixture"
    );
    // The report as written straight from the type (field order included), not only through
    // a value.
    assert_eq!(
        serde_json::to_string(report).unwrap(),
        serde_json::to_string(&expected).unwrap()
    );
    let parsed: T = serde_json::from_str(fixture).unwrap();
    assert_eq!(
        &parsed, report,
        "the fixture parses back into the same report"
    );
}

fn database() -> Option<Database> {
    Some(Database {
        family: EngineFamily::Postgres,
        port: 5432,
        dbname: Some("orders".into()),
        tls: Tls::VerifyFull,
        master_arn: Some(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:master-AbCdEf".into(),
        ),
    })
}

fn version(
    id: &str,
    stages: &[&str],
    user: Option<&str>,
    logs_in: Option<bool>,
    detail: &str,
) -> VersionReport {
    // Built as recovery builds it, with what it never shows set, then converted.
    VersionView {
        version_id: id.into(),
        stages: stages.iter().map(|s| s.to_string()).collect(),
        created: user.map(|_| "2026-01-02T03:04:05Z".into()),
        created_secs: user.map(|_| 1_767_323_045),
        username: user.map(str::to_owned),
        host: user.map(|_| "orders.cluster-abc.us-east-1.rds.amazonaws.com".into()),
        logs_in,
        detail: detail.into(),
        database: user.and(database()),
    }
    .into()
}

fn recover_promoted() -> RecoverReport {
    let after = RecoverReport {
        action: action::RECOVER.into(),
        secret_id: "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders-AbCdEf".into(),
        versions: vec![version(
            "b1c2",
            &["AWSCURRENT"],
            Some("app_clone"),
            Some(true),
            "logs in to orders:5432",
        )],
        proposal: Proposal {
            kind: ProposalKind::None,
            version_id: None,
            reason: "nothing to do: AWSCURRENT logs in and no rotation is half done".into(),
        },
        applied: false,
        after: None,
    };
    RecoverReport {
        action: action::RECOVER.into(),
        secret_id: "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders-AbCdEf".into(),
        versions: vec![
            version(
                "a0b1",
                &["AWSCURRENT"],
                Some("app"),
                Some(false),
                "the server refused the password (orders:5432)",
            ),
            version(
                "b1c2",
                &["AWSPENDING"],
                Some("app_clone"),
                Some(true),
                "logs in to orders:5432",
            ),
            version("c2d3", &[], None, None, "the version has no value"),
        ],
        proposal: Proposal {
            kind: ProposalKind::Promote,
            version_id: Some("b1c2".into()),
            reason: "AWSCURRENT does not log in, and version b1c2 (AWSPENDING) does".into(),
        },
        applied: true,
        after: Some(Box::new(after)),
    }
}

fn recover_clear_pending() -> RecoverReport {
    RecoverReport {
        action: action::RECOVER.into(),
        secret_id: "orders/app".into(),
        versions: vec![
            version(
                "a0b1",
                &["AWSCURRENT", "AWSPREVIOUS"],
                Some("app"),
                Some(true),
                "",
            ),
            version(
                "b1c2",
                &["AWSPENDING"],
                Some("app"),
                None,
                "could not ask the server: \"quoted\" \u{e9}",
            ),
        ],
        proposal: Proposal {
            kind: ProposalKind::ClearPending,
            version_id: Some("b1c2".into()),
            reason: "AWSPENDING was left by a rotation that did not finish (45 minutes ago)".into(),
        },
        applied: false,
        after: None,
    }
}

fn adopt_with_host() -> AdoptReport {
    AdoptReport {
        action: action::ADOPT_PARTNER.into(),
        secret_id: "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop-GhIjKl".into(),
        user: "shop".into(),
        partner: "shop_clone".into(),
        host: Some("10.0.%".into()),
        master: "admin".into(),
    }
}

fn adopt_without_host() -> AdoptReport {
    AdoptReport {
        host: None,
        ..adopt_with_host()
    }
}

fn audit_overdue() -> AuditReport {
    AuditReport {
        action: action::AUDIT.into(),
        function_arn: "arn:aws:lambda:us-east-1:123456789012:function:rotation".into(),
        secrets: 3,
        overdue: vec![
            Overdue {
                secret_id: "arn:aws:secretsmanager:us-east-1:123456789012:secret:a-AbCdEf".into(),
                name: "a".into(),
                reason: "rotation is turned off on the secret".into(),
            },
            Overdue {
                secret_id: "arn:aws:secretsmanager:us-east-1:123456789012:secret:b-GhIjKl".into(),
                name: "b".into(),
                reason: "last rotated 2026-01-02T03:04:05Z, and the schedule rotates every 30 days"
                    .into(),
            },
        ],
    }
}

fn audit_none() -> AuditReport {
    AuditReport {
        action: action::AUDIT.into(),
        function_arn: "arn:aws:lambda:us-east-1:123456789012:function:rotation".into(),
        secrets: 0,
        overdue: Vec::new(),
    }
}

#[test]
fn recover_reports_answer_the_same_bytes() {
    assert_wire(
        &recover_promoted(),
        include_str!("fixtures/reports/recover-promoted.json"),
    );
    assert_wire(
        &recover_clear_pending(),
        include_str!("fixtures/reports/recover-clear-pending.json"),
    );
}

#[test]
fn adopt_reports_answer_the_same_bytes() {
    assert_wire(
        &adopt_with_host(),
        include_str!("fixtures/reports/adopt-with-host.json"),
    );
    assert_wire(
        &adopt_without_host(),
        include_str!("fixtures/reports/adopt-without-host.json"),
    );
}

#[test]
fn audit_reports_answer_the_same_bytes() {
    assert_wire(
        &audit_overdue(),
        include_str!("fixtures/reports/audit-overdue.json"),
    );
    assert_wire(
        &audit_none(),
        include_str!("fixtures/reports/audit-none.json"),
    );
}
