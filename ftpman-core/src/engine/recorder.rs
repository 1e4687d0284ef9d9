//! Group commit of a run's finished files. Each delivery waits until its run file and ledger
//! entry are committed (the source is touched only after that), but deliveries that finish
//! while a commit is under way share the next one: one transaction, and one writer, instead of
//! a transaction per file with every parallel worker contending for SQLite's write lock.

use crate::model::{LedgerEntry, RunFile};
use crate::store::{Store, StoreError, StoreResult};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The most files one commit takes.
const MAX_BATCH: usize = 256;

/// How long a commit waits for more finished files to join it.
const LINGER: std::time::Duration = std::time::Duration::from_millis(2);

struct Pending {
    item: (RunFile, Option<LedgerEntry>),
    reply: oneshot::Sender<StoreResult<RunFile>>,
}

/// Records a run's files through one writer task, batching what arrives together.
pub(crate) struct Recorder {
    queue: mpsc::UnboundedSender<Pending>,
}

impl Recorder {
    /// Starts the writer for runs `node_id` holds; it ends when the recorder is dropped and the
    /// queue is drained.
    pub fn start(store: Arc<dyn Store>, node_id: String) -> Recorder {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(store, node_id, rx));
        Recorder { queue }
    }

    /// Records one file (with its ledger entry when delivered) and waits for the commit.
    pub async fn record(&self, file: &RunFile, delivered: Option<&LedgerEntry>) -> StoreResult<RunFile> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Corrupt {
            what: "run file".into(),
            reason: "the recorder stopped".into(),
        };
        self.queue
            .send(Pending {
                item: (file.clone(), delivered.cloned()),
                reply,
            })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn write_batches(store: Arc<dyn Store>, node_id: String, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Parallel deliveries finish a few at a time, not together: a moment's wait lets the
        // ones finishing now share this commit. Each commit is several round trips to the
        // database's thread, and those wakeups cost more than the wait, which no transfer
        // waits for (its parallel slot is already free).
        if batch.len() < MAX_BATCH {
            tokio::time::sleep(LINGER).await;
            while batch.len() < MAX_BATCH
                && let Ok(more) = rx.try_recv()
            {
                batch.push(more);
            }
        }
        let (items, replies): (Vec<_>, Vec<_>) = batch.drain(..).map(|p| (p.item, p.reply)).unzip();
        match store.record_files(&node_id, &items).await {
            Ok(saved) => {
                for (reply, file) in replies.into_iter().zip(saved) {
                    let _ = reply.send(Ok(file));
                }
            }
            // One bad file must not fail the others: commit them one by one, each with its
            // own outcome.
            Err(_) if items.len() > 1 => {
                for ((file, delivered), reply) in items.iter().zip(replies) {
                    let _ = reply.send(store.record_file(&node_id, file, delivered.as_ref()).await);
                }
            }
            Err(e) => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Job, NewRun, RunFileStatus, RunStatus, Site, SiteUrl, Trigger};
    use crate::secrets::KeySource;
    use std::time::Duration;

    fn file(run_id: i64, path: &str) -> RunFile {
        RunFile {
            id: 0,
            run_id,
            source_path: path.into(),
            target_path: path.into(),
            size: 1,
            bytes: 1,
            duration: Duration::ZERO,
            status: RunFileStatus::Transferred,
            error: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn files_finishing_together_share_a_commit_and_a_bad_one_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("f.db").display());
        let store = crate::store::open(&url, Some(KeySource::Key(Box::new([9u8; 32]))))
            .await
            .unwrap();
        let site = |name: &str| Site::new(name, &SiteUrl::parse("file:///tmp").unwrap()).unwrap();
        let a = store.create_site(&site("a")).await.unwrap();
        let b = store.create_site(&site("b")).await.unwrap();
        let job = store.create_job(&Job::new("j", a.id, "/", b.id, "/")).await.unwrap();
        let new = NewRun {
            job_id: job.id,
            trigger: Trigger::Manual,
            scheduled_for: None,
            status: RunStatus::Running,
            dry_run: false,
            as_of: None,
            again: false,
            group_run_id: None,
        };
        let lease = Duration::from_secs(60);
        let run = store
            .start_new_run(&new, "n", chrono::Utc::now(), lease)
            .await
            .unwrap()
            .unwrap();
        // A run of another job, held by another node: its file is refused, the others are not.
        let other_job = store.create_job(&Job::new("k", a.id, "/", b.id, "/")).await.unwrap();
        let other = NewRun {
            job_id: other_job.id,
            ..new
        };
        let elsewhere = store
            .start_new_run(&other, "m", chrono::Utc::now(), lease)
            .await
            .unwrap()
            .unwrap();
        let recorder = Recorder::start(store.clone(), "n".into());
        let ledger = |path: &str| LedgerEntry {
            job_id: job.id,
            source_path: path.into(),
            size: 1,
            mtime: None,
            delivered_at: chrono::Utc::now(),
            run_id: run.id,
            target_path: Some(path.into()),
            mtime_granularity: 1,
            after_pending: false,
            mtime_nanos: 0,
        };
        let files: Vec<RunFile> = (0..40)
            .map(|i| file(if i == 17 { elsewhere.id } else { run.id }, &format!("/f{i}")))
            .collect();
        let entries: Vec<LedgerEntry> = files.iter().map(|f| ledger(&f.source_path)).collect();
        let results =
            futures_util::future::join_all(files.iter().zip(&entries).map(|(f, e)| recorder.record(f, Some(e)))).await;
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r.is_err(), i == 17, "file {i}: {r:?}");
        }
        assert!(matches!(results[17], Err(StoreError::NotHeld { run_id }) if run_id == elsewhere.id));
        let saved = store.run_files(run.id).await.unwrap();
        assert_eq!(saved.len(), 39);
        let paths: Vec<String> = files.iter().map(|f| f.source_path.clone()).collect();
        let delivered = store.ledger_entries(job.id, &paths).await.unwrap();
        assert_eq!(delivered.len(), 39);
        assert!(delivered.iter().all(|e| e.source_path != "/f17"));
    }
}
