//! Durations as users write them: `30s`, `5m`, `2h`, `7d`, or several parts such as `1h30m`.

use super::{Valid, ValidationError, printable};
use std::time::Duration;

const HINT: &str = "write a number followed by s, m, h or d, e.g. 30s, 5m, 2h, 7d or 1h30m";

/// Parses a duration for `field`. Zero is accepted (`0s`); negative values are refused.
pub fn parse_duration(field: &str, input: &str) -> Valid<Duration> {
    let s = input.trim();
    if s.is_empty() {
        return Err(ValidationError::new(field, format!("must not be empty; {HINT}")));
    }
    if s.starts_with('-') {
        return Err(ValidationError::new(
            field,
            format!("'{}' is negative; durations count forward: {HINT}", printable(s)),
        ));
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut saw_unit = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => {
                return Err(ValidationError::new(
                    field,
                    format!(
                        "'{}' has an unknown unit '{}'; {HINT}",
                        printable(s),
                        printable(&c.to_string())
                    ),
                ));
            }
        };
        if digits.is_empty() {
            return Err(ValidationError::new(
                field,
                format!("'{}' has a unit without a number; {HINT}", printable(s)),
            ));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| ValidationError::new(field, format!("'{}' is too large", printable(s))))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| ValidationError::new(field, format!("'{}' is too large", printable(s))))?;
        digits.clear();
        saw_unit = true;
    }
    if !digits.is_empty() || !saw_unit {
        return Err(ValidationError::new(
            field,
            format!("'{}' has no unit; {HINT}", printable(s)),
        ));
    }
    const MAX_SECS: u64 = 10 * 365 * 86_400;
    if total > MAX_SECS {
        return Err(ValidationError::new(
            field,
            format!("'{}' is longer than ten years", printable(s)),
        ));
    }
    Ok(Duration::from_secs(total))
}

/// Formats a duration the way [`parse_duration`] reads it back (`90s` -> `1m30s`).
pub fn format_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, len) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= len {
            out.push_str(&format!("{}{unit}", secs / len));
            secs %= len;
        }
    }
    out
}
