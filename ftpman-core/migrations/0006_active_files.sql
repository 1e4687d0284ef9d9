-- The files a running run is moving, with their bytes so far (JSON), written with its progress
-- every second: what a process other than the one running it shows per file.
ALTER TABLE runs ADD COLUMN active_files TEXT;
