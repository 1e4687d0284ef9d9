//! Adding and editing a job: every option of the CLI, the cron explained in words as typed (the
//! script asks the server), refused values shown beside their field with the input kept.

use super::{FormError, Frame, Layout, PageError, PageResult, correctable, flash, layout, segment};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use ftpman_core::ManagerError;
use serde::Deserialize;
/// The fields the form shows an error beside.
const FIELDS: &[&str] = &[
    "name",
    "from",
    "to",
    "include",
    "exclude",
    "schedule",
    "tz",
    "min_age",
    "window",
    "name_date",
    "after",
    "parallel",
    "retries",
    "bwlimit",
    "email",
];

/// What the job form holds, as typed (kept as it was when a value is refused).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct JobFormValues {
    name: String,
    from: String,
    to: String,
    include: String,
    exclude: String,
    recursive: Option<String>,
    schedule: String,
    tz: String,
    min_age: String,
    window: String,
    name_date: String,
    after: String,
    on_conflict: String,
    parallel: String,
    retries: String,
    bwlimit: String,
    notify: String,
    email: String,
    csrf: String,
}

#[derive(Template)]
#[template(path = "job_form.html")]
struct JobFormPage<'a> {
    layout: Layout,
    editing: bool,
    v: &'a JobFormValues,
    recursive: bool,
    sites: Vec<String>,
    conflicts: Vec<(String, bool)>,
    notifies: Vec<(String, bool)>,
    schedule_words: String,
    error: FormError,
}

fn list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn given(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

impl JobFormValues {
    /// The options the core reads; a number that does not parse is refused naming its field.
    fn options(&self, editing: bool) -> Result<ftpman_core::manager::JobOptions, ManagerError> {
        let number = |field: &str, text: &str| -> Result<Option<u32>, ManagerError> {
            match given(text) {
                None => Ok(None),
                Some(t) => t.parse().map(Some).map_err(|_| {
                    ftpman_core::ValidationError::new(field, format!("'{t}' is not a whole number")).into()
                }),
            }
        };
        Ok(ftpman_core::manager::JobOptions {
            from: given(&self.from),
            to: given(&self.to),
            include: Some(list(&self.include)),
            exclude: Some(list(&self.exclude)),
            recursive: Some(self.recursive.is_some()),
            min_age: given(&self.min_age),
            // Emptied, the job takes files of any date again.
            window: Some(given(&self.window).unwrap_or_else(|| "none".into())),
            name_date: Some(given(&self.name_date).unwrap_or_else(|| "none".into())),
            schedule: given(&self.schedule),
            tz: given(&self.tz),
            // An emptied schedule makes the job manual.
            manual: given(&self.schedule).is_none() && editing,
            after: given(&self.after),
            on_conflict: given(&self.on_conflict),
            parallel: number("parallel", &self.parallel)?,
            retries: number("retries", &self.retries)?,
            bwlimit: Some(given(&self.bwlimit).unwrap_or_else(|| "none".into())),
            notify: given(&self.notify),
            email: Some(list(&self.email)),
            ..Default::default()
        })
    }

    fn from_job(j: &ftpman_core::manager::views::JobView) -> JobFormValues {
        JobFormValues {
            name: j.name.clone(),
            from: j.from.clone(),
            to: j.to.clone(),
            include: j.include.join(", "),
            exclude: j.exclude.join(", "),
            recursive: j.recursive.then(|| "on".to_string()),
            schedule: j.schedule.cron.clone().unwrap_or_default(),
            tz: j.schedule.tz.clone().unwrap_or_default(),
            min_age: j.min_age.clone(),
            window: j.window.clone().unwrap_or_default(),
            name_date: j.name_date.clone().unwrap_or_default(),
            after: j.after.clone(),
            on_conflict: j.on_conflict.clone(),
            parallel: j.parallel.to_string(),
            retries: j.retries.to_string(),
            bwlimit: j.bwlimit.clone().unwrap_or_default(),
            notify: j.notify.clone(),
            email: j.email.join(", "),
            csrf: String::new(),
        }
    }
}

async fn job_form(
    s: &AppState,
    frame: &Frame,
    editing: bool,
    values: &JobFormValues,
    error: Option<&ManagerError>,
) -> Result<String, PageError> {
    let title = if editing {
        format!("Edit {}", values.name)
    } else {
        "Add a job".into()
    };
    let layout = layout(s, frame, &title, "/jobs").await?;
    let sites = s.manager.sites().await?.into_iter().map(|x| x.name).collect();
    let pick = |options: &[&str], current: &str, default: &str| -> Vec<(String, bool)> {
        let current = if current.is_empty() { default } else { current };
        options.iter().map(|o| (o.to_string(), *o == current)).collect()
    };
    let schedule_words = match given(&values.schedule) {
        None => "No schedule: the job runs when started.".to_string(),
        Some(cron) => s
            .manager
            .describe_schedule(&cron, given(&values.tz).as_deref(), 1)
            .map(|(text, _)| text)
            .unwrap_or_default(),
    };
    Ok(JobFormPage {
        layout,
        editing,
        v: values,
        recursive: values.recursive.is_some(),
        sites,
        conflicts: pick(
            &["replace-own", "overwrite", "skip", "rename", "fail"],
            &values.on_conflict,
            "replace-own",
        ),
        notifies: pick(&["never", "failure", "always"], &values.notify, "never"),
        schedule_words,
        error: FormError::on(error, FIELDS),
    }
    .render()?)
}

pub(super) async fn new_job(State(s): State<AppState>, frame: Frame) -> PageResult {
    let values = JobFormValues {
        parallel: "4".into(),
        retries: "3".into(),
        ..Default::default()
    };
    Ok(Html(job_form(&s, &frame, false, &values, None).await?).into_response())
}

pub(super) async fn add_job(State(s): State<AppState>, frame: Frame, Form(f): Form<JobFormValues>) -> PageResult {
    let result = match f.options(false) {
        Ok(opts) => s.manager.add_job(f.name.trim(), &opts).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(flash::redirect(
            &s,
            &format!("/jobs/{}", segment(f.name.trim())),
            &format!("job {} added", f.name.trim()),
            frame.caller.client.https,
        )),
        Err(e) if correctable(&e) => {
            let body = job_form(&s, &frame, false, &f, Some(&e)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(body)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn edit_job(State(s): State<AppState>, frame: Frame, Path(name): Path<String>) -> PageResult {
    let job = s.manager.job(&name).await?;
    let view = s.manager.job_views(std::slice::from_ref(&job)).await?.remove(0);
    let values = JobFormValues::from_job(&view);
    Ok(Html(job_form(&s, &frame, true, &values, None).await?).into_response())
}

pub(super) async fn save_job(
    State(s): State<AppState>,
    frame: Frame,
    Path(name): Path<String>,
    Form(mut f): Form<JobFormValues>,
) -> PageResult {
    f.name = name.clone();
    let result = match f.options(true) {
        Ok(opts) => s.manager.edit_job(&name, &opts).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(flash::redirect(
            &s,
            &format!("/jobs/{}", segment(&name)),
            &format!("job {name} saved"),
            frame.caller.client.https,
        )),
        Err(e) if correctable(&e) => {
            let body = job_form(&s, &frame, true, &f, Some(&e)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(body)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
