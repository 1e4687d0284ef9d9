-- ftpman schema, SQLite. Times are Unix milliseconds; secrets are sealed (v1:base64).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE sites (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    name                 TEXT NOT NULL UNIQUE,
    protocol             TEXT NOT NULL,
    host                 TEXT NOT NULL,
    port                 INTEGER NOT NULL,
    username             TEXT NOT NULL,
    password_enc         TEXT,
    private_key_enc      TEXT,
    key_passphrase_enc   TEXT,
    root                 TEXT NOT NULL,
    passive              BOOLEAN NOT NULL,
    host_key             TEXT,
    cert_fingerprint     TEXT,
    insecure_skip_verify BOOLEAN NOT NULL,
    connect_timeout_secs INTEGER NOT NULL,
    max_connections      INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);

CREATE TABLE jobs (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT NOT NULL UNIQUE,
    enabled            BOOLEAN NOT NULL,
    source_site_id     INTEGER NOT NULL REFERENCES sites(id),
    source_path        TEXT NOT NULL,
    target_site_id     INTEGER NOT NULL REFERENCES sites(id),
    target_path        TEXT NOT NULL,
    include_globs      TEXT NOT NULL,
    exclude_globs      TEXT NOT NULL,
    recurse_dirs       BOOLEAN NOT NULL,
    min_age_secs       INTEGER NOT NULL,
    max_age_secs       INTEGER,
    conflict           TEXT NOT NULL,
    after_action       TEXT NOT NULL,
    atomic             BOOLEAN NOT NULL,
    parallel           INTEGER NOT NULL,
    retries            INTEGER NOT NULL,
    retry_backoff_secs INTEGER NOT NULL,
    file_timeout_secs  INTEGER NOT NULL,
    bwlimit            INTEGER,
    schedule_kind      TEXT NOT NULL,
    schedule_expr      TEXT,
    schedule_tz        TEXT,
    schedule_at        INTEGER,
    notify             TEXT NOT NULL,
    recipients         TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);

CREATE TABLE runs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id           INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    run_trigger      TEXT NOT NULL,
    scheduled_for    INTEGER,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    status           TEXT NOT NULL,
    found            INTEGER NOT NULL DEFAULT 0,
    transferred      INTEGER NOT NULL DEFAULT 0,
    skipped          INTEGER NOT NULL DEFAULT 0,
    failed           INTEGER NOT NULL DEFAULT 0,
    bytes            INTEGER NOT NULL DEFAULT 0,
    error            TEXT,
    node_id          TEXT,
    lease_expires_at INTEGER,
    dry_run          BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (job_id, scheduled_for)
);
CREATE INDEX runs_status ON runs (status, id);
CREATE INDEX runs_job ON runs (job_id, id);
CREATE INDEX runs_created ON runs (created_at);
-- A job never runs twice at once, whatever the nodes do.
CREATE UNIQUE INDEX runs_one_running_per_job ON runs (job_id) WHERE status = 'running';

CREATE TABLE run_files (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    source_path TEXT NOT NULL,
    target_path TEXT NOT NULL,
    size        INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    status      TEXT NOT NULL,
    error       TEXT
);
CREATE INDEX run_files_run ON run_files (run_id, id);

CREATE TABLE ledger (
    job_id       INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    source_path  TEXT NOT NULL,
    size         INTEGER NOT NULL,
    mtime        INTEGER,
    delivered_at INTEGER NOT NULL,
    run_id       INTEGER NOT NULL,
    PRIMARY KEY (job_id, source_path)
);

CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL,
    secret BOOLEAN NOT NULL
);

CREATE TABLE system_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    time       INTEGER NOT NULL,
    level      TEXT NOT NULL,
    level_rank INTEGER NOT NULL,
    component  TEXT NOT NULL,
    message    TEXT NOT NULL,
    context    TEXT NOT NULL
);
CREATE INDEX system_log_time ON system_log (time);

CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);
