-- A job's or a group's own time zone where its schedule is not a cron expression (a cron
-- schedule keeps its zone in schedule_tz): what windows, path templates and backfill times
-- are read in.
ALTER TABLE jobs ADD COLUMN zone TEXT;
ALTER TABLE job_groups ADD COLUMN zone TEXT;
