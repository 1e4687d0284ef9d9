-- Job groups: jobs run one after another as one unit. `job_ids` is a JSON array, in order.
CREATE TABLE job_groups (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    name                TEXT NOT NULL UNIQUE,
    enabled             BOOLEAN NOT NULL,
    job_ids             TEXT NOT NULL,
    schedule_kind       TEXT NOT NULL,
    schedule_expr       TEXT,
    schedule_tz         TEXT,
    schedule_at         INTEGER,
    continue_on_failure BOOLEAN NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);

-- One row per run of a group; a fire makes one row across nodes (the unique pair), and a
-- group runs once at a time (the partial index), as jobs do.
CREATE TABLE group_runs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id         INTEGER NOT NULL REFERENCES job_groups(id) ON DELETE CASCADE,
    run_trigger      TEXT NOT NULL,
    scheduled_for    INTEGER,
    reference_at     INTEGER,
    again            BOOLEAN NOT NULL DEFAULT FALSE,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    status           TEXT NOT NULL,
    error            TEXT,
    node_id          TEXT,
    lease_expires_at INTEGER,
    UNIQUE (group_id, scheduled_for)
);
CREATE INDEX group_runs_status ON group_runs (status, id);
CREATE INDEX group_runs_group ON group_runs (group_id, id);
CREATE UNIQUE INDEX group_runs_one_running ON group_runs (group_id) WHERE status = 'running';

-- The job runs a group run made, in order.
ALTER TABLE runs ADD COLUMN group_run_id INTEGER REFERENCES group_runs(id) ON DELETE SET NULL;
CREATE INDEX runs_group_run ON runs (group_run_id);
