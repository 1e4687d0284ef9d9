//! Upload into a site's folder and download from it, streamed both ways: a file is never held
//! whole in memory, and an upload over the size limit leaves nothing behind.

use crate::error::{ApiError, ApiResult, ErrorBody, Params, PathArg};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes (the core enforces the upload limit while streaming, so axum's own body limit is
/// lifted here).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload, download))
        .layer(DefaultBodyLimit::disable())
}

/// Where an upload goes.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The folder, relative to the site's root (default `/`); made if missing.
    pub path: Option<String>,
    /// Replace files that exist (default: refuse them).
    pub overwrite: Option<bool>,
}

/// Which file to download.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadQuery {
    /// The file, relative to the site's root.
    pub path: String,
}

/// The form of an upload: one or more parts named `file`, each with a file name.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file's bytes.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// What an upload stored.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadedFile {
    /// The file's name.
    pub name: String,
    /// Where it is now, relative to the site's root.
    pub path: String,
    /// Its size.
    pub bytes: u64,
}

/// Uploads files into a folder of the site (multipart, parts named `file`). Each is written
/// under a temporary name and renamed when complete; one over the limit is refused with 413.
#[utoipa::path(post, path = "/sites/{name}/files", tag = "sites",
    params(("name" = String, Path), UploadQuery),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, body = [UploadedFile]),
        (status = 404, body = ErrorBody),
        (status = 409, description = "A file of that name exists", body = ErrorBody),
        (status = 413, description = "Larger than the upload limit", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn upload(
    State(s): State<AppState>,
    PathArg(site): PathArg<String>,
    Params(q): Params<UploadQuery>,
    mut form: Multipart,
) -> ApiResult<(axum::http::StatusCode, Json<Vec<UploadedFile>>)> {
    let dir = q.path.unwrap_or_else(|| "/".into());
    let overwrite = q.overwrite.unwrap_or(false);
    let stored = store_parts(&s, &site, &dir, overwrite, &mut form).await?;
    if stored.is_empty() {
        return Err(ApiError::invalid("file", "no file part named 'file' in the form"));
    }
    Ok((axum::http::StatusCode::CREATED, Json(stored)))
}

/// Stores one file part as `dir/NAME` on `site`, streamed into the core as it arrives.
pub(crate) async fn store_part(
    s: &AppState,
    site: &str,
    dir: &str,
    overwrite: bool,
    mut field: axum::extract::multipart::Field<'_>,
) -> ApiResult<UploadedFile> {
    let Some(name) = field.file_name().map(str::to_string) else {
        return Err(ApiError::invalid("file", "each file part needs a file name"));
    };
    // The core reads one end of a pipe while this task feeds it the part's chunks.
    let (reader, mut writer) = tokio::io::duplex(256 * 1024);
    let store = s
        .manager
        .upload_stream(site, dir, &name, reader, s.config.upload_limit, overwrite);
    let feed = async move {
        let result = loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    if writer.write_all(&chunk).await.is_err() {
                        break Ok(());
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e.body_text()),
            }
        };
        let _ = writer.shutdown().await;
        result
    };
    let (written, fed) = tokio::join!(store, feed);
    if let Err(message) = fed {
        return Err(ApiError::malformed(Some("file".into()), message));
    }
    let bytes = written?;
    let path = ftpman_core::transport::path::child(dir, &name);
    Ok(UploadedFile { name, path, bytes })
}

/// Stores every part named `file` that follows in `form` (the API's upload and the upload page
/// share this).
pub(crate) async fn store_parts(
    s: &AppState,
    site: &str,
    dir: &str,
    overwrite: bool,
    form: &mut Multipart,
) -> ApiResult<Vec<UploadedFile>> {
    let mut stored = Vec::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(ApiError::malformed(Some("file".into()), e.body_text())),
        };
        if field.name() == Some("file") {
            stored.push(store_part(s, site, dir, overwrite, field).await?);
        }
    }
    Ok(stored)
}

/// `filename*=` of a Content-Disposition header: the name percent-encoded as UTF-8.
fn disposition(name: &str) -> HeaderValue {
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    HeaderValue::from_str(&format!("attachment; filename*=UTF-8''{encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// Downloads a file of the site, streamed as it arrives from the server.
#[utoipa::path(get, path = "/sites/{name}/files", tag = "sites",
    params(("name" = String, Path), DownloadQuery),
    responses(
        (status = 200, description = "The file's bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, body = ErrorBody),
        (status = 422, description = "The path is a folder", body = ErrorBody),
        (status = 502, body = ErrorBody),
    ))]
async fn download(
    State(s): State<AppState>,
    PathArg(site): PathArg<String>,
    Params(q): Params<DownloadQuery>,
) -> ApiResult<Response> {
    if q.path.contains('\0') {
        return Err(ApiError::invalid("path", "a path cannot contain a NUL character"));
    }
    let download = s.manager.download_stream(&site, &q.path).await?;
    let size = download.entry.size;
    let name = download.entry.name.clone();
    let stream = futures_util::stream::unfold(download.reader, |mut reader| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match reader.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), reader))
            }
            Err(e) => Some((Err(e), reader)),
        }
    });
    let mut response = axum::body::Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    headers.insert(header::CONTENT_DISPOSITION, disposition(&name));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dispositions_encode_every_unsafe_byte() {
        let v = super::disposition("a \"b\";<c>é.csv");
        assert_eq!(
            v.to_str().expect("ascii"),
            "attachment; filename*=UTF-8''a%20%22b%22%3B%3Cc%3E%C3%A9.csv"
        );
    }
}
