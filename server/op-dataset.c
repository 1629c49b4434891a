/* op-dataset.c - the dataset ops: "dataset.import", ".list", ".versions"
 *
 * dataset.import copies server-side JSONL shards into the object store
 * (objstore.h), builds the version's manifest and records it in the
 * versions and version_shards tables in one transaction, with the
 * canonical manifest saved as DATA/manifests/<id>.json. The new version's
 * parent is the dataset's newest version. Importing the same shards on
 * top of the same parent gives the same id (the id is the manifest's
 * hash), so a repeated import returns the existing version and adds no
 * rows: when the newest version already is exactly this import on top
 * of its own parent, it is the answer.
 *
 * "Newest" is the latest created, ties (same second) broken by depth in
 * the dataset's parent chain, which only grows. Everything here runs on
 * a DB worker (ops.h) with that worker's store.
 */
#include "ops.h"

#include "objstore.h"
#include "store.h"
#include "strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DATASET_NAME_MAX 128 /* the datasets.name CHECK */
#define IMPORT_MAX_PATHS 100000
#define MANIFEST_DIR "manifests"
#define TOOL_VERSION "nhd 0.1.0"

/* The dataset's versions with their depth in its parent chain; ?1 is
 * the dataset id. Roots are versions whose parent is not in it. */
#define CHAIN_CTE                                                              \
    "WITH RECURSIVE chain(id, depth) AS ("                                     \
    " SELECT id, 0 FROM versions WHERE dataset_id = ?1 AND (parent IS NULL"    \
    "  OR parent NOT IN (SELECT id FROM versions WHERE dataset_id = ?1))"      \
    " UNION ALL SELECT v.id, c.depth + 1 FROM versions v"                      \
    "  JOIN chain c ON v.parent = c.id WHERE v.dataset_id = ?1) "
#define NEWEST_FIRST " ORDER BY v.created DESC, c.depth DESC, v.id"

static int
db_fail(sqlite3 *db, struct nh_error *err, const char *what)
{
    return nh_errorf(err, NH_EIO, "%s: %s", what, sqlite3_errmsg(db));
}

static int
prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, struct nh_error *err)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
        return db_fail(db, err, "cannot prepare statement");
    return 0;
}

/* Copy column col (text, 32 hex) into out; false when it is not. */
static bool
column_hash(sqlite3_stmt *st, int col, char out[OBJSTORE_HASH_LEN + 1])
{
    const unsigned char *p = sqlite3_column_text(st, col);

    if (!p || sqlite3_column_bytes(st, col) != OBJSTORE_HASH_LEN)
        return false;
    memcpy(out, p, OBJSTORE_HASH_LEN + 1);
    return objstore_hash_valid(out);
}

/* The id of dataset name in *id; NH_ENOENT when there is none. */
static int
dataset_id(sqlite3 *db, const char *name, int64_t *id, struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc, src = SQLITE_DONE;

    rc = prepare(db, "SELECT id FROM datasets WHERE name = ?1", &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    else if (src == SQLITE_DONE)
        rc = nh_errorf(err, NH_ENOENT, "no dataset '%s'", name);
    else
        rc = db_fail(db, err, "cannot look up dataset");
    sqlite3_finalize(st);
    return rc;
}

/* The newest version of dataset ds: *found, id and its parent (parent[0]
 * is '\0' for none). */
static int
newest_version(sqlite3 *db, int64_t ds, bool *found,
               char id[OBJSTORE_HASH_LEN + 1],
               char parent[OBJSTORE_HASH_LEN + 1], struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc, src = SQLITE_DONE;

    rc = prepare(db,
                 CHAIN_CTE "SELECT v.id, v.parent FROM chain c"
                           " JOIN versions v ON v.id = c.id" NEWEST_FIRST
                           " LIMIT 1",
                 &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, ds);
    *found = false;
    parent[0] = '\0';
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        if (!column_hash(st, 0, id) ||
            (sqlite3_column_type(st, 1) != SQLITE_NULL &&
             !column_hash(st, 1, parent)))
            rc = nh_errorf(err, NH_ECORRUPT, "bad version id in database");
        else
            *found = true;
    } else if (src != SQLITE_DONE) {
        rc = db_fail(db, err, "cannot read versions");
    }
    sqlite3_finalize(st);
    return rc;
}

/* Is there a version with this id? */
static int
version_exists(sqlite3 *db, const char *id, bool *exists, struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc, src = SQLITE_DONE;

    rc = prepare(db, "SELECT 1 FROM versions WHERE id = ?1", &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW || src == SQLITE_DONE)
        *exists = src == SQLITE_ROW;
    else
        rc = db_fail(db, err, "cannot read versions");
    sqlite3_finalize(st);
    return rc;
}

/* Run one statement with no result rows. */
static int
exec(sqlite3 *db, const char *sql, struct nh_error *err)
{
    char *msg = NULL;
    int rc = 0;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        rc = nh_errorf(err, NH_EIO, "'%s' failed: %s", sql,
                       msg ? msg : "unknown error");
    sqlite3_free(msg);
    return rc;
}

/* Count the documents (lines; a last line without '\n' counts too) of
 * the file at path. NH_ENOENT naming the path when it cannot be read. */
static int
count_docs(const char *path, uint64_t *docs, struct nh_error *err)
{
    char buf[65536];
    uint64_t n = 0;
    char last = '\n';
    ssize_t got;
    struct stat sb;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nh_errorf(err, NH_ENOENT, "cannot read '%s': %s", path,
                         strerror(errno));
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return nh_errorf(err, NH_ENOENT, "cannot read '%s': not a file", path);
    }
    while ((got = read(fd, buf, sizeof(buf))) != 0) {
        if (got < 0) {
            if (errno == EINTR)
                continue;
            nh_errorf(err, NH_ENOENT, "cannot read '%s': %s", path,
                      strerror(errno));
            close(fd);
            return NH_ENOENT;
        }
        for (const char *p = buf;
             (p = memchr(p, '\n', (size_t)got - (size_t)(p - buf))); p++)
            n++;
        last = buf[got - 1];
    }
    close(fd);
    *docs = n + (last != '\n');
    return 0;
}

/* Check args; *name and *paths point into args. */
static int
import_args(const cJSON *args, const char **name, const cJSON **paths,
            struct nh_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, "name");
    const cJSON *p;
    int i = 0;

    if (!cJSON_IsString(v) || !v->valuestring[0] ||
        strlen(v->valuestring) > DATASET_NAME_MAX)
        return nh_errorf(err, NH_EINVAL,
                         "'args.name' must be a string of 1-%d bytes",
                         DATASET_NAME_MAX);
    *name = v->valuestring;
    *paths = cJSON_GetObjectItemCaseSensitive(args, "paths");
    if (!cJSON_IsArray(*paths) || cJSON_GetArraySize(*paths) < 1 ||
        cJSON_GetArraySize(*paths) > IMPORT_MAX_PATHS)
        return nh_errorf(err, NH_EINVAL,
                         "'args.paths' must be an array of 1-%d paths",
                         IMPORT_MAX_PATHS);
    cJSON_ArrayForEach(p, *paths)
    {
        if (!cJSON_IsString(p) || !p->valuestring[0])
            return nh_errorf(err, NH_EINVAL,
                             "'args.paths[%d]' must be a non-empty string", i);
        i++;
    }
    return 0;
}

/* Store every shard of paths in the object store, filling shards. */
static int
import_shards(const char *dir, const cJSON *paths,
              struct manifest_shard *shards, struct nh_error *err)
{
    const cJSON *p;
    size_t i = 0;
    int rc;

    cJSON_ArrayForEach(p, paths)
    {
        rc = count_docs(p->valuestring, &shards[i].docs, err);
        if (rc < 0)
            return rc;
        rc = objstore_put_file(dir, p->valuestring, shards[i].hash,
                               &shards[i].bytes, err);
        if (rc < 0)
            return rc;
        i++;
    }
    return 0;
}

/* The manifest of the import with parent (NULL: none): its JSON in
 * *json and its id. */
static int
import_manifest(const char *name, const struct manifest_shard *shards,
                size_t nshards, const char *parent, cJSON **json,
                char id[OBJSTORE_HASH_LEN + 1], struct nh_error *err)
{
    struct manifest m = {
        .dataset = name,
        .shards = shards,
        .nshards = nshards,
        .parent = parent,
        .job_id = -1,
        .config_hash = NULL,
        .tool_version = TOOL_VERSION,
    };
    int rc;

    *json = manifest_to_json(&m);
    if (!*json)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    rc = manifest_id(*json, id);
    if (rc < 0) {
        cJSON_Delete(*json);
        *json = NULL;
        return nh_errorf(err, rc, "cannot hash the manifest");
    }
    return 0;
}

/* Write the canonical manifest to DIR/manifests/<id>.json through a
 * temporary file and a rename. */
static int
manifest_save(const char *dir, const cJSON *json, const char *id,
              struct nh_error *err)
{
    struct strbuf text, path, tmp;
    size_t off = 0;
    ssize_t w;
    int fd = -1, rc;

    strbuf_init(&text, 0);
    strbuf_init(&path, 0);
    strbuf_init(&tmp, 0);
    rc = manifest_canonical(json, &text);
    if (rc < 0) {
        nh_errorf(err, rc, "cannot write the manifest");
        goto out;
    }
    if ((rc = strbuf_addf(&path, "%s/%s", dir, MANIFEST_DIR)) < 0 ||
        (rc = strbuf_addf(&tmp, "%s/tmp-XXXXXX", strbuf_str(&path))) < 0) {
        nh_errorf(err, rc, "out of memory");
        goto out;
    }
    if (mkdir(strbuf_str(&path), 0700) < 0 && errno != EEXIST) {
        rc = nh_error_errno(err, "cannot create '%s'", strbuf_str(&path));
        goto out;
    }
    if ((rc = strbuf_addf(&path, "/%s.json", id)) < 0) {
        nh_errorf(err, rc, "out of memory");
        goto out;
    }
    fd = mkstemp(tmp.buf);
    if (fd < 0) {
        rc = nh_error_errno(err, "cannot create '%s'", strbuf_str(&tmp));
        goto out;
    }
    while (off < text.len) {
        w = write(fd, text.buf + off, text.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = nh_error_errno(err, "cannot write '%s'", strbuf_str(&tmp));
            goto out;
        }
        off += (size_t)w;
    }
    if (fsync(fd) < 0 || fchmod(fd, 0444) < 0) {
        rc = nh_error_errno(err, "cannot write '%s'", strbuf_str(&tmp));
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(strbuf_str(&tmp), strbuf_str(&path)) < 0) {
        rc = nh_error_errno(err, "cannot rename to '%s'", strbuf_str(&path));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0 && tmp.len)
        unlink(strbuf_str(&tmp));
    strbuf_release(&text);
    strbuf_release(&path);
    strbuf_release(&tmp);
    return rc;
}

/* Insert the version row and its shard rows (inside the caller's
 * transaction). */
static int
version_insert(sqlite3 *db, int64_t ds, const char *id, const char *parent,
               const struct manifest_shard *shards, size_t nshards,
               uint64_t docs, uint64_t bytes, struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    size_t i;
    int rc;

    rc = prepare(db,
                 "INSERT INTO versions (id, dataset_id, parent, tool_version,"
                 " docs, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                 &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ds);
    if (parent)
        sqlite3_bind_text(st, 3, parent, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, TOOL_VERSION, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)docs);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)bytes);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(db, err, "cannot insert version");
    sqlite3_finalize(st);
    if (rc < 0)
        return rc;
    rc = prepare(db,
                 "INSERT INTO version_shards (version_id, seq, object, docs,"
                 " bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
                 &st, err);
    if (rc < 0)
        return rc;
    for (i = 0; i < nshards && rc == 0; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        sqlite3_bind_text(st, 3, shards[i].hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)shards[i].docs);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)shards[i].bytes);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_fail(db, err, "cannot insert version shard");
    }
    sqlite3_finalize(st);
    return rc;
}

/* The dataset's id, creating it when new (inside a transaction). */
static int
dataset_get_or_add(sqlite3 *db, const char *name, int64_t *ds,
                   struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = dataset_id(db, name, ds, err);
    if (rc != NH_ENOENT)
        return rc;
    rc = prepare(db, "INSERT INTO datasets (name) VALUES (?1)", &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(db, err, "cannot add dataset");
    else
        *ds = sqlite3_last_insert_rowid(db);
    sqlite3_finalize(st);
    return rc;
}

/* Record the import in the database (one transaction) and save its
 * manifest; id is the version's id. */
static int
import_commit(sqlite3 *db, const char *dir, const char *name,
              const struct manifest_shard *shards, size_t nshards,
              char id[OBJSTORE_HASH_LEN + 1], struct nh_error *err)
{
    char head[OBJSTORE_HASH_LEN + 1], head_parent[OBJSTORE_HASH_LEN + 1];
    cJSON *json = NULL;
    uint64_t docs = 0, bytes = 0;
    bool found = false, exists = false;
    int64_t ds;
    size_t i;
    int rc;

    for (i = 0; i < nshards; i++) {
        docs += shards[i].docs;
        bytes += shards[i].bytes;
    }
    rc = exec(db, "BEGIN IMMEDIATE", err);
    if (rc < 0)
        return rc;
    rc = dataset_get_or_add(db, name, &ds, err);
    if (rc == 0)
        rc = newest_version(db, ds, &found, head, head_parent, err);
    if (rc < 0)
        goto out;
    if (found) {
        /* Is the newest version this very import? */
        rc = import_manifest(name, shards, nshards,
                             head_parent[0] ? head_parent : NULL, &json, id,
                             err);
        if (rc < 0)
            goto out;
        cJSON_Delete(json);
        json = NULL;
        if (!strcmp(id, head)) {
            rc = exec(db, "COMMIT", err);
            goto out;
        }
    }
    rc = import_manifest(name, shards, nshards, found ? head : NULL, &json, id,
                         err);
    if (rc == 0)
        rc = version_exists(db, id, &exists, err);
    if (rc < 0)
        goto out;
    if (!exists) {
        rc = manifest_save(dir, json, id, err);
        if (rc == 0)
            rc = version_insert(db, ds, id, found ? head : NULL, shards,
                                nshards, docs, bytes, err);
        if (rc < 0)
            goto out;
    }
    rc = exec(db, "COMMIT", err);
out:
    cJSON_Delete(json);
    if (rc < 0 && !sqlite3_get_autocommit(db))
        exec(db, "ROLLBACK", NULL);
    return rc;
}

void
op_dataset_import(struct store *s, const struct dbq_job *job,
                  struct dbq_result *res)
{
    char id[OBJSTORE_HASH_LEN + 1];
    struct manifest_shard *shards = NULL;
    struct nh_error err = {0};
    const cJSON *paths = NULL;
    const char *name = NULL;
    cJSON *result = NULL;
    uint64_t docs = 0, bytes = 0;
    size_t n = 0, i;
    int rc;

    rc = import_args(job->args, &name, &paths, &err);
    if (rc == 0) {
        n = (size_t)cJSON_GetArraySize(paths);
        shards = calloc(n, sizeof(*shards));
        if (!shards)
            rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
    }
    if (rc == 0)
        rc = import_shards(job->data_dir, paths, shards, &err);
    if (rc == 0)
        rc = import_commit(store_db(s), job->data_dir, name, shards, n, id,
                           &err);
    if (rc == 0) {
        for (i = 0; i < n; i++) {
            docs += shards[i].docs;
            bytes += shards[i].bytes;
        }
        result = cJSON_CreateObject();
        if (!result || !cJSON_AddStringToObject(result, "dataset", name) ||
            !cJSON_AddStringToObject(result, "version", id) ||
            !cJSON_AddNumberToObject(result, "docs", (double)docs) ||
            !cJSON_AddNumberToObject(result, "bytes", (double)bytes) ||
            !cJSON_AddNumberToObject(result, "shards", (double)n))
            rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
    }
    free(shards);
    ops_reply(job, res, rc, result, &err);
}

/* Add {"name", "versions", "latest", "docs", "bytes"} for dataset ds. */
static int
list_one(sqlite3 *db, int64_t ds, const char *name, cJSON *arr,
         struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    cJSON *o = cJSON_CreateObject();
    int rc, src = SQLITE_DONE;

    if (!o || !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    if (!cJSON_AddStringToObject(o, "name", name))
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    rc = prepare(db,
                 CHAIN_CTE
                 "SELECT v.id, v.docs, v.bytes,"
                 " (SELECT count(*) FROM versions"
                 "  WHERE dataset_id = ?1)"
                 " FROM chain c JOIN versions v ON v.id = c.id" NEWEST_FIRST
                 " LIMIT 1",
                 &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, ds);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        if (!cJSON_AddNumberToObject(o, "versions",
                                     (double)sqlite3_column_int64(st, 3)) ||
            !cJSON_AddStringToObject(
                o, "latest", (const char *)sqlite3_column_text(st, 0)) ||
            !cJSON_AddNumberToObject(o, "docs",
                                     (double)sqlite3_column_int64(st, 1)) ||
            !cJSON_AddNumberToObject(o, "bytes",
                                     (double)sqlite3_column_int64(st, 2)))
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
    } else if (src == SQLITE_DONE) {
        if (!cJSON_AddNumberToObject(o, "versions", 0) ||
            !cJSON_AddNullToObject(o, "latest") ||
            !cJSON_AddNumberToObject(o, "docs", 0) ||
            !cJSON_AddNumberToObject(o, "bytes", 0))
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
    } else {
        rc = db_fail(db, err, "cannot read versions");
    }
    sqlite3_finalize(st);
    return rc;
}

void
op_dataset_list(struct store *s, const struct dbq_job *job,
                struct dbq_result *res)
{
    sqlite3 *db = store_db(s);
    sqlite3_stmt *st = NULL;
    struct nh_error err = {0};
    cJSON *result, *arr;
    int rc, src = SQLITE_DONE;

    result = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(result, "datasets");
    if (!result || !arr) {
        ops_reply(job, res, nh_errorf(&err, NH_ENOMEM, "out of memory"), result,
                  &err);
        return;
    }
    rc = exec(db, "BEGIN", &err);
    if (rc == 0)
        rc = prepare(db, "SELECT id, name FROM datasets ORDER BY name", &st,
                     &err);
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW)
        rc = list_one(db, sqlite3_column_int64(st, 0),
                      (const char *)sqlite3_column_text(st, 1), arr, &err);
    if (rc == 0 && src != SQLITE_DONE)
        rc = db_fail(db, &err, "cannot read datasets");
    sqlite3_finalize(st);
    if (!sqlite3_get_autocommit(db))
        exec(db, "COMMIT", NULL);
    ops_reply(job, res, rc, result, &err);
}

/* Fill arr with dataset ds's versions, newest first. */
static int
versions_fill(sqlite3 *db, int64_t ds, cJSON *arr, struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    cJSON *o;
    int rc, src = SQLITE_DONE;

    rc = prepare(db,
                 CHAIN_CTE
                 "SELECT v.id, v.parent, v.docs, v.bytes, v.created"
                 " FROM chain c JOIN versions v ON v.id = c.id" NEWEST_FIRST,
                 &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, ds);
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            break;
        }
        if (!cJSON_AddStringToObject(
                o, "id", (const char *)sqlite3_column_text(st, 0)) ||
            !(sqlite3_column_type(st, 1) == SQLITE_NULL
                  ? cJSON_AddNullToObject(o, "parent")
                  : cJSON_AddStringToObject(
                        o, "parent",
                        (const char *)sqlite3_column_text(st, 1))) ||
            !cJSON_AddNumberToObject(o, "docs",
                                     (double)sqlite3_column_int64(st, 2)) ||
            !cJSON_AddNumberToObject(o, "bytes",
                                     (double)sqlite3_column_int64(st, 3)) ||
            !cJSON_AddNumberToObject(o, "created",
                                     (double)sqlite3_column_int64(st, 4)))
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = db_fail(db, err, "cannot read versions");
    sqlite3_finalize(st);
    return rc;
}

void
op_dataset_versions(struct store *s, const struct dbq_job *job,
                    struct dbq_result *res)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(job->args, "name");
    sqlite3 *db = store_db(s);
    struct nh_error err = {0};
    cJSON *result = NULL, *arr;
    int64_t ds;
    int rc;

    if (!cJSON_IsString(name)) {
        rc = nh_errorf(&err, NH_EINVAL, "'args.name' must be a string");
        ops_reply(job, res, rc, NULL, &err);
        return;
    }
    rc = exec(db, "BEGIN", &err);
    if (rc == 0)
        rc = dataset_id(db, name->valuestring, &ds, &err);
    if (rc == 0) {
        result = cJSON_CreateObject();
        arr = cJSON_AddArrayToObject(result, "versions");
        if (!result || !arr)
            rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
        else
            rc = versions_fill(db, ds, arr, &err);
    }
    if (!sqlite3_get_autocommit(db))
        exec(db, "COMMIT", NULL);
    ops_reply(job, res, rc, result, &err);
}
