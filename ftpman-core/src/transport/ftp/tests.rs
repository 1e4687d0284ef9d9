//! Replies no well-behaved server gives on cue, from a scripted FTP server on loopback: a
//! download the server reports failed after its last byte, and a rename whose reply never comes.

use super::FtpTransport;
use crate::model::{Site, SiteUrl};
use crate::transport::{Transport, TransportError};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// How the scripted server answers the commands under test.
#[derive(Clone, Copy)]
struct Script {
    /// RETR: the file's bytes, then this final reply.
    retr_final: &'static str,
    /// RNTO: no reply at all (the connection stays open).
    rnto_silent: bool,
}

/// Serves one control connection by `script`; every command received is noted in `seen`.
async fn serve(listener: TcpListener, script: Script, seen: Arc<Mutex<Vec<String>>>) {
    let Ok((control, _)) = listener.accept().await else {
        return;
    };
    let (read, mut write) = control.into_split();
    let mut lines = BufReader::new(read).lines();
    let _ = write.write_all(b"220 scripted\r\n").await;
    let mut data: Option<TcpListener> = None;
    while let Ok(Some(line)) = lines.next_line().await {
        seen.lock().unwrap().push(line.clone());
        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "USER" => "331 password please".into(),
            "PASS" => "230 in".into(),
            "TYPE" => "200 binary".into(),
            "FEAT" => "211-Features:\r\n SIZE\r\n211 End".into(),
            "SIZE" => "213 5".into(),
            "MDTM" => "213 20250101000000".into(),
            "NOOP" => "200 ok".into(),
            "EPSV" => {
                let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let port = l.local_addr().unwrap().port();
                data = Some(l);
                format!("229 Entering Extended Passive Mode (|||{port}|)")
            }
            "RETR" => {
                let _ = write.write_all(b"150 sending\r\n").await;
                if let Some(l) = data.take()
                    && let Ok((mut conn, _)) = l.accept().await
                {
                    let _ = conn.write_all(b"hello").await;
                    let _ = conn.shutdown().await;
                    // Wait for the client to close its end, as a server does before replying.
                    let mut rest = Vec::new();
                    let _ = conn.read_to_end(&mut rest).await;
                }
                script.retr_final.into()
            }
            "RNFR" => "350 ready".into(),
            "RNTO" if script.rnto_silent => continue,
            "RNTO" => "250 renamed".into(),
            "DELE" => "250 deleted".into(),
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => "502 not here".into(),
        };
        if write.write_all(format!("{reply}\r\n").as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn connect(script: Script) -> (FtpTransport, Arc<Mutex<Vec<String>>>) {
    crate::install_crypto_provider();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(serve(listener, script, seen.clone()));
    let mut site = Site::new(
        "scripted",
        &SiteUrl::parse(&format!("ftp://u@127.0.0.1:{port}/")).unwrap(),
    )
    .unwrap();
    site.password = Some(crate::Secret::new("pw".to_string()));
    site.connect_timeout = Duration::from_secs(1);
    (FtpTransport::connect(&site).await.unwrap(), seen)
}

#[tokio::test]
async fn a_download_the_server_reports_failed_after_its_last_byte_is_an_error() {
    let (mut ftp, _) = connect(Script {
        retr_final: "426 Connection closed; transfer aborted.",
        rnto_silent: false,
    })
    .await;
    let mut reader = ftp.read("/f.bin", 0).await.unwrap();
    let mut got = Vec::new();
    let read = reader.read_to_end(&mut got).await;
    assert_eq!(got, b"hello", "the bytes sent arrive");
    let err = read.expect_err("the final 426 fails the read");
    let err = crate::transport::io::stream_error("scripted", "read", "/f.bin", err);
    assert!(err.is_transient(), "{err}");
    assert!(
        err.to_string().contains("426") || err.to_string().contains("aborted"),
        "{err}"
    );

    // And a good final reply reads the file whole.
    let (mut ftp, _) = connect(Script {
        retr_final: "226 Transfer complete.",
        rnto_silent: false,
    })
    .await;
    let mut reader = ftp.read("/f.bin", 0).await.unwrap();
    let mut got = Vec::new();
    reader.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"hello");
}

#[tokio::test]
async fn a_rename_whose_reply_never_comes_deletes_nothing() {
    let (mut ftp, seen) = connect(Script {
        retr_final: "226 ok",
        rnto_silent: true,
    })
    .await;
    // The target exists (SIZE answers) and may be replaced; the server goes quiet after RNTO,
    // as one that renamed and then lost the reply would.
    let err = ftp.rename("/part", "/final", true).await.unwrap_err();
    assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = seen.lock().unwrap().clone();
    assert!(seen.iter().any(|l| l.starts_with("RNTO")), "{seen:?}");
    assert!(
        !seen.iter().any(|l| l.starts_with("DELE")),
        "the target was not deleted after a rename that may have happened: {seen:?}"
    );
}
