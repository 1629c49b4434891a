-- 0007-train.sql - training runs launched from the workbench (docs/SERVER.md)
--
-- A train job (jobs.kind = 'train') has one train_runs row: the version it
-- trains on, the token shards made for it (tokens: the cache directory
-- under the data directory, keyed by version and tokenizer), the
-- tokenizer's hash, the version's pipeline config hash, and its run
-- directory (run_dir, under the data directory) where `nh-train launch`
-- writes. pid is the detached supervisor's while it runs (NULL before
-- and after), so a restarted nhd reattaches; off_* are the bytes of its
-- stdout (metrics), supervisor.jsonl and stderr (log) already stored.
-- train_records keeps every metrics line and supervisor record in order.
CREATE TABLE train_runs (
    job_id         INTEGER PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    version_id     TEXT    NOT NULL REFERENCES versions (id),
    config_hash    TEXT,
    tokenizer_hash TEXT,
    tokens         TEXT,
    run_dir        TEXT    NOT NULL,
    pid            INTEGER,
    off_out        INTEGER NOT NULL DEFAULT 0,
    off_sup        INTEGER NOT NULL DEFAULT 0,
    off_log        INTEGER NOT NULL DEFAULT 0,
    last_step      INTEGER,
    last_loss      REAL,
    restarts       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX train_runs_version ON train_runs (version_id);

CREATE TABLE train_records (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL CHECK (seq >= 0),
    source TEXT    NOT NULL CHECK (source IN ('metrics', 'supervisor')),
    record TEXT    NOT NULL,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
