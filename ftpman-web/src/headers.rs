//! Headers every answer carries: what a browser may load for a page (its own host only, no
//! framing), and no guessing of content types. The pages need nothing else: no inline script,
//! no inline style, no other host.

use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;

/// The pages' content security policy: everything from this origin, nothing inline, no frames.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Adds the headers to `r` (those it sets itself stay).
pub async fn add(mut r: Response) -> Response {
    let h = r.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    };
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    r
}
