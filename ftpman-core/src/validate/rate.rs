//! Transfer rates as users write them: `10M` means ten MiB per second.

use super::{Valid, ValidationError, printable};

const HINT: &str =
    "write bytes per second as a number with an optional K, M or G suffix (1024-based), e.g. 512K or 10M";

/// Parses a rate in bytes per second. Suffixes K, M, G, T are powers of 1024; `B`, `iB` and `/s`
/// may follow (`10MiB/s`). Zero is refused: leave the limit unset for "unlimited".
pub fn parse_rate(field: &str, input: &str) -> Valid<u64> {
    let s = input.trim();
    let body = s.strip_suffix("/s").unwrap_or(s);
    let body = body
        .strip_suffix("iB")
        .or_else(|| body.strip_suffix('B'))
        .unwrap_or(body);
    let split = body
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(body.len());
    let (num, suffix) = body.split_at(split);
    if num.is_empty() {
        return Err(ValidationError::new(
            field,
            format!("'{}' is not a rate; {HINT}", printable(s)),
        ));
    }
    let mult: u64 = match suffix {
        "" => 1,
        "K" | "k" => 1 << 10,
        "M" | "m" => 1 << 20,
        "G" | "g" => 1 << 30,
        "T" | "t" => 1 << 40,
        _ => {
            return Err(ValidationError::new(
                field,
                format!("'{}' has an unknown unit '{}'; {HINT}", printable(s), printable(suffix)),
            ));
        }
    };
    let n: f64 = num
        .parse()
        .map_err(|_| ValidationError::new(field, format!("'{}' is not a rate; {HINT}", printable(s))))?;
    let bytes = n * mult as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(ValidationError::new(
            field,
            format!(
                "'{}' is not a usable rate; it must be at least 1 byte per second ({HINT})",
                printable(s)
            ),
        ));
    }
    Ok(bytes as u64)
}

/// Formats a rate the way [`parse_rate`] reads it back, as exactly as the value allows.
pub fn format_rate(bytes_per_sec: u64) -> String {
    for (suffix, mult) in [("T", 1u64 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)] {
        if bytes_per_sec >= mult && bytes_per_sec.is_multiple_of(mult) {
            return format!("{}{suffix}", bytes_per_sec / mult);
        }
    }
    bytes_per_sec.to_string()
}

/// Bytes for people: `999 B`, `1.2 MiB`.
pub fn format_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}
