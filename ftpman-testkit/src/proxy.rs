//! A TCP proxy of the project's own on loopback, between ftpman and a real server, that injects
//! faults into the first connections through it: a stall, a cut, a slow trickle (either way),
//! or a reset early on (a TLS handshake, a login). Later connections pass untouched, so a retry on a fresh
//! connection can succeed, as it would once a real network recovers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What happens to a faulty connection, counted in bytes from the server to ftpman.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Forward this many bytes, then nothing more, the connection left open.
    StallAfter(u64),
    /// Forward this many bytes, then close both ends.
    CutAfter(u64),
    /// Forward at most this many bytes per second.
    Trickle(u64),
    /// Forward at most this many bytes per second from ftpman to the server (an upload's way).
    TrickleUp(u64),
    /// Close both ends once ftpman has sent this many bytes (a handshake, a login).
    ResetAfterClientSent(u64),
    /// Every `every`-th connection is cut after a byte count of its own, below `max` (the
    /// others pass): faults at random places, the same ones on every run.
    CutSome {
        /// One connection in this many is cut.
        every: usize,
        /// Cut before this many bytes.
        max: u64,
    },
}

/// A running proxy: connect to `port` instead of the server's.
pub struct Proxy {
    pub port: u16,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Proxies to `127.0.0.1:target`; the first `faulty` connections get `fault`.
    pub async fn start(target: u16, fault: Fault, faulty: usize) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let port = listener.local_addr().expect("proxy addr").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let fault = match fault {
                    Fault::CutSome { every, max } => (n % every.max(1) == every.max(1) - 1).then(|| {
                        // A small LCG keyed by the connection's number: a spread of places.
                        let r = (n as u64)
                            .wrapping_mul(6_364_136_223_846_793_005)
                            .wrapping_add(1_442_695_040_888_963_407);
                        Fault::CutAfter(4096 + (r >> 33) % max.max(4097))
                    }),
                    f => (n < faulty).then_some(f),
                };
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await {
                        relay(client, server, fault).await;
                    }
                });
            }
        });
        Proxy {
            port,
            connections,
            task,
        }
    }
}

/// Writes `bytes` at `rate` bytes a second, a tenth of a second's worth at a time; false when
/// the peer is gone.
async fn trickle(w: &mut (impl AsyncWriteExt + Unpin), bytes: &[u8], rate: u64) -> bool {
    for chunk in bytes.chunks(((rate / 10).max(1)) as usize) {
        if w.write_all(chunk).await.is_err() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    true
}

async fn relay(client: TcpStream, server: TcpStream, fault: Option<Fault>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let reset_after = match fault {
        Some(Fault::ResetAfterClientSent(n)) => Some(n),
        _ => None,
    };
    let up_rate = match fault {
        Some(Fault::TrickleUp(rate)) => Some(rate),
        _ => None,
    };
    let upstream = async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut sent = 0u64;
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let n = match reset_after {
                Some(limit) if sent + n as u64 >= limit => {
                    let _ = sw.write_all(&buf[..(limit - sent) as usize]).await;
                    return true;
                }
                _ => n,
            };
            sent += n as u64;
            if let Some(rate) = up_rate {
                if !trickle(&mut sw, &buf[..n], rate).await {
                    return false;
                }
                continue;
            }
            if sw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = sw.shutdown().await;
        false
    };
    let downstream = async move {
        let mut buf = vec![0u8; 16 * 1024];
        let mut passed = 0u64;
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            match fault {
                Some(Fault::StallAfter(limit)) if passed + n as u64 > limit => {
                    let _ = cw.write_all(&buf[..(limit - passed) as usize]).await;
                    // Hold the connection open, sending nothing, until ftpman gives up.
                    std::future::pending::<()>().await;
                }
                Some(Fault::CutAfter(limit)) if passed + n as u64 > limit => {
                    let _ = cw.write_all(&buf[..(limit - passed) as usize]).await;
                    return true;
                }
                Some(Fault::Trickle(rate)) => {
                    if !trickle(&mut cw, &buf[..n], rate).await {
                        return false;
                    }
                    passed += n as u64;
                    continue;
                }
                _ => {}
            }
            passed += n as u64;
            if cw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = cw.shutdown().await;
        false
    };
    // Either direction ending a faulty connection drops both halves: a reset for both peers.
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
    }
}
