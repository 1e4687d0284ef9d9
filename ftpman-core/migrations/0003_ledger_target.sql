-- What the ledger needs to replace only what its job delivered, to compare coarse listing times,
-- and to finish an after-delivery action that a crash interrupted.
ALTER TABLE ledger ADD COLUMN target_path TEXT;
ALTER TABLE ledger ADD COLUMN mtime_granularity BIGINT NOT NULL DEFAULT 1;
ALTER TABLE ledger ADD COLUMN after_pending BOOLEAN NOT NULL DEFAULT FALSE;
