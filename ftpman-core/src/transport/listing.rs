//! Bounds on one folder's listing, the same for every protocol: a server cannot make ftpman hold
//! an endless listing, a line without end, or wait for ever for the rest. A bound reached fails
//! the listing clearly (and so the run, with what was delivered before standing).

use super::{TransportError, TransportResult};
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// What one folder's listing may hold and take.
#[derive(Debug, Clone, Copy)]
pub struct ListingLimits {
    /// Entries in one folder.
    pub max_entries: usize,
    /// Bytes in one line of a text listing (FTP `LIST`/`MLSD`).
    pub max_line: usize,
    /// Bytes of one text listing in all.
    pub max_bytes: usize,
    /// The longest the whole listing of a folder may take (each request has its own timeout).
    pub deadline: Duration,
}

impl Default for ListingLimits {
    fn default() -> Self {
        ListingLimits {
            max_entries: 1_000_000,
            max_line: 16 * 1024,
            max_bytes: 512 << 20,
            deadline: Duration::from_secs(600),
        }
    }
}

impl ListingLimits {
    /// The error for a bound reached while listing `path` of `site`.
    pub fn exceeded(&self, site: &str, path: &str, what: String) -> TransportError {
        TransportError::Protocol {
            site: site.to_string(),
            operation: "list".into(),
            path: path.to_string(),
            reason: format!("{what}: the server's listing is refused as too large for one folder"),
            transient: false,
            source: None,
        }
    }

    /// Fails once a folder holds more than the entries allowed.
    pub fn check_entries(&self, site: &str, path: &str, entries: usize) -> TransportResult<()> {
        if entries > self.max_entries {
            return Err(self.exceeded(site, path, format!("more than {} entries", self.max_entries)));
        }
        Ok(())
    }

    /// The error for a listing that took longer than the deadline.
    pub fn too_slow(&self, site: &str, path: &str) -> TransportError {
        TransportError::Timeout {
            site: site.to_string(),
            operation: format!("list {path}"),
            seconds: self.deadline.as_secs(),
        }
    }

    /// Reads a text listing line by line within the bounds: each line (without its line end,
    /// lossy UTF-8, empty ones left out) as the server sent it.
    pub async fn read_lines<R: AsyncBufRead + Unpin>(
        &self,
        reader: &mut R,
        site: &str,
        path: &str,
    ) -> TransportResult<Vec<String>> {
        let mut lines = Vec::new();
        let mut total = 0usize;
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = (&mut *reader)
                .take(self.max_line as u64 + 1)
                .read_until(b'\n', &mut line)
                .await
                .map_err(|e| super::io::stream_error(site, "list", path, e))?;
            if n == 0 {
                break;
            }
            if line.len() > self.max_line && line.last() != Some(&b'\n') {
                return Err(self.exceeded(site, path, format!("a line longer than {} bytes", self.max_line)));
            }
            total += n;
            if total > self.max_bytes {
                return Err(self.exceeded(
                    site,
                    path,
                    format!("more than {}", crate::validate::format_bytes(self.max_bytes as u64)),
                ));
            }
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            if !line.is_empty() {
                lines.push(String::from_utf8_lossy(&line).into_owned());
                self.check_entries(site, path, lines.len())?;
            }
        }
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> ListingLimits {
        ListingLimits {
            max_entries: 3,
            max_line: 32,
            max_bytes: 100,
            deadline: Duration::from_secs(1),
        }
    }

    async fn read(data: &[u8], limits: ListingLimits) -> TransportResult<Vec<String>> {
        let mut reader = tokio::io::BufReader::new(data);
        limits.read_lines(&mut reader, "s", "/in").await
    }

    #[tokio::test]
    async fn listings_within_bounds_are_read_as_sent() {
        let got = read(b"one\r\ntwo\n\nthr\xffee", small()).await.expect("read");
        assert_eq!(got, ["one", "two", "thr\u{fffd}ee"]);
    }

    #[tokio::test]
    async fn a_bound_reached_fails_the_listing_naming_it() {
        let long = format!("{}\n", "x".repeat(40));
        let e = read(long.as_bytes(), small()).await.expect_err("long line");
        assert!(e.to_string().contains("a line longer than 32 bytes"), "{e}");
        assert!(!e.is_transient());
        let e = read(b"a\nb\nc\nd\n", small()).await.expect_err("many");
        assert!(e.to_string().contains("more than 3 entries"), "{e}");
        let e = read(
            format!("{}\n", "y".repeat(30)).repeat(4).as_bytes(),
            ListingLimits {
                max_entries: 10,
                ..small()
            },
        )
        .await
        .expect_err("big");
        assert!(e.to_string().contains("more than 100 B"), "{e}");
        // A line without end is refused after its bound, not read for ever.
        let endless = tokio::io::repeat(b'z');
        let mut reader = tokio::io::BufReader::new(endless);
        let e = small().read_lines(&mut reader, "s", "/in").await.expect_err("endless");
        assert!(e.to_string().contains("a line longer"), "{e}");
    }
}
