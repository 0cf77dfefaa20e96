//! The overdue-rotation audit: every secret whose rotation function is this one, checked
//! against its own schedule.
//!
//! CloudWatch alarms evaluate at most seven days of data, so no alarm on the step metrics can
//! notice that a secret on a 30-day schedule has not rotated. Instead the stack invokes the
//! function with `{"Action": "audit"}` on a schedule; the audit lists the account's secrets
//! (ListSecrets returns each one's rotation function, rules and dates, never a value), keeps
//! those that name this function, and writes the count of overdue ones as a metric the stack's
//! alarm watches. A secret is overdue when:
//!
//! - rotation is turned off on it (it will never rotate again);
//! - its scheduled rotation (NextRotationDate) is past by more than the window and an hour;
//! - its last rotation (or, never rotated, its creation) is older than the interval of a
//!   `rate(...)` or `AutomaticallyAfterDays` schedule plus the window and an hour.

use super::rfc3339;
use crate::error::RotationError;
use crate::store::{SecretAdmin, SecretDetails};

/// Slack past a window before a rotation counts as overdue: Secrets Manager starts a rotation
/// anywhere in its window, and a rotation takes a few seconds to minutes.
pub const GRACE_SECS: i64 = 3600;
/// The window when a schedule names none (AutomaticallyAfterDays alone): Secrets Manager then
/// rotates within the last 24 hours of the interval.
pub const DEFAULT_WINDOW_SECS: i64 = 24 * 3600;

/// The answer and its lines, as the protocol shared with whoever reads it declares them.
pub use rotation_contract::report::{AuditReport, Overdue};

pub async fn audit<A: SecretAdmin>(
    admin: &A,
    function_arn: &str,
    now_secs: i64,
) -> Result<AuditReport, RotationError> {
    let secrets = admin.rotated_by(function_arn).await?;
    let overdue = secrets
        .iter()
        .filter_map(|secret| {
            overdue_reason(secret, now_secs).map(|reason| Overdue {
                secret_id: secret.arn.clone(),
                name: secret.name.clone(),
                reason,
            })
        })
        .collect();
    Ok(AuditReport {
        action: rotation_contract::report::action::AUDIT.to_owned(),
        function_arn: function_arn.to_owned(),
        secrets: secrets.len(),
        overdue,
    })
}

/// Why `secret` is overdue at `now_secs`, or `None` when it is not.
pub fn overdue_reason(secret: &SecretDetails, now_secs: i64) -> Option<String> {
    if secret.rotation_enabled == Some(false) {
        return Some("rotation is turned off on the secret".into());
    }
    let window = secret
        .window
        .as_deref()
        .and_then(window_secs)
        .unwrap_or(DEFAULT_WINDOW_SECS);
    if let Some(next) = &secret.next_rotation
        && now_secs > next.secs() + window + GRACE_SECS
    {
        return Some(format!(
            "the rotation scheduled for {} has not happened (window {}h)",
            rfc3339(next),
            window / 3600
        ));
    }
    let interval = secret
        .schedule
        .as_deref()
        .and_then(rate_secs)
        .or(secret.rotate_after_days.map(|days| days * 86_400))?;
    let since = secret.last_rotated.as_ref().or(secret.created.as_ref())?;
    let due = since.secs() + interval + window + GRACE_SECS;
    (now_secs > due).then(|| {
        format!(
            "{} {}, and the schedule rotates every {} days",
            if secret.last_rotated.is_some() {
                "last rotated"
            } else {
                "never rotated since it was created"
            },
            rfc3339(since),
            interval / 86_400
        )
    })
}

/// The seconds of a window `Duration` (`3h`, Secrets Manager's only unit).
fn window_secs(duration: &str) -> Option<i64> {
    let hours: i64 = duration.trim().strip_suffix('h')?.parse().ok()?;
    (hours > 0).then_some(hours * 3600)
}

/// The interval of `rate(N days)` / `rate(N hours)`; `None` for `cron(...)`, whose gaps vary
/// (its NextRotationDate is checked instead).
fn rate_secs(schedule: &str) -> Option<i64> {
    let inner = schedule.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (count, unit) = inner.trim().split_once(' ')?;
    let count: i64 = count.parse().ok()?;
    let unit = match unit.trim() {
        "day" | "days" => 86_400,
        "hour" | "hours" => 3600,
        _ => return None,
    };
    Some(count * unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DateTime;

    const DAY: i64 = 86_400;
    const NOW: i64 = 1_800_000_000;

    fn secret() -> SecretDetails {
        SecretDetails {
            arn: "arn:s".into(),
            name: "s".into(),
            rotation_enabled: Some(true),
            schedule: Some("rate(30 days)".into()),
            window: Some("3h".into()),
            created: Some(DateTime::from_secs(NOW - 400 * DAY)),
            ..SecretDetails::default()
        }
    }

    #[test]
    fn a_secret_rotated_on_schedule_is_not_overdue() {
        let mut s = secret();
        s.last_rotated = Some(DateTime::from_secs(NOW - 29 * DAY));
        s.next_rotation = Some(DateTime::from_secs(NOW + DAY));
        assert_eq!(overdue_reason(&s, NOW), None);
        // Inside the window and the hour of grace: not yet.
        s.last_rotated = Some(DateTime::from_secs(NOW - 30 * DAY - 3 * 3600));
        assert_eq!(overdue_reason(&s, NOW), None);
    }

    #[test]
    fn a_missed_rotation_is_overdue_by_either_date() {
        let mut s = secret();
        s.last_rotated = Some(DateTime::from_secs(NOW - 32 * DAY));
        let reason = overdue_reason(&s, NOW).unwrap();
        assert!(reason.contains("last rotated"), "{reason}");
        assert!(reason.contains("every 30 days"), "{reason}");

        let mut s = secret();
        s.schedule = Some("cron(0 4 ? * SUN *)".into());
        s.last_rotated = Some(DateTime::from_secs(NOW - 2 * DAY));
        s.next_rotation = Some(DateTime::from_secs(NOW - DAY));
        let reason = overdue_reason(&s, NOW).unwrap();
        assert!(reason.contains("has not happened"), "{reason}");
    }

    #[test]
    fn never_rotated_counts_from_creation_and_disabled_is_overdue() {
        let s = secret();
        assert!(overdue_reason(&s, NOW).unwrap().contains("never rotated"));
        let mut s = secret();
        s.created = Some(DateTime::from_secs(NOW - DAY));
        assert_eq!(overdue_reason(&s, NOW), None);
        s.rotation_enabled = Some(false);
        assert!(overdue_reason(&s, NOW).unwrap().contains("turned off"));
    }

    #[test]
    fn schedules_are_read_as_secrets_manager_writes_them() {
        assert_eq!(rate_secs("rate(30 days)"), Some(30 * DAY));
        assert_eq!(rate_secs("rate(1 day)"), Some(DAY));
        assert_eq!(rate_secs("rate(4 hours)"), Some(4 * 3600));
        assert_eq!(rate_secs("cron(0 4 * * ? *)"), None);
        assert_eq!(window_secs("3h"), Some(3 * 3600));
        assert_eq!(window_secs("24h"), Some(DAY));
        assert_eq!(window_secs("3d"), None);
        let mut s = secret();
        s.schedule = None;
        s.rotate_after_days = Some(7);
        s.window = None;
        s.last_rotated = Some(DateTime::from_secs(NOW - 7 * DAY - DEFAULT_WINDOW_SECS));
        assert_eq!(overdue_reason(&s, NOW), None);
        s.last_rotated = Some(DateTime::from_secs(NOW - 9 * DAY));
        assert!(overdue_reason(&s, NOW).is_some());
    }
}
