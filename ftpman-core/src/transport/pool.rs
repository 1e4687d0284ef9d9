//! A connection pool per site that never opens more than the site's `max_connections` at once
//! (a local folder, which has no server, is not capped) and reuses logged-in connections.

use super::{Connector, Transport, TransportResult};
use crate::model::Site;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot};

/// Connections to one site.
pub struct SitePool {
    site: Site,
    connector: Arc<dyn Connector>,
    permits: Arc<Semaphore>,
    idle: Arc<Mutex<Vec<Idle>>>,
    /// Told whenever a connection goes back to the idle ones.
    returned: Arc<Notify>,
    cluster: Option<ClusterSlots>,
}

/// What a connection being opened in the background hands over: the connection, its cluster
/// slot, and the pool place its opening held.
type Opened = TransportResult<(Box<dyn Transport>, Option<u32>, Option<OwnedSemaphorePermit>)>;

/// An idle connection, when it was last used, and the cluster slot it holds.
struct Idle {
    conn: Box<dyn Transport>,
    since: Instant,
    slot: Option<u32>,
}

/// Cluster-wide connection slots in the store: with several nodes, a site's max_connections
/// holds across all of them. Each open connection holds one slot, renewed (by the engine) only
/// while this pool holds it: a slot whose release failed is not renewed, and expires.
#[derive(Clone)]
pub struct ClusterSlots {
    store: Arc<dyn crate::store::Store>,
    node_id: String,
    lease: Duration,
    clock: Arc<dyn crate::scheduler::Clock>,
    held: Arc<Mutex<std::collections::BTreeSet<u32>>>,
}

impl ClusterSlots {
    /// Slots in `store` for `node_id`, each holding for `lease` without renewal (a dead node's
    /// slots come free after this), timed by `clock`.
    pub fn new(
        store: Arc<dyn crate::store::Store>,
        node_id: String,
        lease: Duration,
        clock: Arc<dyn crate::scheduler::Clock>,
    ) -> ClusterSlots {
        ClusterSlots {
            store,
            node_id,
            lease,
            clock,
            held: Arc::default(),
        }
    }

    fn hold(&self, slot: u32, held: bool) {
        if let Ok(mut h) = self.held.lock() {
            if held {
                h.insert(slot);
            } else {
                h.remove(&slot);
            }
        }
    }

    /// Waits for a free slot of `site`.
    async fn acquire(&self, site: &Site) -> TransportResult<u32> {
        loop {
            match self
                .store
                .acquire_site_slot(
                    site.id,
                    site.max_connections,
                    &self.node_id,
                    self.clock.now(),
                    self.lease,
                )
                .await
            {
                Ok(Some(slot)) => {
                    self.hold(slot, true);
                    return Ok(slot);
                }
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
        // No longer renewed from now on, whether the release below reaches the store or not.
        self.hold(slot, false);
        let (store, node) = (self.store.clone(), self.node_id.clone());
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = store.release_site_slot(site_id, slot, &node).await;
            });
        }
    }
}

/// A connection being opened for a `get`. Dropped with the connection ready but not taken (the
/// asker took an idle one in the same instant, or gave up), it puts it with the idle ones.
struct Opening {
    ready: oneshot::Receiver<Opened>,
    idle: Arc<Mutex<Vec<Idle>>>,
    returned: Arc<Notify>,
}

impl Drop for Opening {
    fn drop(&mut self) {
        if let Ok(Ok((conn, slot, permit))) = self.ready.try_recv() {
            park(&self.idle, &self.returned, conn, slot, permit);
        }
    }
}

/// Puts a connection with the idle ones, then gives its place back: in that order, whoever
/// gets the place finds the connection (the other way round, they could open one past the cap).
/// Then tells a task waiting while its own connection logs in. Returns the connection if the
/// idle list is unusable (a panic while it was held).
fn park(
    idle: &Mutex<Vec<Idle>>,
    returned: &Notify,
    conn: Box<dyn Transport>,
    slot: Option<u32>,
    permit: Option<OwnedSemaphorePermit>,
) -> Option<Box<dyn Transport>> {
    let unparked = match idle.lock() {
        Ok(mut idle) => {
            idle.push(Idle {
                conn,
                since: Instant::now(),
                slot,
            });
            None
        }
        Err(_) => Some(conn),
    };
    drop(permit);
    returned.notify_one();
    unparked
}

/// Opens a connection to `site`, taking a cluster slot first where there is a cluster.
async fn open_connection(
    site: &Site,
    connector: &dyn Connector,
    cluster: Option<&ClusterSlots>,
    permit: Option<OwnedSemaphorePermit>,
) -> Opened {
    let slot = match cluster {
        Some(c) => Some(c.acquire(site).await?),
        None => None,
    };
    open_with_slot(site, connector, cluster, slot, permit).await
}

/// Opens a connection to `site` holding a cluster slot already taken (given back on failure).
async fn open_with_slot(
    site: &Site,
    connector: &dyn Connector,
    cluster: Option<&ClusterSlots>,
    slot: Option<u32>,
    permit: Option<OwnedSemaphorePermit>,
) -> Opened {
    match connector.connect(site).await {
        Ok(conn) => Ok((conn, slot, permit)),
        Err(e) => {
            if let (Some(c), Some(slot)) = (cluster, slot) {
                c.release_later(site.id, slot);
            }
            Err(e)
        }
    }
}

/// Idle connections older than this are checked before reuse: servers drop idle sessions.
const CHECK_AFTER: Duration = Duration::from_secs(2);

/// How many connections may be out at once: the site's `max_connections`. A local folder has
/// no server to spare, and its "connections" are handles on the folder: there the job's
/// `parallel` is the limit, and files waiting for the disk after their transfer hold one each.
fn connection_limit(site: &Site) -> usize {
    if super::declared_capabilities(site.protocol).remote {
        site.max_connections.max(1) as usize
    } else {
        Semaphore::MAX_PERMITS
    }
}

impl SitePool {
    /// A pool for `site`, opening connections through `connector`.
    pub fn new(site: Site, connector: Arc<dyn Connector>) -> Arc<SitePool> {
        Self::build(site, connector, None)
    }

    /// A pool whose connections also hold cluster-wide slots in the store.
    pub fn with_cluster(site: Site, connector: Arc<dyn Connector>, cluster: ClusterSlots) -> Arc<SitePool> {
        Self::build(site, connector, Some(cluster))
    }

    fn build(site: Site, connector: Arc<dyn Connector>, cluster: Option<ClusterSlots>) -> Arc<SitePool> {
        let permits = Arc::new(Semaphore::new(connection_limit(&site)));
        Arc::new(SitePool {
            site,
            connector,
            permits,
            idle: Arc::new(Mutex::new(Vec::new())),
            returned: Arc::new(Notify::new()),
            cluster,
        })
    }

    /// The site.
    pub fn site(&self) -> &Site {
        &self.site
    }

    /// The cluster slots this pool's connections hold now, as (site id, slot).
    pub fn held_slots(&self) -> Vec<(i64, u32)> {
        match &self.cluster {
            Some(c) => c
                .held
                .lock()
                .map(|h| h.iter().map(|slot| (self.site.id, *slot)).collect())
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// Connections that may still be opened (or taken) now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// A connection: an idle one, or a new one once fewer than `max_connections` are out (any
    /// number, for a local folder). While a new one is being opened, a connection that another
    /// task gives back meanwhile is taken instead, and the new one joins the idle ones when it
    /// is ready: a login can take tens of milliseconds, a listing or a small file a fraction of
    /// one, so waiting for the first connection to come free often beats opening one.
    pub async fn get(&self) -> TransportResult<PooledTransport> {
        // The semaphore is never closed, so acquiring fails only if it were; treat that as a
        // stale pool and open without a permit rather than panic.
        let permit = self.permits.clone().acquire_owned().await.ok();
        if let Some((conn, slot)) = self.take_idle().await {
            return Ok(self.loan(conn, slot, permit));
        }
        if !super::declared_capabilities(self.site.protocol).remote {
            // A folder opens at once: nothing to race.
            let (conn, slot, permit) = self.open(permit).await?;
            return Ok(self.loan(conn, slot, permit));
        }
        let mut opening = self.open_in_background(permit);
        loop {
            tokio::select! {
                ready = &mut opening.ready => {
                    let (conn, slot, permit) = ready.unwrap_or_else(|_| {
                        Err(super::TransportError::Config {
                            site: self.site.name.clone(),
                            reason: "the task opening a connection ended".into(),
                        })
                    })?;
                    return Ok(self.loan(conn, slot, permit));
                }
                () = self.returned.notified() => {
                    // The opening keeps its own place; an idle connection needs another.
                    let Ok(place) = self.permits.clone().try_acquire_owned() else { continue };
                    if let Some((conn, slot)) = self.take_idle().await {
                        return Ok(self.loan(conn, slot, Some(place)));
                    }
                }
            }
        }
    }

    /// A connection if one can be had without waiting for another task to give one back: an
    /// idle one, or a new one while fewer than `max_connections` are out. `None` when all are
    /// out, or when opening one fails or takes longer than the site's connect timeout (an
    /// extra connection is an optimisation: the caller carries on with what it holds).
    pub async fn try_get(&self) -> Option<PooledTransport> {
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        if let Some((conn, slot)) = self.take_idle().await {
            return Some(self.loan(conn, slot, Some(permit)));
        }
        match tokio::time::timeout(self.site.connect_timeout, self.open(Some(permit))).await {
            Ok(Ok((conn, slot, permit))) => Some(self.loan(conn, slot, permit)),
            Ok(Err(e)) => {
                tracing::debug!(target: "ftpman::transport", site = %self.site.name, "no extra connection: {e}");
                None
            }
            Err(_) => None,
        }
    }

    /// An idle connection that is still alive, if there is one.
    async fn take_idle(&self) -> Option<(Box<dyn Transport>, Option<u32>)> {
        while let Some(mut idle) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            if idle.since.elapsed() < CHECK_AFTER {
                return Some((idle.conn, idle.slot));
            }
            match tokio::time::timeout(self.site.connect_timeout, idle.conn.check()).await {
                Ok(Ok(())) => return Some((idle.conn, idle.slot)),
                // Dropped by the server while idle: forget it and try the next.
                _ => self.release(idle.slot),
            }
        }
        None
    }

    /// Opens a connection (after taking a cluster slot, in a cluster), holding `permit`.
    async fn open(&self, permit: Option<OwnedSemaphorePermit>) -> Opened {
        open_connection(&self.site, &*self.connector, self.cluster.as_ref(), permit).await
    }

    /// Opens a connection on its own task. If nobody takes it when it is ready (the asker found
    /// an idle one meanwhile, or gave up), it joins the idle ones and its place goes back.
    fn open_in_background(&self, permit: Option<OwnedSemaphorePermit>) -> Opening {
        let (tx, rx) = oneshot::channel();
        let (site, connector, cluster) = (self.site.clone(), self.connector.clone(), self.cluster.clone());
        let (idle, returned) = (self.idle.clone(), self.returned.clone());
        tokio::spawn(async move {
            let mut tx = tx;
            // A cluster slot may take long to come free: not worth waiting for once nobody
            // waits. A login under way is finished, for the next asker.
            let slot = match &cluster {
                Some(c) => tokio::select! {
                    slot = c.acquire(&site) => match slot {
                        Ok(slot) => Some(slot),
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    },
                    () = tx.closed() => return,
                },
                None => None,
            };
            let opened = open_with_slot(&site, &*connector, cluster.as_ref(), slot, permit).await;
            match tx.send(opened) {
                Ok(()) => {}
                Err(Ok((conn, slot, permit))) => {
                    park(&idle, &returned, conn, slot, permit);
                }
                // Nobody to tell; the slot was given back by `open_with_slot`.
                Err(Err(_)) => {}
            }
        });
        Opening {
            ready: rx,
            idle: self.idle.clone(),
            returned: self.returned.clone(),
        }
    }

    fn loan(
        &self,
        conn: Box<dyn Transport>,
        slot: Option<u32>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> PooledTransport {
        PooledTransport {
            conn: Some(conn),
            idle: self.idle.clone(),
            returned: self.returned.clone(),
            broken: false,
            slot,
            site_id: self.site.id,
            cluster: self.cluster.clone(),
            permit,
        }
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
                c.hold(slot, false);
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
    returned: Arc<Notify>,
    broken: bool,
    slot: Option<u32>,
    site_id: i64,
    cluster: Option<ClusterSlots>,
    permit: Option<OwnedSemaphorePermit>,
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
        let Some(mut conn) = self.conn.take() else { return };
        if !self.broken {
            match park(&self.idle, &self.returned, conn, self.slot, self.permit.take()) {
                None => return,
                Some(unparked) => conn = unparked,
            }
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

    /// The first connection opens at once; the others wait until the test lets them.
    struct Gated {
        opened: AtomicUsize,
        gate: Semaphore,
        folder: Site,
    }

    #[async_trait]
    impl Connector for Gated {
        async fn connect(&self, _site: &Site) -> TransportResult<Box<dyn Transport>> {
            if self.opened.fetch_add(1, Ordering::SeqCst) > 0 {
                self.gate.acquire().await.unwrap().forget();
            }
            ProtocolConnector.connect(&self.folder).await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_given_back_is_taken_while_a_new_one_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Site::new(
            "local",
            &SiteUrl::parse(&format!("file://{}", dir.path().display())).unwrap(),
        )
        .unwrap();
        let mut site = Site::new("remote", &SiteUrl::parse("sftp://me@127.0.0.1:2222/").unwrap()).unwrap();
        site.max_connections = 2;
        let connector = Arc::new(Gated {
            opened: AtomicUsize::new(0),
            gate: Semaphore::new(0),
            folder,
        });
        let pool = SitePool::new(site, connector.clone());
        let first = pool.get().await.unwrap();
        let waiting = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.get().await.map(|_| ()) })
        };
        let soon = |what: &'static str, done: Box<dyn Fn() -> bool + Send>| async move {
            tokio::time::timeout(std::time::Duration::from_secs(10), async {
                while !done() {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            })
            .await
            .unwrap_or_else(|_| panic!("{what}"));
        };
        let counted = connector.clone();
        soon(
            "a second login starts",
            Box::new(move || counted.opened.load(Ordering::SeqCst) >= 2),
        )
        .await;
        // The second login hangs; the first connection comes back and is taken instead.
        drop(first);
        tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
            .await
            .expect("the waiter took the connection given back")
            .unwrap()
            .unwrap();
        // The login finishes later and its connection waits with the idle ones, its place
        // given back: two connections, at most two.
        connector.gate.add_permits(1);
        let idle = pool.idle.clone();
        soon(
            "the late login joins the idle ones",
            Box::new(move || idle.lock().unwrap().len() >= 2),
        )
        .await;
        assert_eq!(connector.opened.load(Ordering::SeqCst), 2);
        assert_eq!(pool.available(), 2);
        let (_a, _b) = (pool.get().await.unwrap(), pool.get().await.unwrap());
        assert_eq!(connector.opened.load(Ordering::SeqCst), 2, "both reused");
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
