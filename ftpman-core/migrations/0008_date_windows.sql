-- Which files a job takes by date: a window (previous-day, cycle:26, ...) on the files'
-- modification times, or on a date read from their names with a pattern.
ALTER TABLE jobs ADD COLUMN date_window TEXT;
ALTER TABLE jobs ADD COLUMN name_date TEXT;
-- A run's reference time (a backfill's --as-of; else the fire it stands for, else its
-- creation), whether it sends files again that the ledger has, the window it resolved to, and
-- the files it passed over because no date could be read for them.
ALTER TABLE runs ADD COLUMN reference_at BIGINT;
ALTER TABLE runs ADD COLUMN again BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE runs ADD COLUMN date_window TEXT;
ALTER TABLE runs ADD COLUMN undated BIGINT NOT NULL DEFAULT 0;
