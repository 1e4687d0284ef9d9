//! Small pieces of HTML the templates place as they are (`|safe`): each escapes what it puts in.

/// Text made safe for HTML (element content and quoted attributes).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A status as a coloured pill with its word (never colour alone).
pub fn pill(status: &str) -> String {
    let s = escape(status);
    format!(r#"<span class="pill {s}">{s}</span>"#)
}

/// A time (RFC 3339): the UTC time, which the script turns into the browser's zone and "ago".
pub fn when(t: Option<&str>) -> String {
    match t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) {
        Some(d) => {
            let utc = d.with_timezone(&chrono::Utc);
            format!(
                r#"<time datetime="{}">{}</time>"#,
                escape(&utc.to_rfc3339()),
                utc.format("%Y-%m-%d %H:%M UTC")
            )
        }
        None => "–".into(),
    }
}

/// Seconds for people: `850 ms`, `3.8 s`, `2 min 5 s`, `1 h 4 min`.
pub fn duration(secs: f64) -> String {
    if secs < 1.0 {
        format!("{:.0} ms", secs * 1000.0)
    } else if secs < 60.0 {
        format!("{secs:.1} s")
    } else if secs < 3600.0 {
        format!("{} min {} s", (secs / 60.0) as u64, (secs % 60.0) as u64)
    } else {
        format!("{} h {} min", (secs / 3600.0) as u64, ((secs % 3600.0) / 60.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_escape_what_they_hold() {
        assert_eq!(escape(r#"<script>"x"&'"#), "&lt;script&gt;&quot;x&quot;&amp;&#39;");
        assert_eq!(pill("failed"), r#"<span class="pill failed">failed</span>"#);
        assert_eq!(pill("<b>"), r#"<span class="pill &lt;b&gt;">&lt;b&gt;</span>"#);
        assert_eq!(
            when(Some("2026-12-01T10:00:00+00:00")),
            r#"<time datetime="2026-12-01T10:00:00+00:00">2026-12-01 10:00 UTC</time>"#
        );
        assert_eq!(when(None), "–");
        assert_eq!(duration(0.25), "250 ms");
        assert_eq!(duration(125.0), "2 min 5 s");
    }
}
