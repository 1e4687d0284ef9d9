//! Paths inside a site. Every path a job or a user gives is relative to the site's root (a
//! leading `/` means "from the root"); nothing resolves outside the root.

use crate::model::Site;
use crate::transport::{TransportError, TransportResult};

/// The components of a path relative to a site's root, with `.` and empty segments dropped.
/// A `..` segment, a backslash or a NUL is refused: no path leaves the root.
pub fn components(rel: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                return Err(format!(
                    "path '{}' contains '..' and would leave the site's root",
                    printable(rel)
                ));
            }
            s if s.contains('\0') || s.contains('\\') => {
                return Err(format!("path '{}' contains a NUL or '\\'", printable(rel)));
            }
            s => out.push(s),
        }
    }
    Ok(out)
}

/// [`components`] for the site named `site`, with the error a transport returns.
pub fn site_components<'a>(site: &str, rel: &'a str) -> TransportResult<Vec<&'a str>> {
    components(rel).map_err(|reason| TransportError::Config {
        site: site.to_string(),
        reason,
    })
}

/// Normalises a relative path to `/a/b` form (the root is `/`).
pub fn normalize(rel: &str) -> Result<String, String> {
    Ok(format!("/{}", components(rel)?.join("/")))
}

/// The server-side path of `rel` under `root`.
pub fn join(root: &str, rel: &str) -> Result<String, String> {
    let parts = components(rel)?;
    let root = root.trim_end_matches('/');
    if parts.is_empty() {
        return Ok(if root.is_empty() {
            "/".to_string()
        } else {
            root.to_string()
        });
    }
    Ok(format!("{root}/{}", parts.join("/")))
}

/// [`join`] for a site, with the error a transport returns.
pub fn resolve(site: &Site, rel: &str) -> TransportResult<String> {
    join(&site.root, rel).map_err(|reason| TransportError::Config {
        site: site.name.clone(),
        reason,
    })
}

/// Each folder from the top down to `rel` itself, for creating a path one folder at a time:
/// `(relative, server-side)` pairs, `/a` then `/a/b` for `a/b`.
pub fn ancestors(site: &Site, rel: &str) -> TransportResult<Vec<(String, String)>> {
    let parts = site_components(&site.name, rel)?;
    let mut prefix = String::new();
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        prefix.push('/');
        prefix.push_str(part);
        out.push((prefix.clone(), resolve(site, &prefix)?));
    }
    Ok(out)
}

/// The relative path of `name` inside the relative folder `dir`.
pub fn child(dir: &str, name: &str) -> String {
    let dir = dir.trim_end_matches('/');
    if dir.is_empty() {
        format!("/{name}")
    } else if dir.starts_with('/') {
        format!("{dir}/{name}")
    } else {
        format!("/{dir}/{name}")
    }
}

/// The folder part of a relative path (`/a/b.txt` -> `/a`; `/b.txt` -> `/`).
pub fn parent(rel: &str) -> String {
    let trimmed = rel.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => trimmed[..i].to_string(),
    }
}

/// The last segment of a path.
pub fn file_name(rel: &str) -> &str {
    let trimmed = rel.trim_end_matches('/');
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

/// Whether a name a server listed names one entry inside the listed folder.
pub fn is_safe_listed_name(name: &str) -> bool {
    !(name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']))
}

fn printable(s: &str) -> String {
    crate::validate::printable(s)
}

/// The longest part of a file's name kept in its temporary name, so that the temporary name
/// fits wherever the final one does (255 bytes on most file systems).
const TEMP_STEM: usize = 200;

/// The temporary name a file is written under before it is renamed to `final_path`: beside it,
/// hidden, `.NAME.TAG.ftpman-part` (`.NAME.ftpman-part` without a tag). A long name is cut on a
/// character boundary so that a final name of any allowed length still has one, and the cut
/// name carries a hash of the whole one, so two long names alike at the start never share a
/// temporary file. The same final path and tag always give the same name (a resume finds it).
pub fn temporary(final_path: &str, tag: &str) -> String {
    let name = file_name(final_path);
    let stem = if name.len() <= TEMP_STEM {
        name.to_string()
    } else {
        let mut end = TEMP_STEM - 17;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        // FNV-1a: stable across processes and versions, which a resume needs.
        let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        });
        format!("{}~{hash:016x}", &name[..end])
    };
    let temp = if tag.is_empty() {
        format!(".{stem}.ftpman-part")
    } else {
        format!(".{stem}.{tag}.ftpman-part")
    };
    child(&parent(final_path), &temp)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_temporary_name_fits_wherever_its_final_name_does() {
        assert_eq!(temporary("/in/a.csv", "42"), "/in/.a.csv.42.ftpman-part");
        assert_eq!(temporary("/a.csv", ""), "/.a.csv.ftpman-part");
        for name in ["x".repeat(255), "é".repeat(127), format!("{}.csv", "d".repeat(251))] {
            let temp = temporary(&format!("/in/{name}"), "9223372036854775807");
            let temp_name = file_name(&temp);
            assert!(temp_name.len() <= 255, "{} bytes: {temp_name}", temp_name.len());
            assert!(temp_name.starts_with('.') && temp_name.ends_with(".9223372036854775807.ftpman-part"));
        }
        // Long names alike for their first 250 bytes get temporary names of their own.
        let (a, b) = (
            format!("/in/{}a.csv", "x".repeat(250)),
            format!("/in/{}b.csv", "x".repeat(250)),
        );
        assert_ne!(temporary(&a, "7"), temporary(&b, "7"));
        assert_eq!(
            temporary(&a, "7"),
            temporary(&a, "7"),
            "the same name each time, for a resume"
        );
    }

    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        assert_eq!(join("/home/bob", "/out/a.csv").unwrap(), "/home/bob/out/a.csv");
        assert_eq!(join("/home/bob/", "out//./a.csv").unwrap(), "/home/bob/out/a.csv");
        assert_eq!(join("/", "/a").unwrap(), "/a");
        assert_eq!(join("/", "").unwrap(), "/");
        assert_eq!(join("/srv", "/").unwrap(), "/srv");
        for bad in ["../etc/passwd", "/out/../../etc", "a/..", "a\\..\\b", "a\0b"] {
            assert!(join("/srv", bad).is_err(), "{bad:?} must be refused");
        }
        assert_eq!(normalize("out/x/").unwrap(), "/out/x");
        assert_eq!(child("/", "a"), "/a");
        assert_eq!(child("/out", "a"), "/out/a");
        assert_eq!(child("out", "a"), "/out/a");
        assert_eq!(parent("/out/a.csv"), "/out");
        assert_eq!(parent("/a.csv"), "/");
        assert_eq!(file_name("/out/a.csv"), "a.csv");
    }

    #[test]
    fn hostile_listed_names_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            "../../etc/passwd",
            "a/b",
            "..\\x",
            "/etc/passwd",
            "nul\0byte",
        ] {
            assert!(!is_safe_listed_name(bad), "{bad:?} must be refused");
        }
        for good in ["a.csv", "with space.txt", "Übersicht.pdf", "...", ".hidden", "a..b"] {
            assert!(is_safe_listed_name(good), "{good:?} is a fine name");
        }
    }
}
