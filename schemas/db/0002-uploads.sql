-- 0002-uploads.sql - resumable uploads of shard files (upload.* ops)
--
-- An upload is begun with the file's size and XXH3-128 (32 hex); its
-- bytes go to DATA/uploads/<id>.part in order, "offset" counting those
-- stored. The same size and hash resume the same upload. On finish the
-- whole file is hashed, moved into the object store and "object" set;
-- dataset.import then takes the upload id in place of a server path.
CREATE TABLE uploads (
    id      TEXT    PRIMARY KEY
                    CHECK (length(id) = 32 AND id NOT GLOB '*[^0-9a-f]*'),
    size    INTEGER NOT NULL CHECK (size >= 0),
    hash    TEXT    NOT NULL
                    CHECK (length(hash) = 32
                           AND hash NOT GLOB '*[^0-9a-f]*'),
    offset  INTEGER NOT NULL DEFAULT 0
                    CHECK (offset >= 0 AND offset <= size),
    object  TEXT    CHECK (object IS NULL OR object = hash),
    created INTEGER NOT NULL DEFAULT (unixepoch()),
    UNIQUE (size, hash)
) WITHOUT ROWID;
