//! Recovery of a stuck rotation: which versions' credentials log in, and the one action that is
//! provably safe.
//!
//! Two states block a secret until someone moves labels by hand: an AWSPENDING left by a
//! rotation that stopped (Secrets Manager starts no other while it is there), and the known
//! lockout, where setSecret changed the password and then AWSPENDING moved to a new token, so
//! the database's password is in a version nobody reads. Recovery looks at every version,
//! labelled or not, tries each credential against its own host (never another version's:
//! a version's password only goes where that version says), and proposes at most one action:
//!
//! - **promote** a version that logs in when AWSCURRENT does not, or when it is the AWSPENDING
//!   of an alternating-users rotation whose setSecret already ran (finishing that rotation);
//! - **clear-pending**: remove a stale AWSPENDING while AWSCURRENT logs in, but only once the
//!   pending version is older than [`QUIET_PERIOD_SECS`], so a rotation that is running now is not
//!   pulled from under its setSecret;
//! - **none**, when the secret is healthy or when nothing is provably safe (no version logs in,
//!   or the database cannot be reached): the report says what to do by hand.
//!
//! Logins stop per user at the first credential that works (a user has one password), so a
//! recovery makes as few failed logins as it can: MySQL may lock an account after several.

use super::rfc3339;
use crate::alternating::partner_username;
use crate::db::Connector;
use crate::error::RotationError;
use crate::secret::{EngineFamily, Tls};
use crate::steps::Rotator;
use crate::store::{AWSCURRENT, AWSPENDING, DateTime, SecretAdmin, SecretStore, VersionInfo};

/// How old an AWSPENDING must be before recovery removes it: Lambda's longest timeout, so no
/// step that read it can still be running, with room for Secrets Manager's retries to start.
pub const QUIET_PERIOD_SECS: i64 = 30 * 60;

/// The most versions a recovery looks at (newest first): Secrets Manager keeps about 100
/// unlabelled versions, and each may cost a login.
pub const MAX_VERSIONS: usize = 20;

/// The recover report's wire types: the protocol shared with whoever reads the answer.
pub use rotation_contract::report::{Proposal, ProposalKind, RecoverReport, VersionReport};

/// One version as recovery saw it: what the report shows of it, and what recovery decides with
/// but never shows (its age in seconds, the database it names). Converts into the report's
/// [`VersionReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionView {
    pub version_id: String,
    pub stages: Vec<String>,
    pub created: Option<String>,
    pub created_secs: Option<i64>,
    pub username: Option<String>,
    /// The database host the version names (its credential was tried there only).
    pub host: Option<String>,
    /// `Some(true)` logs in, `Some(false)` refused, `None` not known (not tried, unreadable,
    /// or the server could not be asked).
    pub logs_in: Option<bool>,
    pub detail: String,
    /// The rest of what makes two versions the same database: never promoted across it.
    pub database: Option<Database>,
}

/// What besides the host and the user tells a version's database: a version that names another
/// engine family, port, database, TLS setting or master is another database or another way to
/// rotate it, and is neither tried nor promoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    pub family: EngineFamily,
    pub port: u16,
    pub dbname: Option<String>,
    pub tls: Tls,
    pub master_arn: Option<String>,
}

impl VersionView {
    fn has(&self, stage: &str) -> bool {
        self.stages.iter().any(|s| s == stage)
    }
}

impl From<VersionView> for VersionReport {
    fn from(view: VersionView) -> Self {
        let VersionView {
            version_id,
            stages,
            created,
            created_secs: _,
            username,
            host,
            logs_in,
            detail,
            database: _,
        } = view;
        Self {
            version_id,
            stages,
            created,
            username,
            host,
            logs_in,
            detail,
        }
    }
}

/// Looks at `secret`'s versions and proposes the one safe action; takes it when `apply`.
/// `now_secs` is the time (seconds since the epoch) the quiet period is measured from.
pub async fn recover<S, C, A>(
    rotator: &Rotator<S, C>,
    admin: &A,
    secret: &str,
    apply: bool,
    now_secs: i64,
) -> Result<RecoverReport, RotationError>
where
    S: SecretStore,
    C: Connector,
    A: SecretAdmin,
{
    let mut report = inspect(rotator, admin, secret, now_secs).await?;
    if !apply || report.proposal.kind == ProposalKind::None {
        return Ok(report);
    }
    let current = report
        .versions
        .iter()
        .find(|v| v.has(AWSCURRENT))
        .map(|v| v.version_id.clone());
    let target = report.proposal.version_id.clone().unwrap_or_default();
    match report.proposal.kind {
        ProposalKind::Promote => {
            admin
                .move_stage(secret, AWSCURRENT, Some(&target), current.as_deref())
                .await?;
            // A promoted pending version is a finished rotation: the label goes, as Secrets
            // Manager removes it after finishSecret.
            if report
                .versions
                .iter()
                .any(|v| v.version_id == target && v.has(AWSPENDING))
            {
                admin
                    .move_stage(secret, AWSPENDING, None, Some(&target))
                    .await?;
            }
        }
        ProposalKind::ClearPending => {
            admin
                .move_stage(secret, AWSPENDING, None, Some(&target))
                .await?;
        }
        ProposalKind::None => unreachable!("returned above"),
    }
    report.applied = true;
    report.after = Some(Box::new(inspect(rotator, admin, secret, now_secs).await?));
    tracing::info!(
        secret,
        action = ?report.proposal.kind,
        version = %target,
        "recovery applied"
    );
    Ok(report)
}

async fn inspect<S, C, A>(
    rotator: &Rotator<S, C>,
    admin: &A,
    secret: &str,
    now_secs: i64,
) -> Result<RecoverReport, RotationError>
where
    S: SecretStore,
    C: Connector,
    A: SecretAdmin,
{
    // Nothing is read or tried for a secret this function may not act on.
    let details = admin.details(secret).await?;
    rotator.admit(
        secret,
        Some(details.arn.as_str()).filter(|arn| !arn.is_empty()),
        details.rotation_lambda_arn.as_deref(),
    )?;
    let mut versions: Vec<VersionInfo> = admin.versions(secret).await?;
    // Labelled versions first (AWSCURRENT, AWSPENDING, AWSPREVIOUS), then the newest others.
    let rank = |v: &VersionInfo| {
        let has = |stage: &str| v.stages.iter().any(|s| s == stage);
        if has(AWSCURRENT) {
            0
        } else if has(AWSPENDING) {
            1
        } else if !v.stages.is_empty() {
            2
        } else {
            3
        }
    };
    versions.sort_by_key(|v| rank(v));
    versions.truncate(MAX_VERSIONS);

    // (host, port, user) -> the password that logged in or was refused (compared, never
    // shown): a user has one password per server.
    let mut known: Vec<(String, u16, String, String, bool)> = Vec::new();
    // AWSCURRENT as read (ranked first): only versions of its database and pair are tried.
    let mut current: Option<VersionView> = None;
    let mut unreachable: Option<String> = None;
    let mut reports = Vec::new();
    for version in &versions {
        let mut report = VersionView {
            version_id: version.id.clone(),
            stages: version.stages.clone(),
            created: version.created.as_ref().map(rfc3339),
            created_secs: version.created.as_ref().map(DateTime::secs),
            username: None,
            host: None,
            logs_in: None,
            detail: String::new(),
            database: None,
        };
        let value = match admin.value_of(secret, &version.id).await {
            Ok(Some(value)) => value,
            Ok(None) => {
                report.detail = "the version has no value".into();
                reports.push(report);
                continue;
            }
            Err(error) => {
                report.detail = format!("unreadable: {error}");
                reports.push(report);
                continue;
            }
        };
        let login = match rotator.login_of(secret, "(version)", &value) {
            Ok(login) => login,
            Err(error) => {
                report.detail = format!("not a usable credential: {error}");
                reports.push(report);
                continue;
            }
        };
        report.username = Some(login.username.clone());
        report.host = Some(login.host.clone());
        report.database = Some(Database {
            family: login.engine.family(),
            port: login.port,
            dbname: login.dbname.clone(),
            tls: login.tls,
            master_arn: value.master_arn().map(str::to_owned),
        });
        if report.has(AWSCURRENT) {
            current = Some(report.clone());
        }
        let endpoint = |host: &str, port: u16, user: &str| {
            host.eq_ignore_ascii_case(&login.host) && port == login.port && user == login.username
        };
        let password = secrecy::ExposeSecret::expose_secret(&login.password).to_owned();
        if !current.as_ref().is_some_and(|c| same_pair(c, &report)) {
            // Recovery promotes only a version of AWSCURRENT's database and pair, so it tries
            // no other: no failed login for another user, no password sent to another server.
            report.detail = "not tried: another database, user or master than AWSCURRENT's (or \
                             AWSCURRENT unreadable), which recovery never promotes"
                .into();
        } else if let Some((.., same)) =
            known.iter().find(|(host, port, user, known_password, _)| {
                endpoint(host, *port, user) && *known_password == password
            })
        {
            report.logs_in = Some(*same);
            report.detail = "same credential as a version above".into();
        } else if known
            .iter()
            .any(|(host, port, user, _, logged_in)| endpoint(host, *port, user) && *logged_in)
        {
            report.logs_in = Some(false);
            report.detail = "not tried: another version's password for this user logs in, and a \
                             user has one password"
                .into();
        } else {
            match rotator.connector.login(&login).await {
                Ok(Some(session)) => {
                    session.close().await;
                    report.logs_in = Some(true);
                    report.detail = format!("logs in to {}:{}", login.host, login.port);
                    known.push((
                        login.host.clone(),
                        login.port,
                        login.username.clone(),
                        password,
                        true,
                    ));
                }
                Ok(None) => {
                    report.logs_in = Some(false);
                    report.detail = format!(
                        "the server refused the password ({}:{})",
                        login.host, login.port
                    );
                    known.push((
                        login.host.clone(),
                        login.port,
                        login.username.clone(),
                        password,
                        false,
                    ));
                }
                Err(error) => {
                    report.detail = format!("could not ask the server: {error}");
                    unreachable.get_or_insert_with(|| error.to_string());
                }
            }
        }
        reports.push(report);
    }

    let proposal = decide(&reports, unreachable.as_deref(), now_secs);
    Ok(RecoverReport {
        action: rotation_contract::report::action::RECOVER.to_owned(),
        secret_id: secret.to_owned(),
        versions: reports.into_iter().map(VersionReport::from).collect(),
        proposal,
        applied: false,
        after: None,
    })
}

/// Whether `version` is a credential of the same database and pair as `current`: recovery
/// never makes AWSCURRENT a version that names another host, user, engine family, port,
/// database, TLS setting or master.
fn same_pair(current: &VersionView, version: &VersionView) -> bool {
    let same_host = match (&version.host, &current.host) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    };
    let same_database = match (&version.database, &current.database) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    };
    let same_user = match (&version.username, &current.username) {
        (Some(a), Some(b)) => a == b || *a == partner_username(b),
        _ => false,
    };
    same_host && same_user && same_database
}

/// The one safe action for versions as they were found (pure: tested offline over every
/// shape of stuck secret).
pub fn decide(versions: &[VersionView], unreachable: Option<&str>, now_secs: i64) -> Proposal {
    let current = versions.iter().find(|v| v.has(AWSCURRENT));
    let pending = versions
        .iter()
        .find(|v| v.has(AWSPENDING) && !v.has(AWSCURRENT));
    let Some(current) = current else {
        return Proposal::none(
            "no version is AWSCURRENT; label the version the applications should use by hand",
        );
    };
    match current.logs_in {
        Some(true) => {
            let Some(pending) = pending else {
                return Proposal::none(
                    "nothing to do: AWSCURRENT logs in and no rotation is half done",
                );
            };
            // Alternating users: the pending user already has its new password (setSecret
            // ran); finishing the rotation keeps both users working.
            if pending.logs_in == Some(true)
                && pending.username != current.username
                && same_pair(current, pending)
            {
                return Proposal {
                    kind: ProposalKind::Promote,
                    version_id: Some(pending.version_id.clone()),
                    reason: "AWSCURRENT logs in and AWSPENDING (the other user of the pair) \
                             logs in too: setSecret ran and the rotation did not finish; \
                             promoting AWSPENDING finishes it, and the old AWSCURRENT becomes \
                             AWSPREVIOUS, which keeps working"
                        .into(),
                };
            }
            let age = pending.created_secs.map(|created| now_secs - created);
            match age {
                Some(age) if age >= QUIET_PERIOD_SECS => Proposal {
                    kind: ProposalKind::ClearPending,
                    version_id: Some(pending.version_id.clone()),
                    reason: format!(
                        "AWSCURRENT logs in and AWSPENDING was left by a rotation that did not \
                         finish ({} minutes ago); removing the label lets the next rotation \
                         start, and changes no password",
                        age / 60
                    ),
                },
                _ => Proposal::none(format!(
                    "AWSCURRENT logs in; AWSPENDING is younger than {} minutes (or of unknown \
                     age), so a rotation may be running now: run recover again later",
                    QUIET_PERIOD_SECS / 60
                )),
            }
        }
        Some(false) => {
            // The database has another version's password: the one that logs in becomes
            // AWSCURRENT. AWSPENDING first (setSecret ran, finishSecret did not), then the
            // newest other.
            let working = pending
                .filter(|p| p.logs_in == Some(true) && same_pair(current, p))
                .or_else(|| {
                    versions.iter().find(|v| {
                        !v.has(AWSCURRENT) && v.logs_in == Some(true) && same_pair(current, v)
                    })
                });
            match working {
                Some(version) => Proposal {
                    kind: ProposalKind::Promote,
                    version_id: Some(version.version_id.clone()),
                    reason: format!(
                        "AWSCURRENT does not log in, and version {} ({}) does: the database has \
                         its password; promoting it to AWSCURRENT gives the applications a \
                         working credential again",
                        version.version_id,
                        if version.stages.is_empty() {
                            "unlabelled".to_owned()
                        } else {
                            version.stages.join(", ")
                        }
                    ),
                },
                None if unreachable.is_some() => Proposal::none(format!(
                    "AWSCURRENT does not log in, and other versions could not be tried: {}",
                    unreachable.unwrap_or_default()
                )),
                None => Proposal::none(
                    "no version's credential logs in: nothing here is provably safe. As the \
                     master user, set the user's password to AWSCURRENT's by hand, then run \
                     preflight",
                ),
            }
        }
        None => Proposal::none(format!(
            "whether AWSCURRENT logs in is not known ({}); fix that first (run preflight)",
            if current.detail.is_empty() {
                unreachable.unwrap_or("no answer")
            } else {
                current.detail.as_str()
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn version(
        id: &str,
        stages: &[&str],
        user: &str,
        logs_in: Option<bool>,
        age: i64,
    ) -> VersionView {
        VersionView {
            version_id: id.into(),
            stages: stages.iter().map(|s| s.to_string()).collect(),
            created: None,
            created_secs: Some(NOW - age),
            username: Some(user.into()),
            host: Some("db.internal".into()),
            logs_in,
            detail: String::new(),
            database: Some(Database {
                family: EngineFamily::Postgres,
                port: 5432,
                dbname: Some("app".into()),
                tls: Tls::VerifyFull,
                master_arn: None,
            }),
        }
    }

    #[test]
    fn a_healthy_secret_needs_nothing() {
        let versions = [
            version("c", &[AWSCURRENT], "app", Some(true), 9000),
            version("p", &["AWSPREVIOUS"], "app", Some(false), 99000),
        ];
        assert_eq!(decide(&versions, None, NOW).kind, ProposalKind::None);
    }

    #[test]
    fn a_stale_pending_is_cleared_only_after_the_quiet_period() {
        let mut versions = vec![
            version("c", &[AWSCURRENT], "app", Some(true), 9000),
            version(
                "n",
                &[AWSPENDING],
                "app",
                Some(false),
                QUIET_PERIOD_SECS + 1,
            ),
        ];
        let proposal = decide(&versions, None, NOW);
        assert_eq!(proposal.kind, ProposalKind::ClearPending);
        assert_eq!(proposal.version_id.as_deref(), Some("n"));
        versions[1].created_secs = Some(NOW - 60);
        assert_eq!(decide(&versions, None, NOW).kind, ProposalKind::None);
        versions[1].created_secs = None;
        assert_eq!(decide(&versions, None, NOW).kind, ProposalKind::None);
    }

    #[test]
    fn the_version_the_database_has_is_promoted() {
        // The known lockout: setSecret set version u's password, then AWSPENDING moved to n.
        let versions = [
            version("c", &[AWSCURRENT], "app", Some(false), 9000),
            version("n", &[AWSPENDING], "app", Some(false), 10),
            version("u", &[], "app", Some(true), 600),
        ];
        let proposal = decide(&versions, None, NOW);
        assert_eq!(proposal.kind, ProposalKind::Promote);
        assert_eq!(proposal.version_id.as_deref(), Some("u"));
        // Single user between setSecret and finishSecret: the pending password is the one.
        let versions = [
            version("c", &[AWSCURRENT], "app", Some(false), 9000),
            version("n", &[AWSPENDING], "app", Some(true), 10),
        ];
        assert_eq!(
            decide(&versions, None, NOW).version_id.as_deref(),
            Some("n")
        );
    }

    #[test]
    fn an_alternating_rotation_past_set_secret_is_finished() {
        let versions = [
            version("c", &[AWSCURRENT], "app", Some(true), 9000),
            version("n", &[AWSPENDING], "app_clone", Some(true), 10),
        ];
        let proposal = decide(&versions, None, NOW);
        assert_eq!(proposal.kind, ProposalKind::Promote);
        assert_eq!(proposal.version_id.as_deref(), Some("n"));
    }

    #[test]
    fn a_version_for_another_host_or_user_is_never_promoted() {
        let mut elsewhere = version("e", &[], "app", Some(true), 600);
        elsewhere.host = Some("evil.example".into());
        let versions = [
            version("c", &[AWSCURRENT], "app", Some(false), 9000),
            elsewhere,
            version("o", &[], "admin", Some(true), 700),
        ];
        assert_eq!(decide(&versions, None, NOW).kind, ProposalKind::None);
        let mut pending = version("n", &[AWSPENDING], "admin", Some(true), 10);
        pending.host = Some("db.internal".into());
        let versions = [
            version("c", &[AWSCURRENT], "app", Some(true), 9000),
            pending,
        ];
        assert_ne!(decide(&versions, None, NOW).kind, ProposalKind::Promote);
    }

    #[test]
    fn nothing_is_done_when_nothing_is_provably_safe() {
        let none_log_in = [
            version("c", &[AWSCURRENT], "app", Some(false), 9000),
            version("p", &["AWSPREVIOUS"], "app", Some(false), 99000),
        ];
        assert_eq!(decide(&none_log_in, None, NOW).kind, ProposalKind::None);
        let unknown = [version("c", &[AWSCURRENT], "app", None, 9000)];
        let proposal = decide(&unknown, Some("no route to host"), NOW);
        assert_eq!(proposal.kind, ProposalKind::None);
        assert!(
            proposal.reason.contains("no route to host"),
            "{}",
            proposal.reason
        );
        assert_eq!(decide(&[], None, NOW).kind, ProposalKind::None);
    }
}
