//! Where the encryption key comes from: `ENCRYPTION_KEY`, `ENCRYPTION_PASSWORD` (PBKDF2 with a
//! per-database salt), or a key file beside an embedded SQLite database.

use super::{Secret, SecretError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// PBKDF2-HMAC-SHA256 rounds for `ENCRYPTION_PASSWORD` (OWASP's 2023 figure).
pub const PBKDF2_ROUNDS: u32 = 600_000;

/// The plaintext of the key check value stored in each database.
pub const KEY_CHECK_PLAINTEXT: &[u8] = b"ftpman key check v1";

/// A source of the 32-byte data key. Its `Debug` names the kind of source, never the key.
#[derive(Clone)]
pub enum KeySource {
    /// Raw key bytes, as given in `ENCRYPTION_KEY` (base64).
    Key(Box<[u8; 32]>),
    /// A password stretched with PBKDF2 and the database's salt.
    Password(Secret),
    /// A key file, created with mode 0600 when missing (embedded SQLite only).
    KeyFile(PathBuf),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Key(_) => f.write_str("KeySource::Key(***)"),
            KeySource::Password(_) => f.write_str("KeySource::Password(***)"),
            KeySource::KeyFile(path) => f.debug_tuple("KeySource::KeyFile").field(path).finish(),
        }
    }
}

impl KeySource {
    /// Reads the key source from the environment: `ENCRYPTION_KEY` wins over
    /// `ENCRYPTION_PASSWORD`; with neither, `key_file` (given only for an on-disk SQLite database)
    /// is used, else there is no key.
    pub fn from_env(key_file: Option<&Path>) -> Result<KeySource, SecretError> {
        Self::from_values(
            std::env::var("ENCRYPTION_KEY").ok().as_deref(),
            std::env::var("ENCRYPTION_PASSWORD").ok().as_deref(),
            key_file,
        )
    }

    /// Like [`KeySource::from_env`], with the values passed in (tests, embedding).
    pub fn from_values(
        key: Option<&str>,
        password: Option<&str>,
        key_file: Option<&Path>,
    ) -> Result<KeySource, SecretError> {
        if let Some(k) = key.filter(|k| !k.trim().is_empty()) {
            return Ok(KeySource::Key(Box::new(decode_key(k, "ENCRYPTION_KEY")?)));
        }
        if let Some(p) = password.filter(|p| !p.is_empty()) {
            if p.chars().count() < 12 {
                return Err(SecretError::BadKey {
                    variable: "ENCRYPTION_PASSWORD".into(),
                    reason: "it is shorter than 12 characters; use a long passphrase or ENCRYPTION_KEY".into(),
                });
            }
            return Ok(KeySource::Password(Secret::new(p)));
        }
        match key_file {
            Some(path) => Ok(KeySource::KeyFile(path.to_path_buf())),
            None => Err(SecretError::NoKey),
        }
    }

    /// Names the source in messages (never its value).
    pub fn describe(&self) -> String {
        match self {
            KeySource::Key(_) => "ENCRYPTION_KEY".into(),
            KeySource::Password(_) => "ENCRYPTION_PASSWORD".into(),
            KeySource::KeyFile(p) => format!("the key file {}", p.display()),
        }
    }
}

fn decode_key(text: &str, variable: &str) -> Result<[u8; 32], SecretError> {
    let raw = B64.decode(text.trim()).map_err(|_| SecretError::BadKey {
        variable: variable.into(),
        reason: "it is not base64; make one with `openssl rand -base64 32`".into(),
    })?;
    <[u8; 32]>::try_from(raw.as_slice()).map_err(|_| SecretError::BadKey {
        variable: variable.into(),
        reason: format!(
            "it decodes to {} bytes, AES-256 needs 32; make one with `openssl rand -base64 32`",
            raw.len()
        ),
    })
}

/// Turns a key source into key bytes. `salt` is the database's PBKDF2 salt. A missing key file is
/// created (mode 0600) with a fresh random key, and a warning is logged.
pub fn resolve_key(source: &KeySource, salt: &[u8]) -> Result<[u8; 32], SecretError> {
    match source {
        KeySource::Key(k) => Ok(**k),
        KeySource::Password(p) => {
            let mut key = [0u8; 32];
            pbkdf2::pbkdf2_hmac::<pbkdf2::sha2::Sha256>(p.expose().as_bytes(), salt, PBKDF2_ROUNDS, &mut key);
            Ok(key)
        }
        KeySource::KeyFile(path) => read_or_create_key_file(path),
    }
}

fn read_or_create_key_file(path: &Path) -> Result<[u8; 32], SecretError> {
    let io_err = |source| SecretError::KeyFile {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            warn_if_readable_by_others(path);
            decode_key(&text, &format!("the key file {}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).map_err(|e| io_err(std::io::Error::other(e.to_string())))?;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                opts.mode(0o600);
            }
            let mut f = opts.open(path).map_err(io_err)?;
            f.write_all(format!("{}\n", B64.encode(key)).as_bytes())
                .map_err(io_err)?;
            f.sync_all().map_err(io_err)?;
            tracing::warn!(
                target: "ftpman::secrets",
                path = %path.display(),
                "no ENCRYPTION_KEY or ENCRYPTION_PASSWORD set: created a key file beside the database; back it up, since secrets cannot be read without it"
            );
            Ok(key)
        }
        Err(e) => Err(io_err(e)),
    }
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(target: "ftpman::secrets", path = %path.display(), "the key file is readable by other users; run chmod 600 on it");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_source_never_shows_its_key() {
        let shown = format!(
            "{:?} {:?}",
            KeySource::Key(Box::new([0x41; 32])),
            KeySource::Password(Secret::new("a passphrase of mine"))
        );
        assert!(!shown.contains("65") && !shown.contains("passphrase"), "{shown}");
        assert!(shown.contains("Key(***)"), "{shown}");
    }

    #[test]
    fn env_key_wins_and_is_checked() {
        let k = B64.encode([1u8; 32]);
        assert!(matches!(
            KeySource::from_values(Some(&k), Some("long enough password"), None),
            Ok(KeySource::Key(_))
        ));
        let short = B64.encode([1u8; 16]);
        let err = KeySource::from_values(Some(&short), None, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ENCRYPTION_KEY") && err.contains("16 bytes"), "{err}");
        let err = KeySource::from_values(Some("not base64 !!"), None, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ENCRYPTION_KEY") && err.contains("base64"), "{err}");
        let err = KeySource::from_values(None, Some("short"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ENCRYPTION_PASSWORD"), "{err}");
        assert!(matches!(
            KeySource::from_values(None, None, None),
            Err(SecretError::NoKey)
        ));
    }

    #[test]
    fn password_derivation_depends_on_salt() {
        let src = KeySource::Password(Secret::new("correct horse battery staple"));
        let a = resolve_key(&src, b"salt-one-16bytes").unwrap();
        let b = resolve_key(&src, b"salt-one-16bytes").unwrap();
        let c = resolve_key(&src, b"salt-two-16bytes").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn key_file_is_created_0600_and_reused() {
        let dir = std::env::temp_dir().join(format!("ftpman-keyfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.key");
        let _ = std::fs::remove_file(&path);
        let src = KeySource::KeyFile(path.clone());
        let first = resolve_key(&src, b"").unwrap();
        let second = resolve_key(&src, b"").unwrap();
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
