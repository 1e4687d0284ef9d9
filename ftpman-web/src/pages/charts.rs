//! Charts drawn on the server as SVG: bars per day, succeeded and failed stacked, each bar with
//! a `<title>` so that hovering shows its figures. No chart library, no script needed.

use ftpman_core::manager::DayView;
use std::fmt::Write as _;

const W: f64 = 600.0;
const H: f64 = 160.0;
const LEFT: f64 = 36.0;
const BOTTOM: f64 = 18.0;

fn frame(out: &mut String, label: &str, top_label: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{label}"><line class="grid" x1="{LEFT}" y1="{y0}" x2="{W}" y2="{y0}"/><line class="grid" x1="{LEFT}" y1="4" x2="{W}" y2="4"/><text x="0" y="12">{top_label}</text><text x="0" y="{y0}">0</text>"#,
        y0 = H - BOTTOM,
    );
}

fn day_label(out: &mut String, i: usize, x: f64, day: &str) {
    if i.is_multiple_of(7) {
        let _ = write!(out, r#"<text x="{x:.1}" y="{H}">{}</text>"#, &day[5..]);
    }
}

/// Runs per day: succeeded (green) under failed or partial (red).
pub fn runs_per_day(days: &[DayView]) -> String {
    let max = days.iter().map(|d| d.succeeded + d.failed).max().unwrap_or(0).max(1) as f64;
    let mut out = String::new();
    frame(&mut out, "Runs per day over 30 days", &format!("{max}"));
    let step = (W - LEFT) / days.len().max(1) as f64;
    let height = H - BOTTOM - 4.0;
    for (i, d) in days.iter().enumerate() {
        let x = LEFT + i as f64 * step + 1.0;
        let ok = d.succeeded as f64 / max * height;
        let bad = d.failed as f64 / max * height;
        let base = H - BOTTOM;
        let _ = write!(
            out,
            r#"<g><title>{day}: {s} succeeded, {f} failed or partial, {r} runs</title><rect class="ok" x="{x:.1}" y="{y1:.1}" width="{w:.1}" height="{ok:.1}"/><rect class="bad" x="{x:.1}" y="{y2:.1}" width="{w:.1}" height="{bad:.1}"/></g>"#,
            day = d.day,
            s = d.succeeded,
            f = d.failed,
            r = d.runs,
            y1 = base - ok,
            y2 = base - ok - bad,
            w = (step - 2.0).max(1.0),
        );
        day_label(&mut out, i, x, &d.day);
    }
    out.push_str("</svg>");
    out
}

/// Bytes moved per day.
pub fn bytes_per_day(days: &[DayView]) -> String {
    let max = days.iter().map(|d| d.bytes).max().unwrap_or(0).max(1) as f64;
    let mut out = String::new();
    frame(
        &mut out,
        "Bytes moved per day over 30 days",
        &ftpman_core::validate::format_bytes(max as u64),
    );
    let step = (W - LEFT) / days.len().max(1) as f64;
    let height = H - BOTTOM - 4.0;
    for (i, d) in days.iter().enumerate() {
        let x = LEFT + i as f64 * step + 1.0;
        let h = d.bytes as f64 / max * height;
        let _ = write!(
            out,
            r#"<g><title>{day}: {b}</title><rect class="vol" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}"/></g>"#,
            day = d.day,
            b = ftpman_core::validate::format_bytes(d.bytes.max(0) as u64),
            y = H - BOTTOM - h,
            w = (step - 2.0).max(1.0),
        );
        day_label(&mut out, i, x, &d.day);
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: u32, s: i64, f: i64) -> DayView {
        DayView {
            day: format!("2026-11-{n:02}"),
            runs: s + f,
            succeeded: s,
            failed: f,
            bytes: s * 1000,
        }
    }

    #[test]
    fn bars_carry_their_figures() {
        let svg = runs_per_day(&[day(1, 3, 1), day(2, 0, 0)]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(
            svg.contains("<title>2026-11-01: 3 succeeded, 1 failed or partial, 4 runs</title>"),
            "{svg}"
        );
        assert_eq!(svg.matches("<g>").count(), 2);
        let svg = bytes_per_day(&[day(1, 3, 1)]);
        assert!(svg.contains("<title>2026-11-01: 2.9 KiB</title>"), "{svg}");
    }
}
