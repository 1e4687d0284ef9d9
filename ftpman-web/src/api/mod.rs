//! The JSON API under `/api/v1`: one module per resource, each handler parsing its request,
//! calling the [`ftpman_core::Manager`] and rendering the core's views.

pub mod files;
pub mod groups;
pub mod jobs;
pub mod logs;
pub mod openapi;
pub mod runs;
pub mod session;
pub mod settings;
pub mod sites;
pub mod system;
pub mod tokens;
pub mod users;

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;

/// Every API route (paths relative to `/api/v1`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(session::routes())
        .merge(sites::routes())
        .merge(files::routes())
        .merge(jobs::routes())
        .merge(groups::routes())
        .merge(runs::routes())
        .merge(logs::routes())
        .merge(settings::routes())
        .merge(users::routes())
        .merge(tokens::routes())
        .merge(system::routes())
        .merge(openapi::routes())
}

/// A page of a list and the cursor of the next one.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Paged<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next: Option<i64>,
}

/// Parses an optional RFC 3339 time or age (`2026-12-01T00:00:00Z`, `2h`, `7d`) for `field`.
pub(crate) fn parse_time(
    field: &str,
    value: Option<&str>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, crate::error::ApiError> {
    match value {
        None | Some("") => Ok(None),
        Some(v) => ftpman_core::validate::parse_since(field, v, chrono::Utc::now())
            .map(Some)
            .map_err(|e| crate::error::ApiError::from(ftpman_core::ManagerError::from(e))),
    }
}

/// A body of a named thing to create: `name` and the thing's options, the options checked as
/// strictly as on their own (an unknown field is refused; serde's `flatten` would let it pass).
pub struct Named<T> {
    /// The `name` field.
    pub name: String,
    /// Every other field.
    pub options: T,
}

impl<'de, T: serde::de::DeserializeOwned> serde::Deserialize<'de> for Named<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut map = serde_json::Map::deserialize(d)?;
        let name = match map.remove("name") {
            Some(serde_json::Value::String(s)) => s,
            Some(_) => return Err(D::Error::custom("name: invalid type, expected a string")),
            None => return Err(D::Error::missing_field("name")),
        };
        match T::deserialize(serde_json::Value::Object(map.clone())) {
            Ok(options) => Ok(Named { name, options }),
            Err(e) => {
                // Say which field: the one without which the rest reads.
                let culprit = map.keys().find(|k| {
                    let mut rest = map.clone();
                    rest.remove(*k);
                    T::deserialize(serde_json::Value::Object(rest)).is_ok()
                });
                Err(match culprit {
                    Some(k) if !e.to_string().contains(&format!("`{k}`")) => D::Error::custom(format!("{k}: {e}")),
                    _ => D::Error::custom(e),
                })
            }
        }
    }
}

/// The schema of a [`Named`] body: the options' object with a required `name` added (an
/// `allOf` would clash with the options' `additionalProperties: false`).
pub(crate) fn named_schema<T: utoipa::PartialSchema>(
    what: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{Object, Schema, Type};
    use utoipa::openapi::{RefOr, schema::ObjectBuilder};
    let mut schema = T::schema();
    if let RefOr::T(Schema::Object(object)) = &mut schema {
        let name: Object = ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(format!("The {what}'s name (letters, digits, `-`, `_`, `.`).")))
            .build();
        object.properties.insert("name".into(), RefOr::T(Schema::Object(name)));
        object.required.insert(0, "name".into());
    }
    schema
}
