//! The web API and the dashboard's pages over a long history: RUNS runs and FILES_PER_RUN files
//! each, seeded straight into the database, then `GET /api/v1/runs?limit=50`,
//! `GET /api/v1/summary` and each page asked over loopback HTTP, as a dashboard would. Reports
//! medians and 95th percentiles.

use ftpman_core::manager::{JobOptions, SiteOptions};
use ftpman_core::model::UserRole;
use ftpman_core::{KeySource, Manager};
use std::time::{Duration, Instant};

/// The seed, written once for SQLite and PostgreSQL alike: numbers from a recursive query.
fn seed_sql(runs: u64, files: u64, now_ms: i64) -> [String; 2] {
    // Runs spread over the last 60 days, one in ten failed.
    let runs_sql = format!(
        "INSERT INTO runs (job_id, run_trigger, created_at, started_at, finished_at, status, found, transferred, failed, bytes, error, node_id) \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {runs}) \
         SELECT (SELECT MIN(id) FROM jobs) + (i % 20), 'schedule', \
                {now_ms} - CAST({runs} - i AS BIGINT) * {step}, {now_ms} - CAST({runs} - i AS BIGINT) * {step}, \
                {now_ms} - CAST({runs} - i AS BIGINT) * {step} + 4000, \
                CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'succeeded' END, {files}, \
                CASE WHEN i % 10 = 0 THEN 0 ELSE {files} END, CASE WHEN i % 10 = 0 THEN {files} ELSE 0 END, \
                CASE WHEN i % 10 = 0 THEN 0 ELSE {files} * 16384 END, \
                CASE WHEN i % 10 = 0 THEN 'site ''partner'': login refused' ELSE NULL END, 'bench' FROM n",
        step = 60 * 86_400_000 / runs.max(1) as i64,
    );
    let files_sql = format!(
        "INSERT INTO run_files (run_id, source_path, target_path, size, bytes, duration_ms, status) \
         WITH RECURSIVE k(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM k WHERE j < {files}) \
         SELECT r.id, '/out/file-' || CAST(k.j AS TEXT) || '.csv', '/in/file-' || CAST(k.j AS TEXT) || '.csv', \
                16384, 16384, 12, 'transferred' FROM runs r CROSS JOIN k"
    );
    [runs_sql, files_sql]
}

async fn seed(url: &str, runs: u64, files: u64) -> Result<(), String> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let [runs_sql, files_sql] = seed_sql(runs, files, now_ms);
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.map_err(|e| e.to_string())?;
        for sql in [runs_sql, files_sql, "ANALYZE".to_string()] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .map_err(|e| e.to_string())?;
        }
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.map_err(|e| e.to_string())?;
        for sql in [runs_sql, files_sql, "ANALYZE".to_string()] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(i).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

async fn time_get(client: &reqwest::Client, url: &str, token: &str, requests: usize) -> Result<Vec<Duration>, String> {
    let mut times = Vec::with_capacity(requests);
    for i in 0..requests + 3 {
        let started = Instant::now();
        let resp = client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("{url}: {}", resp.status()));
        }
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        let elapsed = started.elapsed();
        if body.is_empty() {
            return Err(format!("{url}: empty answer"));
        }
        // The first few warm the caches, as a dashboard left open would have.
        if i >= 3 {
            times.push(elapsed);
        }
    }
    times.sort();
    Ok(times)
}

/// `ftpman-bench api DB_URL RUNS FILES_PER_RUN REQUESTS` (a new, empty database).
pub async fn run(url: &str, runs: u64, files: u64, requests: usize) -> Result<String, String> {
    let m = Manager::open_with_key(url, Some(KeySource::Key(Box::new([4u8; 32]))))
        .await
        .map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    for name in ["partner", "archive"] {
        let opts = SiteOptions {
            url: Some(format!("file://{}/{name}", dir.path().display())),
            create: true,
            ..SiteOptions::default()
        };
        m.add_site(name, &opts).await.map_err(|e| e.to_string())?;
    }
    for j in 0..20 {
        let opts = JobOptions {
            from: Some("partner:/out".into()),
            to: Some(format!("archive:/in/{j}")),
            schedule: Some(format!("{} 2 * * *", j * 3)),
            ..JobOptions::default()
        };
        m.add_job(&format!("job-{j:02}"), &opts)
            .await
            .map_err(|e| e.to_string())?;
    }
    let seeded = Instant::now();
    seed(url, runs, files).await?;
    let seed_s = seeded.elapsed().as_secs_f64();
    m.add_user(
        "bench",
        UserRole::Admin,
        &ftpman_core::Secret::new("a long bench password".to_string()),
    )
    .await
    .map_err(|e| e.to_string())?;
    let (_, token) = m
        .create_token("bench", "bench", UserRole::Admin)
        .await
        .map_err(|e| e.to_string())?;
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let state = ftpman_web::AppState::new(m.clone(), ftpman_web::WebConfig::default(), stopping.clone());
    let mut until = stopping;
    tokio::spawn(ftpman_web::serve(listener, state, async move {
        let _ = until.wait_for(|s| *s).await;
    }));
    let client = reqwest::Client::new();
    let base = format!("http://{addr}/api/v1");
    let runs_t = time_get(&client, &format!("{base}/runs?limit=50"), token.expose(), requests).await?;
    let deep = time_get(
        &client,
        &format!("{base}/runs?limit=50&cursor={}", runs / 2),
        token.expose(),
        requests,
    )
    .await?;
    let summary_t = time_get(&client, &format!("{base}/summary"), token.expose(), requests).await?;
    let files_t = time_get(
        &client,
        &format!("{base}/runs/{}/files?limit=200", runs / 2),
        token.expose(),
        requests,
    )
    .await?;
    // The dashboard's pages, as a browser signed in would load them (the token stands in for
    // the session cookie: the same access check, the same handlers).
    let mut pages = Vec::new();
    let run_page = format!("/runs/{}", runs / 2);
    for p in [
        "/",
        "/runs",
        "/runs?status=failed",
        "/runs?job=job-07&since=7d",
        run_page.as_str(),
        "/jobs",
        "/jobs/job-07",
        "/jobs/new",
        "/sites",
        "/logs",
        "/logs?level=warn&since=1d",
        "/settings",
    ] {
        let t = time_get(&client, &format!("http://{addr}{p}"), token.expose(), requests / 4).await?;
        let label: String = p
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        pages.push(format!("page{label}_p50_ms={:.1}", quantile(&t, 0.5)));
    }
    let _ = stop.send(true);
    Ok(format!(
        "runs={runs} run_files={} seed_s={seed_s:.1} runs_p50_ms={:.1} runs_p95_ms={:.1} runs_deep_p50_ms={:.1} summary_p50_ms={:.1} summary_p95_ms={:.1} files_p50_ms={:.1} {}",
        runs * files,
        quantile(&runs_t, 0.5),
        quantile(&runs_t, 0.95),
        quantile(&deep, 0.5),
        quantile(&summary_t, 0.5),
        quantile(&summary_t, 0.95),
        quantile(&files_t, 0.5),
        pages.join(" "),
    ))
}
