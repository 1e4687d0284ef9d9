//! A target path template and a file name a server sent: refused, or rendered into a path with
//! no `..` segment and a file name, whatever the name holds (`report.` and `{ext}`, found by
//! this target, is refused rather than written as the folder).
#![no_main]
use chrono::TimeZone;
use ftpman_core::validate::{PathTemplate, TemplateContext};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (template, name) = text.split_once('\n').unwrap_or((text, "a.csv"));
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return; // names like these never leave a listing
    }
    let Ok(t) = PathTemplate::parse("to", template) else {
        return;
    };
    let time = chrono_tz::Europe::Berlin
        .with_ymd_and_hms(2026, 3, 29, 2, 30, 0)
        .earliest();
    let Some(time) = time.or_else(|| {
        chrono_tz::UTC
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .earliest()
            .map(|t| t.with_timezone(&chrono_tz::Europe::Berlin))
    }) else {
        return;
    };
    // What ftpman writes to: no `..` segment, and a file name where the template names the file.
    let ctx = TemplateContext {
        time,
        job: "nightly",
        file_name: name,
        run_id: 7,
        group: "",
    };
    if let Ok(rendered) = t.render_checked(&ctx) {
        assert!(
            !rendered.split('/').any(|seg| seg == ".."),
            "{template:?} + {name:?} -> {rendered:?}"
        );
        if t.names_file() {
            assert!(
                !matches!(rendered.rsplit('/').next(), Some("" | "." | "..")),
                "{template:?} + {name:?} -> {rendered:?}"
            );
        }
    }
    let _ = (t.fixed_folder(), t.folder_is_fixed(), t.names_file());
});
