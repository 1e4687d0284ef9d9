//! Making local writes durable in groups. Every delivered file must be on disk before it is
//! renamed into place, and its new name on disk before the ledger says "delivered"; an `fsync`
//! per file and per rename makes a journal commit each, which for many small files costs more
//! than moving them (workload 2 in `docs/benchmarks.md`).
//!
//! So the writers that wait at the same moment on one file system share one sync, as a
//! database shares one commit among transactions: the first to arrive syncs; whoever arrives
//! while it does waits, and the next one syncs for all of them at once with `syncfs`. A writer
//! alone syncs just its own file (`fsync`), so a lone file never pays for the whole file
//! system. `syncfs` also writes back what other programs left dirty on that file system: where
//! one takes long, or fails, the group goes back to one `fsync` per file for a while (a failed
//! `syncfs` is retried file by file, so each file learns its own error), and a writer that has
//! waited that long for a sync under way syncs its own file instead. Where `syncfs` does not
//! report write-back errors (Linux before 5.8, other systems) or may not reach the storage (FUSE
//! and network file systems: only ext2/3/4, XFS, Btrfs, F2FS and tmpfs share), every file is
//! `fsync`ed alone.

use std::collections::HashMap;
use std::fs::File;
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A `syncfs` slower than this means other data is being written to that file system.
const SLOW_SYNC: Duration = Duration::from_millis(500);
/// How long a group syncs file by file after a slow or failed `syncfs`.
const COOL_DOWN: Duration = Duration::from_secs(30);
/// A shared sync starts no sooner than this after the last one started, so that the writers
/// arriving meanwhile join it: under a stream of small files, fewer and larger syncs, each of
/// which costs the device a flush and the kernel a walk of the file system's dirty inodes
/// (workload 2 into ext4: 0.77 s -> 0.66 s). A writer after a quiet spell is not held.
const GATHER: Duration = Duration::from_millis(2);

/// The two ways to make a file durable.
pub(super) trait SyncOps: Send + Sync {
    /// This file only (`fsync`).
    fn sync_one(&self, file: &File) -> std::io::Result<()>;
    /// Everything on the file system that holds `file` (`syncfs`).
    fn sync_fs(&self, file: &File) -> std::io::Result<()>;
}

/// The kernel's.
struct Kernel;

impl SyncOps for Kernel {
    fn sync_one(&self, file: &File) -> std::io::Result<()> {
        file.sync_all()
    }

    #[cfg(target_os = "linux")]
    fn sync_fs(&self, file: &File) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is open for the call (the caller holds `file`). Since Linux
        // 5.8 `syncfs` reports write-back errors, as `fsync` does.
        if unsafe { libc::syncfs(file.as_raw_fd()) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn sync_fs(&self, _file: &File) -> std::io::Result<()> {
        // Nothing here makes other callers' files durable: a group falls back to file by file.
        Err(std::io::ErrorKind::Unsupported.into())
    }
}

/// Whether this kernel's `syncfs` reports write-back errors (Linux 5.8 and later). Before, it
/// returned success whatever happened to the data, and only a file's own `fsync` tells.
fn syncfs_reports_errors() -> bool {
    static REPORTS: LazyLock<bool> = LazyLock::new(|| {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        kernel_at_least(&release, (5, 8))
    });
    cfg!(target_os = "linux") && *REPORTS
}

/// Whether a kernel release string ("6.1.0-18-amd64") is at least `major.minor`.
fn kernel_at_least(release: &str, (major, minor): (u32, u32)) -> bool {
    let mut numbers = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().ok());
    match (numbers.next().flatten(), numbers.next().flatten()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

/// The writers of one file system.
pub(super) struct Group {
    ops: Box<dyn SyncOps>,
    state: Mutex<State>,
    turn: Condvar,
    /// A shared sync that took longer than this sends the group file by file.
    slow: Duration,
    /// A caller that waited this long for a sync under way stops waiting and syncs alone.
    patience: Duration,
    cool_down: Duration,
    /// The least time between the starts of two syncs.
    gather: Duration,
}

#[derive(Default)]
struct State {
    /// Tickets handed out: every caller takes the next one once its data is written.
    issued: u64,
    /// Every ticket up to this one is durable.
    covered: u64,
    /// Every ticket up to this one was handled by a sync, durable or failed.
    settled: u64,
    /// A sync is under way.
    syncing: bool,
    /// Until then, each caller syncs its own file.
    file_by_file_until: Option<Instant>,
    /// When the last sync started.
    last_start: Option<Instant>,
    /// Syncs made, for the tests: (`fsync`s, `syncfs`s).
    counts: (u64, u64),
}

impl State {
    fn file_by_file(&self) -> bool {
        self.file_by_file_until.is_some_and(|until| Instant::now() < until)
    }
}

impl Group {
    fn new(ops: Box<dyn SyncOps>, slow: Duration, patience: Duration, cool_down: Duration, gather: Duration) -> Group {
        Group {
            ops,
            state: Mutex::new(State::default()),
            turn: Condvar::new(),
            slow,
            patience,
            cool_down,
            gather,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves counters that are still consistent enough:
        // at worst a caller syncs again.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Returns once everything written to `file` (or, for a folder, the names in it) is on
    /// disk. Blocking: call it on a blocking thread.
    pub(super) fn sync(&self, file: &File) -> std::io::Result<()> {
        let mut state = self.lock();
        if state.file_by_file() {
            return self.sync_alone(state, file);
        }
        state.issued += 1;
        let ticket = state.issued;
        loop {
            if state.covered >= ticket {
                return Ok(());
            }
            // Handled by a shared sync that failed, or the group syncs file by file for now.
            if state.settled >= ticket || state.file_by_file() {
                return self.sync_alone(state, file);
            }
            if !state.syncing {
                break;
            }
            let (next, wait) = self
                .turn
                .wait_timeout(state, self.patience)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state = next;
            if wait.timed_out() && state.syncing && state.covered < ticket {
                // The sync under way is stuck, likely behind other programs' data: stop
                // sharing, and this caller syncs its own file (and the other waiters theirs).
                self.start_cool_down(&mut state);
                self.turn.notify_all();
            }
        }
        // This caller syncs next. Soon after the last sync began, it first gives the writers
        // on their way a moment to join (they wait for this sync, as for one under way).
        state.syncing = true;
        if let Some(wait) = state
            .last_start
            .and_then(|last| self.gather.checked_sub(last.elapsed()))
        {
            drop(state);
            std::thread::sleep(wait);
            state = self.lock();
            if state.file_by_file() {
                // A cool-down began meanwhile: every waiter syncs its own file, and so does this one.
                state.syncing = false;
                self.turn.notify_all();
                return self.sync_alone(state, file);
            }
        }
        // It syncs for every ticket taken so far: their data was written before they took
        // their tickets.
        let upto = state.issued;
        let alone = upto - state.settled == 1;
        let started = Instant::now();
        state.last_start = Some(started);
        drop(state);
        let result = if alone {
            self.ops.sync_one(file)
        } else {
            self.ops.sync_fs(file)
        };
        let took = started.elapsed();
        let mut state = self.lock();
        state.syncing = false;
        state.settled = state.settled.max(upto);
        if alone {
            // Its own file only: no other ticket is covered by it, and its error is its own.
            state.counts.0 += 1;
        } else {
            state.counts.1 += 1;
            if result.is_ok() {
                state.covered = state.covered.max(upto);
            }
            if result.is_err() || took > self.slow {
                self.start_cool_down(&mut state);
            }
        }
        drop(state);
        self.turn.notify_all();
        match result {
            Err(_) if !alone => {
                // Learn this file's own fate; the others learn theirs when they wake.
                self.sync_alone(self.lock(), file)
            }
            other => other,
        }
    }

    /// Syncs `file` by itself.
    fn sync_alone(&self, mut state: MutexGuard<'_, State>, file: &File) -> std::io::Result<()> {
        state.counts.0 += 1;
        drop(state);
        self.ops.sync_one(file)
    }

    /// File by file for a while; every ticket taken so far is left to its holder's own sync.
    fn start_cool_down(&self, state: &mut State) {
        state.file_by_file_until = Some(Instant::now() + self.cool_down);
        state.settled = state.issued;
    }

    /// (`fsync`s, `syncfs`s) made so far.
    #[cfg(test)]
    fn counts(&self) -> (u64, u64) {
        self.lock().counts
    }
}

/// One group per file system (device), for the whole process: the writers of every local site
/// and connection on one disk share its syncs. `None`: a file system whose `syncfs` is not
/// known to write everything back, where each file is synced alone.
/// Keyed by device and file-system type: a device number freed by an unmount may come back
/// for a file system of another kind.
static GROUPS: LazyLock<Mutex<HashMap<FileSystem, Option<Arc<Group>>>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// A file system: its device number and its type.
type FileSystem = (u64, u32);

/// Whether `syncfs` on the file system holding `file` writes back and reports everything, as
/// it does on the common local disk file systems. Not on FUSE (sshfs, ntfs-3g...), whose
/// `syncfs` returns without asking the program behind it to flush, nor on network file
/// systems: there only a file's own `fsync` reaches the storage.
fn shares_syncs(fs_type: Option<u32>) -> bool {
    const EXT2_3_4: u32 = 0xEF53;
    const XFS: u32 = 0x5846_5342;
    const BTRFS: u32 = 0x9123_683E;
    const F2FS: u32 = 0xF2F5_2010;
    const TMPFS: u32 = 0x0102_1994;
    matches!(fs_type, Some(EXT2_3_4 | XFS | BTRFS | F2FS | TMPFS))
}

/// The type (magic number) of the file system holding `file`.
#[cfg(target_os = "linux")]
fn fs_type(file: &File) -> Option<u32> {
    use std::os::fd::AsRawFd;
    // SAFETY: a zeroed `statfs` is a valid out-parameter, and the descriptor is open.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatfs(file.as_raw_fd(), &mut fs) } != 0 {
        return None;
    }
    // The magic numbers fit in 32 bits; `f_type`'s width differs between targets.
    Some(fs.f_type as u32)
}

#[cfg(not(target_os = "linux"))]
fn fs_type(_file: &File) -> Option<u32> {
    None
}

/// Makes what was written to `file` durable, sharing the sync with the other writers waiting
/// on the same file system. Blocking.
pub(super) fn sync(file: &File) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if !syncfs_reports_errors() {
        return file.sync_all();
    }
    let device = file.metadata()?.dev();
    let Some(kind) = fs_type(file) else {
        return file.sync_all();
    };
    let group = {
        let mut groups = GROUPS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        groups
            .entry((device, kind))
            .or_insert_with(|| {
                shares_syncs(Some(kind))
                    .then(|| Arc::new(Group::new(Box::new(Kernel), SLOW_SYNC, SLOW_SYNC, COOL_DOWN, GATHER)))
            })
            .clone()
    };
    match group {
        Some(group) => group.sync(file),
        None => file.sync_all(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Counts nothing itself (the group does); holds the first `fsync` until the test opens the
    /// gate, fails `syncfs` when told to, and fails the `fsync` of any file of 13 bytes.
    #[derive(Default)]
    struct Scripted {
        gate: Mutex<bool>,
        opened: Condvar,
        held_one: AtomicBool,
        fs_fails: bool,
    }

    impl Scripted {
        fn open_gate(&self) {
            *self.gate.lock().unwrap() = true;
            self.opened.notify_all();
        }
    }

    impl SyncOps for Arc<Scripted> {
        fn sync_one(&self, file: &File) -> std::io::Result<()> {
            if !self.held_one.swap(true, Ordering::SeqCst) {
                let mut open = self.gate.lock().unwrap();
                while !*open {
                    open = self.opened.wait(open).unwrap();
                }
            }
            if file.metadata()?.len() == 13 {
                return Err(std::io::Error::other("injected write-back error"));
            }
            Ok(())
        }

        fn sync_fs(&self, _file: &File) -> std::io::Result<()> {
            if self.fs_fails {
                return Err(std::io::Error::other("injected syncfs error"));
            }
            Ok(())
        }
    }

    /// Longer than any test takes.
    const LONG: Duration = Duration::from_secs(3600);

    fn file_of(dir: &tempfile::TempDir, name: &str, len: usize) -> File {
        let mut f = File::create(dir.path().join(name)).unwrap();
        f.write_all(&vec![1u8; len]).unwrap();
        f
    }

    /// A first caller holds the gate in its own `fsync`; `waiting` more callers arrive
    /// meanwhile. Returns each caller's result, by file length.
    fn round(group: Arc<Group>, ops: Arc<Scripted>, lens: &[usize]) -> Vec<(usize, std::io::Result<()>)> {
        let dir = tempfile::tempdir().unwrap();
        let first = {
            let (group, f) = (group.clone(), file_of(&dir, "first", 1));
            std::thread::spawn(move || (1, group.sync(&f)))
        };
        while !ops.held_one.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let others: Vec<_> = lens
            .iter()
            .enumerate()
            .map(|(i, &len)| {
                let (group, f) = (group.clone(), file_of(&dir, &format!("f{i}"), len));
                std::thread::spawn(move || (len, group.sync(&f)))
            })
            .collect();
        // Every caller has its ticket before the first sync ends.
        while group.lock().issued < 1 + lens.len() as u64 {
            std::thread::yield_now();
        }
        ops.open_gate();
        std::iter::once(first)
            .chain(others)
            .map(|t| t.join().unwrap())
            .collect()
    }

    #[test]
    fn writers_waiting_together_share_one_sync() {
        let ops = Arc::new(Scripted::default());
        let group = Arc::new(Group::new(Box::new(ops.clone()), LONG, LONG, COOL_DOWN, GATHER));
        let results = round(group.clone(), ops, &[2; 15]);
        assert!(results.iter().all(|(_, r)| r.is_ok()));
        // The first alone (its own fsync), the fifteen that waited with one syncfs.
        assert_eq!(group.counts(), (1, 1));
        // A caller alone later syncs only its file.
        let dir = tempfile::tempdir().unwrap();
        group.sync(&file_of(&dir, "late", 3)).unwrap();
        assert_eq!(group.counts(), (2, 1));
    }

    #[test]
    fn writers_arriving_soon_after_a_sync_began_wait_to_share_the_next() {
        // No gate: every sync returns at once.
        let ops = Arc::new(Scripted {
            held_one: AtomicBool::new(true),
            ..Scripted::default()
        });
        let gather = Duration::from_millis(300);
        let group = Arc::new(Group::new(Box::new(ops), LONG, LONG, COOL_DOWN, gather));
        let dir = tempfile::tempdir().unwrap();
        // After a quiet spell a writer is not held: it syncs its own file at once.
        let quiet = Instant::now();
        group.sync(&file_of(&dir, "first", 1)).unwrap();
        assert!(quiet.elapsed() < gather, "a lone writer was held");
        assert_eq!(group.counts(), (1, 0));
        // Three writers, one after another, soon after: each would have synced alone (three
        // fsyncs); they wait for the moment to pass and share one syncfs.
        let writers: Vec<_> = (0..3)
            .map(|i| {
                let (group, f) = (group.clone(), file_of(&dir, &format!("f{i}"), 2));
                let writer = std::thread::spawn(move || group.sync(&f));
                std::thread::sleep(Duration::from_millis(30));
                writer
            })
            .collect();
        for w in writers {
            w.join().unwrap().unwrap();
        }
        assert_eq!(group.counts(), (1, 1));
    }

    #[test]
    fn a_failed_shared_sync_is_retried_file_by_file_and_each_file_learns_its_own_error() {
        let ops = Arc::new(Scripted {
            fs_fails: true,
            ..Scripted::default()
        });
        let group = Arc::new(Group::new(Box::new(ops.clone()), LONG, LONG, COOL_DOWN, GATHER));
        let results = round(group.clone(), ops, &[2, 13, 2]);
        for (len, result) in &results {
            match len {
                13 => assert!(
                    result
                        .as_ref()
                        .is_err_and(|e| e.to_string().contains("injected write-back")),
                    "{result:?}"
                ),
                _ => assert!(result.is_ok(), "{len}: {result:?}"),
            }
        }
        // One fsync first, one syncfs that failed, then an fsync by each of the three.
        assert_eq!(group.counts(), (4, 1));
        // For the cool-down, callers sync file by file without waiting for each other.
        let dir = tempfile::tempdir().unwrap();
        assert!(group.sync(&file_of(&dir, "bad", 13)).is_err());
        group.sync(&file_of(&dir, "good", 2)).unwrap();
        assert_eq!(group.counts(), (6, 1));
    }

    #[test]
    fn a_slow_shared_sync_sends_the_group_file_by_file() {
        let ops = Arc::new(Scripted::default());
        // Every syncfs counts as slow.
        let group = Arc::new(Group::new(
            Box::new(ops.clone()),
            Duration::ZERO,
            LONG,
            COOL_DOWN,
            GATHER,
        ));
        let results = round(group.clone(), ops, &[2, 2]);
        assert!(results.iter().all(|(_, r)| r.is_ok()));
        assert_eq!(group.counts(), (1, 1));
        let dir = tempfile::tempdir().unwrap();
        group.sync(&file_of(&dir, "next", 2)).unwrap();
        assert_eq!(group.counts(), (2, 1), "after a slow syncfs, an fsync of its own");
    }

    #[test]
    fn a_caller_stops_waiting_for_a_stuck_sync_and_syncs_its_own_file() {
        let ops = Arc::new(Scripted::default());
        // No patience: a caller that finds a sync under way gives up on it at once.
        let group = Arc::new(Group::new(
            Box::new(ops.clone()),
            LONG,
            Duration::ZERO,
            COOL_DOWN,
            GATHER,
        ));
        let dir = tempfile::tempdir().unwrap();
        let stuck = {
            let (group, f) = (group.clone(), file_of(&dir, "stuck", 1));
            std::thread::spawn(move || group.sync(&f))
        };
        while !ops.held_one.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        // The first sync is still held at the gate, and this one returns anyway.
        group.sync(&file_of(&dir, "next", 2)).unwrap();
        assert!(!stuck.is_finished());
        assert_eq!(group.counts(), (1, 0), "the next caller synced its own file");
        ops.open_gate();
        stuck.join().unwrap().unwrap();
        // And the group syncs file by file for the cool-down.
        group.sync(&file_of(&dir, "later", 2)).unwrap();
        assert_eq!(group.counts(), (3, 0));
    }

    #[test]
    fn kernels_before_5_8_sync_file_by_file() {
        assert!(kernel_at_least("6.18.44-fc-v782", (5, 8)));
        assert!(kernel_at_least("5.8.0", (5, 8)));
        assert!(kernel_at_least("5.10.0-28-amd64\n", (5, 8)));
        assert!(!kernel_at_least("5.4.0-150-generic", (5, 8)));
        assert!(!kernel_at_least("4.19.0", (5, 8)));
        assert!(!kernel_at_least("", (5, 8)));
        assert!(!kernel_at_least("garbage", (5, 8)));
    }

    #[test]
    fn the_kernel_syncs_files_folders_and_file_systems() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_of(&dir, "real", 100);
        // Shared on a RAM disk (the kind the tests' temporary folders may be on, or not);
        // never on /proc, which is no disk at all.
        if cfg!(target_os = "linux") {
            if let Ok(shm) = File::open("/dev/shm") {
                assert!(shares_syncs(fs_type(&shm)));
            }
            assert!(!shares_syncs(fs_type(&File::open("/proc/self/status").unwrap())));
        }
        Kernel.sync_one(&f).unwrap();
        Kernel.sync_fs(&f).unwrap();
        sync(&File::open(dir.path()).unwrap()).unwrap();
        sync(&f).unwrap();
    }
}
