-- 0001-init.sql - the first schema of nhd's database (DIR/naohai.db)
--
-- Applied by server/store.c inside one transaction that also sets
-- PRAGMA user_version = 1. Later changes go in new files NNNN-what.sql;
-- never edit a migration that has shipped. Times are Unix seconds (UTC).
-- Hashes are lowercase hex: SHA-256 (64 digits) for token secrets,
-- XXH3-128 (32 digits) for content (versions, shard objects).

-- People and their roles; a user authenticates with any of its tokens.
CREATE TABLE users (
    id      INTEGER PRIMARY KEY,
    name    TEXT    NOT NULL UNIQUE
                    CHECK (length(name) BETWEEN 1 AND 64),
    role    TEXT    NOT NULL
                    CHECK (role IN ('admin', 'engineer', 'reviewer')),
    created INTEGER NOT NULL DEFAULT (unixepoch())
);

-- SHA-256 of each 32-byte random token; the token itself is never stored.
-- revoked is NULL while the token is valid, else when it was revoked.
CREATE TABLE tokens (
    hash    TEXT    PRIMARY KEY
                    CHECK (length(hash) = 64
                           AND hash NOT GLOB '*[^0-9a-f]*'),
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created INTEGER NOT NULL DEFAULT (unixepoch()),
    revoked INTEGER
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE datasets (
    id      INTEGER PRIMARY KEY,
    name    TEXT    NOT NULL UNIQUE
                    CHECK (length(name) BETWEEN 1 AND 128),
    created INTEGER NOT NULL DEFAULT (unixepoch())
);

-- A pipeline run or (later) a training run. args, progress and stats are
-- JSON texts; error is the message of a failed job.
CREATE TABLE jobs (
    id       INTEGER PRIMARY KEY,
    kind     TEXT    NOT NULL CHECK (length(kind) > 0),
    state    TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'succeeded',
                                      'failed', 'cancelled',
                                      'interrupted')),
    args     TEXT    NOT NULL DEFAULT '{}',
    created  INTEGER NOT NULL DEFAULT (unixepoch()),
    started  INTEGER,
    ended    INTEGER,
    progress TEXT,
    stats    TEXT,
    error    TEXT,
    CHECK (ended IS NULL OR started IS NULL OR ended >= started)
);
CREATE INDEX jobs_state ON jobs (state);

CREATE TABLE job_logs (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL CHECK (seq >= 0),
    line   TEXT    NOT NULL,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;

-- An immutable dataset version; id is the XXH3-128 of its canonical
-- manifest (schemas/manifest.schema.json), so it is reproducible.
CREATE TABLE versions (
    id           TEXT    PRIMARY KEY
                         CHECK (length(id) = 32
                                AND id NOT GLOB '*[^0-9a-f]*'),
    dataset_id   INTEGER NOT NULL REFERENCES datasets (id),
    parent       TEXT    REFERENCES versions (id),
    job_id       INTEGER REFERENCES jobs (id),
    config_hash  TEXT,
    tool_version TEXT    NOT NULL,
    docs         INTEGER NOT NULL CHECK (docs >= 0),
    bytes        INTEGER NOT NULL CHECK (bytes >= 0),
    created      INTEGER NOT NULL DEFAULT (unixepoch()),
    CHECK (parent IS NULL OR parent <> id)
) WITHOUT ROWID;
CREATE INDEX versions_dataset ON versions (dataset_id);

-- The shards of a version, in order; object names DIR/objects/ab/<object>.
CREATE TABLE version_shards (
    version_id TEXT    NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL CHECK (seq >= 0),
    object     TEXT    NOT NULL
                       CHECK (length(object) = 32
                              AND object NOT GLOB '*[^0-9a-f]*'),
    docs       INTEGER NOT NULL CHECK (docs >= 0),
    bytes      INTEGER NOT NULL CHECK (bytes >= 0),
    PRIMARY KEY (version_id, seq)
) WITHOUT ROWID;
CREATE INDEX version_shards_object ON version_shards (object);

-- A movable name for a version within its dataset ("latest", "v1").
CREATE TABLE tags (
    dataset_id INTEGER NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    version_id TEXT    NOT NULL REFERENCES versions (id),
    PRIMARY KEY (dataset_id, name)
) WITHOUT ROWID;
