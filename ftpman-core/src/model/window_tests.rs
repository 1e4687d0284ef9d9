use super::*;
use chrono_tz::{America, Europe, UTC};

fn at(tz: Tz, text: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect("a test time");
    local_instant(tz, naive)
}

/// The window `spec` for a reference time given in `tz`, as shown.
fn shown(spec: &str, tz: Tz, reference: &str) -> String {
    DateWindow::parse(spec)
        .expect("a valid window")
        .resolve(at(tz, reference), tz)
        .to_string()
}

#[test]
fn the_previous_day_week_and_month() {
    assert_eq!(
        shown("previous-day", UTC, "2026-03-01 02:00:00"),
        "2026-02-28 00:00 .. 2026-02-28 23:59:59 UTC"
    );
    // A leap year's last day of February.
    assert_eq!(
        shown("previous-day", UTC, "2028-03-01 00:00:00"),
        "2028-02-29 00:00 .. 2028-02-29 23:59:59 UTC"
    );
    // The year boundary.
    assert_eq!(
        shown("previous-day", UTC, "2027-01-01 06:30:00"),
        "2026-12-31 00:00 .. 2026-12-31 23:59:59 UTC"
    );
    // 2026-12-01 is a Tuesday: the week before runs Monday 23 to Sunday 29 November.
    assert_eq!(
        shown("previous-week", UTC, "2026-12-01 09:00:00"),
        "2026-11-23 00:00 .. 2026-11-29 23:59:59 UTC"
    );
    // On a Monday, the week that ended yesterday; across the year boundary.
    assert_eq!(
        shown("previous-week", UTC, "2027-01-04 00:00:00"),
        "2026-12-28 00:00 .. 2027-01-03 23:59:59 UTC"
    );
    assert_eq!(
        shown("previous-month", UTC, "2027-01-15 00:00:00"),
        "2026-12-01 00:00 .. 2026-12-31 23:59:59 UTC"
    );
    assert_eq!(
        shown("previous-month", UTC, "2028-03-31 23:59:59"),
        "2028-02-01 00:00 .. 2028-02-29 23:59:59 UTC"
    );
}

#[test]
fn billing_cycles_across_short_months_and_the_year_boundary() {
    // The example of the user guide: in Berlin, a run on 26 November.
    assert_eq!(
        shown("cycle:26", Europe::Berlin, "2026-11-26 02:00:00"),
        "2026-10-26 00:00 .. 2026-11-25 23:59:59 Europe/Berlin"
    );
    // A run in January covers 26 December to 25 January.
    assert_eq!(
        shown("cycle:26", UTC, "2027-01-26 00:00:00"),
        "2026-12-26 00:00 .. 2027-01-25 23:59:59 UTC"
    );
    // Both days given.
    assert_eq!(
        shown("cycle:1..25", UTC, "2026-11-26 00:00:00"),
        "2026-10-01 00:00 .. 2026-11-25 23:59:59 UTC"
    );
    // A day past a short month's end stands for its last day, and cycles follow each other
    // without a gap or an overlap: February's cycle ends where March's starts.
    assert_eq!(
        shown("cycle:31", UTC, "2027-03-31 00:00:00"),
        "2027-02-28 00:00 .. 2027-03-30 23:59:59 UTC"
    );
    assert_eq!(
        shown("cycle:31", UTC, "2027-02-28 00:00:00"),
        "2027-01-31 00:00 .. 2027-02-27 23:59:59 UTC"
    );
    assert_eq!(
        shown("cycle:30", UTC, "2028-03-30 00:00:00"),
        "2028-02-29 00:00 .. 2028-03-29 23:59:59 UTC"
    );
    assert_eq!(
        shown("cycle:1..31", UTC, "2028-02-10 00:00:00"),
        "2028-01-01 00:00 .. 2028-02-29 23:59:59 UTC"
    );
    let tz = UTC;
    let window = DateWindow::parse("cycle:29").expect("valid");
    for month in 1..=24 {
        let reference = at(
            tz,
            &format!("{}-{:02}-15 00:00:00", 2027 + (month - 1) / 12, (month - 1) % 12 + 1),
        );
        let this = window.resolve(reference, tz);
        let next = window.resolve(reference + Span::days(31), tz);
        assert_eq!(this.end, next.start, "cycles meet for month {month}");
    }
}

#[test]
fn last_dates_and_months() {
    assert_eq!(
        shown("last:36h", UTC, "2026-03-01 12:00:00"),
        "2026-02-28 00:00 .. 2026-03-01 11:59:59 UTC"
    );
    assert_eq!(
        shown("2028-02-28..2028-03-01", UTC, "2030-01-01 00:00:00"),
        "2028-02-28 00:00 .. 2028-03-01 23:59:59 UTC"
    );
    assert_eq!(
        shown("2026-12-30..2027-01-02", UTC, "2020-01-01 00:00:00"),
        "2026-12-30 00:00 .. 2027-01-02 23:59:59 UTC"
    );
    assert_eq!(
        shown("2028-02", UTC, "2026-01-01 00:00:00"),
        "2028-02-01 00:00 .. 2028-02-29 23:59:59 UTC"
    );
    assert_eq!(
        shown("2026-12", UTC, "2026-01-01 00:00:00"),
        "2026-12-01 00:00 .. 2026-12-31 23:59:59 UTC"
    );
}

#[test]
fn a_daylight_saving_change_in_the_jobs_zone() {
    let berlin = Europe::Berlin;
    // Clocks go forward on 29 March 2026: that day has 23 hours, and the window says so.
    let w = DateWindow::parse("previous-day")
        .expect("valid")
        .resolve(at(berlin, "2026-03-30 01:00:00"), berlin);
    assert_eq!(w.to_string(), "2026-03-29 00:00 .. 2026-03-29 23:59:59 Europe/Berlin");
    assert_eq!((w.end - w.start).num_hours(), 23);
    // And back on 25 October: 25 hours.
    let w = DateWindow::parse("previous-day")
        .expect("valid")
        .resolve(at(berlin, "2026-10-26 01:00:00"), berlin);
    assert_eq!((w.end - w.start).num_hours(), 25);
    // A month across the change starts and ends at local midnight: 31 days less an hour.
    let w = DateWindow::parse("previous-month")
        .expect("valid")
        .resolve(at(berlin, "2026-04-02 00:00:00"), berlin);
    assert_eq!(w.to_string(), "2026-03-01 00:00 .. 2026-03-31 23:59:59 Europe/Berlin");
    assert_eq!((w.end - w.start).num_hours(), 31 * 24 - 1);
    assert_eq!(w.start, at(UTC, "2026-02-28 23:00:00"));
    // last: is a span of real time, whatever the clocks do.
    let w = DateWindow::parse("last:24h")
        .expect("valid")
        .resolve(at(berlin, "2026-03-29 12:00:00"), berlin);
    assert_eq!(w.to_string(), "2026-03-28 11:00 .. 2026-03-29 11:59:59 Europe/Berlin");
    // Where midnight itself is skipped (Santiago moves from 24:00 to 01:00 in September), a day
    // starts at the first instant that exists.
    let santiago = America::Santiago;
    let w = DateWindow::parse("previous-day")
        .expect("valid")
        .resolve(at(santiago, "2026-09-07 12:00:00"), santiago);
    assert_eq!(
        w.to_string(),
        "2026-09-06 01:00 .. 2026-09-06 23:59:59 America/Santiago"
    );
}

#[test]
fn windows_round_trip_and_bad_ones_say_what_would_be_right() {
    for spec in [
        "previous-day",
        "previous-week",
        "previous-month",
        "cycle:26",
        "cycle:1..25",
        "last:2d",
        "2026-10-01..2026-10-31",
        "2026-10",
    ] {
        assert_eq!(DateWindow::parse(spec).expect(spec).to_string(), spec);
    }
    // A span is shown in the units durations are shown in everywhere.
    assert_eq!(
        DateWindow::parse(" last:36h ").expect("valid").to_string(),
        "last:1d12h"
    );
    for (bad, says) in [
        ("yesterday", "previous-day, previous-week"),
        ("cycle:0", "1 to 31"),
        ("cycle:32", "1 to 31"),
        ("cycle:x..5", "not a day of the month"),
        ("last:0s", "longer than 0s"),
        ("last:soon", "last:"),
        ("2026-10-31..2026-10-01", "ends before it starts"),
        ("2026-02-30..2026-03-01", "YYYY-MM-DD"),
        ("2026-13", "not a date window"),
        // A year chrono would read but no day follows (found in review: it overflowed).
        ("+262143-12-31..+262143-12-31", "YYYY-MM-DD"),
    ] {
        let e = DateWindow::parse(bad).expect_err(bad);
        assert_eq!(e.field, "window");
        assert!(e.message.contains(says), "{bad}: {}", e.message);
    }
}

#[test]
fn dates_in_names_in_the_three_forms_and_names_without_one() {
    let ymd = NameDate::parse("{yyyy}{mm}{dd}").expect("valid");
    let day = |y, m, d| {
        NaiveDate::from_ymd_opt(y, m, d)
            .expect("a date")
            .and_time(NaiveTime::MIN)
    };
    assert_eq!(ymd.find("BTDNS.NEU_ATL.20250525.1158.ntcdr.gz"), Some(day(2025, 5, 25)));
    assert_eq!(ymd.find("20250526.CDR"), Some(day(2025, 5, 26)));
    let d = NameDate::parse("D{yy}{mm}{dd}").expect("valid");
    assert_eq!(d.find("UAU.NJ.MPB.D250619"), Some(day(2025, 6, 19)));
    assert_eq!(
        d.find("uau.nj.mpb.d250619"),
        Some(day(2025, 6, 19)),
        "literal text in any case"
    );
    // No date: none found.
    assert_eq!(ymd.find("README.txt"), None);
    assert_eq!(d.find("UAU.NJ.MPB.X250619"), None);
    // Digits that do not make a date are passed over for the first that does...
    assert_eq!(ymd.find("batch-99999999-20250230-20250301.csv"), Some(day(2025, 3, 1)));
    // ... and never taken from the middle of a longer number.
    assert_eq!(NameDate::parse("{yy}{mm}{dd}").expect("valid").find("20250525"), None);
    assert_eq!(ymd.find("id120250525"), None);
    // With a time.
    let full = NameDate::parse("{yyyy}{mm}{dd}.{hh}{mi}").expect("valid");
    assert_eq!(
        full.find("BTDNS.NEU_ATL.20250525.1158.ntcdr.gz"),
        Some(day(2025, 5, 25) + Span::minutes(11 * 60 + 58))
    );
    // Leap days.
    assert_eq!(ymd.find("x-20280229.csv"), Some(day(2028, 2, 29)));
    assert_eq!(ymd.find("x-20270229.csv"), None);
}

#[test]
fn bad_name_patterns_say_what_would_be_right() {
    for (bad, says) in [
        ("{yyyy}{mm}", "whole date"),
        ("{yyyy}{mm}{dd}{yy}", "twice"),
        ("{yyyy}{mm}{day}", "unknown placeholder {day}"),
        ("{yyyy}{mm}{dd", "never closed"),
        ("in/{yyyy}{mm}{dd}", "not its path"),
        ("report", "whole date"),
    ] {
        let e = NameDate::parse(bad).expect_err(bad);
        assert_eq!(e.field, "name_date");
        assert!(e.message.contains(says), "{bad}: {}", e.message);
        assert!(e.message.contains("{yyyy}{mm}{dd}"), "{bad}: says what would be right");
    }
}
