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
    } else {
        EntryKind::File
    };
    let mtime = Some(DateTime::<Utc>::from(file.modified()));
    Some(listed_entry(site, dir, file.name(), kind, file.size() as u64, mtime))
}
