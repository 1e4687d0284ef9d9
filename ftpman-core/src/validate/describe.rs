//! Schedules in words, for people: "at 02:00 every day, Europe/Berlin". The common shapes of a
//! cron expression are said plainly; anything else in croner's own words.

use crate::model::Schedule;

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// A number field of at most `max`.
fn number(field: &str, max: u32) -> Option<u32> {
    field.parse().ok().filter(|n| *n <= max)
}

/// A day-of-week field in words: `1-5` -> "Monday to Friday", `1,3` -> "Monday and Wednesday".
fn weekdays(field: &str) -> Option<String> {
    let day = |s: &str| -> Option<&'static str> {
        let n: usize = match s.to_ascii_uppercase().as_str() {
            "SUN" => 0,
            "MON" => 1,
            "TUE" => 2,
            "WED" => 3,
            "THU" => 4,
            "FRI" => 5,
            "SAT" => 6,
            other => other.parse().ok()?,
        };
        DAYS.get(n % 7).copied()
    };
    if let Some((a, b)) = field.split_once('-') {
        return Some(format!("{} to {}", day(a)?, day(b)?));
    }
    let names: Vec<&str> = field.split(',').map(day).collect::<Option<_>>()?;
    Some(match names.as_slice() {
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
        [] => return None,
    })
}

/// A cron expression's common shapes in words, without its zone; `None` for the others.
fn plainly(expr: &str) -> Option<String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    // Seconds first in a 6-field expression: said only when they are 0.
    let fields = match fields.as_slice() {
        [s, rest @ ..] if rest.len() == 5 && *s == "0" => rest.to_vec(),
        f if f.len() == 5 => f.to_vec(),
        _ => return None,
    };
    let [minute, hour, dom, month, dow] = fields[..] else {
        return None;
    };
    if month != "*" {
        return None;
    }
    if let Some(step) = minute.strip_prefix("*/")
        && [hour, dom, dow] == ["*", "*", "*"]
    {
        let n = number(step, 59)?;
        return Some(if n == 1 {
            "every minute".into()
        } else {
            format!("every {n} minutes")
        });
    }
    if minute == "*" && [hour, dom, dow] == ["*", "*", "*"] {
        return Some("every minute".into());
    }
    if let Some(step) = hour.strip_prefix("*/")
        && [dom, dow] == ["*", "*"]
    {
        let (n, m) = (number(step, 23)?, number(minute, 59)?);
        let at = if m == 0 {
            "on the hour".to_string()
        } else {
            format!("at minute {m}")
        };
        return Some(format!("every {n} hours, {at}"));
    }
    let m = number(minute, 59)?;
    if hour == "*" && [dom, dow] == ["*", "*"] {
        return Some(format!("at minute {m} of every hour"));
    }
    let h = number(hour, 23)?;
    let at = format!("at {h:02}:{m:02}");
    match (dom, dow) {
        ("*", "*") => Some(format!("{at} every day")),
        ("*", days) => Some(format!("{at} on {}", weekdays(days)?)),
        ("L", "*") => Some(format!("{at} on the last day of every month")),
        (day, "*") => Some(format!("{at} on day {} of every month", number(day, 31)?)),
        _ => None,
    }
}

impl Schedule {
    /// The schedule in words: "at 02:00 every day, Europe/Berlin", "every 5 minutes, UTC",
    /// "once, at 2026-12-01T01:00:00+00:00", "manual only".
    pub fn describe(&self) -> String {
        match self {
            Schedule::Manual => "manual only (runs when started by hand)".into(),
            Schedule::Once { at } => format!("once, at {}", at.to_rfc3339()),
            Schedule::Cron { expr, tz } => {
                let words = plainly(expr.trim()).unwrap_or_else(|| {
                    croner::parser::CronParser::builder()
                        .seconds(croner::parser::Seconds::Optional)
                        .build()
                        .parse(expr.trim())
                        .map(|c| c.describe())
                        .unwrap_or_else(|_| format!("cron '{expr}'"))
                });
                format!("{words}, {}", tz.name())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::Schedule;
    use chrono_tz::Tz;

    fn said(expr: &str) -> String {
        Schedule::Cron {
            expr: expr.into(),
            tz: Tz::Europe__Berlin,
        }
        .describe()
    }

    #[test]
    fn common_schedules_in_words() {
        assert_eq!(said("0 2 * * *"), "at 02:00 every day, Europe/Berlin");
        assert_eq!(said("30 6 * * 1-5"), "at 06:30 on Monday to Friday, Europe/Berlin");
        assert_eq!(
            said("0 7 * * MON,WED,FRI"),
            "at 07:00 on Monday, Wednesday and Friday, Europe/Berlin"
        );
        assert_eq!(said("*/5 * * * *"), "every 5 minutes, Europe/Berlin");
        assert_eq!(said("15 */2 * * *"), "every 2 hours, at minute 15, Europe/Berlin");
        assert_eq!(said("0 3 26 * *"), "at 03:00 on day 26 of every month, Europe/Berlin");
        assert_eq!(said("0 0 2 * * *"), "at 02:00 every day, Europe/Berlin");
        assert_eq!(said("5 * * * *"), "at minute 5 of every hour, Europe/Berlin");
        // Anything else in croner's words, never empty.
        assert!(!said("0 2 * 1 *").is_empty());
        assert_eq!(Schedule::Manual.describe(), "manual only (runs when started by hand)");
    }
}
