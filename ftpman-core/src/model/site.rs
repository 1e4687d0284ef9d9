//! Sites: the endpoints files move between.

use super::string_enum;
use crate::secrets::Secret;
use crate::validate::{
    Valid, ValidationError, check_host_key, check_name, check_path, check_range, normalize_cert_fingerprint, printable,
};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// How ftpman talks to a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Plain FTP.
    Ftp,
    /// FTP with explicit TLS (AUTH TLS on the control port).
    Ftps,
    /// FTP with implicit TLS (TLS from the first byte, usually port 990).
    FtpsImplicit,
    /// SFTP over SSH.
    Sftp,
    /// A folder on this machine.
    Local,
}

string_enum!(Protocol, "protocol", {
    Ftp => "ftp",
    Ftps => "ftps",
    FtpsImplicit => "ftps-implicit",
    Sftp => "sftp",
    Local => "local",
});

impl Protocol {
    /// The port used when a URL names none.
    pub fn default_port(&self) -> u16 {
        match self {
            Protocol::Ftp | Protocol::Ftps => 21,
            Protocol::FtpsImplicit => 990,
            Protocol::Sftp => 22,
            Protocol::Local => 0,
        }
    }

    /// Whether the protocol speaks FTP (plain or TLS).
    pub fn is_ftp(&self) -> bool {
        matches!(self, Protocol::Ftp | Protocol::Ftps | Protocol::FtpsImplicit)
    }
}

/// A site as stored: where it is, how to log in, and how much it may be loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    /// Store id (0 until saved).
    pub id: i64,
    /// Unique name, `[a-z0-9][a-z0-9_-]*`.
    pub name: String,
    /// Protocol.
    pub protocol: Protocol,
    /// Host name or address (empty for `local`).
    pub host: String,
    /// TCP port (0 for `local`).
    pub port: u16,
    /// Login name (empty for `local`).
    pub username: String,
    /// Login password.
    pub password: Option<Secret>,
    /// SFTP private key (OpenSSH, PEM or PKCS#8 text).
    pub private_key: Option<Secret>,
    /// Passphrase of the private key.
    pub key_passphrase: Option<Secret>,
    /// The folder every job path on this site is relative to.
    pub root: String,
    /// FTP passive mode (the default) or active.
    pub passive: bool,
    /// Pinned SSH host key, `SHA256:...` as OpenSSH prints it.
    pub host_key: Option<String>,
    /// Pinned TLS certificate, SHA-256 as colon-separated hex.
    pub cert_fingerprint: Option<String>,
    /// Skip TLS certificate verification (logged as a warning at each connect).
    pub insecure_skip_verify: bool,
    /// Connect (and per-operation) timeout.
    pub connect_timeout: Duration,
    /// Most connections ftpman opens to this site at once.
    pub max_connections: u32,
    /// When the site was created.
    pub created_at: DateTime<Utc>,
    /// When the site was last changed.
    pub updated_at: DateTime<Utc>,
}

/// The parts of a site URL: `sftp://user@host:port/root`, `ftp://...`, `ftps://...`,
/// `ftps-implicit://...` or `file:///abs/dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteUrl {
    /// Protocol from the scheme.
    pub protocol: Protocol,
    /// Host (empty for `file`).
    pub host: String,
    /// Port, defaulted from the protocol.
    pub port: u16,
    /// User name (empty for `file`).
    pub username: String,
    /// Root folder.
    pub root: String,
}

impl SiteUrl {
    /// Parses and checks a site URL. A password inside the URL is refused: secrets never go on a
    /// command line.
    pub fn parse(input: &str) -> Valid<SiteUrl> {
        const FIELD: &str = "url";
        let input = input.trim();
        let scheme = input.split_once("://").map(|(s, _)| s).ok_or_else(|| {
            ValidationError::new(
                FIELD,
                format!(
                    "'{}' is not a site URL; write e.g. sftp://user@host:22/out, ftp://user@host/in, ftps://..., ftps-implicit://... or file:///srv/data",
                    printable(input)
                ),
            )
        })?;
        let protocol = match scheme.to_ascii_lowercase().as_str() {
            "ftp" => Protocol::Ftp,
            "ftps" | "ftpes" => Protocol::Ftps,
            "ftps-implicit" => Protocol::FtpsImplicit,
            "sftp" | "ssh" => Protocol::Sftp,
            "file" => Protocol::Local,
            other => {
                return Err(ValidationError::new(
                    "protocol",
                    format!(
                        "'{}' is not a supported protocol; use sftp, ftp, ftps, ftps-implicit or file",
                        printable(other)
                    ),
                ));
            }
        };
        // The URL parser resolves `..` segments silently; a user who typed them meant something
        // else than the folder that would result, so refuse them before parsing.
        let after_scheme = &input[scheme.len() + 3..];
        if let Some(slash) = after_scheme.find('/') {
            check_path("root", &percent_decode(&after_scheme[slash..], "root")?)?;
        }
        let url = url::Url::parse(input).map_err(|e| {
            let field = if e == url::ParseError::InvalidPort {
                "port"
            } else {
                FIELD
            };
            let message = if e == url::ParseError::InvalidPort {
                format!("the port in '{}' is not a number from 1 to 65535", printable(input))
            } else {
                format!("'{}' is not a valid URL: {e}", printable(input))
            };
            ValidationError::new(field, message)
        })?;
        if url.password().is_some() {
            return Err(ValidationError::new(
                "url",
                "the URL carries a password; never put secrets on a command line: give the password with --password-env VAR or --password-stdin",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ValidationError::new(
                FIELD,
                "a site URL takes no '?query' or '#fragment'",
            ));
        }
        let root = percent_decode(url.path(), "root")?;
        check_path("root", &root)?;
        if protocol == Protocol::Local {
            if url.host_str().is_some_and(|h| !h.is_empty() && h != "localhost") {
                return Err(ValidationError::new(
                    "host",
                    "a file:// URL names a folder on this machine: write file:///abs/dir",
                ));
            }
            if !root.starts_with('/') {
                return Err(ValidationError::new(
                    "root",
                    "give the folder as an absolute path: file:///srv/data",
                ));
            }
            return Ok(SiteUrl {
                protocol,
                host: String::new(),
                port: 0,
                username: String::new(),
                root,
            });
        }
        let host = url
            .host_str()
            .unwrap_or("")
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if host.is_empty() {
            return Err(ValidationError::new(
                "host",
                format!("'{}' names no host", printable(input)),
            ));
        }
        let port = url.port().unwrap_or_else(|| protocol.default_port());
        if port == 0 {
            return Err(ValidationError::new(
                "port",
                "port 0 is not usable; use a port from 1 to 65535",
            ));
        }
        let username = percent_decode(url.username(), "username")?;
        if username.is_empty() {
            return Err(ValidationError::new(
                "username",
                format!(
                    "'{}' names no user; write {}://user@{host}/...",
                    printable(input),
                    scheme
                ),
            ));
        }
        let root = if root.is_empty() { "/".to_string() } else { root };
        Ok(SiteUrl {
            protocol,
            host,
            port,
            username,
            root,
        })
    }
}

fn percent_decode(s: &str, field: &str) -> Valid<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    let text =
        String::from_utf8(out).map_err(|_| ValidationError::new(field, "is not valid UTF-8 after percent-decoding"))?;
    if text.contains('\0') {
        return Err(ValidationError::new(field, "must not contain a NUL character"));
    }
    Ok(text)
}

impl Site {
    /// A new, unsaved site from its name and URL, with the defaults a user would expect (passive
    /// FTP, 30 s timeout, 4 connections).
    pub fn new(name: &str, url: &SiteUrl) -> Valid<Site> {
        check_name("name", name)?;
        let now = Utc::now();
        Ok(Site {
            id: 0,
            name: name.to_string(),
            protocol: url.protocol,
            host: url.host.clone(),
            port: url.port,
            username: url.username.clone(),
            password: None,
            private_key: None,
            key_passphrase: None,
            root: url.root.clone(),
            passive: true,
            host_key: None,
            cert_fingerprint: None,
            insecure_skip_verify: false,
            connect_timeout: Duration::from_secs(30),
            max_connections: 4,
            created_at: now,
            updated_at: now,
        })
    }

    /// Checks every field; the store calls this before each save.
    pub fn validate(&self) -> Valid<()> {
        check_name("name", &self.name)?;
        check_path("root", &self.root)?;
        if self.protocol != Protocol::Local {
            if self.host.is_empty() || self.host.chars().any(|c| c.is_whitespace() || c == '/' || c == '@') {
                return Err(ValidationError::new(
                    "host",
                    format!("'{}' is not a host name or address", printable(&self.host)),
                ));
            }
            check_range("port", self.port as i64, 1, 65_535)?;
            if self.username.is_empty() {
                return Err(ValidationError::new("username", "must not be empty"));
            }
        } else if !self.root.starts_with('/') {
            return Err(ValidationError::new(
                "root",
                "a local site's root must be an absolute path",
            ));
        }
        if let Some(hk) = &self.host_key {
            if self.protocol != Protocol::Sftp {
                return Err(ValidationError::new(
                    "host_key",
                    "a host key is pinned only for sftp sites",
                ));
            }
            check_host_key("host_key", hk)?;
        }
        if let Some(fp) = &self.cert_fingerprint {
            if !matches!(self.protocol, Protocol::Ftps | Protocol::FtpsImplicit) {
                return Err(ValidationError::new(
                    "cert_fingerprint",
                    "a certificate is pinned only for ftps sites",
                ));
            }
            normalize_cert_fingerprint("cert_fingerprint", fp)?;
        }
        if self.private_key.is_some() && self.protocol != Protocol::Sftp {
            return Err(ValidationError::new(
                "key_file",
                "a private key is used only by sftp sites",
            ));
        }
        let timeout = self.connect_timeout.as_secs();
        if !(1..=3_600).contains(&timeout) {
            return Err(ValidationError::new("connect_timeout", "must be from 1s to 1h"));
        }
        check_range("max_connections", self.max_connections as i64, 1, 64)?;
        Ok(())
    }

    /// The site as a URL without secrets, for display.
    pub fn url(&self) -> String {
        match self.protocol {
            Protocol::Local => format!("file://{}", self.root),
            p => {
                let host = if self.host.contains(':') {
                    format!("[{}]", self.host)
                } else {
                    self.host.clone()
                };
                format!("{}://{}@{}:{}{}", p.as_str(), self.username, host, self.port, self.root)
            }
        }
    }
}
