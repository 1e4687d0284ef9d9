//! Adding and editing a site: every protocol, by fields or by URL; secrets write-only (a stored
//! password is never sent to the browser, an empty field keeps it); the SFTP host key the server
//! offers shown for pinning before the site is saved.

use super::{FormError, Frame, Layout, PageResult, flash, layout, segment};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use ftpman_core::manager::SiteOptions;
use ftpman_core::manager::views::SiteView;
use ftpman_core::{ManagerError, Secret, ValidationError};
use serde::Deserialize;

/// The protocols the form offers, with their words.
const PROTOCOLS: &[(&str, &str)] = &[
    ("sftp", "SFTP (SSH)"),
    ("ftp", "FTP"),
    ("ftps", "FTPS, explicit (AUTH TLS)"),
    ("ftps-implicit", "FTPS, implicit (TLS from the start)"),
    ("local", "A folder on this machine"),
];

/// Whether an error goes back to the form (with what was typed) rather than to an error page:
/// anything the user can act on, an unreachable host or a refused login included.
fn for_the_form(e: &ManagerError) -> bool {
    !matches!(
        e.kind(),
        ftpman_core::manager::ErrorKind::Internal | ftpman_core::manager::ErrorKind::Forbidden
    )
}

/// The fields the form shows an error beside.
const FIELDS: &[&str] = &[
    "name",
    "protocol",
    "host",
    "port",
    "root",
    "url",
    "password",
    "private_key",
    "key_passphrase",
    "host_key",
    "cert_fingerprint",
    "max_connections",
    "timeout",
];

/// What the site form holds, as typed; secrets are never sent back to the browser.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct SiteFormValues {
    name: String,
    protocol: String,
    host: String,
    port: String,
    username: String,
    root: String,
    url: String,
    password: String,
    forget_password: Option<String>,
    private_key: String,
    key_passphrase: String,
    host_key: String,
    accept_new_host_key: Option<String>,
    cert_fingerprint: String,
    insecure_skip_verify: Option<String>,
    mode: String,
    max_connections: String,
    timeout: String,
    create: Option<String>,
    csrf: String,
}

/// Percent-encodes what would end a URL's part early (`@`, `:`, `/`, `?`, `#`, `%`, spaces).
fn encode_part(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '/' if keep_slash => out.push('/'),
            '@' | ':' | '/' | '?' | '#' | '%' | '[' | ']' | '\\' => out.push_str(&format!("%{:02X}", c as u32)),
            c if c.is_whitespace() || c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

impl SiteFormValues {
    /// The site URL: the one pasted, or one made of the fields (the core checks either).
    fn url(&self) -> Result<String, ManagerError> {
        if !self.url.trim().is_empty() {
            return Ok(self.url.trim().to_string());
        }
        let root = self.root.trim();
        let root = if root.starts_with('/') {
            root.to_string()
        } else {
            format!("/{root}")
        };
        if self.protocol == "local" {
            return Ok(format!("file://{}", encode_part(&root, true)));
        }
        let host = self.host.trim();
        if host.is_empty() {
            return Err(ValidationError::new("host", "give the server's host name or address").into());
        }
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let port = match self.port.trim() {
            "" => String::new(),
            p => match p.parse::<u16>() {
                Ok(n) if n > 0 => format!(":{n}"),
                _ => return Err(ValidationError::new("port", format!("'{p}' is not a port (1 to 65535)")).into()),
            },
        };
        let user = self.username.trim();
        let user = if user.is_empty() {
            String::new()
        } else {
            format!("{}@", encode_part(user, false))
        };
        Ok(format!(
            "{}://{user}{host}{port}{}",
            self.protocol,
            encode_part(&root, true)
        ))
    }

    /// The options the core reads. Empty secret fields leave stored secrets as they are.
    fn options(&self) -> Result<SiteOptions, ManagerError> {
        let secret = |t: &str| (!t.is_empty()).then(|| Secret::new(t.to_string()));
        let max_connections = match self.max_connections.trim() {
            "" => None,
            t => Some(t.parse::<u32>().map_err(|_| {
                ManagerError::from(ValidationError::new(
                    "max_connections",
                    format!("'{t}' is not a whole number"),
                ))
            })?),
        };
        let text = |t: &str| (!t.trim().is_empty()).then(|| t.trim().to_string());
        Ok(SiteOptions {
            url: Some(self.url()?),
            password: if self.forget_password.is_some() {
                Some(Secret::new(String::new()))
            } else {
                secret(&self.password)
            },
            private_key: secret(&self.private_key),
            key_passphrase: secret(&self.key_passphrase),
            host_key: text(&self.host_key),
            accept_new_host_key: self.accept_new_host_key.is_some(),
            cert_fingerprint: text(&self.cert_fingerprint),
            insecure_skip_verify: Some(self.insecure_skip_verify.is_some()),
            active: Some(self.mode == "active"),
            max_connections,
            timeout: text(&self.timeout),
            create: self.create.is_some(),
        })
    }

    fn from_site(v: &SiteView) -> SiteFormValues {
        SiteFormValues {
            name: v.name.clone(),
            protocol: v.protocol.clone(),
            host: v.host.clone(),
            port: if v.port == 0 { String::new() } else { v.port.to_string() },
            username: v.username.clone(),
            root: v.root.clone(),
            host_key: v.host_key.clone().unwrap_or_default(),
            cert_fingerprint: v.cert_fingerprint.clone().unwrap_or_default(),
            insecure_skip_verify: v.insecure_skip_verify.then(|| "on".into()),
            mode: if v.passive { "passive".into() } else { "active".into() },
            max_connections: v.max_connections.to_string(),
            timeout: v.timeout.clone(),
            ..Default::default()
        }
    }
}

#[derive(Template)]
#[template(path = "site_form.html")]
struct SiteFormPage<'a> {
    layout: Layout,
    editing: bool,
    v: &'a SiteFormValues,
    protocols: Vec<(&'static str, &'static str, bool)>,
    has_password: bool,
    has_private_key: bool,
    offered: Option<String>,
    error: FormError,
}

async fn site_form(
    s: &AppState,
    frame: &Frame,
    editing: bool,
    values: &SiteFormValues,
    error: Option<&ManagerError>,
) -> Result<String, super::PageError> {
    let title = if editing {
        format!("Edit site {}", values.name)
    } else {
        "Add a site".into()
    };
    let layout = layout(s, frame, &title, "/sites").await?;
    let stored = if editing {
        s.manager.site(&values.name).await.ok()
    } else {
        None
    };
    let chosen = if values.protocol.is_empty() {
        "sftp"
    } else {
        values.protocol.as_str()
    };
    let offered = error.and_then(crate::error::offered_host_key);
    Ok(SiteFormPage {
        layout,
        editing,
        v: values,
        protocols: PROTOCOLS.iter().map(|(p, words)| (*p, *words, *p == chosen)).collect(),
        has_password: stored.as_ref().is_some_and(|x| x.password.is_some()),
        has_private_key: stored.as_ref().is_some_and(|x| x.private_key.is_some()),
        // An unknown key is not an error to fix but a question to answer: the form asks it.
        error: match error {
            Some(e) if offered.is_some() && e.kind() == ftpman_core::manager::ErrorKind::HostKeyUnknown => {
                FormError::none()
            }
            e => FormError::on(e, FIELDS),
        },
        offered,
    }
    .render()?)
}

pub(super) async fn new_site(State(s): State<AppState>, frame: Frame) -> PageResult {
    let values = SiteFormValues {
        protocol: "sftp".into(),
        mode: "passive".into(),
        max_connections: "4".into(),
        ..Default::default()
    };
    Ok(Html(site_form(&s, &frame, false, &values, None).await?).into_response())
}

pub(super) async fn add_site(State(s): State<AppState>, frame: Frame, Form(f): Form<SiteFormValues>) -> PageResult {
    let name = f.name.trim().to_string();
    let result = match f.options() {
        Ok(opts) => s.manager.add_site(&name, &opts).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(flash::redirect(
            &s,
            &format!("/sites/{}", segment(&name)),
            &format!("site {name} added"),
            frame.caller.client.https,
        )),
        Err(e) if for_the_form(&e) => {
            let body = site_form(&s, &frame, false, &f, Some(&e)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(body)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn edit_site(State(s): State<AppState>, frame: Frame, Path(name): Path<String>) -> PageResult {
    let site = s.manager.site(&name).await?;
    let values = SiteFormValues::from_site(&SiteView::from(&site));
    Ok(Html(site_form(&s, &frame, true, &values, None).await?).into_response())
}

pub(super) async fn save_site(
    State(s): State<AppState>,
    frame: Frame,
    Path(name): Path<String>,
    Form(mut f): Form<SiteFormValues>,
) -> PageResult {
    f.name = name.clone();
    let result = match f.options() {
        Ok(opts) => s.manager.edit_site(&name, &opts).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(flash::redirect(
            &s,
            &format!("/sites/{}", segment(&name)),
            &format!("site {name} saved"),
            frame.caller.client.https,
        )),
        Err(e) if for_the_form(&e) => {
            let body = site_form(&s, &frame, true, &f, Some(&e)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(body)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(protocol: &str, host: &str, port: &str, user: &str, root: &str) -> SiteFormValues {
        SiteFormValues {
            protocol: protocol.into(),
            host: host.into(),
            port: port.into(),
            username: user.into(),
            root: root.into(),
            ..Default::default()
        }
    }

    #[test]
    fn fields_make_a_url_the_core_reads_back() {
        let cases = [
            (
                form("sftp", "h.example", "2222", "a@b", "/out dir"),
                "sftp",
                "h.example",
                2222,
                "a@b",
                "/out dir",
            ),
            (form("ftp", "::1", "", "u", "in"), "ftp", "::1", 21, "u", "/in"),
            (
                form("ftps-implicit", "h", "990", "u:x", "/#q?"),
                "ftps-implicit",
                "h",
                990,
                "u:x",
                "/#q?",
            ),
        ];
        for (f, protocol, host, port, user, root) in cases {
            let url = f.url().unwrap();
            let parsed = ftpman_core::model::SiteUrl::parse(&url).unwrap();
            assert_eq!(parsed.protocol.as_str(), protocol, "{url}");
            assert_eq!(parsed.host, host, "{url}");
            assert_eq!(parsed.port, port, "{url}");
            assert_eq!(parsed.username, user, "{url}");
            assert_eq!(parsed.root, root, "{url}");
        }
        let local = form("local", "", "", "", "/srv/drop");
        assert_eq!(local.url().unwrap(), "file:///srv/drop");
        let pasted = SiteFormValues {
            url: " sftp://u@h/x ".into(),
            ..form("ftp", "", "", "", "")
        };
        assert_eq!(pasted.url().unwrap(), "sftp://u@h/x");
    }

    #[test]
    fn bad_fields_name_themselves() {
        let no_host = form("sftp", " ", "", "u", "/");
        assert_eq!(no_host.url().unwrap_err().field(), Some("host"));
        let bad_port = form("sftp", "h", "99999", "u", "/");
        assert_eq!(bad_port.url().unwrap_err().field(), Some("port"));
        let bad_count = SiteFormValues {
            max_connections: "many".into(),
            ..form("sftp", "h", "", "u", "/")
        };
        assert_eq!(bad_count.options().unwrap_err().field(), Some("max_connections"));
    }

    #[test]
    fn empty_secret_fields_keep_stored_secrets() {
        let f = form("sftp", "h", "", "u", "/");
        let o = f.options().unwrap();
        assert!(o.password.is_none() && o.private_key.is_none() && o.key_passphrase.is_none());
        let forget = SiteFormValues {
            forget_password: Some("on".into()),
            ..form("ftp", "h", "", "u", "/")
        };
        assert_eq!(forget.options().unwrap().password.map(|p| p.expose().len()), Some(0));
    }
}
