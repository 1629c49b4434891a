-- 0006-augment-mix.sql - augment jobs' review campaigns and versions with
-- several parents (mixtures)
--
-- jobs.campaign: the review campaign a job made on its output (the
-- augment job samples its augmented documents). version_parents: every
-- parent of a version in order, for versions made from several (a
-- mixture); versions.parent keeps the first, so the one-parent lineage
-- reads as before.

ALTER TABLE jobs ADD COLUMN campaign INTEGER REFERENCES campaigns (id);

CREATE TABLE version_parents (
    version_id TEXT    NOT NULL REFERENCES versions (id),
    seq        INTEGER NOT NULL,
    parent     TEXT    NOT NULL REFERENCES versions (id),
    PRIMARY KEY (version_id, seq)
);

CREATE INDEX version_parents_parent ON version_parents (parent);
