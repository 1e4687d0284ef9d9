//! Date windows: "the files of this period" (the previous day, a billing cycle, a month), resolved
//! from a run's reference time in the job's zone, never from the wall clock, so a late or
//! catch-up run takes the same files as an on-time one; and dates read from file names.

use crate::validate::{Valid, ValidationError, format_duration, parse_duration, printable};
use chrono::{DateTime, Datelike, Duration as Span, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::time::Duration;

/// Which period of files a run takes, by modification time or by the date in their names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateWindow {
    /// The day before the reference day, 00:00 to 24:00.
    PreviousDay,
    /// The week (Monday to Sunday) before the reference week.
    PreviousWeek,
    /// The month before the reference month.
    PreviousMonth,
    /// A billing cycle: from day `from` of the previous month 00:00 to the end of day `to` of the
    /// reference month; without `to`, up to (not including) day `from` of the reference month.
    /// A day past a month's end stands for its last day.
    Cycle {
        /// First day, in the previous month.
        from: u32,
        /// Last day, in the reference month.
        to: Option<u32>,
    },
    /// The span just before the reference time.
    Last(Duration),
    /// Whole days, both included.
    Dates {
        /// First day.
        first: NaiveDate,
        /// Last day.
        last: NaiveDate,
    },
    /// One calendar month.
    Month {
        /// Year.
        year: i32,
        /// Month, 1 to 12.
        month: u32,
    },
}

const WINDOW_FORMS: &str = "previous-day, previous-week, previous-month, cycle:DAY (cycle:26), cycle:FROM..TO (cycle:1..25), last:DURATION (last:36h), DATE..DATE (2026-10-01..2026-10-31) or YYYY-MM (2026-10)";

fn date(field: &str, text: &str) -> Valid<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .ok()
        // Four-digit years only: chrono reads a signed year of any length, and a date at the
        // calendar's edge has no day after it.
        .filter(|d| (1..=9999).contains(&d.year()))
        .ok_or_else(|| {
            ValidationError::new(
                field,
                format!("'{}' is not a date; write YYYY-MM-DD, e.g. 2026-10-01", printable(text)),
            )
        })
}

fn cycle_day(field: &str, text: &str) -> Valid<u32> {
    match text.trim().parse::<u32>() {
        Ok(d) if (1..=31).contains(&d) => Ok(d),
        _ => Err(ValidationError::new(
            field,
            format!(
                "'{}' is not a day of the month; write 1 to 31, e.g. cycle:26",
                printable(text)
            ),
        )),
    }
}

impl DateWindow {
    /// Parses a window as the CLI, the API and Python take it (field `window`).
    pub fn parse(input: &str) -> Valid<DateWindow> {
        const F: &str = "window";
        let s = input.trim();
        match s {
            "previous-day" => return Ok(DateWindow::PreviousDay),
            "previous-week" => return Ok(DateWindow::PreviousWeek),
            "previous-month" => return Ok(DateWindow::PreviousMonth),
            _ => {}
        }
        if let Some(days) = s.strip_prefix("cycle:") {
            return match days.split_once("..") {
                Some((from, to)) => Ok(DateWindow::Cycle {
                    from: cycle_day(F, from)?,
                    to: Some(cycle_day(F, to)?),
                }),
                None => Ok(DateWindow::Cycle {
                    from: cycle_day(F, days)?,
                    to: None,
                }),
            };
        }
        if let Some(span) = s.strip_prefix("last:") {
            let span = parse_duration(F, span).map_err(|e| {
                ValidationError::new(
                    F,
                    format!("{}; a window of the last span is written e.g. last:36h", e.message),
                )
            })?;
            if span.is_zero() {
                return Err(ValidationError::new(
                    F,
                    "last: needs a span longer than 0s, e.g. last:24h",
                ));
            }
            if span > Duration::from_secs(100 * 366 * 86_400) {
                return Err(ValidationError::new(F, "last: takes at most a hundred years"));
            }
            return Ok(DateWindow::Last(span));
        }
        if let Some((first, last)) = s.split_once("..") {
            let (first, last) = (date(F, first)?, date(F, last)?);
            if last < first {
                return Err(ValidationError::new(
                    F,
                    format!("'{}' ends before it starts; write the earlier date first", printable(s)),
                ));
            }
            return Ok(DateWindow::Dates { first, last });
        }
        if s.len() == 7
            && let Ok(d) = NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d")
            && (1..=9999).contains(&d.year())
        {
            return Ok(DateWindow::Month {
                year: d.year(),
                month: d.month(),
            });
        }
        Err(ValidationError::new(
            F,
            format!("'{}' is not a date window; write {WINDOW_FORMS}", printable(s)),
        ))
    }

    /// The period this window stands for in a run whose reference time is `reference`, read in
    /// the job's zone `tz`.
    pub fn resolve(&self, reference: DateTime<Utc>, tz: Tz) -> ResolvedWindow {
        let day = reference.with_timezone(&tz).date_naive();
        let (start, end) = match self {
            DateWindow::PreviousDay => (midnight(tz, day - Span::days(1)), midnight(tz, day)),
            DateWindow::PreviousWeek => {
                let monday = day - Span::days(day.weekday().num_days_from_monday() as i64);
                (midnight(tz, monday - Span::days(7)), midnight(tz, monday))
            }
            DateWindow::PreviousMonth => {
                let this = first_of(day.year(), day.month());
                (midnight(tz, months_before(this, 1)), midnight(tz, this))
            }
            DateWindow::Cycle { from, to } => {
                let this = first_of(day.year(), day.month());
                let previous = months_before(this, 1);
                let start = midnight(tz, day_of(previous, *from));
                let end = match to {
                    Some(to) => midnight(tz, day_of(this, *to) + Span::days(1)),
                    None => midnight(tz, day_of(this, *from)),
                };
                (start, end)
            }
            DateWindow::Last(span) => (reference - Span::from_std(*span).unwrap_or(Span::MAX), reference),
            DateWindow::Dates { first, last } => (midnight(tz, *first), midnight(tz, *last + Span::days(1))),
            DateWindow::Month { year, month } => {
                let first = first_of(*year, *month);
                (midnight(tz, first), midnight(tz, months_before(first, -1)))
            }
        };
        ResolvedWindow { start, end, tz }
    }
}

impl std::fmt::Display for DateWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DateWindow::PreviousDay => f.write_str("previous-day"),
            DateWindow::PreviousWeek => f.write_str("previous-week"),
            DateWindow::PreviousMonth => f.write_str("previous-month"),
            DateWindow::Cycle { from, to: None } => write!(f, "cycle:{from}"),
            DateWindow::Cycle { from, to: Some(to) } => write!(f, "cycle:{from}..{to}"),
            DateWindow::Last(span) => write!(f, "last:{}", format_duration(*span)),
            DateWindow::Dates { first, last } => write!(f, "{first}..{last}"),
            DateWindow::Month { year, month } => write!(f, "{year:04}-{month:02}"),
        }
    }
}

/// The first day of a month.
fn first_of(year: i32, month: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MIN)
}

/// The first of the month `n` months before `first` (after it, for a negative `n`).
fn months_before(first: NaiveDate, n: i32) -> NaiveDate {
    let index = first.year() * 12 + first.month0() as i32 - n;
    first_of(index.div_euclid(12), index.rem_euclid(12) as u32 + 1)
}

/// Day `day` of the month starting at `first`, or its last day if the month is shorter.
fn day_of(first: NaiveDate, day: u32) -> NaiveDate {
    let last = months_before(first, -1) - Span::days(1);
    first.with_day(day.min(last.day())).unwrap_or(last)
}

/// The instant a local time stands for in `tz`: the earlier of two (a clock set back), or the
/// first instant after a gap (a clock set forward, as some zones do at midnight).
pub(crate) fn local_instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut t = local;
    for _ in 0..=48 {
        if let Some(found) = tz.from_local_datetime(&t).earliest() {
            return found.with_timezone(&Utc);
        }
        t += Span::minutes(30);
    }
    Utc.from_utc_datetime(&local)
}

fn midnight(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    local_instant(tz, day.and_time(NaiveTime::MIN))
}

/// A window resolved for one run: from `start` up to (not including) `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedWindow {
    /// Its first instant.
    pub start: DateTime<Utc>,
    /// The instant just after it.
    pub end: DateTime<Utc>,
    /// The zone it is shown in (the job's).
    pub tz: Tz,
}

impl ResolvedWindow {
    /// Whether `t` falls within it.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }
}

impl std::fmt::Display for ResolvedWindow {
    /// `2026-10-26 00:00 .. 2026-11-25 23:59:59 Europe/Berlin`: both ends included, as people
    /// say a period.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let start = self.start.with_timezone(&self.tz);
        let last = (self.end - Span::seconds(1)).with_timezone(&self.tz);
        let start = if start.format("%S").to_string() == "00" {
            start.format("%Y-%m-%d %H:%M")
        } else {
            start.format("%Y-%m-%d %H:%M:%S")
        };
        write!(f, "{start} .. {} {}", last.format("%Y-%m-%d %H:%M:%S"), self.tz)
    }
}

/// One part of a [`NameDate`] pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Year4,
    Year2,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

impl Part {
    fn digits(&self) -> usize {
        match self {
            Part::Text(_) => 0,
            Part::Year4 => 4,
            _ => 2,
        }
    }
}

/// Where a date sits in a file's name: `{yyyy}{mm}{dd}`, `D{yy}{mm}{dd}`, with literal text
/// around and optionally `{hh}{mi}{ss}`. The first place in the name where the pattern matches
/// and makes a valid date wins; digits are never taken from the middle of a longer number.
/// Literal text matches regardless of ASCII case; `{yy}` is a year of this century.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameDate {
    raw: String,
    parts: Vec<Part>,
}

const NAME_DATE_HELP: &str = "write the date's place in the name with {yyyy} or {yy}, {mm} and {dd} (optionally {hh}, {mi}, {ss}) and literal text around, e.g. {yyyy}{mm}{dd} or D{yy}{mm}{dd}";

impl NameDate {
    /// Parses a pattern (field `name_date`).
    pub fn parse(input: &str) -> Valid<NameDate> {
        const F: &str = "name_date";
        let raw = input.trim();
        let mut parts = Vec::new();
        let mut rest = raw;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                Some(i) if rest.as_bytes()[i] == b'}' => {
                    return Err(ValidationError::new(
                        F,
                        format!("'{}' has a '}}' without its '{{'; {NAME_DATE_HELP}", printable(raw)),
                    ));
                }
                Some(i) => {
                    if i > 0 {
                        parts.push(Part::Text(rest[..i].to_string()));
                    }
                    let after = &rest[i + 1..];
                    let close = after.find('}').ok_or_else(|| {
                        ValidationError::new(
                            F,
                            format!("'{}' has a '{{' that is never closed; {NAME_DATE_HELP}", printable(raw)),
                        )
                    })?;
                    let part = match &after[..close] {
                        "yyyy" => Part::Year4,
                        "yy" => Part::Year2,
                        "mm" => Part::Month,
                        "dd" => Part::Day,
                        "hh" => Part::Hour,
                        "mi" => Part::Minute,
                        "ss" => Part::Second,
                        other => {
                            return Err(ValidationError::new(
                                F,
                                format!(
                                    "'{}' uses an unknown placeholder {{{}}}; {NAME_DATE_HELP}",
                                    printable(raw),
                                    printable(other)
                                ),
                            ));
                        }
                    };
                    if parts.contains(&part)
                        || (matches!(part, Part::Year2 | Part::Year4)
                            && parts.iter().any(|p| matches!(p, Part::Year2 | Part::Year4)))
                    {
                        return Err(ValidationError::new(
                            F,
                            format!("'{}' names {{{}}} twice", printable(raw), &after[..close]),
                        ));
                    }
                    parts.push(part);
                    rest = &after[close + 1..];
                }
                None => {
                    parts.push(Part::Text(rest.to_string()));
                    rest = "";
                }
            }
        }
        let has = |p: &Part| parts.contains(p);
        if !(has(&Part::Year4) || has(&Part::Year2)) || !has(&Part::Month) || !has(&Part::Day) {
            return Err(ValidationError::new(
                F,
                format!("'{}' does not hold a whole date; {NAME_DATE_HELP}", printable(raw)),
            ));
        }
        if raw.contains('/') {
            return Err(ValidationError::new(
                F,
                format!(
                    "'{}' holds a '/': the pattern is looked for in the file's name, not its path",
                    printable(raw)
                ),
            ));
        }
        Ok(NameDate {
            raw: raw.to_string(),
            parts,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The first valid date (and time, if the pattern has one; else 00:00) in `name`.
    pub fn find(&self, name: &str) -> Option<NaiveDateTime> {
        let bytes = name.as_bytes();
        let starts_with_digits = self.parts.first().is_some_and(|p| p.digits() > 0);
        let ends_with_digits = self.parts.last().is_some_and(|p| p.digits() > 0);
        (0..bytes.len()).find_map(|at| {
            if starts_with_digits && at > 0 && bytes[at - 1].is_ascii_digit() {
                return None;
            }
            let (found, end) = self.match_at(bytes, at)?;
            if ends_with_digits && bytes.get(end).is_some_and(u8::is_ascii_digit) {
                return None;
            }
            Some(found)
        })
    }

    fn match_at(&self, bytes: &[u8], mut at: usize) -> Option<(NaiveDateTime, usize)> {
        let (mut year, mut month, mut day) = (None, None, None);
        let (mut hour, mut minute, mut second) = (0, 0, 0);
        for part in &self.parts {
            if let Part::Text(text) = part {
                let here = bytes.get(at..at + text.len())?;
                if !here.eq_ignore_ascii_case(text.as_bytes()) {
                    return None;
                }
                at += text.len();
                continue;
            }
            let digits = bytes.get(at..at + part.digits())?;
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let value = digits.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
            at += part.digits();
            match part {
                Part::Year4 => year = Some(value as i32),
                Part::Year2 => year = Some(2000 + value as i32),
                Part::Month => month = Some(value),
                Part::Day => day = Some(value),
                Part::Hour => hour = value,
                Part::Minute => minute = value,
                Part::Second => second = value,
                Part::Text(_) => {}
            }
        }
        let date = NaiveDate::from_ymd_opt(year?, month?, day?)?;
        Some((date.and_time(NaiveTime::from_hms_opt(hour, minute, second)?), at))
    }
}

impl std::fmt::Display for NameDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
#[path = "window_tests.rs"]
mod tests;
