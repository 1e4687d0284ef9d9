//! Printing: aligned tables for people, JSON for programs.

/// Prints rows as an aligned table with a header.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    // Names and messages may come from a server: none of their control characters reaches the
    // terminal.
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| safe(c)).collect()).collect();
    let rows = &rows;
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

/// Prints a JSON value, pretty.
pub fn json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("ftpman: could not write JSON: {e}"),
    }
}

/// `s` with control characters and bidirectional overrides shown as escapes (`\u{1b}`), so
/// that text a server sent (a file name, an error) cannot move the cursor, recolour or reorder
/// what the terminal shows.
pub fn safe(s: &str) -> String {
    ftpman_core::validate::visible(s)
}

/// Bytes for people: `1.2 MiB`.
pub fn bytes(n: u64) -> String {
    ftpman_core::validate::format_bytes(n)
}

/// A time for people, in UTC.
pub fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}
