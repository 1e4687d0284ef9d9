//! Sites and the last connection test of each. [`SiteStore`] is one of the traits [`super::Store`]
//! is made of; `impl_sites_store!` writes its SQL once for both backends, given the row type.

use super::StoreResult;
use crate::model::*;
use async_trait::async_trait;

/// Sites and the last connection test of each.
#[async_trait]
pub trait SiteStore: Send + Sync {
    /// Saves a new site; its name must be free.
    async fn create_site(&self, site: &Site) -> StoreResult<Site>;
    /// Saves changes to a site (matched by id).
    async fn update_site(&self, site: &Site) -> StoreResult<Site>;
    /// A site by name.
    async fn site(&self, name: &str) -> StoreResult<Site>;
    /// A site by id.
    async fn site_by_id(&self, id: i64) -> StoreResult<Site>;
    /// Every site, by name.
    async fn sites(&self) -> StoreResult<Vec<Site>>;
    /// Removes a site no job uses.
    async fn delete_site(&self, name: &str) -> StoreResult<()>;

    /// Records a site's connection test, replacing the one before.
    async fn record_site_test(&self, test: &SiteTestRecord) -> StoreResult<()>;
    /// The last connection test of every site tested.
    async fn site_tests(&self) -> StoreResult<Vec<SiteTestRecord>>;
}

/// A site's stored fields, as [`impl_sites_store!`] binds them (`id` and the times apart).
macro_rules! site_field_cols {
    () => {
        "name, protocol, host, port, username, password_enc, private_key_enc, key_passphrase_enc, root, passive, \
         host_key, cert_fingerprint, insecure_skip_verify, connect_timeout_secs, max_connections"
    };
}

/// Implements [`SiteStore`] for `$store` (holding `pool` and `cipher`) with rows of `$row`.
macro_rules! impl_sites_store {
    ($store:ty, $row:ty) => {
        const _: () = {
            $crate::store::sql::sql_prelude!();

            type Db = <$row as sqlx::Row>::Database;
            type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>;

            impl $store {
                /// Binds a site's stored fields, its secrets sealed, in the order of
                /// `site_field_cols!`.
                fn bind_site_fields<'q>(&self, query: Query<'q>, site: &'q Site) -> Query<'q> {
                    query
                        .bind(&site.name)
                        .bind(site.protocol.as_str())
                        .bind(&site.host)
                        .bind(site.port as i64)
                        .bind(&site.username)
                        .bind(seal_opt(&self.cipher, &site.password))
                        .bind(seal_opt(&self.cipher, &site.private_key))
                        .bind(seal_opt(&self.cipher, &site.key_passphrase))
                        .bind(&site.root)
                        .bind(site.passive)
                        .bind(&site.host_key)
                        .bind(&site.cert_fingerprint)
                        .bind(site.insecure_skip_verify)
                        .bind(secs(site.connect_timeout))
                        .bind(site.max_connections as i64)
                }
            }

            #[async_trait::async_trait]
            impl $crate::store::SiteStore for $store {
                async fn create_site(&self, site: &Site) -> StoreResult<Site> {
                    site.validate()?;
                    let query = sqlx::query(concat!(
                        "INSERT INTO sites (",
                        $crate::store::sites::site_field_cols!(),
                        ", created_at, updated_at) VALUES ($1, $2, \
                     $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16) RETURNING ",
                        site_cols!()
                    ));
                    let row = self
                        .bind_site_fields(query, site)
                        .bind(to_ms(Utc::now()))
                        .fetch_one(&self.pool)
                        .await
                        .map_err(saving("site", &site.name))?;
                    self.site_from_row(&row)
                }

                async fn update_site(&self, site: &Site) -> StoreResult<Site> {
                    site.validate()?;
                    let query = sqlx::query(concat!(
                        "UPDATE sites SET (",
                        $crate::store::sites::site_field_cols!(),
                        ", updated_at) = ($1, $2, $3, $4, $5, $6, \
                     $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) WHERE id = $17 RETURNING ",
                        site_cols!()
                    ));
                    let row = self
                        .bind_site_fields(query, site)
                        .bind(to_ms(Utc::now()))
                        .bind(site.id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(saving("site", &site.name))?
                        .ok_or_else(|| StoreError::NotFound {
                            kind: "site",
                            name: site.name.clone(),
                        })?;
                    self.site_from_row(&row)
                }

                async fn site(&self, name: &str) -> StoreResult<Site> {
                    let row = sqlx::query(concat!("SELECT ", site_cols!(), " FROM sites WHERE name = $1"))
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db(format!("reading site '{name}'")))?
                        .ok_or_else(|| StoreError::NotFound {
                            kind: "site",
                            name: name.to_string(),
                        })?;
                    self.site_from_row(&row)
                }

                async fn site_by_id(&self, id: i64) -> StoreResult<Site> {
                    let row = sqlx::query(concat!("SELECT ", site_cols!(), " FROM sites WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db(format!("reading site #{id}")))?
                        .ok_or_else(|| StoreError::NotFound {
                            kind: "site",
                            name: format!("#{id}"),
                        })?;
                    self.site_from_row(&row)
                }

                async fn sites(&self) -> StoreResult<Vec<Site>> {
                    let rows = sqlx::query(concat!("SELECT ", site_cols!(), " FROM sites ORDER BY name"))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db("listing sites"))?;
                    rows.iter().map(|r| self.site_from_row(r)).collect()
                }

                async fn delete_site(&self, name: &str) -> StoreResult<()> {
                    let site = self.site(name).await?;
                    let users = sqlx::query(
                        "SELECT name FROM jobs WHERE source_site_id = $1 OR target_site_id = $1 ORDER BY name",
                    )
                    .bind(site.id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db(format!("checking jobs of site '{name}'")))?;
                    if !users.is_empty() {
                        let names: Vec<String> = users
                            .iter()
                            .filter_map(|r| r.try_get::<String, _>("name").ok())
                            .collect();
                        return Err(StoreError::InUse {
                            kind: "site",
                            name: name.to_string(),
                            users: format!("job(s) {}", names.join(", ")),
                        });
                    }
                    sqlx::query("DELETE FROM site_tests WHERE site_id = $1")
                        .bind(site.id)
                        .execute(&self.pool)
                        .await
                        .map_err(db(format!("removing the test of site '{name}'")))?;
                    sqlx::query("DELETE FROM sites WHERE id = $1")
                        .bind(site.id)
                        .execute(&self.pool)
                        .await
                        .map_err(db(format!("removing site '{name}'")))?;
                    Ok(())
                }

                async fn record_site_test(&self, t: &SiteTestRecord) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO site_tests (site_id, tested_at, ok, message) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (site_id) DO UPDATE SET tested_at = excluded.tested_at, ok = excluded.ok, \
                     message = excluded.message",
                    )
                    .bind(t.site_id)
                    .bind(to_ms(t.tested_at))
                    .bind(t.ok)
                    .bind(&t.message)
                    .execute(&self.pool)
                    .await
                    .map_err(db(format!("recording the test of site {}", t.site_id)))?;
                    Ok(())
                }

                async fn site_tests(&self) -> StoreResult<Vec<SiteTestRecord>> {
                    let rows = sqlx::query("SELECT site_id, tested_at, ok, message FROM site_tests ORDER BY site_id")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db("listing site tests"))?;
                    rows.iter()
                        .map(|r| {
                            let e = || db("listing site tests");
                            Ok(SiteTestRecord {
                                site_id: r.try_get("site_id").map_err(e())?,
                                tested_at: from_ms(r.try_get("tested_at").map_err(e())?),
                                ok: r.try_get("ok").map_err(e())?,
                                message: r.try_get("message").map_err(e())?,
                            })
                        })
                        .collect()
                }
            }
        };
    };
}

pub(crate) use {impl_sites_store, site_field_cols};
