-- The fraction of a second of a delivered file's time (nanoseconds; 0 where the source gives
-- whole seconds), so that a file rewritten at the same size within the second it was delivered
-- in is not taken for the delivered one.
ALTER TABLE ledger ADD COLUMN mtime_nanos BIGINT NOT NULL DEFAULT 0;
