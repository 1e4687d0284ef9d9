//! Sites: add, edit, remove, test, browse.

use super::{Manager, ManagerError, ManagerResult, nearest};
use crate::model::{Site, SiteUrl};
use crate::secrets::Secret;
use crate::transport::site_test::{SiteTestFailure, SiteTestReport, test_site};
use crate::transport::{Entry, ProtocolConnector, fetch_host_key};
use crate::validate::{ValidationError, check_host_key, normalize_cert_fingerprint, parse_duration};

/// What `site add` and `site edit` take; `None` leaves a field as it is (or at its default).
/// Field names are the CLI's flags; the web API and Python take the same, validated the same.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SiteOptions {
    /// `sftp://user@host:port/root` and friends (required to add).
    pub url: Option<String>,
    /// Login password.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, write_only))]
    pub password: Option<Secret>,
    /// Private key text (SFTP).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, write_only))]
    pub private_key: Option<Secret>,
    /// The private key's passphrase.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, write_only))]
    pub key_passphrase: Option<Secret>,
    /// Host key fingerprint to pin (SFTP), `SHA256:...`.
    pub host_key: Option<String>,
    /// Pin whatever host key the server offers now (SFTP).
    pub accept_new_host_key: bool,
    /// Certificate fingerprint to pin (FTPS).
    pub cert_fingerprint: Option<String>,
    /// Skip TLS verification (FTPS).
    pub insecure_skip_verify: Option<bool>,
    /// Active FTP instead of passive.
    pub active: Option<bool>,
    /// Most connections at once.
    pub max_connections: Option<u32>,
    /// Connect and operation timeout (`30s`).
    pub timeout: Option<String>,
    /// A local folder that does not exist yet is made (else adding it is refused).
    pub create: bool,
}

impl Manager {
    /// A site by name, or a not-found error naming the nearest site.
    pub async fn site(&self, name: &str) -> ManagerResult<Site> {
        match self.store.site(name).await {
            Ok(s) => Ok(s),
            Err(crate::store::StoreError::NotFound { .. }) => Err(ManagerError::NotFound {
                kind: "site",
                name: name.to_string(),
                suggestion: nearest(name, self.store.sites().await?.into_iter().map(|s| s.name)),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Every site, by name.
    pub async fn sites(&self) -> ManagerResult<Vec<Site>> {
        Ok(self.store.sites().await?)
    }

    fn apply(site: &mut Site, opts: &SiteOptions) -> ManagerResult<()> {
        if let Some(p) = &opts.password {
            site.password = (!p.expose().is_empty()).then(|| p.clone());
        }
        if let Some(k) = &opts.private_key {
            site.private_key = Some(k.clone());
        }
        if let Some(k) = &opts.key_passphrase {
            site.key_passphrase = (!k.expose().is_empty()).then(|| k.clone());
        }
        if let Some(h) = &opts.host_key {
            check_host_key("host_key", h)?;
            site.host_key = Some(h.clone());
        }
        if let Some(fp) = &opts.cert_fingerprint {
            site.cert_fingerprint = Some(normalize_cert_fingerprint("cert_fingerprint", fp)?);
        }
        if let Some(v) = opts.insecure_skip_verify {
            site.insecure_skip_verify = v;
        }
        if let Some(active) = opts.active {
            site.passive = !active;
        }
        if let Some(n) = opts.max_connections {
            site.max_connections = n;
        }
        if let Some(t) = &opts.timeout {
            site.connect_timeout = parse_duration("timeout", t)?;
        }
        site.validate()?;
        Ok(())
    }

    /// A local site's folder must exist (or be made, with `create`): a typo in the path is
    /// caught when the site is added, not at the first run.
    fn local_folder(site: &Site, create: bool) -> ManagerResult<()> {
        if crate::transport::declared_capabilities(site.protocol).remote {
            return Ok(());
        }
        let root = std::path::Path::new(&site.root);
        if root.is_dir() {
            return Ok(());
        }
        if root.exists() {
            return Err(ValidationError::new("url", format!("{} is not a folder", site.root)).into());
        }
        if !create {
            return Err(ValidationError::new(
                "url",
                format!(
                    "the folder {} does not exist; make it first, or add the site with --create",
                    site.root
                ),
            )
            .into());
        }
        std::fs::create_dir_all(root).map_err(|source| ManagerError::Io {
            path: site.root.clone(),
            source,
        })
    }

    /// Pins the SFTP host key the server offers, when asked to; otherwise says what it offers.
    async fn pin_host_key(site: &mut Site, accept_new: bool) -> ManagerResult<()> {
        if !crate::transport::declared_capabilities(site.protocol).pins_host_key || site.host_key.is_some() {
            return Ok(());
        }
        let offered = fetch_host_key(site).await?;
        if accept_new {
            site.host_key = Some(offered);
            Ok(())
        } else {
            Err(ManagerError::HostKeyUnknown {
                site: site.name.clone(),
                offered,
            })
        }
    }

    /// Whether a new site at `url` needs a password: every server, unless it logs in with a
    /// private key (a local folder needs none). Frontends ask for one when this says so.
    pub fn site_needs_password(url: &str, has_private_key: bool) -> ManagerResult<bool> {
        Ok(!has_private_key && crate::transport::declared_capabilities(SiteUrl::parse(url)?.protocol).remote)
    }

    /// Adds a site. For SFTP without `host_key`, the server's key is fetched: it is pinned with
    /// `accept_new_host_key`, else the error carries it so a frontend can ask the user.
    pub async fn add_site(&self, name: &str, opts: &SiteOptions) -> ManagerResult<Site> {
        let url = opts
            .url
            .as_deref()
            .ok_or_else(|| ValidationError::new("url", "a site needs a URL, e.g. sftp://user@host:22/path"))?;
        if Self::site_needs_password(url, opts.private_key.is_some())? && opts.password.is_none() {
            return Err(ValidationError::new(
                "password",
                "this site needs a password (or a private key); secrets never go in the URL",
            )
            .into());
        }
        let mut site = Site::new(name, &SiteUrl::parse(url)?)?;
        Self::apply(&mut site, opts)?;
        if self.store.site(name).await.is_ok() {
            return Err(crate::store::StoreError::Exists {
                kind: "site",
                name: name.into(),
            }
            .into());
        }
        Self::local_folder(&site, opts.create)?;
        Self::pin_host_key(&mut site, opts.accept_new_host_key).await?;
        let saved = self.store.create_site(&site).await?;
        self.audit(
            format!("site '{name}' added ({})", saved.url()),
            serde_json::json!({"site": name}),
        )
        .await;
        Ok(saved)
    }

    /// Changes a site; a new URL replaces protocol, host, port, user and root.
    pub async fn edit_site(&self, name: &str, opts: &SiteOptions) -> ManagerResult<Site> {
        let mut site = self.site(name).await?;
        if let Some(url) = &opts.url {
            let u = SiteUrl::parse(url)?;
            if u.host != site.host || u.port != site.port || u.protocol != site.protocol {
                // Another server: the pinned identity no longer applies.
                site.host_key = None;
                site.cert_fingerprint = None;
            }
            site.protocol = u.protocol;
            site.host = u.host;
            site.port = u.port;
            site.username = u.username;
            site.root = u.root;
        }
        Self::apply(&mut site, opts)?;
        Self::pin_host_key(&mut site, opts.accept_new_host_key).await?;
        let saved = self.store.update_site(&site).await?;
        self.audit(format!("site '{name}' changed"), serde_json::json!({"site": name}))
            .await;
        Ok(saved)
    }

    /// Removes a site no job uses.
    pub async fn remove_site(&self, name: &str) -> ManagerResult<()> {
        self.site(name).await?;
        self.store.delete_site(name).await?;
        self.audit(format!("site '{name}' removed"), serde_json::json!({"site": name}))
            .await;
        Ok(())
    }

    /// Connects, logs in and lists the root; the outcome is kept as the site's last test.
    pub async fn test_site(&self, name: &str) -> ManagerResult<Result<SiteTestReport, SiteTestFailure>> {
        let site = self.site(name).await?;
        let outcome = test_site(&site, &ProtocolConnector).await;
        let record = crate::model::SiteTestRecord {
            site_id: site.id,
            tested_at: chrono::Utc::now(),
            ok: outcome.is_ok(),
            message: outcome.as_ref().err().map(|f| f.to_string()),
        };
        self.store.record_site_test(&record).await?;
        Ok(outcome)
    }

    /// The views of every site, each with its last connection test.
    pub async fn site_views(&self) -> ManagerResult<Vec<crate::manager::views::SiteView>> {
        let tests = self.last_site_tests().await?;
        Ok(self
            .sites()
            .await?
            .iter()
            .map(|s| {
                let mut v = crate::manager::views::SiteView::from(s);
                v.last_test = tests.get(&s.name).map(Into::into);
                v
            })
            .collect())
    }

    /// The view of one site with its last connection test.
    pub async fn site_view(&self, name: &str) -> ManagerResult<crate::manager::views::SiteView> {
        let site = self.site(name).await?;
        let mut v = crate::manager::views::SiteView::from(&site);
        // This site's test only: no need to read every site to name the tests.
        v.last_test = self
            .store
            .site_tests()
            .await?
            .iter()
            .find(|t| t.site_id == site.id)
            .map(Into::into);
        Ok(v)
    }

    /// The last connection test of each site, by site name (sites never tested are absent).
    pub async fn last_site_tests(
        &self,
    ) -> ManagerResult<std::collections::HashMap<String, crate::model::SiteTestRecord>> {
        let names: std::collections::HashMap<i64, String> =
            self.store.sites().await?.into_iter().map(|s| (s.id, s.name)).collect();
        Ok(self
            .store
            .site_tests()
            .await?
            .into_iter()
            .filter_map(|t| names.get(&t.site_id).map(|n| (n.clone(), t)))
            .collect())
    }

    /// Lists a folder of a site, on a connection from the site's pool (within its cap).
    pub async fn list(&self, name: &str, path: &str) -> ManagerResult<Vec<Entry>> {
        let site = self.site(name).await?;
        let mut conn = self.engine().connection(&site).await?;
        match conn.list(path).await {
            Ok(entries) => Ok(entries),
            Err(e) if e.is_transient() => {
                conn.mark_broken();
                Err(e.into())
            }
            Err(e) => {
                // Asked to list a file: say so, as bad input, rather than as the protocol's
                // error ("Not a directory", "No such file", a failed reply).
                if let Ok(entry) = conn.stat(path).await
                    && entry.kind != crate::transport::EntryKind::Dir
                {
                    return Err(ValidationError::new(
                        "path",
                        format!("{} is a file, not a folder", crate::validate::printable(path)),
                    )
                    .into());
                }
                Err(e.into())
            }
        }
    }
}
