/* version.h - committing a new dataset version
 *
 * The one way a version comes into being, for dataset.import (op-
 * dataset.c) and for a pipeline job committing its output: each file is
 * scanned (documents are lines; every line must be valid UTF-8, so that
 * dataset.read can always send it as JSON text) and put in the object
 * store (objstore.h), the manifest is built with the parent, job, config
 * hash and tool version, saved as DATA/manifests/<id>.json, and the
 * version and its shard rows are inserted in one transaction.
 *
 * The id is the manifest's hash, so committing the same shards with the
 * same parent, job, config and tool gives the same id; that commit adds
 * nothing and answers the existing version. With the default parent (the
 * dataset's newest), a commit equal to the newest version on top of its
 * own parent also answers the newest, so repeating an import is a no-op.
 */
#ifndef NH_VERSION_H
#define NH_VERSION_H

#include "err.h"
#include "objstore.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define VERSION_TOOL "nhd 0.1.0" /* tool_version when the spec has none */
#define VERSION_MAX_SHARDS 100000

struct version_spec {
    const char *dataset; /* its name; the dataset is created when new */
    /* The shards in order: n files at paths, or (paths NULL) n objects
     * already in the store, by hash. labels (may be NULL) name each one
     * in error messages instead of its path or hash. */
    const char *const *paths;
    const char *const *objects;
    const char *const *labels;
    size_t n;                 /* 1..VERSION_MAX_SHARDS */
    const char *parent;       /* NULL: the dataset's newest version (none
                                 for a new dataset); else any version id */
    int64_t job_id;           /* the job that made it; 0: none */
    const char *config_hash;  /* pipeline config hash; NULL: none */
    const char *tool_version; /* NULL: VERSION_TOOL */
    /* NULL, or called inside the transaction with the version id just
     * before COMMIT (also when the version already existed); an error
     * rolls the whole commit back. A pipeline job marks itself
     * succeeded here, so a version and its job's state change together. */
    int (*before_commit)(sqlite3 *db, const char *id, void *arg,
                         struct nh_error *err);
    void *before_commit_arg;
};

/* Commit spec as described above; id_out is the version id (new or
 * existing). Nothing is recorded on failure (objects already stored
 * stay: they are content-addressed and harmless). NH_EINVAL for a bad
 * dataset name, a count out of range, or a file with a line that is not
 * valid UTF-8 (message: the file's label and the line number); NH_ENOENT
 * for an unreadable file, a missing object or an unknown parent; NH_EIO
 * for a write or database failure. */
int version_commit(sqlite3 *db, const char *data_dir,
                   const struct version_spec *spec,
                   char id_out[OBJSTORE_HASH_LEN + 1], struct nh_error *err);

#endif
