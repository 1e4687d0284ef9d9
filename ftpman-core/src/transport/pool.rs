//! A connection pool per site that never opens more than the site's `max_connections` at once
//! and reuses logged-in connections.

use super::{Connector, Transport, TransportResult};
use crate::model::Site;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections to one site.
pub struct SitePool {
    site: Site,
    connector: Arc<dyn Connector>,
    permits: Arc<Semaphore>,
    idle: Arc<Mutex<Vec<Idle>>>,
}

/// An idle connection and when it was last used.
struct Idle {
    conn: Box<dyn Transport>,
    since: Instant,
}

/// Idle connections older than this are checked before reuse: servers drop idle sessions.
const CHECK_AFTER: Duration = Duration::from_secs(2);

impl SitePool {
    /// A pool for `site`, opening connections through `connector`.
    pub fn new(site: Site, connector: Arc<dyn Connector>) -> Arc<SitePool> {
        let permits = Arc::new(Semaphore::new(site.max_connections.max(1) as usize));
        Arc::new(SitePool {
            site,
            connector,
            permits,
            idle: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// The site.
    pub fn site(&self) -> &Site {
        &self.site
    }

    /// Connections that may still be opened (or taken) now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// A connection: an idle one, or a new one once fewer than `max_connections` are out.
    pub async fn get(&self) -> TransportResult<PooledTransport> {
        // The semaphore is never closed, so acquiring fails only if it were; treat that as a
        // stale pool and open without a permit rather than panic.
        let permit = self.permits.clone().acquire_owned().await.ok();
        let mut conn = None;
        while let Some(mut idle) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            if idle.since.elapsed() < CHECK_AFTER {
                conn = Some(idle.conn);
                break;
            }
            match tokio::time::timeout(self.site.connect_timeout, idle.conn.check()).await {
                Ok(Ok(())) => {
                    conn = Some(idle.conn);
                    break;
                }
                // Dropped by the server while idle: forget it and try the next.
                _ => continue,
            }
        }
        let conn = match conn {
            Some(c) => c,
            None => self.connector.connect(&self.site).await?,
        };
        Ok(PooledTransport {
            conn: Some(conn),
            idle: self.idle.clone(),
            broken: false,
            _permit: permit,
        })
    }

    /// Closes the idle connections.
    pub async fn close_idle(&self) {
        let conns: Vec<_> = self.idle.lock().map(|mut i| i.drain(..).collect()).unwrap_or_default();
        for c in conns {
            let _ = c.conn.close().await;
        }
    }
}

/// A connection on loan from a [`SitePool`]; it goes back to the pool when dropped, unless it
/// was marked broken.
pub struct PooledTransport {
    conn: Option<Box<dyn Transport>>,
    idle: Arc<Mutex<Vec<Idle>>>,
    broken: bool,
    _permit: Option<OwnedSemaphorePermit>,
}

impl PooledTransport {
    /// Keeps this connection out of the pool (after an error that may have left it unusable).
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }
}

impl Deref for PooledTransport {
    type Target = dyn Transport;
    fn deref(&self) -> &Self::Target {
        // Present from construction until drop.
        self.conn.as_deref().expect("pooled connection present until drop")
    }
}

impl DerefMut for PooledTransport {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.conn.as_deref_mut().expect("pooled connection present until drop")
    }
}

impl Drop for PooledTransport {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && !self.broken
            && let Ok(mut idle) = self.idle.lock()
        {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SiteUrl;
    use crate::transport::ProtocolConnector;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting {
        opened: AtomicUsize,
    }

    #[async_trait]
    impl Connector for Counting {
        async fn connect(&self, site: &Site) -> TransportResult<Box<dyn Transport>> {
            self.opened.fetch_add(1, Ordering::SeqCst);
            ProtocolConnector.connect(site).await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_more_than_max_connections_and_reuses_them() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        let mut site = Site::new("local", &SiteUrl::parse(&url).unwrap()).unwrap();
        site.max_connections = 2;
        let connector = Arc::new(Counting {
            opened: AtomicUsize::new(0),
        });
        let pool = SitePool::new(site, connector.clone());
        let out = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (pool, out, peak) = (pool.clone(), out.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                let mut conn = pool.get().await.unwrap();
                let now = out.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                conn.list("/").await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                out.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2, "at most max_connections out at once");
        assert_eq!(connector.opened.load(Ordering::SeqCst), 2, "connections are reused");
        // A broken connection is not reused.
        let mut c = pool.get().await.unwrap();
        c.mark_broken();
        drop(c);
        let _a = pool.get().await.unwrap();
        let _b = pool.get().await.unwrap();
        assert_eq!(connector.opened.load(Ordering::SeqCst), 3);
        assert_eq!(pool.available(), 0);
    }
}
