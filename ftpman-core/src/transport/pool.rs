//! A connection pool per site that never opens more than the site's `max_connections` at once
//! (a local folder, which has no server, is not capped) and reuses logged-in connections.

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
    cluster: Option<ClusterSlots>,
}

/// An idle connection, when it was last used, and the cluster slot it holds.
struct Idle {
    conn: Box<dyn Transport>,
    since: Instant,
    slot: Option<u32>,
}

/// Cluster-wide connection slots in the store: with several nodes, a site's max_connections
/// holds across all of them. Each open connection holds one slot.
#[derive(Clone)]
pub struct ClusterSlots {
    /// The shared store.
    pub store: Arc<dyn crate::store::Store>,
    /// This node.
    pub node_id: String,
    /// How long a slot holds without renewal (a dead node's slots come free after this).
    pub lease: Duration,
}

impl ClusterSlots {
    /// Waits for a free slot of `site`.
    async fn acquire(&self, site: &Site) -> TransportResult<u32> {
        loop {
            match self
                .store
                .acquire_site_slot(
                    site.id,
                    site.max_connections,
                    &self.node_id,
                    chrono::Utc::now(),
                    self.lease,
                )
                .await
            {
                Ok(Some(slot)) => return Ok(slot),
                Ok(None) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(e) => {
                    return Err(super::TransportError::Config {
                        site: site.name.clone(),
                        reason: format!("cannot take a connection slot: {e}"),
                    });
                }
            }
        }
    }

    /// Gives a slot back, in the background (from `Drop`).
    fn release_later(&self, site_id: i64, slot: u32) {
        let (store, node) = (self.store.clone(), self.node_id.clone());
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = store.release_site_slot(site_id, slot, &node).await;
            });
        }
    }
}

/// Idle connections older than this are checked before reuse: servers drop idle sessions.
const CHECK_AFTER: Duration = Duration::from_secs(2);

/// How many connections may be out at once: the site's `max_connections`. A local folder has
/// no server to spare, and its "connections" are handles on the folder: there the job's
/// `parallel` is the limit, and files waiting for the disk after their transfer hold one each.
fn connection_limit(site: &Site) -> usize {
    if site.protocol.has_server() {
        site.max_connections.max(1) as usize
    } else {
        Semaphore::MAX_PERMITS
    }
}

impl SitePool {
    /// A pool for `site`, opening connections through `connector`.
    pub fn new(site: Site, connector: Arc<dyn Connector>) -> Arc<SitePool> {
        let permits = Arc::new(Semaphore::new(connection_limit(&site)));
        Arc::new(SitePool {
            site,
            connector,
            permits,
            idle: Arc::new(Mutex::new(Vec::new())),
            cluster: None,
        })
    }

    /// A pool whose connections also hold cluster-wide slots in the store.
    pub fn with_cluster(site: Site, connector: Arc<dyn Connector>, cluster: ClusterSlots) -> Arc<SitePool> {
        let permits = Arc::new(Semaphore::new(connection_limit(&site)));
        Arc::new(SitePool {
            site,
            connector,
            permits,
            idle: Arc::new(Mutex::new(Vec::new())),
            cluster: Some(cluster),
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

    /// A connection: an idle one, or a new one once fewer than `max_connections` are out (any
    /// number, for a local folder).
    pub async fn get(&self) -> TransportResult<PooledTransport> {
        // The semaphore is never closed, so acquiring fails only if it were; treat that as a
        // stale pool and open without a permit rather than panic.
        let permit = self.permits.clone().acquire_owned().await.ok();
        let mut reused = None;
        while let Some(mut idle) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            if idle.since.elapsed() < CHECK_AFTER {
                reused = Some((idle.conn, idle.slot));
                break;
            }
            match tokio::time::timeout(self.site.connect_timeout, idle.conn.check()).await {
                Ok(Ok(())) => {
                    reused = Some((idle.conn, idle.slot));
                    break;
                }
                // Dropped by the server while idle: forget it and try the next.
                _ => self.release(idle.slot),
            }
        }
        let (conn, slot) = match reused {
            Some(r) => r,
            None => {
                let slot = match &self.cluster {
                    Some(c) => Some(c.acquire(&self.site).await?),
                    None => None,
                };
                match self.connector.connect(&self.site).await {
                    Ok(c) => (c, slot),
                    Err(e) => {
                        self.release(slot);
                        return Err(e);
                    }
                }
            }
        };
        Ok(PooledTransport {
            conn: Some(conn),
            idle: self.idle.clone(),
            broken: false,
            slot,
            site_id: self.site.id,
            cluster: self.cluster.clone(),
            _permit: permit,
        })
    }

    fn release(&self, slot: Option<u32>) {
        if let (Some(c), Some(slot)) = (&self.cluster, slot) {
            c.release_later(self.site.id, slot);
        }
    }

    /// Closes the idle connections.
    pub async fn close_idle(&self) {
        self.close_idle_older_than(Duration::ZERO).await;
    }

    /// Closes connections idle for longer than `age`, giving their cluster slots back (so other
    /// nodes may connect).
    pub async fn close_idle_older_than(&self, age: Duration) {
        let old: Vec<Idle> = match self.idle.lock() {
            Ok(mut idle) => {
                let (old, keep): (Vec<_>, Vec<_>) = idle.drain(..).partition(|i| i.since.elapsed() >= age);
                *idle = keep;
                old
            }
            Err(_) => Vec::new(),
        };
        for i in old {
            let _ = tokio::time::timeout(Duration::from_secs(5), i.conn.close()).await;
            if let (Some(c), Some(slot)) = (&self.cluster, i.slot) {
                let _ = c.store.release_site_slot(self.site.id, slot, &c.node_id).await;
            }
        }
    }
}

/// A connection on loan from a [`SitePool`]; it goes back to the pool when dropped, unless it
/// was marked broken.
pub struct PooledTransport {
    conn: Option<Box<dyn Transport>>,
    idle: Arc<Mutex<Vec<Idle>>>,
    broken: bool,
    slot: Option<u32>,
    site_id: i64,
    cluster: Option<ClusterSlots>,
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
        let Some(conn) = self.conn.take() else { return };
        if !self.broken
            && let Ok(mut idle) = self.idle.lock()
        {
            idle.push(Idle {
                conn,
                since: Instant::now(),
                slot: self.slot,
            });
            return;
        }
        // A broken connection is dropped (closing its socket); its slot goes back.
        drop(conn);
        if let (Some(c), Some(slot)) = (&self.cluster, self.slot) {
            c.release_later(self.site_id, slot);
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

    /// Counts connections; each is really to a local folder, whatever site is asked for.
    struct Counting {
        opened: AtomicUsize,
        folder: Site,
    }

    #[async_trait]
    impl Connector for Counting {
        async fn connect(&self, _site: &Site) -> TransportResult<Box<dyn Transport>> {
            self.opened.fetch_add(1, Ordering::SeqCst);
            ProtocolConnector.connect(&self.folder).await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_more_than_max_connections_and_reuses_them() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        let folder = Site::new("local", &SiteUrl::parse(&url).unwrap()).unwrap();
        let mut site = Site::new("remote", &SiteUrl::parse("sftp://me@127.0.0.1:2222/").unwrap()).unwrap();
        site.max_connections = 2;
        // A local folder's "connections" are not capped: the job's parallel is.
        let mut local = folder.clone();
        local.max_connections = 2;
        assert!(SitePool::new(local, Arc::new(ProtocolConnector)).available() > 1000);
        let connector = Arc::new(Counting {
            opened: AtomicUsize::new(0),
            folder,
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
