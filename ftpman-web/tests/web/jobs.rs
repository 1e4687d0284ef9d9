//! Jobs and runs over the API: add (errors naming the field), show, edit, enable and disable,
//! dry run, run now followed live by Server-Sent Events, runs filtered and paged, files paged,
//! cancel, forget, remove.

use crate::harness::{self, servers};
use crate::support::{Auth, TestServer};
use ftpman_core::model::UserRole;
use ftpman_web::WebConfig;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::json;

/// Reads a run's event stream until `event: end`; returns the `run` events' data.
async fn follow(srv: &TestServer, auth: &Auth, id: i64) -> (Vec<serde_json::Value>, String) {
    let resp = srv
        .request(auth, Method::GET, &format!("/api/v1/runs/{id}/events"))
        .send()
        .await
        .expect("events");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/event-stream")
    );
    let mut stream = resp.bytes_stream();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while !text.contains("event: end") {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("the run ends within a minute")
            .expect("the stream stays open until the end")
            .expect("chunk");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let mut updates = Vec::new();
    let mut end = String::new();
    for block in text.split("\n\n") {
        let event = block.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or("");
        let data: String = block.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
        match event {
            "run" => updates.push(serde_json::from_str(&data).expect("run event JSON")),
            "end" => end = data,
            _ => {}
        }
    }
    (updates, end)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_now_and_are_followed_live_then_paged() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let s = servers();
    let srv = TestServer::start(WebConfig::default()).await;
    let admin = Auth::Token(srv.token("root", UserRole::Admin).await);
    let ops = Auth::Token(srv.token("ops", UserRole::Operator).await);
    let scratch = harness::scratch("web-jobs");
    let mut sums = Vec::new();
    for i in 0..3u64 {
        sums.push(harness::noise_file(
            &scratch.path.join(format!("f{i}.csv")),
            200_000 + i,
            i,
        ));
    }
    harness::chown_tree(&scratch.path, &s.user);
    let archive = tempfile::tempdir().expect("archive");
    let sftp = format!("sftp://{}@127.0.0.1:{}{}", s.user, s.ssh_port, scratch.path.display());
    for body in [
        json!({"name": "partner", "url": sftp, "password": s.password, "host_key": s.host_key}),
        json!({"name": "archive", "url": format!("file://{}", archive.path().display())}),
    ] {
        let a = srv.call(&admin, Method::POST, "/api/v1/sites", Some(body)).await;
        assert_eq!(a.status, 201, "{}", a.text);
    }

    // Refused values name their field, and nothing is saved.
    let bad_cron = json!({"name": "nightly", "from": "partner:/", "to": "archive:/in", "schedule": "61 * * * *"});
    let a = srv.call(&ops, Method::POST, "/api/v1/jobs", Some(bad_cron)).await;
    assert_eq!(
        (a.status, a.error()),
        (422, ("invalid_input".into(), Some("schedule".into()))),
        "{}",
        a.text
    );
    let a = srv
        .call(
            &ops,
            Method::POST,
            "/api/v1/jobs",
            Some(json!({"name": "nightly", "from": "partner", "to": "archive:/in"})),
        )
        .await;
    assert_eq!((a.status, a.error().1.as_deref()), (422, Some("from")), "{}", a.text);
    let a = srv
        .call(
            &ops,
            Method::POST,
            "/api/v1/jobs",
            Some(json!({"from": "partner:/", "to": "archive:/in"})),
        )
        .await;
    assert_eq!((a.status, a.error().1.as_deref()), (422, Some("name")), "{}", a.text);
    assert_eq!(
        srv.call(&ops, Method::GET, "/api/v1/jobs", None).await.json(),
        json!([])
    );

    let job = json!({"name": "nightly", "from": "partner:/", "to": "archive:/in", "include": ["*.csv"],
                     "schedule": "30 2 * * 1-5", "tz": "Europe/Paris", "parallel": 2});
    let a = srv.call(&ops, Method::POST, "/api/v1/jobs", Some(job.clone())).await;
    assert_eq!(a.status, 201, "{}", a.text);
    let text = a.json()["schedule"]["text"].as_str().expect("words").to_string();
    assert!(text.contains("02:30") || text.contains("2:30"), "{text}");
    let a = srv.call(&ops, Method::POST, "/api/v1/jobs", Some(job)).await;
    assert_eq!((a.status, a.error().0.as_str()), (409, "already_exists"));
    let a = srv.call(&ops, Method::GET, "/api/v1/jobs/nightly", None).await;
    assert_eq!(a.json()["next_fires"].as_array().expect("fires").len(), 5, "{}", a.text);
    let a = srv
        .call(&ops, Method::PATCH, "/api/v1/jobs/nightly", Some(json!({"retries": 1})))
        .await;
    assert_eq!((a.status, a.json()["retries"].clone()), (200, json!(1)), "{}", a.text);
    let a = srv
        .call(
            &ops,
            Method::PATCH,
            "/api/v1/jobs/nightly",
            Some(json!({"parallel": "two"})),
        )
        .await;
    assert_eq!(
        (a.status, a.error().1.as_deref()),
        (422, Some("parallel")),
        "{}",
        a.text
    );
    let a = srv
        .call(
            &ops,
            Method::PATCH,
            "/api/v1/jobs/nightly",
            Some(json!({"bwlimit": "fast"})),
        )
        .await;
    assert_eq!((a.status, a.error().1.as_deref()), (422, Some("bwlimit")), "{}", a.text);
    let a = srv.call(&ops, Method::POST, "/api/v1/jobs/nightly/disable", None).await;
    assert_eq!(a.json()["enabled"], json!(false));
    let a = srv.call(&ops, Method::POST, "/api/v1/jobs/nightly/enable", None).await;
    assert_eq!(a.json()["enabled"], json!(true));
    let a = srv.call(&ops, Method::POST, "/api/v1/jobs/nosuch/run", None).await;
    assert_eq!((a.status, a.error().0.as_str()), (404, "not_found"));

    // A dry run lists what would move, and moves nothing.
    let a = srv.call(&ops, Method::POST, "/api/v1/jobs/nightly/dry-run", None).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let dry = a.json();
    assert_eq!(dry["dry_run"], json!(true));
    assert_eq!(dry["files"].as_array().expect("files").len(), 3, "{}", a.text);
    assert_eq!(
        dry["files"][0]["target"].as_str().map(|t| t.starts_with("/in/")),
        Some(true),
        "{}",
        a.text
    );
    assert!(!archive.path().join("in").exists(), "a dry run writes nothing");

    // Run now: 202 at once with the run, followed live to its end.
    let a = srv.call(&ops, Method::POST, "/api/v1/jobs/nightly/run", None).await;
    assert_eq!(a.status, 202, "{}", a.text);
    let id = a.json()["id"].as_i64().expect("id");
    assert_eq!(
        a.headers["location"].to_str().expect("location"),
        format!("/api/v1/runs/{id}")
    );
    assert_eq!(a.json()["trigger"], json!("api"));
    let (updates, end) = follow(&srv, &ops, id).await;
    assert_eq!(end, "succeeded");
    let last = updates.last().expect("at least one update");
    assert_eq!(
        (last["run"]["status"].clone(), last["run"]["transferred"].clone()),
        (json!("succeeded"), json!(3))
    );
    let files: usize = updates
        .iter()
        .map(|u| u["files"].as_array().expect("files").len())
        .sum();
    assert_eq!(files, 3, "every file is reported once");
    for (i, sum) in sums.iter().enumerate() {
        assert_eq!(&harness::sha256_file(&archive.path().join(format!("in/f{i}.csv"))), sum);
    }
    // The events of an ended run: its final state at once.
    let (again, end) = follow(&srv, &ops, id).await;
    assert_eq!((again.len(), end.as_str()), (1, "succeeded"));

    // Runs: filtered, paged with a cursor.
    let a = srv.call(&ops, Method::GET, "/api/v1/runs?job=nightly", None).await;
    let items = a.json()["items"].as_array().expect("items").clone();
    assert_eq!(
        items.iter().map(|r| r["id"].as_i64().expect("id")).collect::<Vec<_>>(),
        [id, dry["id"].as_i64().expect("id")]
    );
    let a = srv.call(&ops, Method::GET, "/api/v1/runs?limit=1", None).await;
    let page = a.json();
    assert_eq!(
        (page["items"][0]["id"].as_i64(), page["next"].as_i64()),
        (Some(id), Some(id))
    );
    let a = srv
        .call(&ops, Method::GET, &format!("/api/v1/runs?limit=1&cursor={id}"), None)
        .await;
    assert_eq!(a.json()["items"][0]["id"], dry["id"]);
    let a = srv
        .call(&ops, Method::GET, "/api/v1/runs?status=succeeded&since=1h", None)
        .await;
    assert_eq!(a.json()["items"].as_array().expect("items").len(), 2);
    let a = srv.call(&ops, Method::GET, "/api/v1/runs?status=failed", None).await;
    assert_eq!(a.json()["items"], json!([]));
    for (query, field) in [
        ("status=bogus", "status"),
        ("limit=0", "limit"),
        ("since=someday", "since"),
        ("cursor=x", "cursor"),
    ] {
        let a = srv
            .call(&ops, Method::GET, &format!("/api/v1/runs?{query}"), None)
            .await;
        assert_eq!(
            (a.status, a.error().1.as_deref()),
            (422, Some(field)),
            "{query}: {}",
            a.text
        );
    }
    let a = srv.call(&ops, Method::GET, "/api/v1/runs?job=nosuch", None).await;
    assert_eq!(a.status, 404, "{}", a.text);
    let a = srv.call(&ops, Method::GET, &format!("/api/v1/runs/{id}"), None).await;
    assert_eq!(
        (a.status, a.json()["bytes"].clone()),
        (200, json!(600_003)),
        "{}",
        a.text
    );
    let a = srv.call(&ops, Method::GET, "/api/v1/runs/999999", None).await;
    assert_eq!((a.status, a.error().0.as_str()), (404, "not_found"));
    let a = srv.call(&ops, Method::GET, "/api/v1/runs/abc", None).await;
    assert_eq!((a.status, a.error().1.as_deref()), (400, Some("id")), "{}", a.text);
    let a = srv
        .call(&ops, Method::GET, &format!("/api/v1/runs/{id}/files?limit=2"), None)
        .await;
    let first = a.json();
    assert_eq!(first["items"].as_array().expect("files").len(), 2);
    let next = first["next"].as_i64().expect("a next page");
    let a = srv
        .call(
            &ops,
            Method::GET,
            &format!("/api/v1/runs/{id}/files?limit=2&cursor={next}"),
            None,
        )
        .await;
    assert_eq!(
        (a.json()["items"].as_array().map(Vec::len), a.json()["next"].clone()),
        (Some(1), json!(null))
    );
    let a = srv
        .call(&ops, Method::POST, &format!("/api/v1/runs/{id}/cancel"), None)
        .await;
    assert_eq!((a.status, a.error().0.as_str()), (409, "conflict"), "{}", a.text);

    // This node's metrics counted them (the dry run too: it is a run).
    let a = srv.call(&ops, Method::GET, "/metrics", None).await;
    for line in [
        "ftpman_runs_total{job=\"nightly\",status=\"succeeded\"} 2",
        "ftpman_files_total{job=\"nightly\",site=\"partner\",status=\"transferred\"} 3",
        "ftpman_bytes_total{job=\"nightly\",site=\"partner\"} 600003",
        "ftpman_run_duration_seconds_count{job=\"nightly\"} 2",
        "ftpman_file_duration_seconds_bucket{le=\"+Inf\"}",
        "ftpman_runs_running 0",
        "ftpman_cluster_slots{site=\"partner\"} 0",
    ] {
        assert!(a.text.contains(line), "{line} in:\n{}", a.text);
    }

    // The dashboard's summary counts the run, not the dry run (it moved nothing).
    let a = srv.call(&ops, Method::GET, "/api/v1/summary", None).await;
    let sum = a.json();
    assert_eq!(
        (sum["sites"].clone(), sum["jobs"].clone(), sum["runs_today"].clone()),
        (json!(2), json!(1), json!(1)),
        "{}",
        a.text
    );
    assert_eq!(
        (sum["success_rate_7d"].clone(), sum["bytes_30d"].clone()),
        (json!(1.0), json!(600_003)),
        "{}",
        a.text
    );
    let days = sum["days"].as_array().expect("days");
    assert_eq!(days.len(), 30);
    assert_eq!(days[29]["day"], json!(chrono::Utc::now().date_naive().to_string()));
    assert_eq!(
        (days[29]["succeeded"].clone(), days[28]["runs"].clone()),
        (json!(1), json!(0))
    );
    assert_eq!(sum["next_fires"][0]["job"], json!("nightly"));
    assert_eq!(
        (sum["running"].clone(), sum["recent_failures"].clone()),
        (json!([]), json!([]))
    );

    // Forget: the files move again next time.
    let a = srv
        .call(
            &ops,
            Method::POST,
            "/api/v1/jobs/nightly/forget",
            Some(json!({"paths": ["/f0.csv"]})),
        )
        .await;
    assert_eq!(a.json(), json!({"forgotten": 1}), "{}", a.text);
    let a = srv
        .call(&ops, Method::POST, "/api/v1/jobs/nightly/forget", Some(json!({})))
        .await;
    assert_eq!(a.json(), json!({"forgotten": 2}), "{}", a.text);
    let a = srv.call(&ops, Method::DELETE, "/api/v1/jobs/nightly", None).await;
    assert_eq!(a.status, 204);
    let a = srv.call(&ops, Method::GET, "/api/v1/jobs/nightly", None).await;
    assert_eq!(a.status, 404);
    srv.assert_no_secrets(&[&s.password], &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_run_is_cancelled_through_the_api() {
    let srv = TestServer::start(WebConfig::default()).await;
    let ops = Auth::Token(srv.token("ops", UserRole::Operator).await);
    let src = tempfile::tempdir().expect("src");
    let dst = tempfile::tempdir().expect("dst");
    harness::noise_file(&src.path().join("big.bin"), 4 << 20, 1);
    for (name, dir) in [("src", &src), ("dst", &dst)] {
        srv.manager
            .add_site(
                name,
                &ftpman_core::manager::SiteOptions {
                    url: Some(format!("file://{}", dir.path().display())),
                    ..Default::default()
                },
            )
            .await
            .expect("site");
    }
    let a = srv
        .call(
            &ops,
            Method::POST,
            "/api/v1/jobs",
            Some(json!({"name": "slow", "from": "src:/", "to": "dst:/", "bwlimit": "256K"})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let a = srv.call(&ops, Method::POST, "/api/v1/jobs/slow/run", None).await;
    let id = a.json()["id"].as_i64().expect("id");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let a = srv
        .call(&ops, Method::POST, &format!("/api/v1/runs/{id}/cancel"), None)
        .await;
    assert_eq!(
        (a.status, a.json()["cancel_requested"].clone()),
        (200, json!(true)),
        "{}",
        a.text
    );
    let (_, end) = follow(&srv, &ops, id).await;
    assert_eq!(end, "cancelled");
    assert!(
        !dst.path().join("big.bin").exists(),
        "no partial file under the final name"
    );
}
