//! SSH connection, host key check and login for SFTP.

use super::quick_ack::{QuickAckStream, QuickAcks};
use crate::model::Site;
use crate::transport::connector::tcp_connect;
use crate::transport::{TransportError, TransportResult};
use russh::client::{self, Handle};
use russh::keys::PublicKeyOrCertificate;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg};
use std::sync::{Arc, Mutex};

/// Bytes read from the SSH socket at a time.
const SOCKET_READ_AHEAD: usize = 128 * 1024;

/// Checks the server's host key against the pinned fingerprint and remembers what was offered.
pub(super) struct HostKeyCheck {
    pinned: Option<String>,
    offered: Arc<Mutex<Option<String>>>,
}

/// The SHA-256 fingerprint of a host key as OpenSSH prints it (`SHA256:...`).
fn fingerprint(key: &PublicKeyOrCertificate) -> String {
    let data = match key {
        PublicKeyOrCertificate::PublicKey { key, .. } => key.key_data(),
        PublicKeyOrCertificate::Certificate(cert) => cert.public_key(),
    };
    data.fingerprint(HashAlg::Sha256).to_string()
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let offered = fingerprint(key);
        let accepted = self
            .pinned
            .as_deref()
            .is_some_and(|p| p.trim_end_matches('=') == offered.trim_end_matches('='));
        if let Ok(mut slot) = self.offered.lock() {
            *slot = Some(offered);
        }
        Ok(accepted)
    }
}

/// AES-GCM first: ring runs it on AES-NI, several times faster than the portable
/// ChaCha20-Poly1305 code russh uses; the rest of russh's safe list follows.
const CIPHERS: &[russh::cipher::Name] = &[
    russh::cipher::AES_128_GCM,
    russh::cipher::AES_256_GCM,
    russh::cipher::CHACHA20_POLY1305,
    russh::cipher::AES_256_CTR,
    russh::cipher::AES_192_CTR,
    russh::cipher::AES_128_CTR,
];

fn ssh_config(site: &Site) -> Arc<client::Config> {
    Arc::new(client::Config {
        preferred: russh::Preferred {
            cipher: std::borrow::Cow::Borrowed(CIPHERS),
            ..russh::Preferred::default()
        },
        nodelay: true,
        // Larger windows keep a loopback or LAN pipe full; 32 MiB per channel.
        window_size: 32 * 1024 * 1024,
        maximum_packet_size: 65_535,
        channel_buffer_size: 1_024,
        inactivity_timeout: Some(site.connect_timeout.max(std::time::Duration::from_secs(30)) * 4),
        keepalive_interval: Some(std::time::Duration::from_secs(15)),
        keepalive_max: 3,
        ..client::Config::default()
    })
}

/// Connects to the site's SSH server and returns the session handle after the key check, without
/// logging in. `pinned` None means "only look": the key is reported and refused.
async fn handshake(
    site: &Site,
    pinned: Option<String>,
) -> Result<(Handle<HostKeyCheck>, QuickAcks), (TransportError, Option<String>)> {
    // russh reads each packet's header and body with separate small reads; a buffered socket
    // turns most of those into copies from memory (58,000 `recvfrom` calls per GiB otherwise).
    let (tcp, acks) = QuickAckStream::new(tcp_connect(site).await.map_err(|e| (e, None))?);
    let stream = tokio::io::BufReader::with_capacity(SOCKET_READ_AHEAD, tcp);
    let offered = Arc::new(Mutex::new(None));
    let handler = HostKeyCheck {
        pinned,
        offered: offered.clone(),
    };
    let result = tokio::time::timeout(
        site.connect_timeout,
        client::connect_stream(ssh_config(site), stream, handler),
    )
    .await;
    let offered = offered.lock().ok().and_then(|o| o.clone());
    match result {
        Err(_) => Err((
            TransportError::Timeout {
                site: site.name.clone(),
                operation: "SSH handshake".into(),
                seconds: site.connect_timeout.as_secs(),
            },
            offered,
        )),
        Ok(Ok(handle)) => Ok((handle, acks)),
        Ok(Err(russh::Error::UnknownKey)) => {
            let offered_fp = offered.clone().unwrap_or_else(|| "an unknown key".into());
            let err = match &site.host_key {
                Some(expected) => TransportError::HostKeyMismatch {
                    site: site.name.clone(),
                    expected: expected.clone(),
                    actual: offered_fp,
                },
                None => TransportError::HostKeyNotPinned {
                    site: site.name.clone(),
                    offered: offered_fp,
                },
            };
            Err((err, offered))
        }
        Ok(Err(e)) => Err((
            TransportError::Protocol {
                site: site.name.clone(),
                operation: "SSH handshake".into(),
                path: String::new(),
                reason: e.to_string(),
                transient: true,
                source: None,
            },
            offered,
        )),
    }
}

/// Connects, checks the host key against the site's pin and logs in.
pub(super) async fn connect_and_login(site: &Site) -> TransportResult<(Handle<HostKeyCheck>, QuickAcks)> {
    let (mut handle, acks) = handshake(site, site.host_key.clone()).await.map_err(|(e, _)| e)?;
    let login_err = || TransportError::Login {
        site: site.name.clone(),
        user: site.username.clone(),
    };
    let proto = |e: russh::Error| TransportError::Protocol {
        site: site.name.clone(),
        operation: "SSH login".into(),
        path: String::new(),
        reason: e.to_string(),
        transient: true,
        source: None,
    };
    let mut authenticated = false;
    if let Some(text) = &site.private_key {
        let key = russh::keys::decode_secret_key(text.expose(), site.key_passphrase.as_ref().map(|p| p.expose()))
            .map_err(|e| TransportError::Config {
                site: site.name.clone(),
                reason: format!("the private key cannot be read ({e}); check its format and passphrase"),
            })?;
        let hash = handle.best_supported_rsa_hash().await.ok().flatten().flatten();
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
        let auth = tokio::time::timeout(
            site.connect_timeout,
            handle.authenticate_publickey(site.username.clone(), key),
        )
        .await
        .map_err(|_| login_timeout(site))?
        .map_err(proto)?;
        authenticated = auth.success();
    }
    if !authenticated && let Some(password) = &site.password {
        let auth = tokio::time::timeout(
            site.connect_timeout,
            handle.authenticate_password(site.username.clone(), password.expose().to_string()),
        )
        .await
        .map_err(|_| login_timeout(site))?
        .map_err(proto)?;
        authenticated = auth.success();
    }
    if !authenticated {
        return Err(login_err());
    }
    Ok((handle, acks))
}

fn login_timeout(site: &Site) -> TransportError {
    TransportError::Timeout {
        site: site.name.clone(),
        operation: "SSH login".into(),
        seconds: site.connect_timeout.as_secs(),
    }
}

/// Fetches the SSH host key fingerprint a server offers, for a first pin. Nothing is sent but the
/// key exchange; no login is tried.
pub async fn fetch_host_key(site: &Site) -> TransportResult<String> {
    match handshake(site, None).await {
        Ok(_) => Err(TransportError::Config {
            site: site.name.clone(),
            reason: "the server was accepted without a key check".into(),
        }),
        Err((_, Some(offered))) => Ok(offered),
        Err((e, None)) => Err(e),
    }
}
