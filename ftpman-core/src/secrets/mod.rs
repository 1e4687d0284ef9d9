//! Secrets: the [`Secret`] wrapper that never prints itself, and the AES-256-GCM [`Cipher`] that
//! seals secrets before they reach the store.
//!
//! A sealed value is `v1:` followed by base64 of a fresh random 96-bit nonce and the GCM ciphertext
//! with its tag. The version tag lets a later format coexist with this one.

mod key;

pub use key::{KEY_CHECK_PLAINTEXT, KeySource, resolve_key};

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use std::fmt;

/// A password, private key or other secret held in memory. Its `Debug` prints `***`; it has no
/// `Display`, so it cannot be formatted into a log line or an error by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The clear value, for the one place that must hand it to a server.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A secret arrives in a request body (a site's password from the web API or Python) as a
/// plain string; it is never serialised back out.
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A secret serialises as a mask, never as its value: a view or document that carries one by
/// mistake shows that a value is there, not what it is.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("********")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret::new(s)
    }
}

/// Why a secret could not be sealed, unsealed or keyed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key source was given but is malformed.
    #[error("{variable} is not usable: {reason}")]
    BadKey {
        /// The environment variable or file the key came from.
        variable: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The key does not open this database's key check value.
    #[error(
        "the encryption key from {variable} does not match this database: it was set up with another key; start ftpman with the key (or password) the database was created with"
    )]
    WrongKey {
        /// Where the key came from (ENCRYPTION_KEY, ENCRYPTION_PASSWORD or the key file).
        variable: String,
    },
    /// No key source is available for a database that needs one.
    #[error(
        "no encryption key: set ENCRYPTION_KEY (base64 of 32 random bytes, e.g. `openssl rand -base64 32`) or ENCRYPTION_PASSWORD"
    )]
    NoKey,
    /// A sealed value failed authentication: it was changed or belongs to another key.
    #[error("a stored secret ({what}) failed its integrity check: it was altered or sealed with another key")]
    Tampered {
        /// Which value (e.g. `site partner password`).
        what: String,
    },
    /// A sealed value is not in a format this version reads.
    #[error("a stored secret ({what}) is malformed: {reason}")]
    Malformed {
        /// Which value.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The key file could not be read or written.
    #[error("key file {path}: {source}")]
    KeyFile {
        /// The key file's path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

const VERSION_TAG: &str = "v1:";
const AAD: &[u8] = b"ftpman-secret-v1";
const NONCE_LEN: usize = 12;

/// AES-256-GCM sealing with a fresh random nonce per value.
#[derive(Clone)]
pub struct Cipher {
    aead: Aes256Gcm,
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cipher(AES-256-GCM)")
    }
}

impl Cipher {
    /// A cipher from 32 key bytes.
    pub fn new(key: &[u8; 32]) -> Self {
        let key = Key::<Aes256Gcm>::from(*key);
        Cipher {
            aead: Aes256Gcm::new(&key),
        }
    }

    /// Seals `plain` into the stored text form.
    pub fn seal(&self, plain: &[u8]) -> String {
        let nonce = Nonce::generate();
        // Encryption with a valid key and in-memory buffers cannot fail; an error here would be a
        // bug in the AEAD crate, and sealing to an empty value would lose the secret silently.
        let ct = self
            .aead
            .encrypt(&nonce, Payload { msg: plain, aad: AAD })
            .expect("AES-GCM encryption of an in-memory buffer");
        let mut buf = Vec::with_capacity(NONCE_LEN + ct.len());
        buf.extend_from_slice(nonce.as_slice());
        buf.extend_from_slice(&ct);
        format!("{VERSION_TAG}{}", B64.encode(buf))
    }

    /// Seals a secret.
    pub fn seal_secret(&self, secret: &Secret) -> String {
        self.seal(secret.expose().as_bytes())
    }

    /// Opens a sealed value; `what` names it in errors (never its content).
    pub fn open(&self, sealed: &str, what: &str) -> Result<Vec<u8>, SecretError> {
        let body = sealed.strip_prefix(VERSION_TAG).ok_or_else(|| SecretError::Malformed {
            what: what.to_string(),
            reason: "unknown version tag".into(),
        })?;
        let raw = B64.decode(body).map_err(|_| SecretError::Malformed {
            what: what.to_string(),
            reason: "not base64".into(),
        })?;
        if raw.len() < NONCE_LEN + 16 {
            return Err(SecretError::Malformed {
                what: what.to_string(),
                reason: "too short".into(),
            });
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| SecretError::Malformed {
            what: what.to_string(),
            reason: "bad nonce".into(),
        })?;
        self.aead
            .decrypt(&nonce, Payload { msg: ct, aad: AAD })
            .map_err(|_| SecretError::Tampered { what: what.to_string() })
    }

    /// Opens a sealed value that holds UTF-8 text.
    pub fn open_secret(&self, sealed: &str, what: &str) -> Result<Secret, SecretError> {
        let bytes = self.open(sealed, what)?;
        String::from_utf8(bytes)
            .map(Secret)
            .map_err(|_| SecretError::Malformed {
                what: what.to_string(),
                reason: "not UTF-8".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_uses_fresh_nonces() {
        let c = Cipher::new(&[7u8; 32]);
        let a = c.seal(b"hunter2");
        let b = c.seal(b"hunter2");
        assert_ne!(a, b, "two seals of one value must differ (fresh nonce)");
        assert!(a.starts_with("v1:"));
        assert!(!a.contains("hunter2"));
        assert_eq!(c.open(&a, "x").unwrap(), b"hunter2");
        assert_eq!(c.open(&b, "x").unwrap(), b"hunter2");
    }

    #[test]
    fn tampering_and_wrong_key_are_detected() {
        let c = Cipher::new(&[7u8; 32]);
        let sealed = c.seal(b"secret value");
        let mut raw = B64.decode(&sealed[3..]).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 0x01;
        let tampered = format!("v1:{}", B64.encode(&raw));
        assert!(matches!(c.open(&tampered, "pw"), Err(SecretError::Tampered { .. })));
        let other = Cipher::new(&[8u8; 32]);
        assert!(matches!(other.open(&sealed, "pw"), Err(SecretError::Tampered { .. })));
        assert!(matches!(c.open("v2:abc", "pw"), Err(SecretError::Malformed { .. })));
        assert!(matches!(c.open("v1:!!!", "pw"), Err(SecretError::Malformed { .. })));
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::new("topsecret");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert!(!format!("{:?}", Some(s)).contains("topsecret"));
    }
}
