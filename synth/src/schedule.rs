//! Rotation schedules that Secrets Manager will accept.
//!
//! CloudFormation only finds out at deploy time that a schedule is refused,
//! after the rest of the stack was created; checking here turns a failed
//! deployment into an error that names the line, and every fix it suggests is
//! a form Secrets Manager accepts.
//!
//! The rules, from "Rotation schedules" in the Secrets Manager User Guide
//! (<https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_schedule.html>)
//! and `RotationRulesType` in its API reference:
//! - `rate(N hour|hours|day|days)`, at most one rotation every four hours;
//!   days from 1 to 999 (the longest rate the schedule guide allows, one less
//!   than `AutomaticallyAfterDays`' 1000), hours from 4 to 23 (a day or more
//!   is written in days);
//! - `cron(Minutes Hours Day-of-month Month Day-of-week Year)` with minutes
//!   exactly `0` (windows open on the hour), hours 0-23 with `, - * /`,
//!   day-of-month 1-31 with `, - * ? / L`, month 1-12 or JAN-DEC with
//!   `, - * /`, day-of-week 1-7 or SUN-SAT with `# , - * ? / L`, year exactly
//!   `*` (no schedule more than a year apart), and `?` in exactly one of the
//!   two day fields;
//! - a window (`duration`) of 1 to 24 hours that ends before the next window
//!   and before the end of the UTC day.

/// A problem with a schedule: what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub problem: String,
    pub fix: String,
    /// True when the problem is with `duration` rather than `expression`.
    pub in_duration: bool,
}

fn refuse(problem: impl Into<String>, fix: impl Into<String>) -> Refusal {
    Refusal {
        problem: problem.into(),
        fix: fix.into(),
        in_duration: false,
    }
}

/// When windows start within a UTC day, in hours after midnight.
#[derive(Debug)]
struct Starts {
    /// Window start hours, ascending (one entry for daily schedules).
    hours: Vec<u32>,
    /// Hours between one start and the next (24 for daily or rarer).
    min_gap: u32,
}

/// The longest `rate()` in days that Secrets Manager accepts.
pub const MAX_RATE_DAYS: u32 = 999;

const MIN_GAP_FIX: &str = "Secrets Manager rotates at most every 4 hours: use `rate(4 hours)` or longer, or fewer hours in the cron";

/// Checks `expression` and `duration` together.
pub fn check(expression: &str, duration: Option<&str>) -> Result<(), Refusal> {
    let starts = if let Some(body) = inner(expression, "rate") {
        rate(body)?
    } else if let Some(body) = inner(expression, "cron") {
        cron(body)?
    } else {
        return Err(refuse(
            format!("`{expression}` is neither `rate(...)` nor `cron(...)`"),
            "write `rate(30 days)`, `rate(12 hours)` or a six-field cron such as `cron(0 4 ? * SUN *)`",
        ));
    };
    if let Some(d) = duration {
        check_duration(d, &starts).map_err(|mut r| {
            r.in_duration = true;
            r
        })?;
    }
    Ok(())
}

fn inner<'a>(expression: &'a str, word: &str) -> Option<&'a str> {
    expression
        .trim()
        .strip_prefix(word)?
        .strip_prefix('(')?
        .strip_suffix(')')
        .map(str::trim)
}

fn rate(body: &str) -> Result<Starts, Refusal> {
    let fix =
        "write `rate(N days)` (N from 2 to 999), `rate(1 day)` or `rate(N hours)` (N from 4 to 23)";
    let mut parts = body.split_whitespace();
    let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(refuse(format!("`rate({body})` is not `rate(N unit)`"), fix));
    };
    let Ok(n) = n.parse::<u32>() else {
        return Err(refuse(
            format!("`{n}` in `rate({body})` is not a whole number"),
            fix,
        ));
    };
    let plural_ok = match unit {
        "day" | "hour" => n == 1,
        "days" | "hours" => n != 1,
        _ => {
            return Err(refuse(
                format!("unit `{unit}` in `rate({body})` is not days or hours"),
                fix,
            ));
        }
    };
    if !plural_ok {
        return Err(refuse(
            format!("`rate({body})`: the unit must be singular for 1 and plural otherwise"),
            fix,
        ));
    }
    if unit.starts_with("hour") {
        if n < 4 {
            return Err(refuse(
                format!("`rate({body})` rotates more often than every 4 hours"),
                MIN_GAP_FIX,
            ));
        }
        if n > 23 {
            return Err(refuse(
                format!("`rate({body})` is a day or more"),
                "write the interval in days, e.g. `rate(1 day)` or `rate(2 days)`",
            ));
        }
        Ok(Starts {
            hours: (0..24).step_by(n as usize).collect(),
            min_gap: n,
        })
    } else {
        if n == 0 || n > MAX_RATE_DAYS {
            return Err(refuse(
                format!("`rate({body})` is outside 1 to {MAX_RATE_DAYS} days"),
                fix,
            ));
        }
        Ok(Starts {
            hours: vec![0],
            min_gap: 24,
        })
    }
}

const CRON_FIX: &str = "write `cron(0 hours day-of-month month day-of-week *)` with `?` in exactly one of day-of-month and day-of-week, e.g. `cron(0 4 ? * SUN *)`";

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn cron(body: &str) -> Result<Starts, Refusal> {
    let fields: Vec<&str> = body.split_whitespace().collect();
    let [minutes, hours, dom, month, dow, year] = fields[..] else {
        return Err(refuse(
            format!("`cron({body})` has {} fields, not 6", fields.len()),
            CRON_FIX,
        ));
    };
    if minutes != "0" {
        return Err(refuse(
            format!("minutes `{minutes}` in `cron({body})` is not `0`"),
            "write `0` in the minutes field: Secrets Manager opens rotation windows on the hour, e.g. `cron(0 4 ? * SUN *)`",
        ));
    }
    let hour_set = expand(hours, 23).ok_or_else(|| {
        refuse(
            format!("hours `{hours}` in `cron({body})` is not a number, list, range or step within 0 to 23"),
            "write hours such as `4`, `2,14`, `0-20/6` or `*/6`",
        )
    })?;
    if (dom == "?") == (dow == "?") {
        return Err(refuse(
            format!(
                "`cron({body})` must have `?` in exactly one of day-of-month (`{dom}`) and day-of-week (`{dow}`)"
            ),
            CRON_FIX,
        ));
    }
    if dom != "?" && !day_field(dom, 31, &[], false) {
        return Err(refuse(
            format!("day-of-month `{dom}` in `cron({body})` is not one Secrets Manager accepts"),
            "write days 1 to 31 with `,` `-` `*` `/` or `L` (the last day), e.g. `1`, `1,15`, `L` or `?`",
        ));
    }
    if !day_field(month, 12, &MONTHS, false) {
        return Err(refuse(
            format!("month `{month}` in `cron({body})` is not one Secrets Manager accepts"),
            "write months 1 to 12 or JAN to DEC with `,` `-` `*` or `/`, e.g. `*`, `1,7` or `JAN-MAR`",
        ));
    }
    if dow != "?" && !day_field(dow, 7, &WEEKDAYS, true) {
        return Err(refuse(
            format!("day-of-week `{dow}` in `cron({body})` is not one Secrets Manager accepts"),
            "write days 1 to 7 or SUN to SAT with `,` `-` `*` `/`, `#` (`MON#1`, the first Monday) or `L` (`FRIL`, the last Friday), e.g. `SUN`, `MON-FRI` or `?`",
        ));
    }
    if year != "*" {
        return Err(refuse(
            format!("year `{year}` in `cron({body})` is not `*`"),
            "write `*` in the year field: Secrets Manager does not accept schedules more than a year apart",
        ));
    }
    let min_gap = hour_set
        .windows(2)
        .map(|w| w[1] - w[0])
        .chain(std::iter::once(
            24 - hour_set[hour_set.len() - 1] + hour_set[0],
        ))
        .min()
        .unwrap_or(24);
    if min_gap < 4 {
        return Err(refuse(
            format!("hours `{hours}` in `cron({body})` start windows less than 4 hours apart"),
            MIN_GAP_FIX,
        ));
    }
    Ok(Starts {
        hours: hour_set,
        min_gap,
    })
}

/// A day-of-month (`names` empty), month or day-of-week field: comma-separated
/// `*`, values, ranges and steps, where a value is 1 to `max` or one of
/// `names` (case-insensitive); `L` alone is allowed except in months, and in
/// day-of-week (`weekday`) also `value#1` to `value#5` and `valueL`.
fn day_field(field: &str, max: u32, names: &[&str], weekday: bool) -> bool {
    let value = |s: &str| -> Option<u32> {
        if let Ok(n) = s.parse::<u32>() {
            return (1..=max).contains(&n).then_some(n);
        }
        names
            .iter()
            .position(|name| name.eq_ignore_ascii_case(s))
            .map(|i| i as u32 + 1)
    };
    let is_month = !names.is_empty() && !weekday;
    field.split(',').all(|part| {
        if part == "L" {
            return !is_month;
        }
        if weekday {
            if let Some((day, nth)) = part.split_once('#') {
                return value(day).is_some() && matches!(nth, "1" | "2" | "3" | "4" | "5");
            }
            if let Some(day) = part.strip_suffix('L') {
                return value(day).is_some();
            }
        }
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (part, None),
        };
        if step.is_some_and(|s| s.parse::<u32>().map_or(true, |s| s == 0 || s > max)) {
            return false;
        }
        match range.split_once('-') {
            _ if range == "*" => true,
            Some((a, b)) => value(a).zip(value(b)).is_some_and(|(a, b)| a <= b),
            None => value(range).is_some(),
        }
    })
}

/// Expands a cron field of numbers (`*`, `n`, `a-b`, `a/s`, `*/s`, `a-b/s`,
/// comma lists) into its sorted values, or `None` when malformed.
fn expand(field: &str, max: u32) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (0, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (a.parse().ok()?, b.parse().ok()?)
        } else {
            let a: u32 = range.parse().ok()?;
            (a, if part.contains('/') { max } else { a })
        };
        if lo > hi || hi > max {
            return None;
        }
        out.extend((lo..=hi).step_by(step as usize));
    }
    out.sort_unstable();
    out.dedup();
    (!out.is_empty()).then_some(out)
}

fn check_duration(duration: &str, starts: &Starts) -> Result<(), Refusal> {
    let Some(hours) = duration
        .strip_suffix('h')
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| (1..=24).contains(n))
    else {
        return Err(refuse(
            format!("duration `{duration}` is not a number of hours from `1h` to `24h`"),
            "write the window in hours, e.g. `3h`",
        ));
    };
    if hours > starts.min_gap {
        return Err(refuse(
            format!(
                "duration `{duration}` is longer than the {} hours between rotation windows",
                starts.min_gap
            ),
            format!("use at most `{}h`, or rotate less often", starts.min_gap),
        ));
    }
    let last = starts.hours.last().copied().unwrap_or(0);
    if last + hours > 24 {
        return Err(refuse(
            format!("duration `{duration}` from {last}:00 UTC runs into the next UTC day"),
            format!("use at most `{}h`, or start the window earlier", 24 - last),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(e: &str, d: Option<&str>) {
        check(e, d).unwrap_or_else(|r| panic!("{e} {d:?}: {r:?}"));
    }

    fn bad(e: &str, d: Option<&str>) -> Refusal {
        check(e, d).expect_err(e)
    }

    #[test]
    fn accepts_what_secrets_manager_accepts() {
        ok("rate(30 days)", Some("3h"));
        ok("rate(1 day)", None);
        ok("rate(4 hours)", Some("4h"));
        ok("rate(12 hours)", Some("2h"));
        ok("cron(0 4 ? * SUN *)", Some("3h"));
        ok("cron(0 2,14 * * ? *)", Some("4h"));
        ok("cron(0 */6 ? * MON-FRI *)", None);
        ok("cron(0 0 1 * ? *)", Some("24h"));
        ok("cron(0 10 ? FEB,MAY,AUG,NOV TUE#2 *)", None);
        ok("cron(0 16 L * ? *)", None);
        ok("cron(0 8 1/7 * ? *)", None);
        ok("cron(0 4 ? JAN-MAR 6L *)", None);
        ok("rate(999 days)", None);
    }

    #[test]
    fn refuses_rotation_more_often_than_four_hours() {
        assert!(bad("rate(2 hours)", None).problem.contains("4 hours"));
        assert!(bad("cron(0 */2 ? * * *)", None).problem.contains("4 hours"));
        assert!(bad("cron(* 4 ? * * *)", None).problem.contains("minutes"));
    }

    #[test]
    fn refuses_malformed_cron() {
        assert!(bad("cron(0 4 * * *)", None).problem.contains("5 fields"));
        assert!(
            bad("cron(0 4 * * * *)", None)
                .problem
                .contains("exactly one")
        );
        assert!(
            bad("cron(0 4 ? * ? *)", None)
                .problem
                .contains("exactly one")
        );
        assert!(bad("cron(0 25 ? * SUN *)", None).problem.contains("hours"));
        assert!(
            bad("cron(0 4 32 * ? *)", None)
                .problem
                .contains("day-of-month")
        );
        assert!(
            bad("cron(0 4 15W * ? *)", None)
                .problem
                .contains("day-of-month")
        );
        assert!(bad("cron(0 4 1 13 ? *)", None).problem.contains("month"));
        assert!(bad("cron(0 4 1 L ? *)", None).problem.contains("month"));
        assert!(
            bad("cron(0 4 ? * MON#6 *)", None)
                .problem
                .contains("day-of-week")
        );
        assert!(
            bad("cron(0 4 ? * 8 *)", None)
                .problem
                .contains("day-of-week")
        );
    }

    #[test]
    fn refuses_minutes_and_years_secrets_manager_refuses() {
        let r = bad("cron(30 4 ? * SUN *)", None);
        assert!(
            r.problem.contains("minutes") && r.fix.contains("`0`"),
            "{r:?}"
        );
        let r = bad("cron(0 4 ? * SUN 2027)", None);
        assert!(r.problem.contains("year") && r.fix.contains("`*`"), "{r:?}");
    }

    #[test]
    fn refuses_windows_that_overlap() {
        let r = bad("rate(6 hours)", Some("8h"));
        assert!(r.in_duration && r.fix.contains("6h"), "{r:?}");
        let r = bad("cron(0 22 ? * SUN *)", Some("4h"));
        assert!(
            r.problem.contains("next UTC day") && r.fix.contains("2h"),
            "{r:?}"
        );
        assert!(bad("rate(1 day)", Some("25h")).in_duration);
        assert!(bad("rate(1 day)", Some("3 hours")).in_duration);
    }

    #[test]
    fn refuses_bad_rates() {
        assert!(bad("rate(1 days)", None).problem.contains("singular"));
        assert!(bad("rate(30 minutes)", None).problem.contains("unit"));
        assert!(bad("rate(1000 days)", None).problem.contains("999"));
        assert!(bad("every day", None).problem.contains("neither"));
    }
}
