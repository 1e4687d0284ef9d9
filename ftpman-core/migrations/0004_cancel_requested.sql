-- A run can be cancelled from any process or node: the request is recorded here, and the node
-- running the run sees it within a second (with its progress write).
ALTER TABLE runs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;
