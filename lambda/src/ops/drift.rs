//! The scheduled drift check: preflight's read-only checks on every secret the stack
//! configures, so a password changed behind the function's back, a master secret gone stale or
//! a database moved is found on a quiet morning rather than by the next rotation.
//!
//! What it promises:
//! - **No lockouts**: every login goes through one [`LoginBudget`]: at most one login per
//!   database user per run, none after a refused password, and each master logs in once per
//!   run whatever the number of its secrets (its session is shared).
//! - **Bounded**: a few secrets at a time ([`CONCURRENCY`]), and nothing started once the
//!   run's deadline (the invocation's, less a margin) has come; a secret whose turn did not
//!   come, or whose check did not end in time, is reported as not reached, never as healthy.
//! - **Read-only, but for one thing**: the retirement of previous users
//!   (`retire_previous_after`). Once a secret's grace has passed, the check retires the
//!   previous user where the engine cannot schedule it (MySQL and MariaDB: `ACCOUNT LOCK`) and
//!   makes sure of it where it can (PostgreSQL: `VALID UNTIL`, set at finishSecret); and it
//!   counts the sessions the retired user still holds, the one sign of an application that
//!   kept AWSPREVIOUS that the function can see.
//! - The report and the log lines hold names, checks and counts, never a value.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rotation_contract::report::{DriftReport, DriftStatus, SecretDrift, action};
use rotation_contract::settings::SecretSettings;

use super::logins::{Earlier, LoginBudget};
use super::preflight::{Reached, preflight_read_only};
use super::{Check, Status, check, rfc3339};
use crate::alternating::partner_username;
use crate::db::Connector;
use crate::error::RotationError;
use crate::secret::EngineFamily;
use crate::settings::Source;
use crate::steps::{Rotator, Strategy};
use crate::store::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, DateTime, SecretAdmin, SecretStore, Staged,
};

/// How many secrets are checked at a time: enough to finish hundreds in a few minutes, few
/// enough that the databases and Secrets Manager see a trickle.
pub const CONCURRENCY: usize = 4;

/// Kept free before the invocation's deadline, to write the report and the metrics.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

/// The name of the retirement's line in a secret's problems.
pub const RETIRE_PREVIOUS: &str = "retire-previous";

/// When the run must end, and the clock the graces are measured against.
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    /// Seconds since the epoch, now.
    pub now_secs: i64,
    /// Nothing is started after it, and a check still running then is cut off.
    pub deadline: Option<Instant>,
}

impl RunLimits {
    /// Limits from the invocation's deadline (milliseconds since the epoch, Lambda's
    /// `context.deadline`; 0 when unknown) and the clock.
    pub fn from_deadline_ms(deadline_ms: u64, now_ms: u64) -> Self {
        let deadline = (deadline_ms > now_ms).then(|| {
            let left = Duration::from_millis(deadline_ms - now_ms);
            Instant::now() + left.saturating_sub(DEADLINE_MARGIN)
        });
        Self {
            now_secs: (now_ms / 1000) as i64,
            deadline,
        }
    }

    fn left(&self) -> Option<Duration> {
        match self.deadline {
            None => Some(Duration::MAX),
            Some(deadline) => deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero()),
        }
    }
}

/// Checks every secret the stack configures. Refused without a stack
/// (`ROTATION_SETTINGS=from-secrets`): there is no list of secrets to check.
pub async fn drift_check<S, C, A>(
    rotator: &Rotator<S, C>,
    admin: &A,
    function_arn: Option<&str>,
    limits: RunLimits,
) -> Result<DriftReport, RotationError>
where
    S: SecretStore,
    C: Connector,
    A: SecretAdmin + SecretStore,
{
    let Source::Stack { settings, .. } = &rotator.config.settings else {
        return Err(RotationError::InvalidEvent(format!(
            "`{}` checks the secrets the stack's settings list, and this function runs \
             without them (ROTATION_SETTINGS=from-secrets); run a preflight per secret \
             instead, or deploy the function with the stack's settings layer",
            action::DRIFT_CHECK
        )));
    };
    let secrets: Vec<(&String, &SecretSettings)> = settings.secrets.iter().collect();
    let budget = LoginBudget::new();
    let results: Mutex<Vec<Option<SecretDrift>>> = Mutex::new(vec![None; secrets.len()]);
    let next = AtomicUsize::new(0);
    let worker = || async {
        loop {
            let at = next.fetch_add(1, Ordering::SeqCst);
            let Some((arn, configured)) = secrets.get(at) else {
                break;
            };
            let Some(left) = limits.left() else {
                break;
            };
            let checked = tokio::time::timeout(
                left,
                check_secret(
                    rotator,
                    admin,
                    function_arn,
                    arn,
                    configured,
                    &budget,
                    limits,
                ),
            )
            .await
            .unwrap_or_else(|_| {
                not_reached(arn, "its check did not end before the run's deadline")
            });
            results.lock().unwrap_or_else(|e| e.into_inner())[at] = Some(checked);
        }
    };
    tokio::join!(worker(), worker(), worker(), worker());
    budget.close().await;

    let results: Vec<SecretDrift> = results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .zip(&secrets)
        .map(|(found, (arn, _))| {
            found.unwrap_or_else(|| {
                not_reached(
                    arn,
                    "the run's time was up before its turn (the function's timeout); the \
                     next run starts with it",
                )
            })
        })
        .collect();
    let count = |status| results.iter().filter(|r| r.status == status).count();
    Ok(DriftReport {
        action: action::DRIFT_CHECK.to_owned(),
        secrets: results.len(),
        checked: results.len() - count(DriftStatus::NotReached),
        drifted: count(DriftStatus::Drifted),
        not_reached: count(DriftStatus::NotReached),
        results,
    })
}

fn not_reached(arn: &str, why: &str) -> SecretDrift {
    SecretDrift {
        secret_id: arn.to_owned(),
        status: DriftStatus::NotReached,
        problems: vec![Check::skip(check::ROTATION_SETTINGS, why)],
        retirement: None,
        retired_user_sessions: None,
    }
}

async fn check_secret<S, C, A>(
    rotator: &Rotator<S, C>,
    admin: &A,
    function_arn: Option<&str>,
    arn: &str,
    configured: &SecretSettings,
    budget: &LoginBudget,
    limits: RunLimits,
) -> SecretDrift
where
    S: SecretStore,
    C: Connector,
    A: SecretAdmin + SecretStore,
{
    let (report, reached) = preflight_read_only(rotator, admin, function_arn, arn, budget).await;
    let mut problems: Vec<Check> = report
        .checks
        .into_iter()
        .filter(|c| c.status == Status::Fail)
        .collect();
    let mut drift = SecretDrift {
        secret_id: arn.to_owned(),
        status: DriftStatus::Ok,
        problems: Vec::new(),
        retirement: None,
        retired_user_sessions: None,
    };
    if let Some(grace) = configured.retire_previous_after_seconds
        && report.ok
    {
        match retire(rotator, admin, arn, grace, &reached, budget, limits).await {
            Ok(Retired { note, sessions }) => {
                drift.retirement = Some(note);
                drift.retired_user_sessions = sessions;
            }
            Err(problem) => problems.push(problem),
        }
    }
    if !problems.is_empty() {
        drift.status = DriftStatus::Drifted;
        for problem in &problems {
            tracing::warn!(
                secret = %arn,
                check = %problem.check,
                detail = %problem.detail,
                "drift check: a rotation of this secret would meet a problem"
            );
        }
    }
    if let Some(sessions) = drift.retired_user_sessions.filter(|n| *n > 0) {
        tracing::warn!(
            secret = %arn,
            sessions,
            "drift check: the retired previous user still has sessions open; an application \
             still uses AWSPREVIOUS and fails at its next login"
        );
    }
    drift.problems = problems;
    drift
}

/// What the retirement step found.
struct Retired {
    note: String,
    /// Sessions of the retired user, once its grace has passed and the master may see them.
    sessions: Option<u64>,
}

/// The previous user of an alternating secret with a grace: nothing yet while the grace runs;
/// after it, retired (locked where the engine cannot schedule it) and its sessions counted.
/// Never the user AWSCURRENT names, and never during a rotation (an AWSPENDING of another
/// version than AWSCURRENT's): the rotation is about to give that user a new password.
async fn retire<S, C, A>(
    rotator: &Rotator<S, C>,
    admin: &A,
    secret: &str,
    grace: u64,
    reached: &Reached,
    budget: &LoginBudget,
    limits: RunLimits,
) -> Result<Retired, Check>
where
    S: SecretStore,
    C: Connector,
    A: SecretAdmin + SecretStore,
{
    let fail = |detail: String, fix: &str| Check::fail(RETIRE_PREVIOUS, detail, fix);
    let (Some(details), Some(current), Some(Strategy::AlternatingUsers { .. }), Some(master)) = (
        &reached.details,
        &reached.current,
        &reached.strategy,
        &reached.master,
    ) else {
        return Ok(Retired {
            note: "not an alternating-users secret: nothing to retire".into(),
            sessions: None,
        });
    };
    if rotation_running(details) {
        return Ok(Retired {
            note: "a rotation is under way: the previous user is about to get a new password; \
                   not retired"
                .into(),
            sessions: None,
        });
    }
    let previous = match admin.get(secret, Staged::Stage(AWSPREVIOUS)).await {
        Ok(Some(value)) => match rotator.login_of(secret, AWSPREVIOUS, &value) {
            Ok(login) => login,
            Err(error) => {
                return Err(fail(
                    error.to_string(),
                    "AWSPREVIOUS is not a credential the function can read; the next rotation \
                     replaces it.",
                ));
            }
        },
        Ok(None) => {
            return Ok(Retired {
                note: "no AWSPREVIOUS version: nothing to retire".into(),
                sessions: None,
            });
        }
        Err(error) => {
            return Err(fail(
                error.to_string(),
                "Check that the function's role may read the secret.",
            ));
        }
    };
    let partner = partner_username(&current.username);
    if previous.username == current.username {
        return Ok(Retired {
            note: "AWSPREVIOUS names AWSCURRENT's own user: nothing to retire".into(),
            sessions: None,
        });
    }
    if previous.username != partner
        || !previous.host.eq_ignore_ascii_case(&current.host)
        || previous.port != current.port
    {
        return Err(fail(
            format!(
                "AWSPREVIOUS names `{}` at {}:{}, not `{partner}` (AWSCURRENT's partner) at \
                 {}:{}: the function retires only the pair's other user, so it is left alone",
                previous.username, previous.host, previous.port, current.host, current.port
            ),
            "Someone staged AWSPREVIOUS by hand; let the next rotation restore the pair.",
        ));
    }
    let Some(since) = rotated_at(admin, secret, details).await else {
        return Err(fail(
            "Secrets Manager gives neither the last rotation's date nor AWSCURRENT's \
             creation date, so the grace cannot be measured; not retired"
                .into(),
            "Rotate the secret once; its LastRotatedDate then says when the grace started.",
        ));
    };
    let at = since.secs().saturating_add(grace as i64);
    let due = DateTime::from_secs(at);
    if limits.now_secs < at {
        return Ok(Retired {
            note: format!(
                "`{}` (AWSPREVIOUS) logs in until {} ({} after the rotation of {})",
                previous.username,
                rfc3339(&due),
                human(grace),
                rfc3339(&since)
            ),
            sessions: None,
        });
    }

    // The grace has passed: the master retires the user (it is already, on PostgreSQL, since
    // finishSecret: then this changes nothing) and counts the sessions it still holds.
    let session = match budget.shared(&rotator.connector, master).await {
        Earlier::Accepted(Some(session)) => session,
        _ => {
            return Err(fail(
                format!(
                    "the master secret's session is not available (see `{}`); `{}` not \
                     retired",
                    check::MASTER_LOGIN,
                    previous.username
                ),
                "Fix the master secret's login; the next run retires the user.",
            ));
        }
    };
    let mut session = session.lock().await;
    let host = reached.account_host.as_deref();
    if let Err(error) = session
        .retire_partner(&current.username, host, &previous.username, at)
        .await
    {
        return Err(fail(
            error.to_string(),
            "See the detail; the previous user keeps logging in until the next run or the \
             next rotation.",
        ));
    }
    // The stages once more: a rotation that started meanwhile, and whose setSecret already
    // gave the user its new password, must not finish with it retired. Its own retry of
    // setSecret undoes the retirement; the alarm says so.
    let raced = match admin.details(secret).await {
        Ok(after) => {
            rotation_running(&after) || current_user_is(admin, secret, &previous.username).await
        }
        Err(_) => false,
    };
    if raced {
        return Err(fail(
            format!(
                "a rotation started while `{}` was being retired",
                previous.username
            ),
            "If the rotation fails at testSecret, rotate the secret again (its setSecret \
             gives the user back its login); if it finished, rotate again now.",
        ));
    }
    let sessions = match session.sessions_of(&previous.username).await {
        Ok(sessions) => sessions,
        Err(error) => {
            tracing::warn!(secret = %secret, %error, "cannot count the retired user's sessions");
            None
        }
    };
    let how = match current.engine.family() {
        EngineFamily::Postgres => "VALID UNTIL",
        EngineFamily::MySql => "ACCOUNT LOCK",
    };
    Ok(Retired {
        note: format!(
            "`{}` (AWSPREVIOUS) no longer logs in since {} ({how}); {}",
            previous.username,
            rfc3339(&due),
            match sessions {
                Some(0) => "it holds no session".to_owned(),
                Some(n) =>
                    format!("it still holds {n} session(s): an application still uses AWSPREVIOUS"),
                None => "its sessions cannot be seen by the master user".to_owned(),
            }
        ),
        sessions,
    })
}

/// Whether a rotation is under way: an AWSPENDING on another version than AWSCURRENT's.
fn rotation_running(details: &crate::store::SecretDetails) -> bool {
    let with = |stage: &str| {
        details
            .versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(id, _)| id.clone())
    };
    matches!((with(AWSPENDING), with(AWSCURRENT)), (Some(p), c) if Some(&p) != c.as_ref())
}

async fn current_user_is<A: SecretStore>(admin: &A, secret: &str, user: &str) -> bool {
    match admin.get(secret, Staged::Stage(AWSCURRENT)).await {
        Ok(Some(value)) => value.str_field("username") == Some(user),
        _ => true,
    }
}

/// When AWSCURRENT took over: the secret's last rotation, else AWSCURRENT's creation.
async fn rotated_at<A: SecretAdmin>(
    admin: &A,
    secret: &str,
    details: &crate::store::SecretDetails,
) -> Option<DateTime> {
    if let Some(last) = details.last_rotated {
        return Some(last);
    }
    let versions = admin.versions(secret).await.ok()?;
    versions
        .into_iter()
        .find(|v| v.stages.iter().any(|s| s == AWSCURRENT))
        .and_then(|v| v.created)
}

fn human(seconds: u64) -> String {
    match seconds {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graces_read_as_configured() {
        assert_eq!(human(86_400), "1d");
        assert_eq!(human(7200), "2h");
        assert_eq!(human(1800), "30m");
        assert_eq!(human(61), "61s");
    }

    #[test]
    fn the_deadline_keeps_a_margin_and_an_unknown_one_is_no_limit() {
        let limits = RunLimits::from_deadline_ms(0, 1_000_000);
        assert!(limits.deadline.is_none() && limits.left().is_some());
        let limits = RunLimits::from_deadline_ms(1_000_000 + 3_000, 1_000_000);
        assert_eq!(limits.left(), None, "3 s left is inside the margin");
        let limits = RunLimits::from_deadline_ms(1_000_000 + 60_000, 1_000_000);
        assert!(limits.left().unwrap() > Duration::from_secs(50));
        assert_eq!(limits.now_secs, 1000);
    }
}
