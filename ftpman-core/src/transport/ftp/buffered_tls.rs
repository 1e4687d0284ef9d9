//! FTPS streams whose TLS reads a buffered socket. rustls asks the socket for one TLS record
//! (16 KiB) per read, so a 1 GiB download made 65,000 `recvfrom` calls, a third of ftpman's time
//! against curl (whose OpenSSL reads ahead). Reading the socket in large chunks below TLS costs
//! one copy in memory and saves most of those calls. Writes pass straight through.

use async_trait::async_trait;
use rustls::pki_types::ServerName;
use std::pin::Pin;
use std::task::{Context, Poll};
use suppaftp::tokio::{AsyncTlsConnector, TokioTlsStream};
use suppaftp::tokio_rustls::TlsConnector;
use suppaftp::tokio_rustls::client::TlsStream;
use suppaftp::{FtpError, FtpResult};
use tokio::io::{AsyncRead, BufReader, ReadBuf};
use tokio::net::TcpStream;

/// Bytes read from the socket at a time (control and data connections alike).
const READ_AHEAD: usize = 128 * 1024;

/// Secures FTP control and data connections with rustls over a buffered socket.
#[derive(Clone)]
pub(crate) struct BufferedTlsConnector {
    connector: TlsConnector,
}

impl std::fmt::Debug for BufferedTlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BufferedTlsConnector")
    }
}

impl From<TlsConnector> for BufferedTlsConnector {
    fn from(connector: TlsConnector) -> Self {
        BufferedTlsConnector { connector }
    }
}

#[async_trait]
impl AsyncTlsConnector for BufferedTlsConnector {
    type Stream = BufferedTlsStream;

    async fn connect(&self, domain: &str, stream: TcpStream) -> FtpResult<Self::Stream> {
        let name = ServerName::try_from(domain.to_owned()).map_err(|e| FtpError::SecureError(e.to_string()))?;
        self.connector
            .connect(name, BufReader::with_capacity(READ_AHEAD, stream))
            .await
            .map(|stream| BufferedTlsStream { stream })
            .map_err(|e| FtpError::SecureError(e.to_string()))
    }
}

/// A TLS stream over a buffered TCP socket.
#[derive(Debug)]
pub(crate) struct BufferedTlsStream {
    stream: TlsStream<BufReader<TcpStream>>,
}

impl AsyncRead for BufferedTlsStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

crate::transport::io::forward_async_write!(BufferedTlsStream, stream);

impl TokioTlsStream for BufferedTlsStream {
    type InnerStream = TlsStream<BufReader<TcpStream>>;

    fn get_ref(&self) -> &TcpStream {
        self.stream.get_ref().0.get_ref()
    }

    fn mut_ref(&mut self) -> &mut Self::InnerStream {
        &mut self.stream
    }

    /// The socket without TLS (suppaftp asks only to clear the command channel, which ftpman
    /// never does). Bytes already read ahead would be lost, so that is refused.
    fn tcp_stream(self) -> FtpResult<TcpStream> {
        let (reader, _) = self.stream.into_inner();
        if !reader.buffer().is_empty() {
            return Err(FtpError::SecureError(
                "cannot leave TLS with data already read from the socket".into(),
            ));
        }
        Ok(reader.into_inner())
    }
}
