//! Live events: a few per second per file however fast it moves, serialisable, and summing to
//! the bytes moved.

use ftpman_testkit as harness;

use ftpman_core::engine::RunEvent;
use ftpman_core::manager::ErrorKind;
use ftpman_core::model::Trigger;
use ftpman_core::{KeySource, Manager};
use harness::scratch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_told_a_few_times_a_second_and_sums_to_the_bytes() {
    if crate::harness::skip_without_servers() {
        return;
    }
    harness::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ftpman.db").display());
    let m = Manager::open_with_key(&url, Some(KeySource::Key(Box::new([8u8; 32]))))
        .await
        .unwrap();
    let src = scratch("events-src");
    let dst = scratch("events-dst");
    harness::noise_file(&src.path.join("big.bin"), 12 << 20, 3);
    for (name, folder) in [("src", &src), ("dst", &dst)] {
        let opts = ftpman_core::manager::SiteOptions {
            url: Some(format!("file://{}", folder.path.display())),
            ..Default::default()
        };
        m.add_site(name, &opts).await.unwrap();
    }
    let job = ftpman_core::manager::JobOptions {
        from: Some("src:/".into()),
        to: Some("dst:/".into()),
        bwlimit: Some("6M".into()), // about two seconds
        ..Default::default()
    };
    m.add_job("events", &job).await.unwrap();
    let mut handle = m.start_run("events", false, Trigger::Manual).await.unwrap();
    let mut progress = Vec::new();
    let mut kinds = Vec::new();
    while let Some(event) = handle.next_event().await {
        let json = serde_json::to_value(&event).unwrap();
        kinds.push(json["event"].as_str().unwrap().to_string());
        assert_eq!(json["run_id"], handle.id());
        if let RunEvent::Progress { bytes, path, .. } = &event {
            assert_eq!(path, "/big.bin");
            progress.push(*bytes);
        }
        if matches!(event, RunEvent::Finished { .. }) {
            assert_eq!(json["run"]["status"], "succeeded");
            assert_eq!(json["run"]["job"], "events");
            break;
        }
    }
    let run = handle.wait().await.unwrap();
    assert_eq!(
        progress.iter().sum::<u64>(),
        12 << 20,
        "the events sum to the bytes moved"
    );
    // 48 chunks of 256 KiB over about two seconds: told at most every 250 ms (plus the last).
    assert!(
        (2..=14).contains(&progress.len()),
        "{} progress events: {progress:?}",
        progress.len()
    );
    assert_eq!(kinds.first().map(String::as_str), Some("started"));
    assert!(kinds.contains(&"file_finished".to_string()));
    assert_eq!(run.counts.bytes, 12 << 20);
    // A finished run has no more events; cancelling it is a conflict.
    assert_eq!(m.cancel_run(run.id).await.unwrap_err().kind(), ErrorKind::Conflict);
}
