//! Who is on the other end of a request: the client's address, whether it came over HTTPS and
//! which host it asked for. `X-Forwarded-For/Proto/Host` count only when the direct peer is a
//! trusted reverse proxy; from anyone else they are ignored (a client could write anything).

use axum::http::HeaderMap;
use std::net::IpAddr;

/// An address or a CIDR block (`10.0.0.0/8`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    addr: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// Parses `ADDR` or `ADDR/PREFIX`.
    pub fn parse(s: &str) -> Result<IpRange, String> {
        let bad = || format!("'{s}' is not an IP address or CIDR block (e.g. 10.0.0.1 or 10.0.0.0/8)");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(IpRange { addr, prefix })
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The client of one request, as far as it can be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// The client's address (the proxy's client, behind a trusted proxy).
    pub addr: IpAddr,
    /// Whether the client's connection is HTTPS (only a trusted proxy can say so).
    pub https: bool,
    /// The host the client asked for (`Host`, or a trusted proxy's `X-Forwarded-Host`).
    pub host: Option<String>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

impl Client {
    /// The client of a request from `peer` with `headers`, trusting `proxies`.
    pub fn of(peer: IpAddr, headers: &HeaderMap, proxies: &[IpRange]) -> Client {
        let trusted = |ip: IpAddr| proxies.iter().any(|r| r.contains(ip));
        let host = header(headers, "host").map(str::to_string);
        if !trusted(peer) {
            return Client {
                addr: peer,
                https: false,
                host,
            };
        }
        // The rightmost address not of a trusted proxy is the client: entries left of it were
        // written by whoever sent the request and prove nothing.
        let mut addr = peer;
        if let Some(xff) = header(headers, "x-forwarded-for") {
            for hop in xff.rsplit(',') {
                match hop.trim().parse::<IpAddr>() {
                    Ok(ip) => {
                        addr = ip;
                        if !trusted(ip) {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        let https = header(headers, "x-forwarded-proto")
            .map(|p| p.split(',').next().unwrap_or("").trim().eq_ignore_ascii_case("https"))
            .unwrap_or(false);
        let host = header(headers, "x-forwarded-host")
            .map(|h| h.split(',').next().unwrap_or("").trim().to_string())
            .filter(|h| !h.is_empty())
            .or(host);
        Client { addr, https, host }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn ranges() {
        let r = IpRange::parse("10.0.0.0/8").expect("range");
        assert!(r.contains("10.1.2.3".parse().expect("ip")));
        assert!(!r.contains("11.0.0.1".parse().expect("ip")));
        assert!(r.contains("::ffff:10.0.0.1".parse().expect("ip")));
        assert!(IpRange::parse("::1").expect("v6").contains("::1".parse().expect("ip")));
        assert!(
            IpRange::parse("0.0.0.0/0")
                .expect("all")
                .contains("8.8.8.8".parse().expect("ip"))
        );
        assert!(IpRange::parse("10.0.0.0/33").is_err());
        assert!(IpRange::parse("proxy").is_err());
    }

    #[test]
    fn forwarded_headers_only_from_trusted_proxies() {
        let h = headers(&[
            ("host", "internal:8080"),
            ("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.0.0.2"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "mft.example.com"),
        ]);
        let proxies = [IpRange::parse("10.0.0.0/8").expect("range")];
        let from_proxy = Client::of("10.0.0.1".parse().expect("ip"), &h, &proxies);
        assert_eq!(from_proxy.addr, "203.0.113.7".parse::<IpAddr>().expect("ip"));
        assert!(from_proxy.https);
        assert_eq!(from_proxy.host.as_deref(), Some("mft.example.com"));
        let direct = Client::of("198.51.100.9".parse().expect("ip"), &h, &proxies);
        assert_eq!(direct.addr, "198.51.100.9".parse::<IpAddr>().expect("ip"));
        assert!(!direct.https);
        assert_eq!(direct.host.as_deref(), Some("internal:8080"));
    }
}
