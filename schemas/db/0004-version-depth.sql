-- 0004-version-depth.sql - each version's depth in its dataset's chain
--
-- "Newest" (server/ref.h) is the latest created version of a dataset,
-- ties broken by depth in the dataset's parent chain: 0 for a version
-- whose parent is NULL or in another dataset, else its parent's depth
-- plus one. Versions are immutable and a parent exists before its child
-- (the foreign key), so the depth is fixed when the row is inserted; the
-- trigger below sets it for every insert, whoever makes it. With the
-- index, dataset.list and NAME refs find the newest version with one
-- index probe instead of walking the chain with a recursive query.
ALTER TABLE versions ADD COLUMN depth INTEGER NOT NULL DEFAULT 0
    CHECK (depth >= 0);

WITH RECURSIVE chain(id, depth) AS (
    SELECT v.id, 0 FROM versions v
     WHERE v.parent IS NULL
        OR NOT EXISTS (SELECT 1 FROM versions p
                        WHERE p.id = v.parent
                          AND p.dataset_id = v.dataset_id)
    UNION ALL
    SELECT v.id, c.depth + 1 FROM chain c
      JOIN versions p ON p.id = c.id
      JOIN versions v ON v.parent = c.id AND v.dataset_id = p.dataset_id
)
UPDATE versions SET depth = chain.depth FROM chain
 WHERE chain.id = versions.id;

CREATE TRIGGER versions_depth AFTER INSERT ON versions
WHEN NEW.parent IS NOT NULL
BEGIN
    UPDATE versions
       SET depth = coalesce((SELECT p.depth + 1 FROM versions p
                              WHERE p.id = NEW.parent
                                AND p.dataset_id = NEW.dataset_id), 0)
     WHERE id = NEW.id;
END;

CREATE INDEX versions_newest
    ON versions (dataset_id, created DESC, depth DESC, id);
