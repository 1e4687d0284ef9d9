//! Validation of everything a user types: each check returns a [`ValidationError`] that names the
//! field, says what is wrong and what would be right.

mod describe;
mod duration;
mod rate;
mod schedule;
mod template;

pub use duration::{format_duration, parse_duration};
pub use rate::{format_bytes, format_rate, parse_rate};
pub use schedule::{parse_cron, parse_since, parse_time_zone, parse_timestamp};
pub use template::{PathTemplate, TemplateContext};

/// A value a user gave that ftpman refuses, with the field it was given for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The field (or flag) the value was given for, e.g. `port` or `schedule`.
    pub field: String,
    /// What is wrong and what would be right.
    pub message: String,
}

impl ValidationError {
    /// A refusal of a value given for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Shorthand for results of validation.
pub type Valid<T> = Result<T, ValidationError>;

const NAME_MAX: usize = 64;

/// Checks a site or job name: `[a-z0-9][a-z0-9_-]*`, at most 64 characters.
pub fn check_name(field: &str, name: &str) -> Valid<()> {
    let hint = "use lower-case letters, digits, '-' and '_', starting with a letter or digit (e.g. partner-sftp)";
    if name.is_empty() {
        return Err(ValidationError::new(field, format!("must not be empty; {hint}")));
    }
    if name.len() > NAME_MAX {
        return Err(ValidationError::new(
            field,
            format!("'{name}' is longer than {NAME_MAX} characters"),
        ));
    }
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !first_ok || !rest_ok {
        return Err(ValidationError::new(
            field,
            format!("'{}' is not a valid name; {hint}", printable(name)),
        ));
    }
    Ok(())
}

/// Checks a relative or absolute path a user gives for a job or a site root: no `..` segment
/// (nothing may reach outside a site's root), no NUL, no backslash.
pub fn check_path(field: &str, path: &str) -> Valid<()> {
    if path.contains('\0') {
        return Err(ValidationError::new(field, "must not contain a NUL character"));
    }
    if path.contains('\\') {
        return Err(ValidationError::new(
            field,
            format!("'{}' contains '\\'; separate folders with '/'", printable(path)),
        ));
    }
    if path.split('/').any(|seg| seg == "..") {
        return Err(ValidationError::new(
            field,
            format!(
                "'{}' contains '..'; paths stay inside the site's root, so name the folder from the root instead",
                printable(path)
            ),
        ));
    }
    Ok(())
}

/// Checks one glob pattern (globset syntax: `*`, `?`, `[abc]`, `{a,b}`, `**`).
pub fn check_glob(field: &str, pattern: &str) -> Valid<()> {
    if pattern.is_empty() {
        return Err(ValidationError::new(
            field,
            "a glob must not be empty; use '*' to match every file",
        ));
    }
    if pattern.contains('\n') || pattern.contains('\0') {
        return Err(ValidationError::new(field, "a glob must not contain a newline or NUL"));
    }
    globset::Glob::new(pattern).map_err(|e| {
        ValidationError::new(
            field,
            format!(
                "'{}' is not a valid glob: {}; e.g. '*.csv' or 'reports/**/*.xml'",
                printable(pattern),
                e.kind()
            ),
        )
    })?;
    Ok(())
}

/// Checks an e-mail address for notifications: `local@domain`, no spaces.
pub fn check_email(field: &str, addr: &str) -> Valid<()> {
    let ok = match addr.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !addr
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == '<' || c == '>')
                && !domain.contains('@')
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            field,
            format!(
                "'{}' is not an e-mail address; write it as name@example.com",
                printable(addr)
            ),
        ))
    }
}

/// Checks that `value` lies in `min..=max`.
pub fn check_range(field: &str, value: i64, min: i64, max: i64) -> Valid<()> {
    if value < min || value > max {
        return Err(ValidationError::new(
            field,
            format!("{value} is out of range; use a whole number from {min} to {max}"),
        ));
    }
    Ok(())
}

/// Checks an SSH host key fingerprint as OpenSSH prints it: `SHA256:` and 43 base64 characters.
pub fn check_host_key(field: &str, fp: &str) -> Valid<()> {
    let body = fp.strip_prefix("SHA256:").ok_or_else(|| {
        ValidationError::new(
            field,
            format!(
                "'{}' is not a SHA256 fingerprint; it looks like SHA256:<43 base64 characters>, as `ssh-keygen -lf` prints it",
                printable(fp)
            ),
        )
    })?;
    let body = body.trim_end_matches('=');
    let valid_chars = body.chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/');
    if body.len() != 43 || !valid_chars {
        return Err(ValidationError::new(
            field,
            format!(
                "'{}' has a malformed SHA256 body; expected 43 base64 characters after 'SHA256:'",
                printable(fp)
            ),
        ));
    }
    Ok(())
}

/// Normalises a TLS certificate SHA-256 fingerprint (64 hex digits, colons optional) to lower-case
/// hex pairs separated by colons.
pub fn normalize_cert_fingerprint(field: &str, fp: &str) -> Valid<String> {
    let hex: String = fp
        .trim()
        .trim_start_matches("sha256:")
        .trim_start_matches("SHA256:")
        .chars()
        .filter(|c| *c != ':')
        .collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ValidationError::new(
            field,
            format!(
                "'{}' is not a SHA-256 certificate fingerprint; give 64 hex digits, colons allowed (openssl x509 -fingerprint -sha256)",
                printable(fp)
            ),
        ));
    }
    let lower = hex.to_ascii_lowercase();
    let pairs: Vec<&str> = (0..32).map(|i| &lower[i * 2..i * 2 + 2]).collect();
    Ok(pairs.join(":"))
}

/// `s` with control characters and the marks that reorder text (bidirectional overrides,
/// embeddings, isolates and marks) shown as escapes (`\u{202e}`), for showing a name a server
/// sent: on a terminal it cannot move the cursor or recolour, and on a page or a terminal alike
/// `invoice\u{202e}fdp.exe` cannot pass for `invoiceexe.pdf`. The name itself is kept as it is.
pub fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control()
            || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Renders user input for an error message without control characters (a hostile value must not
/// rewrite a terminal or a log line).
pub fn printable(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

#[cfg(test)]
mod tests;
