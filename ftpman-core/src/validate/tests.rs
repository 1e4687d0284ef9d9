//! Every bad input a user may type is refused with a message that names its field.

use super::*;
use crate::model::{AfterAction, ConflictPolicy, Job, NotifyPolicy, Protocol, Schedule, Site, SiteUrl, UserRole};
use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use std::str::FromStr;
use std::time::Duration;

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap()
}

fn site(url: &str) -> Site {
    Site::new("s", &SiteUrl::parse(url).unwrap()).unwrap()
}

fn job() -> Job {
    Job::new("nightly", 1, "/out", 2, "/in")
}

/// Asserts `result` is refused for `field` and its message contains every word in `words`.
#[track_caller]
fn refused<T: std::fmt::Debug>(result: Valid<T>, field: &str, words: &[&str]) {
    let err = result.expect_err("a bad value was accepted");
    assert_eq!(err.field, field, "wrong field in: {err}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{field}: ")),
        "message must name the field: {text}"
    );
    for w in words {
        assert!(text.contains(w), "message {text:?} should mention {w:?}");
    }
}

#[test]
fn bad_inputs_are_refused_naming_their_field() {
    // Lists with an empty item: refused at once (the cron parser would search for years).
    for expr in [
        ", 2 * * *",
        " , * 06 6 02 4",
        "000 , * * *",
        "1,,2 * * * *",
        "5, * * * *",
    ] {
        refused(
            parse_cron("schedule", expr, Tz::UTC, now()),
            "schedule",
            &["empty item"],
        );
    }
    // Cron and time zones.
    refused(
        parse_cron("schedule", "61 * * * *", Tz::UTC, now()),
        "schedule",
        &["61 * * * *", "cron"],
    );
    refused(
        parse_cron("schedule", "* * *", Tz::UTC, now()),
        "schedule",
        &["3 fields"],
    );
    refused(
        parse_cron("schedule", "0 0 0 * * * 2030", Tz::UTC, now()),
        "schedule",
        &["7 fields"],
    );
    refused(
        parse_cron("schedule", "0 0 30 2 *", Tz::UTC, now()),
        "schedule",
        &["never fires"],
    );
    refused(
        parse_cron("schedule", "*/0 * * * *", Tz::UTC, now()),
        "schedule",
        &["not a valid cron"],
    );
    refused(
        parse_time_zone("tz", "Mars/Olympus_Mons"),
        "tz",
        &["time zone", "Europe/Berlin"],
    );
    refused(parse_timestamp("at", "tomorrow", Tz::UTC), "at", &["timestamp"]);
    // Names.
    refused(check_name("name", "my site"), "name", &["'my site'", "lower-case"]);
    refused(check_name("name", "Partner"), "name", &["'Partner'"]);
    refused(check_name("name", "-dash"), "name", &["starting"]);
    refused(check_name("name", ""), "name", &["empty"]);
    refused(check_name("name", &"a".repeat(65)), "name", &["longer than 64"]);
    // URLs and ports.
    refused(SiteUrl::parse("sftp://bob@host:0/x"), "port", &["port 0"]);
    refused(SiteUrl::parse("sftp://bob@host:70000/x"), "port", &["1 to 65535"]);
    refused(SiteUrl::parse("gopher://bob@host/x"), "protocol", &["gopher", "sftp"]);
    refused(
        SiteUrl::parse("sftp://bob:hunter2@host/x"),
        "url",
        &["password", "--password-stdin"],
    );
    refused(SiteUrl::parse("sftp://host/x"), "username", &["no user"]);
    refused(SiteUrl::parse("host/x"), "url", &["not a site URL"]);
    refused(SiteUrl::parse("sftp://bob@host/out/../../etc"), "root", &["'..'"]);
    refused(SiteUrl::parse("sftp://bob@host/out/%2e%2E/etc"), "root", &["'..'"]);
    refused(SiteUrl::parse("file://remote/srv"), "host", &["this machine"]);
    // Paths and templates.
    refused(
        PathTemplate::parse("target_path", "/in/../etc/{name}"),
        "target_path",
        &["'..'"],
    );
    refused(
        PathTemplate::parse("target_path", "/in/{yyyy}/{foo}"),
        "target_path",
        &["{foo}", "{yyyy}"],
    );
    refused(
        PathTemplate::parse("target_path", "/in/{yyyy"),
        "target_path",
        &["never closed"],
    );
    refused(check_path("source_path", "a\\b"), "source_path", &["'/'"]);
    // Durations and rates.
    refused(parse_duration("min_age", "-5m"), "min_age", &["negative"]);
    refused(parse_duration("min_age", "5"), "min_age", &["no unit"]);
    refused(parse_duration("min_age", "5y"), "min_age", &["unknown unit"]);
    refused(parse_duration("min_age", ""), "min_age", &["empty"]);
    refused(parse_rate("bwlimit", "10Q"), "bwlimit", &["10Q", "unknown unit"]);
    refused(parse_rate("bwlimit", "0"), "bwlimit", &["at least 1 byte"]);
    refused(parse_rate("bwlimit", "fast"), "bwlimit", &["not a rate"]);
    // Globs, e-mail, fingerprints, enums.
    refused(check_glob("include", "[a-"), "include", &["not a valid glob"]);
    refused(check_email("email", "ops at example.com"), "email", &["e-mail"]);
    refused(check_host_key("host_key", "MD5:aa:bb"), "host_key", &["SHA256"]);
    refused(
        normalize_cert_fingerprint("cert_fingerprint", "abcd"),
        "cert_fingerprint",
        &["64 hex"],
    );
    refused(
        ConflictPolicy::from_str("replace"),
        "on_conflict",
        &["overwrite, skip, rename, fail"],
    );
    refused(NotifyPolicy::from_str("sometimes"), "notify", &["never"]);
    refused(AfterAction::parse("archive"), "after", &["move:DIR"]);
    refused(AfterAction::parse("move:"), "after", &["folder"]);
    refused(AfterAction::parse("move:../x"), "after", &["'..'"]);
    refused(Protocol::from_str("smb"), "protocol", &["sftp"]);
    refused(UserRole::from_str("root"), "role", &["admin"]);
}

#[test]
fn bad_sites_and_jobs_are_refused_by_validate() {
    let mut s = site("sftp://bob@example.com/out");
    s.max_connections = 0;
    refused(s.validate(), "max_connections", &["1 to 64"]);
    let mut s = site("sftp://bob@example.com/out");
    s.host_key = Some("SHA256:short".into());
    refused(s.validate(), "host_key", &["43"]);
    let mut s = site("ftp://bob@example.com/out");
    s.host_key = Some(format!("SHA256:{}", "A".repeat(43)));
    refused(s.validate(), "host_key", &["sftp"]);
    let mut s = site("sftp://bob@example.com/out");
    s.connect_timeout = Duration::ZERO;
    refused(s.validate(), "connect_timeout", &["1s"]);

    let mut j = job();
    j.schedule = Schedule::Cron {
        expr: "0 25 * * *".into(),
        tz: Tz::UTC,
    };
    refused(j.validate(), "schedule", &["0 25 * * *"]);
    let mut j = job();
    j.parallel = 0;
    refused(j.validate(), "parallel", &["1 to 64"]);
    let mut j = job();
    j.min_age = Duration::from_secs(600);
    j.max_age = Some(Duration::from_secs(60));
    refused(j.validate(), "max_age", &["min_age"]);
    let mut j = job();
    j.recipients = vec!["not-an-address".into()];
    refused(j.validate(), "email", &["not-an-address"]);
    let mut j = job();
    j.include = vec!["{a,b".into()];
    refused(j.validate(), "include", &["glob"]);
    let mut j = Job::new("loop", 1, "/data", 1, "/data/");
    j.atomic = true;
    refused(j.validate(), "target_path", &["same folder"]);
    refused(
        Job::new("loop", 1, "/data", 1, "/data/{stem}.bak").validate(),
        "target_path",
        &["same folder"],
    );
    assert!(
        Job::new("fine", 1, "/data", 1, "/data/{yyyy}/{name}")
            .validate()
            .is_ok()
    );
    // Walking the source with its sub-folders and delivering beneath it picks up deliveries.
    for target in ["/data/in", "/data/{yyyy}/{mm}", "/data/done/{name}", "/{job}", "{yyyy}"] {
        let source = if target.starts_with("/data") { "/data" } else { "/" };
        let mut j = Job::new("loop", 1, source, 1, target);
        j.recursive = true;
        refused(
            j.validate(),
            "target_path",
            &["inside the source folder", "sub-folders"],
        );
    }
    let mut j = Job::new("fine", 1, "/data", 1, "/database/{yyyy}");
    j.recursive = true;
    assert!(j.validate().is_ok(), "a sibling whose name starts alike is outside");
    let mut j = Job::new("fine", 1, "/data", 2, "/data/in");
    j.recursive = true;
    assert!(j.validate().is_ok(), "another site's folder of that name is elsewhere");
    let mut j = Job::new("fine", 1, "/data", 1, "/data/in");
    assert!(
        j.validate().is_ok(),
        "without sub-folders, a folder beneath is not read"
    );
    j.after = AfterAction::Move("/data".into());
    refused(j.validate(), "after", &["is the source folder"]);
    j.recursive = false;
    j.target_path = "/archive".into();
    j.after = AfterAction::Move("/data/done".into());
    assert!(
        j.validate().is_ok(),
        "moved beneath a folder read without its sub-folders"
    );
    j.recursive = true;
    refused(j.validate(), "after", &["inside the source folder"]);
}

#[test]
fn good_inputs_parse_to_what_was_meant() {
    assert_eq!(parse_duration("d", "30s").unwrap(), Duration::from_secs(30));
    assert_eq!(parse_duration("d", "5m").unwrap(), Duration::from_secs(300));
    assert_eq!(parse_duration("d", "2h").unwrap(), Duration::from_secs(7_200));
    assert_eq!(parse_duration("d", "7d").unwrap(), Duration::from_secs(7 * 86_400));
    assert_eq!(parse_duration("d", "1h30m").unwrap(), Duration::from_secs(5_400));
    assert_eq!(format_duration(Duration::from_secs(5_400)), "1h30m");
    assert_eq!(parse_rate("r", "10M").unwrap(), 10 * 1024 * 1024);
    assert_eq!(parse_rate("r", "512K").unwrap(), 512 * 1024);
    assert_eq!(parse_rate("r", "1.5MiB/s").unwrap(), 1_572_864);
    assert_eq!(parse_rate("r", "1000").unwrap(), 1000);
    assert_eq!(format_rate(10 * 1024 * 1024), "10M");

    let u = SiteUrl::parse("sftp://bob@example.com:2222/out/daily").unwrap();
    assert_eq!(
        (
            u.protocol,
            u.host.as_str(),
            u.port,
            u.username.as_str(),
            u.root.as_str()
        ),
        (Protocol::Sftp, "example.com", 2222, "bob", "/out/daily")
    );
    assert_eq!(
        SiteUrl::parse("ftps-implicit://ann@ftp.example.com/").unwrap().port,
        990
    );
    assert_eq!(SiteUrl::parse("ftp://ann@[::1]/x").unwrap().host, "::1");
    assert_eq!(
        SiteUrl::parse("sftp://b%C3%B6b@h/My%20Files").unwrap().root,
        "/My Files"
    );
    let local = SiteUrl::parse("file:///srv/data").unwrap();
    assert_eq!((local.protocol, local.root.as_str()), (Protocol::Local, "/srv/data"));
    assert_eq!(
        site("sftp://bob@example.com:2222/out").url(),
        "sftp://bob@example.com:2222/out"
    );

    // Five fields, six with seconds, names, and croner's L.
    for expr in [
        "*/5 * * * *",
        "0 2 * * 1-5",
        "*/10 * * * * *",
        "0 0 L * *",
        "0 9 * * MON",
        "@hourly",
    ] {
        parse_cron("schedule", expr, Tz::UTC, now()).unwrap_or_else(|e| panic!("{expr}: {e}"));
    }
    let berlin = parse_time_zone("tz", "Europe/Berlin").unwrap();
    let t = parse_timestamp("at", "2026-12-01 02:00", berlin).unwrap();
    assert_eq!(t, Utc.with_ymd_and_hms(2026, 12, 1, 1, 0, 0).unwrap());
    assert_eq!(
        parse_timestamp("at", "2026-12-01T02:00:00Z", berlin).unwrap(),
        Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0).unwrap()
    );

    assert_eq!(
        normalize_cert_fingerprint("fp", &"AB".repeat(32)).unwrap(),
        ["ab"; 32].join(":")
    );
    check_host_key("host_key", &format!("SHA256:{}", "a".repeat(43))).unwrap();
    assert_eq!(
        AfterAction::parse("move:/done").unwrap(),
        AfterAction::Move("/done".into())
    );
    job().validate().unwrap();
}

#[test]
fn templates_render_each_placeholder_once() {
    let tpl = PathTemplate::parse("target_path", "/in/{yyyy}/{mm}/{dd}/{job}-{stem}.{ext}").unwrap();
    let ctx = TemplateContext {
        time: Tz::Europe__Berlin.with_ymd_and_hms(2026, 3, 9, 23, 5, 1).unwrap(),
        job: "nightly",
        file_name: "report.final.csv",
        run_id: 42,
        group: "",
    };
    assert_eq!(tpl.render(&ctx), "/in/2026/03/09/nightly-report.final.csv");
    assert!(tpl.names_file());
    // A file whose name looks like a placeholder is copied literally, not expanded.
    let tpl = PathTemplate::parse("target_path", "/in/{run}/{name}").unwrap();
    let ctx = TemplateContext {
        file_name: "{run}.csv",
        ..ctx
    };
    assert_eq!(tpl.render(&ctx), "/in/42/{run}.csv");
    assert!(!PathTemplate::parse("t", "/in/{yyyy}").unwrap().names_file());
}
