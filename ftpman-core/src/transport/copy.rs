//! Streaming one file from a source transport to a target transport with a bounded buffer, so
//! memory does not grow with file size, and resuming a broken transfer from its offset.

use super::io::stream_error;
use super::pool::SitePool;
use super::retry::RetryPolicy;
use super::throttle::RateLimiter;
use super::throttle::ThrottledReader;
use super::{FileReader, FileWriter, Finished, Transport, TransportError, TransportResult};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bytes an attempt must have moved before a retry resumes from what it left at the target:
/// past this, every writer has opened, and so truncated, its file (a local one gathers up to
/// this much before it opens).
pub const RESUME_AFTER: u64 = 1 << 20;

/// The copy buffer: large enough to keep pipelines full, small enough that memory stays flat.
pub const BUFFER_SIZE: usize = 256 * 1024;

/// Copies `src_path` from `offset` to `dst_path` (written from the same offset; 0 truncates),
/// keeping to `limiter` when given. Returns the bytes moved by this call and, where the target
/// reports it on closing, the file's size there. `progress` is called
/// with each chunk's size. `src_size`, the size a listing gave, lets the source fetch a small
/// file in one round trip ([`Transport::read_sized`]).
#[allow(clippy::too_many_arguments)]
pub async fn copy_file(
    src: &mut dyn Transport,
    src_path: &str,
    src_size: Option<u64>,
    dst: &mut dyn Transport,
    dst_path: &str,
    offset: u64,
    limiter: Option<&Arc<RateLimiter>>,
    progress: &mut (dyn FnMut(u64) + Send),
) -> TransportResult<Finished> {
    let src_site = src.site().name.clone();
    let dst_site = dst.site().name.clone();
    let reader = match src_size {
        Some(size) => src.read_sized(src_path, offset, size).await?,
        None => src.read(src_path, offset).await?,
    };
    let mut reader: FileReader<'_> = match limiter {
        Some(l) => Box::new(ThrottledReader::new(reader, l.clone())),
        None => reader,
    };
    let mut writer = dst.write(dst_path, offset).await?;
    let ends = Ends {
        src_site: &src_site,
        src_path,
        dst_site: &dst_site,
        dst_path,
    };
    let moved = pump(&mut reader, &mut *writer, &ends, offset, src_size, progress).await?;
    drop(reader);
    let finished = writer.finish().await?;
    Ok(Finished {
        written: moved,
        size: finished.size,
    })
}

/// Which file is read and which written, for errors.
pub(crate) struct Ends<'a> {
    pub src_site: &'a str,
    pub src_path: &'a str,
    pub dst_site: &'a str,
    pub dst_path: &'a str,
}

/// Moves what `reader` yields (the source from `offset`) into `writer` until the reader ends;
/// the bytes moved. A source that yields more than the `listed` size is refused at once.
pub(crate) async fn pump(
    reader: &mut FileReader<'_>,
    writer: &mut (dyn FileWriter + '_),
    ends: &Ends<'_>,
    offset: u64,
    listed: Option<u64>,
    progress: &mut (dyn FnMut(u64) + Send),
) -> TransportResult<u64> {
    // A small file gets buffers its size (plus one byte to see the end), not 256 KiB to zero.
    let wanted = listed.map_or(BUFFER_SIZE as u64, |size| size.saturating_sub(offset) + 1);
    let len = wanted.clamp(8 * 1024, BUFFER_SIZE as u64) as usize;
    // Two buffers: the next chunk is read while the last one is written, so a source that waits
    // (a disk read on the blocking pool, a network round trip) overlaps the target's sends.
    let (mut filled, mut spare) = (vec![0u8; len], vec![0u8; len]);
    let read_err = |e| stream_error(ends.src_site, "read", ends.src_path, e);
    let mut n = reader.read(&mut filled).await.map_err(read_err)?;
    let mut moved = 0u64;
    while n > 0 {
        // A source that sends more than it was listed with is still being written (or lies):
        // stop at once rather than copy until the file's timeout and refuse it then.
        if let Some(size) = listed
            && offset + moved + n as u64 > size
        {
            return Err(TransportError::Protocol {
                site: ends.src_site.to_string(),
                operation: "read".into(),
                path: ends.src_path.to_string(),
                reason: format!(
                    "the file grew past the {size} bytes it was listed with while it was read: it is still being written"
                ),
                transient: true,
                source: None,
            });
        }
        // Either side failing ends both at once (a failed write does not wait for the read).
        let write = async {
            writer
                .write_all(&filled[..n])
                .await
                .map_err(|e| stream_error(ends.dst_site, "write", ends.dst_path, e))
        };
        let read = async { reader.read(&mut spare).await.map_err(read_err) };
        let ((), next) = tokio::try_join!(write, read)?;
        moved += n as u64;
        progress(n as u64);
        n = next;
        std::mem::swap(&mut filled, &mut spare);
    }
    Ok(moved)
}

/// Copies a file of `size` bytes between two sites, retrying transient failures with fresh
/// connections and resuming each retry from the bytes already at the target. Returns the size
/// of the file at the target.
pub async fn copy_resumable(
    (src, src_path): (&SitePool, &str),
    (dst, dst_path): (&SitePool, &str),
    size: u64,
    policy: RetryPolicy,
    limiter: Option<&Arc<RateLimiter>>,
    progress: &mut (dyn FnMut(u64) + Send),
) -> TransportResult<u64> {
    let mut attempt = 1;
    // Resume only from bytes an earlier attempt of this call wrote over the target: more than
    // `RESUME_AFTER`, past which every writer has opened (and truncated) its file. What was there
    // before this call is never built on.
    let mut resumable = false;
    loop {
        let mut moved = 0u64;
        let mut counting = |n: u64| {
            moved += n;
            progress(n);
        };
        let result = async {
            let mut target = dst.get().await?;
            let offset = if !resumable {
                0
            } else {
                match target.stat(dst_path).await {
                    Ok(e) if e.size <= size => e.size,
                    _ => 0,
                }
            };
            let mut source = src.get().await?;
            let r = copy_file(
                &mut *source,
                src_path,
                Some(size),
                &mut *target,
                dst_path,
                offset,
                limiter,
                &mut counting,
            )
            .await;
            if r.is_err() {
                source.mark_broken();
                target.mark_broken();
            }
            r.map(|copied| offset + copied.written)
        }
        .await;
        resumable |= moved > RESUME_AFTER;
        match result {
            Ok(delivered) => return Ok(delivered),
            Err(e) if e.is_transient() && attempt < policy.attempts.max(1) => {
                tracing::info!(target: "ftpman::transport", attempt, path = src_path, "transfer broke, resuming: {e}");
                tokio::time::sleep(policy.backoff(attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Site, SiteUrl};
    use crate::transport::local::LocalTransport;

    async fn local(name: &str, dir: &std::path::Path) -> LocalTransport {
        let url = SiteUrl::parse(&format!("file://{}", dir.display())).expect("url");
        LocalTransport::connect(&Site::new(name, &url).expect("site"))
            .await
            .expect("connect")
    }

    #[tokio::test]
    async fn a_source_that_sends_more_than_it_was_listed_with_is_stopped_at_once() {
        let (a, b) = (tempfile::tempdir().expect("a"), tempfile::tempdir().expect("b"));
        std::fs::write(a.path().join("grew.log"), vec![7u8; 3 * BUFFER_SIZE]).expect("write");
        let (mut src, mut dst) = (local("a", a.path()).await, local("b", b.path()).await);
        let mut seen = 0u64;
        let listed = BUFFER_SIZE as u64 / 2;
        let e = copy_file(
            &mut src,
            "/grew.log",
            Some(listed),
            &mut dst,
            "/.grew.part",
            0,
            None,
            &mut |n| seen += n,
        )
        .await
        .expect_err("refused");
        assert!(e.to_string().contains("grew past the 131072 bytes"), "{e}");
        assert!(e.is_transient(), "a later attempt may find it finished");
        assert_eq!(seen, 0, "nothing beyond the listed size was copied");
        // As listed, it copies.
        let done = copy_file(
            &mut src,
            "/grew.log",
            Some(3 * BUFFER_SIZE as u64),
            &mut dst,
            "/grew.log",
            0,
            None,
            &mut |_| {},
        )
        .await
        .expect("copied");
        assert_eq!(done.written, 3 * BUFFER_SIZE as u64);
    }
}
