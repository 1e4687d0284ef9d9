//! Durations (`1h30m`), rates (`10M`) and times (`2h`, `2026-12-01`) as typed: refused with a
//! message, or values that format back to text that parses to the same value.
#![no_main]
use ftpman_core::validate::{format_duration, parse_duration, parse_rate, parse_since};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(d) = parse_duration("d", text) {
        assert_eq!(parse_duration("d", &format_duration(d)).ok(), Some(d), "{text:?}");
    }
    let _ = parse_rate("r", text);
    let now = chrono::DateTime::from_timestamp(1_780_000_000, 0).expect("time");
    let _ = parse_since("since", text, now);
});
