//! One large file over several connections. One SSH channel is bound by one core's cipher and
//! its window, one FTP data connection by its TCP window: a file from [`SEGMENTED_FROM`] bytes
//! is cut into segments, each read from its offset on a connection pair of its own and written
//! at the same offset into the one temporary file ([`Transport::write_segment`]). A segment
//! that breaks is resumed on fresh connections from where it broke; the caller verifies the
//! whole before it is renamed into place.

use super::copy::{Ends, pump};
use super::pool::{PooledTransport, SitePool};
use super::retry::RetryPolicy;
use super::throttle::{RateLimiter, ThrottledReader};
use super::{Entry, FileReader, Transport, TransportError, TransportResult};
use futures_util::future::try_join_all;
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// Files from this size move in segments, where both ends allow it.
pub const SEGMENTED_FROM: u64 = 64 << 20;

/// The most segments one file is cut into: past four, a loopback or LAN link gains nothing and
/// a server's per-client limits are soon reached.
pub const MAX_SEGMENTS: usize = 4;

/// The smallest segment: below this, a connection's setup costs more than it saves.
const MIN_SEGMENT: u64 = 16 << 20;

/// Whether a file of `size` bytes between connections of these capabilities moves in segments.
/// Decided by size and capabilities alone, so every attempt at a file decides alike: a file
/// that moves in segments is never resumed from the size its temporary file has (its segments
/// end at different places), only segment by segment within [`copy_segmented`].
pub fn wanted(size: u64, src: &dyn Transport, dst: &dyn Transport) -> bool {
    let (src, dst) = (src.capabilities(), dst.capabilities());
    // Between two local folders one disk is the limit, not a connection.
    size >= SEGMENTED_FROM && dst.segment_writes && (src.remote || dst.remote)
}

/// `size` cut into `count` ranges of nearly equal length, in order.
pub fn ranges(size: u64, count: usize) -> Vec<Range<u64>> {
    let count = (count.max(1) as u64).min(size.div_ceil(MIN_SEGMENT).max(1));
    let step = size.div_ceil(count);
    (0..count)
        .map(|i| (i * step).min(size)..((i + 1) * step).min(size))
        .filter(|r| !r.is_empty() || size == 0)
        .collect()
}

/// A segment's connections: the caller's own (borrowed), or extra ones from the pools.
enum Pair<'a> {
    Borrowed(&'a mut dyn Transport, &'a mut dyn Transport),
    Pooled(Box<(PooledTransport, PooledTransport)>),
}

impl Pair<'_> {
    fn ends(&mut self) -> (&mut dyn Transport, &mut dyn Transport) {
        match self {
            Pair::Borrowed(src, dst) => (&mut **src, &mut **dst),
            Pair::Pooled(pair) => (&mut *pair.0, &mut *pair.1),
        }
    }

    fn mark_broken(&mut self) {
        if let Pair::Pooled(pair) = self {
            pair.0.mark_broken();
            pair.1.mark_broken();
        }
    }
}

/// What every segment of one file shares.
struct Shared<'a> {
    pools: (&'a SitePool, &'a SitePool),
    src_path: &'a str,
    dst_path: &'a str,
    size: u64,
    policy: RetryPolicy,
    limiter: Option<&'a Arc<RateLimiter>>,
    progress: Mutex<&'a mut (dyn FnMut(u64) + Send)>,
    unchanged: &'a (dyn Fn(&Entry) -> bool + Send + Sync),
}

/// Copies `src_path` (`size` bytes) into `dst_path` in segments: the last on `src` and `dst`,
/// the connections the caller holds, the others each on a connection pair the pools give
/// without waiting (as many as are free, up to [`MAX_SEGMENTS`] in all). The target file is
/// created empty first. Before a segment resumes, the source is asked again and must still be
/// the file that was listed (`unchanged`): two versions of a file are never spliced into one.
/// Returns how many segments moved it.
#[allow(clippy::too_many_arguments)]
pub async fn copy_segmented(
    (src, src_pool): (&mut dyn Transport, &SitePool),
    (dst, dst_pool): (&mut dyn Transport, &SitePool),
    src_path: &str,
    dst_path: &str,
    size: u64,
    policy: RetryPolicy,
    limiter: Option<&Arc<RateLimiter>>,
    progress: &mut (dyn FnMut(u64) + Send),
    unchanged: &(dyn Fn(&Entry) -> bool + Send + Sync),
) -> TransportResult<usize> {
    dst.write(dst_path, 0).await?.finish().await?;
    let wanted = ranges(size, MAX_SEGMENTS).len();
    let mut pairs = Vec::with_capacity(wanted);
    while pairs.len() + 1 < wanted {
        // The target's first, as every transfer takes them, so that two files never wait on
        // each other's connections.
        let Some(d) = dst_pool.try_get().await else { break };
        let Some(s) = src_pool.try_get().await else { break };
        pairs.push(Pair::Pooled(Box::new((s, d))));
    }
    pairs.push(Pair::Borrowed(src, dst));
    let ranges = ranges(size, pairs.len());
    let count = ranges.len();
    let shared = Shared {
        pools: (src_pool, dst_pool),
        src_path,
        dst_path,
        size,
        policy,
        limiter,
        progress: Mutex::new(progress),
        unchanged,
    };
    // The caller's pair takes the last range, which reads to the end of the file: it alone
    // sees a file that grew, and it leaves its source connection at a file's end.
    // Paired from the end, so that it does even when a tiny file makes fewer ranges than pairs
    // (the pairs left over go back to their pools).
    let segments = pairs
        .into_iter()
        .rev()
        .zip(ranges.into_iter().rev())
        .map(|(pair, range)| segment(&shared, pair, range));
    try_join_all(segments).await?;
    Ok(count)
}

/// Moves one range, resuming it on fresh connections when it breaks.
async fn segment(shared: &Shared<'_>, mut pair: Pair<'_>, range: Range<u64>) -> TransportResult<()> {
    let last = range.end == shared.size;
    let mut done = 0u64;
    let mut attempt = 1;
    loop {
        let from = range.start + done;
        let result = move_range(shared, &mut pair, from..range.end, last, &mut done).await;
        match result {
            Ok(()) => return Ok(()),
            Err(e) if e.is_transient() && attempt < shared.policy.attempts.max(1) => {
                tracing::info!(target: "ftpman::transport", attempt, path = shared.src_path, offset = from, "a segment broke, resuming it: {e}");
                // Its connections go back first: with every segment broken at once (a server
                // restarting), each would otherwise wait for a place the others hold.
                pair.mark_broken();
                drop(pair);
                tokio::time::sleep(shared.policy.backoff(attempt)).await;
                attempt += 1;
                let dst = shared.pools.1.get().await?;
                let mut src = shared.pools.0.get().await?;
                let now = src.stat(shared.src_path).await?;
                if !(shared.unchanged)(&now) {
                    return Err(TransportError::Protocol {
                        site: src.site().name.clone(),
                        operation: "read".into(),
                        path: shared.src_path.to_string(),
                        reason: "the source changed while it was being moved (it no longer has the size or time it was listed with); the next run moves the new version".into(),
                        transient: false,
                        source: None,
                    });
                }
                // Pipelined writes may have left holes just before where the target stopped.
                done = done.saturating_sub(dst.capabilities().resume_margin);
                pair = Pair::Pooled(Box::new((src, dst)));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Moves `range` once over `pair`, counting what it moved into `done`.
async fn move_range(
    shared: &Shared<'_>,
    pair: &mut Pair<'_>,
    range: Range<u64>,
    last: bool,
    done: &mut u64,
) -> TransportResult<()> {
    let (src, dst) = pair.ends();
    let (src_site, dst_site) = (src.site().name.clone(), dst.site().name.clone());
    let partial_reads = src.capabilities().partial_reads;
    // Every range but the last stops where the next begins; the last reads to the end, so a
    // file that grew is refused as in a whole transfer.
    let reader = if last {
        src.read(shared.src_path, range.start).await?
    } else {
        src.read_range(shared.src_path, range.clone()).await?
    };
    let mut reader: FileReader<'_> = match shared.limiter {
        Some(l) => Box::new(ThrottledReader::new(reader, l.clone())),
        None => reader,
    };
    let mut writer = dst.write_segment(shared.dst_path, range.start).await?;
    let ends = Ends {
        src_site: &src_site,
        src_path: shared.src_path,
        dst_site: &dst_site,
        dst_path: shared.dst_path,
    };
    let mut counting = |n: u64| {
        *done += n;
        if let Ok(mut progress) = shared.progress.lock() {
            (*progress)(n);
        }
    };
    let moved = pump(
        &mut reader,
        &mut *writer,
        &ends,
        range.start,
        Some(shared.size),
        &mut counting,
    )
    .await;
    drop(reader);
    let moved = moved?;
    writer.finish().await?;
    if !last && !partial_reads {
        // The read stopped before the end of the file: this source connection cannot be
        // trusted with another command.
        pair.mark_broken();
    }
    if moved != range.end - range.start {
        return Err(TransportError::Protocol {
            site: src_site,
            operation: "read".into(),
            path: shared.src_path.to_string(),
            reason: format!(
                "the file ended at {} while {} bytes were listed: it shrank while it was read",
                range.start + moved,
                shared.size
            ),
            transient: true,
            source: None,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_file_once_in_order() {
        for size in [
            0,
            1,
            MIN_SEGMENT - 1,
            MIN_SEGMENT,
            3 * MIN_SEGMENT + 7,
            1 << 30,
            (1 << 30) + 3,
        ] {
            for count in 1..=MAX_SEGMENTS {
                let r = ranges(size, count);
                assert!(!r.is_empty() && r.len() <= count, "{size} in {count}: {r:?}");
                assert_eq!(r[0].start, 0);
                assert_eq!(r[r.len() - 1].end, size);
                for w in r.windows(2) {
                    assert_eq!(w[0].end, w[1].start, "{size} in {count}: {r:?}");
                }
                if r.len() > 1 {
                    assert!(
                        r.iter().all(|x| x.end - x.start >= MIN_SEGMENT / 2),
                        "{size} in {count}: {r:?}"
                    );
                }
            }
        }
        assert_eq!(ranges(1 << 30, 4).len(), 4);
        assert_eq!(ranges(MIN_SEGMENT, 4).len(), 1, "a small file is one segment");
    }
}
