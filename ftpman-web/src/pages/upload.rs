//! The upload page (operators): a site, a folder and files, streamed to the site through the
//! API's own upload code, with a size limit; the script shows the bytes sent.

use super::{Frame, Layout, PageError, PageResult, layout};
use crate::error::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse};
#[derive(Template)]
#[template(path = "upload.html")]
struct UploadPage {
    layout: Layout,
    sites: Vec<(String, bool)>,
    path: String,
    limit: String,
    notice: Option<String>,
    error: Option<String>,
}

async fn upload_view(
    s: &AppState,
    frame: &Frame,
    site: &str,
    path: &str,
    notice: Option<String>,
    error: Option<String>,
) -> Result<String, PageError> {
    let layout = layout(s, frame, "Upload", "/upload").await?;
    let sites = s
        .manager
        .sites()
        .await?
        .into_iter()
        .map(|x| {
            let chosen = x.name == site;
            (x.name, chosen)
        })
        .collect();
    Ok(UploadPage {
        layout,
        sites,
        path: path.to_string(),
        limit: ftpman_core::validate::format_bytes(s.config.upload_limit),
        notice,
        error,
    }
    .render()?)
}

pub(super) async fn upload_page(State(s): State<AppState>, frame: Frame) -> PageResult {
    Ok(Html(upload_view(&s, &frame, "", "/", None, None).await?).into_response())
}

/// The upload form: its text fields come first (the form puts them before the files), then
/// the files, each streamed to the site as it arrives.
pub(super) async fn upload(State(s): State<AppState>, frame: Frame, mut form: axum::extract::Multipart) -> PageResult {
    let (mut site, mut path, mut overwrite) = (String::new(), "/".to_string(), false);
    let outcome = loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break Err(ApiError::invalid("file", "choose at least one file")),
            Err(e) => break Err(ApiError::malformed(Some("file".into()), e.body_text())),
        };
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            // The first file, then the rest, through the API's own upload.
            let first = crate::api::files::store_part(&s, &site, &path, overwrite, field).await;
            break match first {
                Ok(first) => crate::api::files::store_parts(&s, &site, &path, overwrite, &mut form)
                    .await
                    .map(|rest| std::iter::once(first).chain(rest).collect::<Vec<_>>()),
                Err(e) => Err(e),
            };
        }
        let value = field.text().await.unwrap_or_default();
        match name.as_str() {
            "site" => site = value,
            "path" => {
                path = if value.trim().is_empty() {
                    "/".into()
                } else {
                    value.trim().to_string()
                }
            }
            "overwrite" => overwrite = value == "on",
            _ => {}
        }
    };
    match outcome {
        Ok(files) => {
            let names: Vec<String> = files
                .iter()
                .map(|f| format!("{} ({})", f.name, ftpman_core::validate::format_bytes(f.bytes)))
                .collect();
            let notice = Some(format!("uploaded to {site}:{path}: {}", names.join(", ")));
            Ok(Html(upload_view(&s, &frame, &site, &path, notice, None).await?).into_response())
        }
        Err(e) => {
            let status = e.status.unwrap_or_else(|| ApiError::status_of(e.kind));
            let body = upload_view(&s, &frame, &site, &path, None, Some(e.message)).await?;
            Ok((status, Html(body)).into_response())
        }
    }
}
