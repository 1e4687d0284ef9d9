//! The command-line grammar (clap), as docs/architecture.md ("The CLI contract") describes it.

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::engine::ArgValueCompleter;
use std::path::PathBuf;

/// ftpman: managed file transfer between FTP, FTPS, SFTP servers and local folders.
#[derive(Parser)]
#[command(
    version,
    about,
    propagate_version = true,
    after_help = "Start with `ftpman site add --help`."
)]
pub struct Cli {
    /// Database: sqlite://PATH (embedded) or postgres://user@host/db.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://ftpman.db", global = true)]
    pub db: String,
    /// Machine-readable output (list, show, run, runs, logs).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

// One value per process, parsed once: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum Command {
    /// Run the scheduler and the web API until SIGINT or SIGTERM.
    #[command(after_help = "Example: ftpman serve --bind 127.0.0.1:8080")]
    Serve(ServeArgs),
    /// Sites: where files come from and go to.
    #[command(subcommand)]
    Site(SiteCommand),
    /// Jobs: what moves where, and when.
    #[command(subcommand)]
    Job(JobCommand),
    /// Groups: jobs run one after another as one unit.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Recent runs.
    #[command(after_help = "Example: ftpman runs --job nightly --limit 20")]
    Runs {
        /// Only this job's runs.
        #[arg(long, add = ArgValueCompleter::new(crate::complete::jobs))]
        job: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// One run.
    #[command(subcommand)]
    Run(RunCommand),
    /// The system log.
    #[command(after_help = "Example: ftpman logs --level warn --follow")]
    Logs(LogsArgs),
    /// Upload local files into a site's folder.
    #[command(after_help = "Example: ftpman upload partner:/inbound report.csv data.zip")]
    Upload {
        /// SITE:PATH of the target folder.
        target: String,
        /// Local files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Download a file, or a folder's files, into a local folder.
    #[command(after_help = "Example: ftpman download partner:/outbound ./incoming")]
    Download {
        /// SITE:PATH of a file or folder.
        source: String,
        /// Local folder.
        dest: PathBuf,
    },
    /// Settings (SMTP, webhook, retention).
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// E-mail.
    #[command(subcommand)]
    Smtp(SmtpCommand),
    /// Web users.
    #[command(subcommand)]
    User(UserCommand),
    /// API tokens for programs (`Authorization: Bearer ...`).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print a shell's completion registration: it completes commands, flags, and the site and
    /// job names in the database (asking `ftpman` as you type).
    #[command(
        after_help = "Examples:\n  source <(ftpman completions bash)\n  ftpman completions zsh > ~/.zfunc/_ftpman"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Open the database (creating it) and print what it holds.
    #[command(after_help = "Example: ftpman --db postgres://ftpman@db/ftpman status")]
    Status,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address the web API listens on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Do not serve the web API.
    #[arg(long)]
    pub no_web: bool,
    /// Do not run the scheduler (web API only).
    #[arg(long)]
    pub no_scheduler: bool,
    /// Runs executed at once by this node.
    #[arg(long, default_value_t = 4)]
    pub max_runs: usize,
    /// This node's id in the cluster (default: host name and a random suffix).
    #[arg(long)]
    pub node_id: Option<String>,
    /// How long a node's claim on a run (and on connection slots) holds without renewal; a
    /// node that dies loses its runs after this.
    #[arg(long, default_value = "60s", env = "FTPMAN_LEASE")]
    pub lease: String,
    /// On SIGINT/SIGTERM, how long running files get to finish before their runs are
    /// interrupted (the next run continues them).
    #[arg(long, default_value = "30s")]
    pub grace: String,
    /// A reverse proxy whose X-Forwarded-For/Proto/Host headers are believed (an address or
    /// a CIDR block; repeat for several).
    #[arg(long, value_name = "ADDR")]
    pub trusted_proxy: Vec<String>,
    /// Serve every page and API route under this prefix (e.g. /ftpman behind a proxy).
    #[arg(long, default_value = "/")]
    pub base_path: String,
    /// The largest file one upload may carry (e.g. 500M, 2G).
    #[arg(long, default_value = "1G")]
    pub upload_limit: String,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Args, Default)]
pub struct SiteFlags {
    /// sftp://user@host:port/root, ftp://..., ftps://..., ftps-implicit://..., file:///abs/dir
    #[arg(long)]
    pub url: Option<String>,
    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "password_stdin")]
    pub password_env: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// SFTP private key file (OpenSSH, PEM or PKCS#8).
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Read the key's passphrase from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub key_passphrase_env: Option<String>,
    /// Pin this SSH host key (SHA256:...).
    #[arg(long, conflicts_with = "accept_new_host_key")]
    pub host_key: Option<String>,
    /// Pin whatever host key the server offers now.
    #[arg(long)]
    pub accept_new_host_key: bool,
    /// Pin this TLS certificate (SHA-256, hex).
    #[arg(long)]
    pub cert_fingerprint: Option<String>,
    /// Most connections at once.
    #[arg(long)]
    pub max_connections: Option<u32>,
    /// Active FTP instead of passive.
    #[arg(long, conflicts_with = "passive")]
    pub active: bool,
    /// Passive FTP (the default; undoes --active).
    #[arg(long)]
    pub passive: bool,
    /// Do not verify the TLS certificate (logged as a warning at each connection).
    #[arg(long, conflicts_with = "verify_tls")]
    pub insecure_skip_verify: bool,
    /// Verify the TLS certificate (the default; undoes --insecure-skip-verify).
    #[arg(long)]
    pub verify_tls: bool,
    /// Make a local folder that does not exist yet.
    #[arg(long)]
    pub create: bool,
    /// Connect and operation timeout, e.g. 30s.
    #[arg(long)]
    pub timeout: Option<String>,
}

#[derive(Subcommand)]
pub enum SiteCommand {
    /// Add a site.
    #[command(
        after_help = "Examples:\n  PARTNER_PW=... ftpman site add partner --url sftp://bob@sftp.example.com/out --password-env PARTNER_PW\n  ftpman site add archive --url file:///srv/archive"
    )]
    Add {
        /// Site name: lower-case letters, digits, '-' and '_'.
        name: String,
        #[command(flatten)]
        flags: SiteFlags,
    },
    /// List sites.
    #[command(after_help = "Example: ftpman site list --json")]
    List,
    /// Show a site.
    #[command(after_help = "Example: ftpman site show partner")]
    Show {
        #[arg(add = ArgValueCompleter::new(crate::complete::sites))]
        name: String,
    },
    /// Change a site.
    #[command(after_help = "Example: ftpman site edit partner --max-connections 2")]
    Edit {
        #[arg(add = ArgValueCompleter::new(crate::complete::sites))]
        name: String,
        #[command(flatten)]
        flags: SiteFlags,
    },
    /// Remove a site no job uses.
    #[command(after_help = "Example: ftpman site remove old-partner")]
    Remove {
        #[arg(add = ArgValueCompleter::new(crate::complete::sites))]
        name: String,
    },
    /// Connect, log in and list the root.
    #[command(after_help = "Example: ftpman site test partner")]
    Test {
        #[arg(add = ArgValueCompleter::new(crate::complete::sites))]
        name: String,
    },
    /// List a folder of a site.
    #[command(after_help = "Example: ftpman site ls partner /outbound")]
    Ls {
        #[arg(add = ArgValueCompleter::new(crate::complete::sites))]
        name: String,
        #[arg(default_value = "/")]
        path: String,
        /// Exact sizes in bytes (the default is human units).
        #[arg(short = 'l', long)]
        bytes: bool,
    },
}

/// When a job or a group runs by itself.
#[derive(Args, Default)]
pub struct ScheduleFlags {
    /// Cron expression, 5 fields or 6 with seconds ("0 2 * * *").
    #[arg(long, conflicts_with = "at")]
    pub schedule: Option<String>,
    /// Time zone (Europe/Berlin; default UTC): the cron expression, --at, date windows, path
    /// templates and backfill times are read in it, with or without a schedule; a new
    /// schedule keeps the zone unless given another.
    #[arg(long)]
    pub tz: Option<String>,
    /// Run once at this time (2026-12-01T02:00:00Z, or "2026-12-01 02:00" in --tz).
    #[arg(long)]
    pub at: Option<String>,
    /// Run only when started by hand (removes a schedule).
    #[arg(long, conflicts_with_all = ["schedule", "at"])]
    pub manual: bool,
}

#[derive(Args, Default)]
pub struct JobFlags {
    /// SITE:PATH files come from.
    #[arg(long, add = ArgValueCompleter::new(crate::complete::site_paths))]
    pub from: Option<String>,
    /// SITE:PATH files go to ({yyyy} {mm} {dd} {hh} {mi} {ss} {job} {name} {stem} {ext} {run} {group}).
    #[arg(long, add = ArgValueCompleter::new(crate::complete::site_paths))]
    pub to: Option<String>,
    /// Only files matching this glob (repeatable).
    #[arg(long)]
    pub include: Vec<String>,
    /// Never files matching this glob (repeatable).
    #[arg(long)]
    pub exclude: Vec<String>,
    /// Walk sub-folders.
    #[arg(long, conflicts_with = "no_recursive")]
    pub recursive: bool,
    /// Only the folder itself (the default; undoes --recursive).
    #[arg(long)]
    pub no_recursive: bool,
    /// A file must be unchanged this long (5m).
    #[arg(long)]
    pub min_age: Option<String>,
    /// Ignore files older than this (7d).
    #[arg(long)]
    pub max_age: Option<String>,
    /// Only the files of a period, from each run's reference time in the job's zone:
    /// previous-day, previous-week, previous-month, cycle:DAY (cycle:26), cycle:FROM..TO,
    /// last:DURATION (last:36h), DATE..DATE or YYYY-MM; none removes it.
    #[arg(long)]
    pub window: Option<String>,
    /// Read each file's date for --window from its name instead of its modification time:
    /// {yyyy}{mm}{dd}, D{yy}{mm}{dd}, ... (none removes it).
    #[arg(long)]
    pub name_date: Option<String>,
    #[command(flatten)]
    pub when: ScheduleFlags,
    /// Longest a single file may take (1h).
    #[arg(long)]
    pub file_timeout: Option<String>,
    /// After delivery: keep, delete or move:DIR.
    #[arg(long)]
    pub after: Option<String>,
    /// When the target name is taken: replace-own (the default: replace what this job
    /// delivered there, fail on anything else), overwrite, skip, rename (name_1.ext) or fail.
    #[arg(long)]
    pub on_conflict: Option<String>,
    /// Write under the final name directly (no temporary name).
    #[arg(long, conflicts_with = "atomic")]
    pub no_atomic: bool,
    /// Write under a temporary name and rename when verified (the default; undoes --no-atomic).
    #[arg(long)]
    pub atomic: bool,
    /// Files at once.
    #[arg(long)]
    pub parallel: Option<u32>,
    /// Retries per file.
    #[arg(long)]
    pub retries: Option<u32>,
    /// Delay before a file's first retry, doubling for each next one (5s).
    #[arg(long)]
    pub retry_backoff: Option<String>,
    /// Bandwidth limit in bytes per second (10M).
    #[arg(long)]
    pub bwlimit: Option<String>,
    /// never, failure or always.
    #[arg(long)]
    pub notify: Option<String>,
    /// E-mail recipient (repeatable).
    #[arg(long)]
    pub email: Vec<String>,
}

#[derive(Subcommand)]
pub enum JobCommand {
    /// Add a job.
    #[command(
        after_help = "Example: ftpman job add nightly --from partner:/out --to archive:/in/{yyyy}/{mm} --include '*.csv' --schedule '0 2 * * *' --tz Europe/Berlin --after delete"
    )]
    Add {
        /// Job name.
        name: String,
        #[command(flatten)]
        flags: JobFlags,
    },
    /// List jobs.
    #[command(after_help = "Example: ftpman job list --json")]
    List,
    /// Show a job and its next fires.
    #[command(after_help = "Example: ftpman job show nightly")]
    Show {
        #[arg(add = ArgValueCompleter::new(crate::complete::jobs))]
        name: String,
    },
    /// Change a job.
    #[command(after_help = "Example: ftpman job edit nightly --schedule '30 1 * * *'")]
    Edit {
        #[arg(add = ArgValueCompleter::new(crate::complete::jobs))]
        name: String,
        #[command(flatten)]
        flags: JobFlags,
    },
    /// Remove a job with its runs and ledger.
    #[command(after_help = "Example: ftpman job remove nightly")]
    Remove {
        #[arg(add = ArgValueCompleter::new(crate::complete::jobs))]
        name: String,
    },
    /// Enable a job.
    #[command(after_help = "Example: ftpman job enable nightly")]
    Enable {
        #[arg(add = ArgValueCompleter::new(crate::complete::jobs))]
        name: String,
    },
    /// Disable a job.
    #[command(after_help = "Example: ftpman job disable nightly")]
    Disable {
        #[arg(add = ArgValueCompleter::new(crate::complete::jobs))]
        name: String,
    },
    /// Clear a job's ledger (all of it, or the source paths given), so those files are sent
    /// again by its next run.
    #[command(after_help = "Example: ftpman job forget nightly /out/2026-11-30.csv")]
    Forget {
        #[arg(add = ArgValueCompleter::new(crate::complete::jobs))]
        name: String,
        paths: Vec<String>,
    },
    /// Run a job now; exit 0 only if the run succeeded.
    #[command(
        after_help = "Examples:\n  ftpman job run nightly --dry-run\n  ftpman job run billing --as-of '2026-11-26 02:00' --again"
    )]
    Run {
        #[arg(add = ArgValueCompleter::new(crate::complete::jobs))]
        name: String,
        /// Show what would move; move nothing.
        #[arg(long)]
        dry_run: bool,
        /// A backfill: run as if fired at this time (2026-11-26T02:00:00+01:00, or
        /// "2026-11-26 02:00" in the job's zone): its window and target path follow it.
        #[arg(long)]
        as_of: Option<String>,
        /// Send the files of the window even if the ledger has them.
        #[arg(long)]
        again: bool,
    },
}

#[derive(Args, Default)]
pub struct GroupFlags {
    /// The jobs, in the order they run (a,b,c).
    #[arg(long, value_delimiter = ',', add = ArgValueCompleter::new(crate::complete::jobs))]
    pub jobs: Vec<String>,
    #[command(flatten)]
    pub when: ScheduleFlags,
    /// Go on with the next job after one failed (by default the group stops there).
    #[arg(long, conflicts_with = "stop_on_failure")]
    pub continue_on_failure: bool,
    /// Stop at the first failed job (the default; undoes --continue-on-failure).
    #[arg(long)]
    pub stop_on_failure: bool,
}

#[derive(Subcommand)]
pub enum GroupCommand {
    /// Add a group of jobs.
    #[command(
        after_help = "Example: ftpman group add carriers --jobs collect-a,collect-b,upload --schedule '0 3 * * *' --tz Europe/Berlin"
    )]
    Add {
        /// Group name.
        name: String,
        #[command(flatten)]
        flags: GroupFlags,
    },
    /// List groups.
    #[command(after_help = "Example: ftpman group list --json")]
    List,
    /// Show a group, its next fires and its latest runs.
    #[command(after_help = "Example: ftpman group show carriers")]
    Show {
        #[arg(add = ArgValueCompleter::new(crate::complete::groups))]
        name: String,
    },
    /// Change a group.
    #[command(after_help = "Example: ftpman group edit carriers --jobs collect-a,upload --continue-on-failure")]
    Edit {
        #[arg(add = ArgValueCompleter::new(crate::complete::groups))]
        name: String,
        #[command(flatten)]
        flags: GroupFlags,
    },
    /// Remove a group with its runs (its jobs stay).
    #[command(after_help = "Example: ftpman group remove carriers")]
    Remove {
        #[arg(add = ArgValueCompleter::new(crate::complete::groups))]
        name: String,
    },
    /// Enable a group's schedule.
    Enable {
        #[arg(add = ArgValueCompleter::new(crate::complete::groups))]
        name: String,
    },
    /// Disable a group's schedule.
    Disable {
        #[arg(add = ArgValueCompleter::new(crate::complete::groups))]
        name: String,
    },
    /// Run a group now: its jobs one after another; exit 0 only if every job succeeded.
    #[command(
        after_help = "Examples:\n  ftpman group run carriers\n  ftpman group run carriers --as-of '2026-11-26 03:00' --again"
    )]
    Run {
        #[arg(add = ArgValueCompleter::new(crate::complete::groups))]
        name: String,
        /// A backfill: as if fired at this time (read in the group's zone); each job's window
        /// and target path follow it.
        #[arg(long)]
        as_of: Option<String>,
        /// Send the files of the jobs' windows even if their ledgers have them.
        #[arg(long)]
        again: bool,
    },
}

#[derive(Subcommand)]
pub enum RunCommand {
    /// Show a run and its files.
    #[command(after_help = "Example: ftpman run show 42")]
    Show { id: i64 },
    /// Cancel a run, wherever it runs (this machine or another node), and wait for it to stop.
    #[command(after_help = "Example: ftpman run cancel 42")]
    Cancel { id: i64 },
    /// Follow a run as it goes (started here, by another process or on another node) until it
    /// ends; exit 0 only if it succeeded.
    #[command(after_help = "Example: ftpman run watch 42")]
    Watch { id: i64 },
}

#[derive(Subcommand)]
pub enum SettingsCommand {
    /// Show the settings (secrets masked).
    #[command(after_help = "Example: ftpman settings show")]
    Show,
    /// Set a setting. Secret ones (smtp.password, webhook.secret) are read from an environment
    /// variable or standard input, never from the command line.
    #[command(
        after_help = "Examples:\n  ftpman settings set smtp.host mail.example.com\n  SMTP_PW=... ftpman settings set smtp.password --value-env SMTP_PW"
    )]
    Set {
        key: String,
        /// The value (not for secret settings).
        value: Option<String>,
        /// Read the value from this environment variable.
        #[arg(long, value_name = "VAR", conflicts_with_all = ["value", "value_stdin"])]
        value_env: Option<String>,
        /// Read the value from standard input.
        #[arg(long, conflicts_with = "value")]
        value_stdin: bool,
    },
    /// Remove a setting.
    #[command(after_help = "Example: ftpman settings unset webhook.url")]
    Unset { key: String },
}

#[derive(Subcommand)]
pub enum SmtpCommand {
    /// Send a test e-mail.
    #[command(after_help = "Example: ftpman smtp test ops@example.com")]
    Test { addr: String },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Role {
    Admin,
    Operator,
    Viewer,
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a web user (password prompted, or from standard input).
    #[command(after_help = "Example: ftpman user add alice --role operator")]
    Add {
        name: String,
        #[arg(long, value_enum, default_value = "viewer")]
        role: Role,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    #[command(after_help = "Example: ftpman user list")]
    List,
    /// Change a user's role, or reset their password (which ends their web sessions).
    #[command(
        after_help = "Examples:\n  ftpman user edit alice --role admin\n  ftpman user edit alice --password-stdin < new-password.txt"
    )]
    Edit {
        name: String,
        /// The new role.
        #[arg(long, value_enum)]
        role: Option<Role>,
        /// A new password, read from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// A new password, asked for on the terminal.
        #[arg(long, conflicts_with = "password_stdin")]
        reset_password: bool,
    },
    /// Remove a user.
    #[command(after_help = "Example: ftpman user remove alice")]
    Remove { name: String },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Make an API token for a user; its secret is printed this once.
    #[command(after_help = "Example: ftpman token create airflow --user alice --role operator")]
    Create {
        /// What the token is for.
        name: String,
        /// The user it acts for.
        #[arg(long)]
        user: String,
        /// Its role, at most the user's.
        #[arg(long, value_enum, default_value = "viewer")]
        role: Role,
    },
    /// List tokens (never their secrets).
    #[command(after_help = "Example: ftpman token list")]
    List,
    /// Revoke a token: it is refused from now on.
    #[command(after_help = "Example: ftpman token revoke 3")]
    Revoke { id: i64 },
}

/// What `ftpman logs` shows.
#[derive(Args)]
pub struct LogsArgs {
    /// Only entries at least this severe.
    #[arg(long, value_enum)]
    pub level: Option<Level>,
    /// How many.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// Keep printing new entries.
    #[arg(long)]
    pub follow: bool,
    /// Only entries about this job.
    #[arg(long, add = ArgValueCompleter::new(crate::complete::jobs))]
    pub job: Option<String>,
    /// Only this component: engine, scheduler, transport, audit, notify.
    #[arg(long)]
    pub component: Option<String>,
    /// Only entries since this long ago (2h) or this time (2026-12-01T02:00:00Z).
    #[arg(long)]
    pub since: Option<String>,
}
