//! Date windows, backfills and job groups over the API: a job's window and name pattern, a
//! backfill with and without `again` (body optional), a bad window naming its field, groups
//! added, run in order and shown with their jobs' runs, and who may do what.

use crate::support::{Auth, TestServer};
use ftpman_core::model::UserRole;
use ftpman_web::WebConfig;
use reqwest::Method;
use serde_json::json;

/// Polls group run `id` until it has ended.
async fn finished_group_run(srv: &TestServer, auth: &Auth, id: i64) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let a = srv
            .call(auth, Method::GET, &format!("/api/v1/group-runs/{id}"), None)
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
        let run = a.json();
        if !matches!(run["status"].as_str(), Some("queued" | "running")) {
            return run;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the group run ends within a minute"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_backfills_and_groups_over_the_api() {
    let srv = TestServer::start(WebConfig::default()).await;
    let admin = Auth::Token(srv.token("root", UserRole::Admin).await);
    let ops = Auth::Token(srv.token("ops", UserRole::Operator).await);
    let viewer = Auth::Token(srv.token("eyes", UserRole::Viewer).await);
    let files = tempfile::tempdir().expect("folder");
    for dir in ["cdr", "a", "b"] {
        std::fs::create_dir_all(files.path().join(dir)).expect("mkdir");
    }
    for name in [
        "UAU.NJ.MPB.D261025",
        "UAU.NJ.MPB.D261101",
        "UAU.NJ.MPB.D261126",
        "notes.txt",
    ] {
        std::fs::write(files.path().join("cdr").join(name), name).expect("write");
    }
    std::fs::write(files.path().join("a/a.csv"), "a").expect("write");
    std::fs::write(files.path().join("b/b.csv"), "b").expect("write");
    let url = format!("file://{}", files.path().display());
    let a = srv
        .call(
            &admin,
            Method::POST,
            "/api/v1/sites",
            Some(json!({"name": "files", "url": url})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);

    // A bad window names its field, and says what would be right.
    let job = json!({"name": "mpb", "from": "files:/cdr", "to": "files:/out/{yyyy}-{mm}",
                     "window": "last-month", "name_date": "D{yy}{mm}{dd}",
                     "schedule": "0 2 26 * *", "tz": "Europe/Berlin"});
    let a = srv.call(&ops, Method::POST, "/api/v1/jobs", Some(job.clone())).await;
    assert_eq!((a.status, a.error().1.as_deref()), (422, Some("window")), "{}", a.text);
    assert!(a.text.contains("previous-month"), "{}", a.text);
    let mut job = job;
    job["window"] = json!("cycle:26");
    let a = srv.call(&ops, Method::POST, "/api/v1/jobs", Some(job)).await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(
        (a.json()["window"].clone(), a.json()["name_date"].clone()),
        (json!("cycle:26"), json!("D{yy}{mm}{dd}"))
    );
    let a = srv.call(&viewer, Method::GET, "/api/v1/jobs/mpb", None).await;
    assert!(
        a.json()["next_window"]
            .as_str()
            .is_some_and(|w| w.ends_with("Europe/Berlin")),
        "{}",
        a.text
    );

    // A dry-run backfill shows its window; the run itself moves the cycle's file.
    let body = json!({"as_of": "2026-11-26 02:00"});
    let a = srv
        .call(&ops, Method::POST, "/api/v1/jobs/mpb/dry-run", Some(body.clone()))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let dry = a.json();
    assert_eq!(dry["window"], "2026-10-26 00:00 .. 2026-11-25 23:59:59 Europe/Berlin");
    assert_eq!((dry["found"].clone(), dry["undated"].clone()), (json!(1), json!(1)));
    let a = srv.call(&ops, Method::POST, "/api/v1/jobs/mpb/run", Some(body)).await;
    assert_eq!(a.status, 202, "{}", a.text);
    let id = a.json()["id"].as_i64().expect("id");
    let run = loop {
        let a = srv.call(&ops, Method::GET, &format!("/api/v1/runs/{id}"), None).await;
        if a.json()["status"] != "running" {
            break a.json();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["as_of"], "2026-11-26T01:00:00+00:00");
    assert!(files.path().join("out/2026-11/UAU.NJ.MPB.D261101").exists());
    // Again: nothing new without `again`, everything with it; a bad `as_of` is a 422 naming it.
    let again = srv
        .call(
            &ops,
            Method::POST,
            "/api/v1/jobs/mpb/dry-run",
            Some(json!({"as_of": "2026-11-26 02:00", "again": true})),
        )
        .await;
    assert_eq!(
        again.json()["files"].as_array().map(Vec::len),
        Some(1),
        "{}",
        again.text
    );
    let a = srv
        .call(
            &ops,
            Method::POST,
            "/api/v1/jobs/mpb/run",
            Some(json!({"as_of": "someday"})),
        )
        .await;
    assert_eq!((a.status, a.error().1.as_deref()), (422, Some("as_of")), "{}", a.text);
    let a = srv
        .call(
            &ops,
            Method::POST,
            "/api/v1/jobs/mpb/run",
            Some(json!({"as_of": "2026-11-26 02:00", "sometime": 1})),
        )
        .await;
    assert_eq!(a.status, 422, "an unknown field is refused: {}", a.text);

    // Groups: added by an operator, not by a viewer; run in order; shown with their runs.
    for (name, from) in [("a", "files:/a"), ("b", "files:/b")] {
        let a = srv
            .call(
                &ops,
                Method::POST,
                "/api/v1/jobs",
                Some(json!({"name": name, "from": from, "to": "files:/grouped/{group}"})),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.text);
    }
    let group = json!({"name": "carriers", "jobs": ["b", "a"], "schedule": "0 3 * * *"});
    let a = srv
        .call(&viewer, Method::POST, "/api/v1/groups", Some(group.clone()))
        .await;
    assert_eq!(a.status, 403, "{}", a.text);
    let a = srv
        .call(
            &ops,
            Method::POST,
            "/api/v1/groups",
            Some(json!({"name": "bad", "jobs": ["a", "zz"]})),
        )
        .await;
    assert_eq!((a.status, a.error().1.as_deref()), (422, Some("jobs")), "{}", a.text);
    let a = srv.call(&ops, Method::POST, "/api/v1/groups", Some(group)).await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.json()["jobs"], json!(["b", "a"]));
    let a = srv.call(&ops, Method::POST, "/api/v1/groups/carriers/run", None).await;
    assert_eq!(a.status, 202, "{}", a.text);
    let location = a
        .headers
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default();
    assert!(
        location.ends_with(&format!("/api/v1/group-runs/{}", a.json()["id"])),
        "{location}"
    );
    let done = finished_group_run(&srv, &viewer, a.json()["id"].as_i64().expect("id")).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let jobs: Vec<_> = done["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["job"].clone())
        .collect();
    assert_eq!(jobs, [json!("b"), json!("a")]);
    assert!(files.path().join("grouped/carriers/a.csv").exists());
    let a = srv
        .call(
            &ops,
            Method::PATCH,
            "/api/v1/groups/carriers",
            Some(json!({"continue_on_failure": true})),
        )
        .await;
    assert_eq!(
        (a.status, a.json()["continue_on_failure"].clone()),
        (200, json!(true)),
        "{}",
        a.text
    );
    let a = srv.call(&viewer, Method::GET, "/api/v1/groups/carriers", None).await;
    assert_eq!(a.json()["runs"][0]["status"], "succeeded", "{}", a.text);
    assert_eq!(a.json()["next_fires"].as_array().map(Vec::len), Some(5));
    let a = srv.call(&viewer, Method::GET, "/api/v1/groups", None).await;
    assert_eq!(a.json().as_array().map(Vec::len), Some(1));
    // The jobs page lists the group with its jobs in order, and runs it for an operator.
    let session = srv.sign_in("ops", crate::support::PASSWORD).await;
    let a = srv.call(&session, Method::GET, "/jobs", None).await;
    assert!(
        a.text.contains(r#"id="groups""#) && a.text.contains("b → a"),
        "{}",
        a.text
    );
    assert!(a.text.contains("/groups/carriers/run"), "an operator gets the button");
    let a = srv.call(&session, Method::POST, "/groups/carriers/run", None).await;
    assert_eq!(a.status, 200, "redirected back to the jobs page: {}", a.text);
    assert!(a.text.contains("<title>Jobs · ftpman</title>"), "{}", a.text);
    let watcher = srv.sign_in("eyes", crate::support::PASSWORD).await;
    let a = srv.call(&watcher, Method::GET, "/jobs", None).await;
    assert!(!a.text.contains("/groups/carriers/run"), "a viewer gets no button");
    let a = srv.call(&watcher, Method::POST, "/groups/carriers/run", None).await;
    assert_eq!(a.status, 403, "{}", a.text);
    // The group's page: its jobs in order, linked, and its runs with their jobs' runs.
    let a = srv.call(&watcher, Method::GET, "/groups/carriers", None).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let jobs = a.text.split(r#"id="group-jobs""#).nth(1).unwrap_or_default();
    let (b_at, a_at) = (
        jobs.find("/jobs/b").unwrap_or(usize::MAX),
        jobs.find("/jobs/a").unwrap_or(0),
    );
    assert!(b_at < a_at, "b, then a: {}", a.text);
    assert!(a.text.contains(r#"id="group-runs""#), "{}", a.text);
    let latest = srv
        .call(&viewer, Method::GET, "/api/v1/groups/carriers", None)
        .await
        .json()["runs"][0]["id"]
        .as_i64()
        .expect("the page's run");
    assert_eq!(finished_group_run(&srv, &viewer, latest).await["status"], "succeeded");

    // A job in a group is not removed from under it.
    let a = srv.call(&ops, Method::DELETE, "/api/v1/jobs/a", None).await;
    assert_eq!(a.status, 409, "{}", a.text);
    let a = srv.call(&ops, Method::DELETE, "/api/v1/groups/carriers", None).await;
    assert_eq!(a.status, 204, "{}", a.text);
    let a = srv.call(&ops, Method::DELETE, "/api/v1/jobs/a", None).await;
    assert_eq!(a.status, 204, "{}", a.text);
}
