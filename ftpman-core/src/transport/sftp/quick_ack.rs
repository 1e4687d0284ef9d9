//! Acknowledging the server's packets at once while a connection is being set up.
//!
//! OpenSSH's `sshd` leaves Nagle's algorithm on for sessions without a terminal (SFTP): a small
//! packet waits until the one before it is acknowledged. During the handshake the server sends
//! two small packets in a row (after the login, its host keys and then the channel's
//! confirmation) while the client, waiting for the second, has nothing to send that would carry
//! the acknowledgement of the first; Linux delays a lone acknowledgement by up to 40 ms. So every
//! connection waited about 40 ms for nothing: 70 ms to connect on loopback, 30 ms with quick
//! acknowledgements (`TCP_QUICKACK`, which the kernel clears again by itself, so it is set after
//! each read). Once the connection is set up the stream stops asking: during transfers the
//! client's own requests carry the acknowledgements, and quick ones would only add packets.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;

/// Turns a [`QuickAckStream`]'s quick acknowledgements on and off.
#[derive(Clone, Debug)]
pub(super) struct QuickAcks(Arc<AtomicBool>);

impl QuickAcks {
    /// Leave acknowledgements to the kernel (transfers).
    pub(super) fn off(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    fn wanted(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A TCP stream that acknowledges what it reads at once while its [`QuickAcks`] say so.
pub(super) struct QuickAckStream {
    stream: TcpStream,
    acks: QuickAcks,
}

impl QuickAckStream {
    /// Wraps `stream`, with quick acknowledgements on.
    pub(super) fn new(stream: TcpStream) -> (QuickAckStream, QuickAcks) {
        let acks = QuickAcks(Arc::new(AtomicBool::new(true)));
        (
            QuickAckStream {
                stream,
                acks: acks.clone(),
            },
            acks,
        )
    }

    fn acknowledge_now(&self) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let on: libc::c_int = 1;
            // SAFETY: an open socket, and an option value of the size passed, alive for the call.
            // A failure only means a delayed acknowledgement, as without this.
            unsafe {
                libc::setsockopt(
                    self.stream.as_raw_fd(),
                    libc::IPPROTO_TCP,
                    libc::TCP_QUICKACK,
                    &on as *const libc::c_int as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
    }
}

impl AsyncRead for QuickAckStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before && self.acks.wanted() {
            self.acknowledge_now();
        }
        polled
    }
}

crate::transport::io::forward_async_write!(QuickAckStream, stream);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that answers the way `sshd` does during a login: after some back and forth (which
    /// puts the client's kernel into delaying its acknowledgements), a small packet, then, with
    /// Nagle's algorithm on, a second one right after, while the client only waits. Returns how
    /// long the client waited for the second.
    async fn second_packet_wait(quick: bool) -> std::time::Duration {
        const ROUNDS: usize = 20;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.set_nodelay(false).unwrap();
            let mut hello = [0u8; 5];
            for _ in 0..ROUNDS {
                s.read_exact(&mut hello).await.unwrap();
                s.write_all(b"olleh").await.unwrap();
            }
            s.read_exact(&mut hello).await.unwrap();
            s.write_all(b"first").await.unwrap();
            // Long enough for the client to have read the first packet, not for a delayed
            // acknowledgement to have gone out.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            s.write_all(b"second").await.unwrap();
            let mut bye = [0u8; 1];
            let _ = s.read(&mut bye).await;
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let (mut stream, acks) = QuickAckStream::new(tcp);
        if !quick {
            acks.off();
        }
        let mut answer = [0u8; 5];
        for _ in 0..ROUNDS {
            stream.write_all(b"hello").await.unwrap();
            stream.read_exact(&mut answer).await.unwrap();
        }
        stream.write_all(b"hello").await.unwrap();
        let mut first = [0u8; 5];
        stream.read_exact(&mut first).await.unwrap();
        let waiting = std::time::Instant::now();
        let mut second = [0u8; 6];
        stream.read_exact(&mut second).await.unwrap();
        let waited = waiting.elapsed();
        assert_eq!(&second, b"second");
        drop(stream);
        server.await.unwrap();
        waited
    }

    #[tokio::test]
    async fn a_second_small_packet_is_not_held_back_by_a_delayed_acknowledgement() {
        // The best of three each, so that a busy machine does not decide. Linux holds a lone
        // acknowledgement for at least 40 ms; the server's second packet follows 5 ms after
        // the first.
        let mut quick = std::time::Duration::MAX;
        let mut delayed = std::time::Duration::MAX;
        for _ in 0..3 {
            quick = quick.min(second_packet_wait(true).await);
            delayed = delayed.min(second_packet_wait(false).await);
        }
        #[cfg(target_os = "linux")]
        assert!(
            delayed > quick + std::time::Duration::from_millis(20),
            "waited {delayed:?} without quick acknowledgements, {quick:?} with"
        );
        assert!(quick < std::time::Duration::from_secs(1), "{quick:?}");
    }
}
