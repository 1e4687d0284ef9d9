//! Embedding the ftpman engine in a Rust program, with a notifier of the program's own.
//!
//! ```text
//! cargo run -p ftpman-core --example embed -- SOURCE_DIR TARGET_DIR
//! ```
//! Copies every `*.csv` from SOURCE_DIR to TARGET_DIR/{yyyy}-{mm}-{dd}/ (atomically, verified,
//! with a ledger so a second run sends nothing new), and prints the notification the program's
//! notifier receives.

use async_trait::async_trait;
use ftpman_core::engine::{Engine, EngineConfig, RunEvent};
use ftpman_core::model::{Job, NotifyPolicy, Site, SiteUrl, Trigger};
use ftpman_core::notifier::{Notification, Notifier, NotifyError};
use ftpman_core::transport::ProtocolConnector;
use ftpman_core::{KeySource, Store};
use std::sync::Arc;

/// The embedding program's own notifier: here it prints; a real one might page someone.
struct PrintNotifier;

#[async_trait]
impl Notifier for PrintNotifier {
    fn name(&self) -> &str {
        "print"
    }

    async fn notify(&self, note: &Notification, _recipients: &[String]) -> Result<(), NotifyError> {
        println!("notified: {}", ftpman_core::notifier::subject(note));
        Ok(())
    }
}

async fn site(store: &dyn Store, name: &str, dir: &str) -> Result<Site, Box<dyn std::error::Error>> {
    let url = SiteUrl::parse(&format!("file://{dir}"))?;
    Ok(match store.site(name).await {
        Ok(existing) => existing,
        Err(_) => store.create_site(&Site::new(name, &url)?).await?,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [source, target] = args.as_slice() else {
        eprintln!("usage: embed SOURCE_DIR TARGET_DIR (absolute paths)");
        std::process::exit(2);
    };
    // An embedded database beside the program, keyed from the environment or a key file.
    let store = ftpman_core::store::open("sqlite://embed-example.db", None::<KeySource>).await?;
    let src = site(store.as_ref(), "example-src", source).await?;
    let dst = site(store.as_ref(), "example-dst", target).await?;
    let job = match store.job("example-csv").await {
        Ok(job) => job,
        Err(_) => {
            let mut job = Job::new("example-csv", src.id, "/", dst.id, "/{yyyy}-{mm}-{dd}");
            job.include = vec!["*.csv".into()];
            job.notify = NotifyPolicy::Always;
            store.create_job(&job).await?
        }
    };

    let engine = Engine::new(store.clone(), Arc::new(ProtocolConnector), EngineConfig::default());
    engine.add_notifier(Arc::new(PrintNotifier));
    let mut events = engine.subscribe();
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if let RunEvent::FileFinished { path, status, .. } = event {
                println!("  {:>14}  {path}", status.as_str());
            }
        }
    });
    let run = engine.run_job(&job, Trigger::Api, false).await?;
    println!(
        "run {}: {} ({} transferred, {} skipped, {} failed, {} bytes)",
        run.id, run.status, run.counts.transferred, run.counts.skipped, run.counts.failed, run.counts.bytes
    );
    Ok(())
}
