//! Target path templates: `/in/{yyyy}/{mm}/{name}` and friends.

use super::{Valid, ValidationError, check_path, printable};
use chrono::{DateTime, Datelike, Timelike};
use chrono_tz::Tz;

/// The placeholders a template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "yyyy", "mm", "dd", "hh", "mi", "ss", "job", "name", "stem", "ext", "run", "group",
];

/// A validated target path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    raw: String,
}

/// What a template is rendered with.
#[derive(Debug, Clone)]
pub struct TemplateContext<'a> {
    /// The run's reference time (its fire, a backfill's `--as-of`, else its start), in the
    /// job's time zone.
    pub time: DateTime<Tz>,
    /// The job's name.
    pub job: &'a str,
    /// The file's name (last path segment) at the source.
    pub file_name: &'a str,
    /// The run's id.
    pub run_id: i64,
    /// The group whose run this is part of; empty for a run of the job alone (so
    /// `/in/{group}/{name}` delivers to `/in/NAME` then).
    pub group: &'a str,
}

impl PathTemplate {
    /// Checks `raw` for `field`: known placeholders only, balanced braces, no `..`.
    pub fn parse(field: &str, raw: &str) -> Valid<Self> {
        check_path(field, raw)?;
        let mut rest = raw;
        while let Some(open) = rest.find(['{', '}']) {
            if rest.as_bytes()[open] == b'}' {
                return Err(ValidationError::new(
                    field,
                    format!("'{}' has a '}}' without its '{{'", printable(raw)),
                ));
            }
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or_else(|| {
                ValidationError::new(field, format!("'{}' has a '{{' that is never closed", printable(raw)))
            })?;
            let name = &after[..close];
            if !PLACEHOLDERS.contains(&name) {
                return Err(ValidationError::new(
                    field,
                    format!(
                        "'{}' uses an unknown placeholder {{{}}}; known: {}",
                        printable(raw),
                        printable(name),
                        PLACEHOLDERS
                            .iter()
                            .map(|p| format!("{{{p}}}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                ));
            }
            rest = &after[close + 1..];
        }
        Ok(PathTemplate { raw: raw.to_string() })
    }

    /// The template as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The folder every path the template renders lies beneath: its segments before the first
    /// placeholder (and before the file-name segment of a template that names the file).
    pub fn fixed_folder(&self) -> String {
        let mut segments: Vec<&str> = self.raw.split('/').filter(|s| !s.is_empty()).collect();
        if self.names_file() {
            segments.pop();
        }
        let fixed: Vec<&str> = segments.into_iter().take_while(|s| !s.contains('{')).collect();
        format!("/{}", fixed.join("/"))
    }

    /// Whether every file lands in [`PathTemplate::fixed_folder`] itself (no placeholder in the
    /// folder part).
    pub fn folder_is_fixed(&self) -> bool {
        let mut segments: Vec<&str> = self.raw.split('/').filter(|s| !s.is_empty()).collect();
        if self.names_file() {
            segments.pop();
        }
        segments.iter().all(|s| !s.contains('{'))
    }

    /// Whether the template names the file itself (`{name}`, `{stem}` or `{ext}`); when it does
    /// not, the file's name is appended as a last segment.
    pub fn names_file(&self) -> bool {
        ["{name}", "{stem}", "{ext}"].iter().any(|p| self.raw.contains(p))
    }

    /// Fills in the placeholders, refusing what no path can hold: a `..` segment, or (in a
    /// template that names the file) a file name of nothing or dots, as a name like `report.`
    /// or `.` can make of `{ext}` or `{stem}`. The error says what came out.
    pub fn render_checked(&self, ctx: &TemplateContext<'_>) -> Result<String, String> {
        let rendered = self.render(ctx);
        let dots = rendered.split('/').any(|seg| seg == "..");
        let leaf = rendered.rsplit('/').next().unwrap_or_default();
        if dots || (self.names_file() && matches!(leaf, "" | "." | "..")) {
            return Err(rendered);
        }
        Ok(rendered)
    }

    /// Fills in the placeholders. A placeholder's value never contains '/' or '..' as a segment:
    /// file names were checked when listed, and dates are digits.
    pub fn render(&self, ctx: &TemplateContext<'_>) -> String {
        let (stem, ext) = match ctx.file_name.rfind('.') {
            Some(i) if i > 0 => (&ctx.file_name[..i], &ctx.file_name[i + 1..]),
            _ => (ctx.file_name, ""),
        };
        let t = &ctx.time;
        // One pass over the template, so a file named "{run}.csv" is copied, not expanded.
        let mut out = String::with_capacity(self.raw.len() + ctx.file_name.len());
        let mut rest = self.raw.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let close = after.find('}').unwrap_or(after.len());
            let value = match &after[..close] {
                "yyyy" => format!("{:04}", t.year()),
                "mm" => format!("{:02}", t.month()),
                "dd" => format!("{:02}", t.day()),
                "hh" => format!("{:02}", t.hour()),
                "mi" => format!("{:02}", t.minute()),
                "ss" => format!("{:02}", t.second()),
                "job" => ctx.job.to_string(),
                "name" => ctx.file_name.to_string(),
                "stem" => stem.to_string(),
                "ext" => ext.to_string(),
                "run" => ctx.run_id.to_string(),
                "group" => ctx.group.to_string(),
                other => format!("{{{other}}}"),
            };
            out.push_str(&value);
            rest = after.get(close + 1..).unwrap_or("");
        }
        out.push_str(rest);
        out
    }
}
