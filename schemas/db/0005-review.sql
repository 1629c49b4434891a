-- 0005-review.sql - review and labeling campaigns (docs/REVIEW.md)
--
-- A campaign samples items from one version (or, for an audit, from what
-- a job removed); reviewers lease items and judge them. Judgments are
-- never deleted: a changed or undone judgment gets 'superseded' (the
-- time) and the current one has superseded IS NULL.

CREATE TABLE campaigns (
    id            INTEGER PRIMARY KEY,
    kind          TEXT    NOT NULL CHECK (kind IN ('review', 'label')),
    name          TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    dataset       TEXT    NOT NULL,
    version       TEXT    NOT NULL REFERENCES versions (id),
    design        TEXT    NOT NULL
                          CHECK (design IN ('random', 'stratified', 'audit')),
    strata_field  TEXT,
    allocation    TEXT    CHECK (allocation IN ('proportional', 'neyman')),
    audit_job     INTEGER REFERENCES jobs (id),
    audit_stage   TEXT,
    audit_reason  TEXT,
    seed          INTEGER NOT NULL,
    size          INTEGER NOT NULL CHECK (size >= 0),
    population    INTEGER NOT NULL CHECK (population >= 0),
    overlap       REAL    NOT NULL DEFAULT 0 CHECK (overlap BETWEEN 0 AND 1),
    raters        INTEGER NOT NULL DEFAULT 2 CHECK (raters BETWEEN 2 AND 10),
    labels        TEXT    NOT NULL DEFAULT '[]',
    threshold     REAL    NOT NULL DEFAULT 0.9
                          CHECK (threshold BETWEEN 0 AND 1),
    lease_seconds INTEGER NOT NULL DEFAULT 600 CHECK (lease_seconds > 0),
    open_items    INTEGER NOT NULL DEFAULT 0, -- items with judged < need
    strata        TEXT    NOT NULL DEFAULT '[]', -- [{"stratum","N","n"}]
    state         TEXT    NOT NULL DEFAULT 'open'
                          CHECK (state IN ('open', 'closed')),
    user          TEXT,
    created       INTEGER NOT NULL DEFAULT (unixepoch())
);

-- The sample, in review order. The document is the line at
-- (object, offset, length) in the object store. need: judgments (not
-- skips) the item needs; judged: current non-skip judgments it has.
CREATE TABLE review_items (
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL CHECK (seq >= 0),
    doc_id      TEXT,
    stratum     TEXT,
    object      TEXT    NOT NULL,
    offset      INTEGER NOT NULL CHECK (offset >= 0),
    length      INTEGER NOT NULL CHECK (length >= 0),
    need        INTEGER NOT NULL CHECK (need >= 1),
    judged      INTEGER NOT NULL DEFAULT 0,
    removed_by  TEXT,
    reason      TEXT,
    duplicate_of TEXT,
    dup_object  TEXT,
    dup_offset  INTEGER,
    dup_length  INTEGER,
    PRIMARY KEY (campaign_id, seq)
) WITHOUT ROWID;
CREATE INDEX review_items_open ON review_items (campaign_id, seq)
    WHERE judged < need;

-- campaigns.open_items follows the items, so "remaining" is one read
CREATE TRIGGER review_items_added AFTER INSERT ON review_items
WHEN NEW.judged < NEW.need
BEGIN
    UPDATE campaigns SET open_items = open_items + 1
        WHERE id = NEW.campaign_id;
END;
CREATE TRIGGER review_items_judged AFTER UPDATE OF judged ON review_items
WHEN (OLD.judged < OLD.need) <> (NEW.judged < NEW.need)
BEGIN
    UPDATE campaigns
        SET open_items = open_items + (CASE WHEN NEW.judged < NEW.need
                                            THEN 1 ELSE -1 END)
        WHERE id = NEW.campaign_id;
END;

CREATE TABLE review_leases (
    campaign_id INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    user        TEXT    NOT NULL,
    expires     INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, seq, user),
    FOREIGN KEY (campaign_id, seq) REFERENCES review_items ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX review_leases_user ON review_leases (campaign_id, user);

CREATE TABLE judgments (
    id          INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    user        TEXT    NOT NULL,
    request_id  TEXT    NOT NULL CHECK (length(request_id) BETWEEN 1 AND 64),
    verdict     TEXT    CHECK (verdict IN ('accept', 'reject', 'skip')),
    labels      TEXT    NOT NULL DEFAULT '[]',
    score       INTEGER CHECK (score BETWEEN 1 AND 5),
    note        TEXT,
    created     REAL    NOT NULL
                        DEFAULT ((julianday('now') - 2440587.5) * 86400.0),
    superseded  REAL,
    UNIQUE (campaign_id, user, request_id),
    FOREIGN KEY (campaign_id, seq) REFERENCES review_items ON DELETE CASCADE
);
CREATE INDEX judgments_current ON judgments (campaign_id, seq, user)
    WHERE superseded IS NULL;
CREATE INDEX judgments_user ON judgments (campaign_id, user, id);
