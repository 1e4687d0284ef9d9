//! A TCP proxy on loopback that holds every byte for a fixed delay each way, so a transfer
//! meets the round trip of a distant server (this machine's kernel has no `netem`). What bounds
//! a protocol over such a link, an SSH channel's window, SFTP's requests in flight, shows as it
//! would; the bandwidth stays loopback's.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Chunks in flight per direction: with 64 KiB chunks, 64 MiB, far above any window here.
const IN_FLIGHT: usize = 1024;

/// Forwards `listen` to `target` on 127.0.0.1, each direction `delay` late, until killed.
pub async fn run(listen: u16, target: u16, delay: Duration) -> Result<String, String> {
    let listener = TcpListener::bind(("127.0.0.1", listen))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let (client, _) = listener.accept().await.map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::join!(pipe(cr, sw, delay), pipe(sr, cw, delay));
        });
    }
}

/// Copies `from` into `to`, each chunk written `delay` after it was read.
async fn pipe(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, delay: Duration) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
    let reading = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from.read(&mut buf).await {
            if n == 0 || tx.send((Instant::now() + delay, buf[..n].to_vec())).await.is_err() {
                break;
            }
        }
    };
    let writing = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reading, writing);
}
