-- 0003-jobs.sql - what a job works on and what it made
--
-- dataset: the input dataset's name; input: the input version; output:
-- the version the job made (NULL until it succeeded); user: who started
-- it; removed: JSON list of the object-store shards holding the
-- documents the job removed ([{"object", "docs", "bytes"}]), kept for
-- audits of a filter's precision. (0002 is the uploads migration.)
ALTER TABLE jobs ADD COLUMN dataset TEXT;
ALTER TABLE jobs ADD COLUMN input TEXT REFERENCES versions (id);
ALTER TABLE jobs ADD COLUMN output TEXT REFERENCES versions (id);
ALTER TABLE jobs ADD COLUMN user TEXT;
ALTER TABLE jobs ADD COLUMN removed TEXT;
