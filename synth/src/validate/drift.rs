//! The drift check's schedule (`alerts.drift_check`) and the retirement of previous users
//! (`databases[].retire_previous_after`).

use super::Validator;
use crate::config::{RawDatabase, Strategy};
use crate::model::Database;

/// The shortest grace: applications cache a secret's value (AWS's caching clients for an
/// hour by default), and one that read AWSPREVIOUS just before the rotation must get to read
/// the new AWSCURRENT before its password stops working.
pub const MIN_GRACE_SECONDS: u64 = 3600;

/// The seconds of `30m`, `24h`, `7d`.
pub fn grace_seconds(text: &str) -> Option<u64> {
    let text = text.trim();
    let (count, unit) = text.split_at(text.len().checked_sub(1)?);
    let count: u64 = count.parse().ok().filter(|n| *n > 0)?;
    let unit = match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    count.checked_mul(unit)
}

/// The interval of a `rate(...)` rotation schedule, in seconds; `None` for `cron(...)`.
fn rate_seconds(expression: &str) -> Option<u64> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (count, unit) = inner.trim().split_once(' ')?;
    let count: u64 = count.parse().ok()?;
    Some(
        count
            * match unit.trim() {
                "day" | "days" => 86_400,
                "hour" | "hours" => 3600,
                _ => return None,
            },
    )
}

/// Whether an EventBridge schedule runs at most hourly: `rate(N minute(s)|hour(s)|day(s))`
/// with the unit's number right (`1 hour`, `2 hours`), or a six-field `cron(...)` whose
/// minutes field is one number. `Err` says what is wrong.
pub fn check_schedule(expression: &str) -> Result<(), String> {
    let e = expression.trim();
    if let Some(inner) = e.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
        let Some((count, unit)) = inner.trim().split_once(' ') else {
            return Err(format!("`{e}` is not `rate(N unit)`"));
        };
        let Ok(count) = count.parse::<u64>() else {
            return Err(format!("`{count}` in `{e}` is not a whole number"));
        };
        if count == 0 {
            return Err(format!("`{e}` runs never: the number must be 1 or more"));
        }
        let (singular, minutes) = match unit.trim() {
            "minute" => (true, 1),
            "minutes" => (false, 1),
            "hour" => (true, 60),
            "hours" => (false, 60),
            "day" => (true, 1440),
            "days" => (false, 1440),
            other => return Err(format!("`{other}` is not minute(s), hour(s) or day(s)")),
        };
        if singular != (count == 1) {
            return Err(format!(
                "`{e}`: EventBridge wants the singular unit for 1 and the plural for more \
                 (`rate(1 day)`, `rate(2 days)`)"
            ));
        }
        if count * minutes < 60 {
            return Err(format!("`{e}` runs more often than hourly"));
        }
        return Ok(());
    }
    if let Some(inner) = e.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        let fields: Vec<&str> = inner.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(format!(
                "`{e}` has {} fields; EventBridge's cron has six (minutes hours day-of-month \
                 month day-of-week year)",
                fields.len()
            ));
        }
        if fields[0].parse::<u32>().map_or(true, |m| m > 59) {
            return Err(format!(
                "`{e}` runs more often than hourly: its minutes field must be one minute (0-59)"
            ));
        }
        return Ok(());
    }
    Err(format!("`{e}` is neither `rate(...)` nor `cron(...)`"))
}

impl Validator<'_> {
    /// `alerts.drift_check`: a schedule that runs at most hourly. Each run logs in once per
    /// user and reads every secret; more often finds nothing sooner that matters (a rotation
    /// is hours or days away) and costs logins and Secrets Manager calls.
    pub(super) fn drift_check(&mut self, schedule: Option<&str>) -> Option<String> {
        let schedule = schedule?;
        if let Err(problem) = check_schedule(schedule) {
            self.err(
                "alerts.drift_check",
                problem,
                "use an EventBridge schedule that runs at most hourly, e.g. `rate(1 day)`, `rate(6 hours)` or `cron(0 6 * * ? *)`: a rotation is hours or days away, and every run costs a login per database user and two Secrets Manager calls per secret",
            );
        }
        Some(schedule.trim().to_owned())
    }

    /// `databases[].retire_previous_after`: alternating users only, an hour or more, shorter
    /// than a `rate(...)` rotation interval, and for MySQL and MariaDB the drift check (which
    /// takes the later action there).
    pub(super) fn retire_previous_after(
        &mut self,
        raw: &[RawDatabase],
        models: &mut [Database],
        drift_check: bool,
    ) {
        for (index, (d, model)) in raw.iter().zip(models.iter_mut()).enumerate() {
            let Some(text) = d.retire_previous_after.as_deref() else {
                continue;
            };
            let path = format!("databases[{index}].retire_previous_after");
            let Some(seconds) = grace_seconds(text) else {
                self.err(
                    &path,
                    format!("`{text}` is not a duration"),
                    "write a whole number of minutes, hours or days: `90m`, `24h`, `7d`",
                );
                continue;
            };
            if d.strategy == Strategy::SingleUser {
                self.err(
                    &path,
                    "a single user has no previous user to retire: its previous password stops working at setSecret",
                    "remove retire_previous_after, or rotate with alternating-users",
                );
                continue;
            }
            if seconds < MIN_GRACE_SECONDS {
                self.err(
                    &path,
                    format!("`{text}` is shorter than an hour"),
                    "give at least `1h`: applications cache the secret (AWS's caching clients for an hour), and one that read AWSPREVIOUS just before the rotation must read the new value before its password stops working",
                );
                continue;
            }
            if let Some(interval) = rate_seconds(&d.schedule.expression)
                && seconds >= interval
            {
                self.err(
                    &path,
                    format!(
                        "`{text}` is not shorter than the rotation schedule `{}`: the next rotation gives the previous user a new password first, so the retirement would never take effect",
                        d.schedule.expression.trim()
                    ),
                    "give a grace shorter than the rotation interval, or remove retire_previous_after",
                );
                continue;
            }
            if model.engine.family() == rotation_contract::EngineFamily::MySql && !drift_check {
                self.err(
                    &path,
                    "MySQL and MariaDB cannot expire a login by date: the drift check locks the previous user once the grace has passed, and alerts.drift_check is not set",
                    "set alerts.drift_check (e.g. `rate(1 hour)`; the lock comes at the first check after the grace), or remove retire_previous_after",
                );
                continue;
            }
            model.retire_previous_after_seconds = Some(seconds);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graces_are_minutes_hours_or_days() {
        assert_eq!(grace_seconds("30m"), Some(1800));
        assert_eq!(grace_seconds("24h"), Some(86_400));
        assert_eq!(grace_seconds("7d"), Some(604_800));
        for bad in ["", "h", "0h", "1.5h", "24", "1w", "-1d"] {
            assert_eq!(grace_seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn drift_schedules_are_eventbridge_expressions_at_most_hourly() {
        for good in [
            "rate(1 day)",
            "rate(2 days)",
            "rate(1 hour)",
            "rate(60 minutes)",
            "cron(0 6 * * ? *)",
        ] {
            assert_eq!(check_schedule(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("rate(1 days)", "singular"),
            ("rate(2 day)", "singular"),
            ("rate(5 minutes)", "more often than hourly"),
            ("rate(0 days)", "never"),
            ("rate(1 week)", "not minute(s)"),
            ("cron(0 6 * * ?)", "six"),
            ("cron(*/5 * * * ? *)", "more often than hourly"),
            ("daily", "neither"),
        ] {
            let problem = check_schedule(bad).unwrap_err();
            assert!(problem.contains(says), "{bad}: {problem}");
        }
    }
}
