//! A message that outlives one redirect ("job nightly disabled"), shown as a toast on the next
//! page: a POST that succeeds answers with a redirect and this short-lived cookie; the next page
//! shows the message and the cookie is cleared. Without script the toast stays on the page.

use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

const COOKIE: &str = "ftpman_flash";
/// Longer messages are cut: a cookie is no place for a page of text.
const MAX_LEN: usize = 300;

/// The message left by the page before, as found on the request.
#[derive(Clone, Debug)]
pub struct Flash {
    /// What to say.
    pub text: String,
    /// Whether it reports a failure (shown as one).
    pub error: bool,
}

/// A redirect to `to` (below the base path) that leaves `message` for the next page.
pub fn redirect(s: &AppState, to: &str, message: &str, secure: bool) -> Response {
    leave(s, to, &format!("+{message}"), secure)
}

/// A redirect to `to` that leaves a failure's message for the next page.
pub fn redirect_error(s: &AppState, to: &str, message: &str, secure: bool) -> Response {
    leave(s, to, &format!("!{message}"), secure)
}

fn leave(s: &AppState, to: &str, message: &str, secure: bool) -> Response {
    let location = format!("{}{to}", s.config.base_path);
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    if let Some(c) = cookie(s, &encode(message), 60, secure) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

fn cookie(s: &AppState, value: &str, max_age: u64, secure: bool) -> Option<HeaderValue> {
    let path = if s.config.base_path.is_empty() {
        "/"
    } else {
        s.config.base_path.as_str()
    };
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .ok()
}

/// Moves the cookie's message into the request, and clears the cookie once a page has shown it
/// (unless the answer leaves a new message).
pub async fn carry(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let raw = crate::auth::cookie(req.headers(), COOKIE).map(str::to_string);
    let had_cookie = raw.is_some();
    if let Some(m) = raw.as_deref().and_then(decode) {
        let flash = match m.split_at_checked(1) {
            Some(("!", text)) => Some(Flash {
                text: text.into(),
                error: true,
            }),
            Some(("+", text)) => Some(Flash {
                text: text.into(),
                error: false,
            }),
            _ => None,
        };
        if let Some(f) = flash.filter(|f| !f.text.is_empty()) {
            req.extensions_mut().insert(f);
        }
    }
    let mut r = next.run(req).await;
    let sets_new = r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().starts_with(COOKIE.as_bytes()));
    if had_cookie
        && !sets_new
        && !r.status().is_redirection()
        && let Some(c) = cookie(&s, "", 0, false)
    {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

/// Percent-encodes everything but letters and digits: a cookie value holds no spaces, commas or
/// semicolons.
fn encode(message: &str) -> String {
    let mut cut = message.to_string();
    if cut.len() > MAX_LEN {
        let mut end = MAX_LEN;
        while !cut.is_char_boundary(end) {
            end -= 1;
        }
        cut.truncate(end);
        cut.push('…');
    }
    let mut out = String::with_capacity(cut.len() * 3);
    for b in cut.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_survive_the_cookie() {
        for m in [
            "job nightly disabled",
            "site 'a;b' removed, = , \"ok\"",
            "ünïcødé ✓",
            "",
        ] {
            let e = encode(m);
            assert!(e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'%'), "{e}");
            assert_eq!(decode(&e).as_deref(), Some(m));
        }
        let long = "x".repeat(1000);
        assert!(decode(&encode(&long)).is_some_and(|d| d.chars().count() == MAX_LEN + 1));
        assert_eq!(decode("%zz"), None);
        assert_eq!(decode("%4"), None);
    }
}
