//! A cron expression and a time zone as typed: refused with a message, or a schedule whose next
//! fires come in order, never a panic or an endless search.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (expr, zone) = text.split_once('|').unwrap_or((text, "UTC"));
    let Ok(tz) = ftpman_core::validate::parse_time_zone("tz", zone) else {
        return;
    };
    let now = chrono::DateTime::from_timestamp(1_780_000_000, 0).expect("time");
    if let Ok(cron) = ftpman_core::validate::parse_cron("schedule", expr, tz, now) {
        let mut at = now.with_timezone(&tz);
        for _ in 0..3 {
            match cron.find_next_occurrence(&at, false) {
                Ok(next) => {
                    assert!(next > at, "{expr:?}");
                    at = next;
                }
                Err(_) => break,
            }
        }
    }
});
