//! The JSON bodies the API reads (site and job options): refused, or options whose every field
//! the core then checks, never a panic.
#![no_main]
use ftpman_core::manager::{JobOptions, SiteOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(opts) = serde_json::from_slice::<SiteOptions>(data)
        && let Some(url) = &opts.url
    {
        let _ = ftpman_core::model::SiteUrl::parse(url);
    }
    if let Ok(opts) = serde_json::from_slice::<JobOptions>(data) {
        if let Some(s) = &opts.schedule {
            let _ = ftpman_core::validate::parse_cron("schedule", s, chrono_tz::UTC, chrono::Utc::now());
        }
        if let Some(t) = &opts.to {
            let _ = ftpman_core::validate::PathTemplate::parse("to", t.split_once(':').map_or(t.as_str(), |(_, p)| p));
        }
    }
});
