//! How the web server is set up: where it is mounted, which proxies it trusts, how large an
//! upload may be.

use crate::client::IpRange;

/// The web server's settings (from `ftpman serve`'s flags).
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// A prefix every route is served under (`/ftpman`), empty for the root.
    pub base_path: String,
    /// Addresses of reverse proxies whose `X-Forwarded-For/Proto/Host` headers are believed.
    pub trusted_proxies: Vec<IpRange>,
    /// The largest file an upload may carry, in bytes.
    pub upload_limit: u64,
    /// Whether this process runs the scheduler (`/readyz` then requires it running).
    pub scheduler: bool,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            base_path: String::new(),
            trusted_proxies: Vec::new(),
            upload_limit: 1 << 30,
            scheduler: false,
        }
    }
}

impl WebConfig {
    /// `--base-path`: `/`, `` or `/x/y` (a trailing slash is dropped); anything else is refused.
    pub fn parse_base_path(value: &str) -> Result<String, String> {
        let trimmed = value.trim_end_matches('/');
        if trimmed.is_empty() {
            return Ok(String::new());
        }
        let ok = trimmed.starts_with('/')
            && trimmed[1..]
                .split('/')
                .all(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c)));
        if ok && !trimmed.split('/').any(|s| s == "." || s == "..") {
            Ok(trimmed.to_string())
        } else {
            Err(format!(
                "'{value}' is not a base path; write e.g. /ftpman (letters, digits, - _ . ~ between slashes)"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths() {
        assert_eq!(WebConfig::parse_base_path("/").as_deref(), Ok(""));
        assert_eq!(WebConfig::parse_base_path("/ftpman/").as_deref(), Ok("/ftpman"));
        assert_eq!(WebConfig::parse_base_path("/a/b").as_deref(), Ok("/a/b"));
        assert!(WebConfig::parse_base_path("ftpman").is_err());
        assert!(WebConfig::parse_base_path("/a//b").is_err());
        assert!(WebConfig::parse_base_path("/a/../b").is_err());
        assert!(WebConfig::parse_base_path("/a b").is_err());
    }
}
