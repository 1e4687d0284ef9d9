//! Cron expressions (croner: 5 fields, or 6 with seconds first), time zones and timestamps.

use super::{Valid, ValidationError, printable};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// Parses a cron expression of 5 fields (`min hour dom month dow`) or 6 (seconds first) and checks
/// that it fires at least once from `now` in `tz`.
pub fn parse_cron(field: &str, expr: &str, tz: Tz, now: DateTime<Utc>) -> Valid<Cron> {
    let trimmed = expr.trim();
    let fields = trimmed.split_whitespace().count();
    if !trimmed.starts_with('@') && !(5..=6).contains(&fields) {
        return Err(ValidationError::new(
            field,
            format!(
                "'{}' has {fields} fields; write 5 (minute hour day-of-month month day-of-week, e.g. '0 2 * * *') or 6 with seconds first",
                printable(trimmed)
            ),
        ));
    }
    // An empty item in a list (`,5`, `1,,2`, `5,`) is refused here: the parser takes it for a
    // set it then searches for years, seconds of CPU per expression (found by fuzzing).
    if let Some(bad) = trimmed
        .split_whitespace()
        .find(|f| f.starts_with(',') || f.ends_with(',') || f.contains(",,"))
    {
        return Err(ValidationError::new(
            field,
            format!(
                "'{}' has an empty item in the list '{}'; write e.g. '0,30 * * * *'",
                printable(trimmed),
                printable(bad)
            ),
        ));
    }
    let cron = CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(trimmed)
        .map_err(|e| {
            ValidationError::new(
                field,
                format!(
                    "'{}' is not a valid cron expression: {e}; e.g. '*/5 * * * *' or '0 2 * * 1-5'",
                    printable(trimmed)
                ),
            )
        })?;
    cron.find_next_occurrence(&now.with_timezone(&tz), false).map_err(|_| {
        ValidationError::new(
            field,
            format!(
                "'{}' never fires (no matching date, e.g. 30 February)",
                printable(trimmed)
            ),
        )
    })?;
    Ok(cron)
}

/// Parses an IANA time zone name such as `Europe/Berlin` or `UTC`.
pub fn parse_time_zone(field: &str, name: &str) -> Valid<Tz> {
    name.trim().parse::<Tz>().map_err(|_| {
        ValidationError::new(
            field,
            format!(
                "'{}' is not a known time zone; use an IANA name such as UTC, Europe/Berlin or America/New_York",
                printable(name)
            ),
        )
    })
}

/// Parses a one-time schedule: RFC 3339 (`2026-12-01T02:00:00Z`, `...+01:00`) or a local
/// `YYYY-MM-DD HH:MM[:SS]` read in `tz`.
pub fn parse_timestamp(field: &str, input: &str, tz: Tz) -> Valid<DateTime<Utc>> {
    let s = input.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .ok_or_else(|| {
            ValidationError::new(
                field,
                format!("'{}' is not a timestamp; write 2026-12-01T02:00:00Z or '2026-12-01 02:00' (read in the job's time zone)", printable(s)),
            )
        })?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            ValidationError::new(
                field,
                format!(
                    "'{}' does not exist in {tz} (skipped by a daylight-saving change)",
                    printable(s)
                ),
            )
        })
}

/// A point in the past, as people give one: a duration back from `now` (`2h`, `7d`) or a
/// timestamp (RFC 3339, or `YYYY-MM-DD HH:MM` in UTC).
pub fn parse_since(field: &str, input: &str, now: DateTime<Utc>) -> Valid<DateTime<Utc>> {
    if let Ok(ago) = super::parse_duration(field, input) {
        return Ok(now - chrono::Duration::from_std(ago).unwrap_or(chrono::Duration::zero()));
    }
    parse_timestamp(field, input, chrono_tz::UTC).map_err(|_| {
        ValidationError::new(
            field,
            format!(
                "'{}' is neither a duration (2h, 7d) nor a time (2026-12-01T02:00:00Z)",
                printable(input)
            ),
        )
    })
}
