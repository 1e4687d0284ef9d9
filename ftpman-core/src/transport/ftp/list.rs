//! FTP listings: MLSD where the server offers it, else LIST in POSIX or DOS format.

use crate::model::Site;
use crate::transport::{Entry, EntryKind, TransportResult, listed_entry};
use chrono::{DateTime, Utc};
use suppaftp::list::ListParser;

/// Parses one listing line; `None` for lines that describe no entry ("total 12").
pub(super) fn parse_line(site: &Site, dir: &str, line: &str, mlsd: bool) -> Option<TransportResult<Option<Entry>>> {
    let parsed = if mlsd {
        ListParser::parse_mlst(line)
    } else {
        suppaftp::list::File::try_from(line)
    };
    let file = match parsed {
        Ok(f) => f,
        Err(_) => {
            tracing::debug!(target: "ftpman::transport", site = %site.name, line, "unparsed listing line");
            return None;
        }
    };
    let kind = if file.is_directory() {
        EntryKind::Dir
    } else if file.is_symlink() {
        EntryKind::Symlink
    } else if !mlsd && line.starts_with(['p', 's', 'b', 'c']) {
        // A Unix listing's FIFO, socket or device (the parser calls them files).
        EntryKind::Other
    } else {
        EntryKind::File
    };
    let mtime = Some(DateTime::<Utc>::from(file.modified()));
    let granularity = if mlsd { 1 } else { list_granularity(line) };
    Some(listed_entry(
        site,
        dir,
        file.name(),
        kind,
        file.size() as u64,
        mtime,
        granularity,
    ))
}

/// Seconds a LIST line's time is rounded to: a POSIX line shows `HH:MM` for files changed in
/// the last six months or so and only the year for older ones; a DOS line always shows minutes.
fn list_granularity(line: &str) -> u32 {
    // The date comes before the name: the first eight fields hold it in either format.
    let hh_mm = |t: &str| {
        let t = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        matches!(t.split_once(':'), Some((h, m)) if !h.is_empty() && h.len() <= 2 && m.len() == 2
            && h.bytes().all(|b| b.is_ascii_digit()) && m.bytes().all(|b| b.is_ascii_digit()))
    };
    if line.split_whitespace().take(8).any(hh_mm) {
        60
    } else {
        86_400
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_times_say_how_coarse_they_are() {
        assert_eq!(
            list_granularity("-rw-r--r--    1 1000     1000         12 Nov 30 12:34 a.csv"),
            60
        );
        assert_eq!(
            list_granularity("-rw-r--r--    1 1000     1000         12 Nov 30  2025 a.csv"),
            86_400
        );
        assert_eq!(
            list_granularity("-rw-r--r--    1 1000     1000         12 Nov 30  2025 12:34"),
            86_400
        );
        assert_eq!(list_granularity("11-30-25  12:34PM                  12 a.csv"), 60);
        let site = crate::model::Site::new("s", &crate::model::SiteUrl::parse("ftp://u@h/").unwrap()).unwrap();
        let old = parse_line(
            &site,
            "/",
            "-rw-r--r--    1 1000     1000         12 Nov 30  2025 a.csv",
            false,
        );
        assert!(matches!(old, Some(Ok(Some(e))) if e.mtime_granularity == 86_400));
    }
}
