/* version.c - committing a new dataset version (version.h)
 *
 * Files are scanned and stored before the transaction starts, so the
 * database is locked only for the few statements that record the
 * version: BEGIN IMMEDIATE, find or create the dataset, pick the parent,
 * build the manifest and its id, save the manifest file, insert the rows,
 * COMMIT. The manifest file is written before the rows, so a version in
 * the database always has its manifest on disk.
 */
#include "version.h"

#include "ref.h"
#include "sql.h"
#include "strbuf.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST_DIR "manifests"
#define SCAN_BLOCK 65536

/* Is s (n < 4 bytes) the start of a multi-byte sequence cut short? */
static bool
utf8_cut_short(const unsigned char *s, size_t n)
{
    size_t need, i;

    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        need = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        need = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        need = 4;
    else
        return false;
    for (i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return false;
    return n < need;
}

static size_t
count_newlines(const char *p, size_t n)
{
    const char *end = p + n;
    size_t k = 0;

    while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
        k++;
        p++;
    }
    return k;
}

/* Count the documents (lines; a last line without '\n' counts too) of
 * the file at path, checking that every line is valid UTF-8 without NUL
 * bytes. Errors name the file by label. */
static int
scan_file(const char *path, const char *label, uint64_t *docs,
          struct nh_error *err)
{
    char *buf = NULL;
    uint64_t lines = 0;
    size_t carry = 0, n, ok;
    char last = '\n';
    ssize_t got;
    struct stat sb;
    int fd, rc = 0;

    /* O_NONBLOCK: a FIFO must not stall this worker; regular files
     * ignore it */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return nh_errorf(err, NH_ENOENT, "cannot read '%s': %s", label,
                         strerror(errno));
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        rc = nh_errorf(err, NH_ENOENT, "cannot read '%s': not a file", label);
        goto out;
    }
    buf = malloc(SCAN_BLOCK + 4);
    if (!buf) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        got = read(fd, buf + carry, SCAN_BLOCK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = nh_errorf(err, NH_ENOENT, "cannot read '%s': %s", label,
                           strerror(errno));
            goto out;
        }
        n = carry + (size_t)got;
        if (n == 0)
            break;
        ok = utf8_valid_prefix(buf, n);
        if (ok < n && got > 0 && n - ok < 4 &&
            utf8_cut_short((const unsigned char *)buf + ok, n - ok)) {
            carry = n - ok; /* the rest of it comes with the next read */
        } else if (ok < n || memchr(buf, '\0', n)) {
            const char *nul = memchr(buf, '\0', ok);

            if (nul)
                ok = (size_t)(nul - buf);
            lines += count_newlines(buf, ok);
            rc = nh_errorf(err, NH_EINVAL,
                           "'%s' line %llu is not valid UTF-8 text%s", label,
                           (unsigned long long)lines + 1,
                           nul ? " (it holds a NUL byte)" : "");
            goto out;
        } else {
            carry = 0;
        }
        lines += count_newlines(buf, ok);
        if (ok > 0)
            last = buf[ok - 1];
        memmove(buf, buf + ok, carry);
        if (got == 0)
            break;
    }
    *docs = lines + (last != '\n');
out:
    free(buf);
    close(fd);
    return rc;
}

/* Scan and store every shard of spec, filling shards. */
static int
store_shards(const char *dir, const struct version_spec *spec,
             struct manifest_shard *shards, struct nh_error *err)
{
    struct strbuf path;
    size_t i;
    int rc = 0;

    strbuf_init(&path, 0);
    for (i = 0; i < spec->n && rc == 0; i++) {
        const char *label;

        if (spec->paths) {
            label = spec->labels ? spec->labels[i] : spec->paths[i];
            rc = scan_file(spec->paths[i], label, &shards[i].docs, err);
            if (rc == 0)
                rc = objstore_put_file(dir, spec->paths[i], shards[i].hash,
                                       &shards[i].bytes, err);
            continue;
        }
        label = spec->labels ? spec->labels[i] : spec->objects[i];
        if (objstore_path(dir, spec->objects[i], &path) < 0) {
            rc = nh_errorf(err, NH_EINVAL, "bad object hash '%.64s'", label);
            break;
        }
        rc = scan_file(strbuf_str(&path), label, &shards[i].docs, err);
        if (rc == 0) {
            struct stat sb;

            if (stat(strbuf_str(&path), &sb) < 0) {
                rc = nh_errorf(err, NH_ENOENT, "cannot read '%s': %s", label,
                               strerror(errno));
                break;
            }
            shards[i].bytes = (uint64_t)sb.st_size;
            memcpy(shards[i].hash, spec->objects[i], OBJSTORE_HASH_LEN + 1);
        }
    }
    strbuf_release(&path);
    return rc;
}

/* The manifest of spec on top of parent (NULL: none): JSON in *json and
 * its id. */
static int
build_manifest(const struct version_spec *spec,
               const struct manifest_shard *shards, const char *parent,
               cJSON **json, char id[OBJSTORE_HASH_LEN + 1],
               struct nh_error *err)
{
    struct manifest m = {
        .dataset = spec->dataset,
        .shards = shards,
        .nshards = spec->n,
        .parent = parent,
        .job_id = spec->job_id > 0 ? spec->job_id : -1,
        .config_hash = spec->config_hash,
        .tool_version = spec->tool_version ? spec->tool_version : VERSION_TOOL,
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

/* Is there a version with this id? */
static int
version_exists(sqlite3 *db, const char *id, bool *exists, struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc, src;

    rc = sql_prepare(db, "SELECT 1 FROM versions WHERE id = ?1", &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW || src == SQLITE_DONE)
        *exists = src == SQLITE_ROW;
    else
        rc = sql_fail(db, err, "cannot read versions");
    sqlite3_finalize(st);
    return rc;
}

/* Insert the version row and its shard rows (inside the transaction). */
static int
version_insert(sqlite3 *db, int64_t ds, const char *id, const char *parent,
               const struct version_spec *spec,
               const struct manifest_shard *shards, struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    uint64_t docs = 0, bytes = 0;
    size_t i;
    int rc;

    for (i = 0; i < spec->n; i++) {
        docs += shards[i].docs;
        bytes += shards[i].bytes;
    }
    rc = sql_prepare(db,
                     "INSERT INTO versions (id, dataset_id, parent, job_id,"
                     " config_hash, tool_version, docs, bytes)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                     &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ds);
    if (parent)
        sqlite3_bind_text(st, 3, parent, -1, SQLITE_STATIC);
    if (spec->job_id > 0)
        sqlite3_bind_int64(st, 4, spec->job_id);
    if (spec->config_hash)
        sqlite3_bind_text(st, 5, spec->config_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6,
                      spec->tool_version ? spec->tool_version : VERSION_TOOL,
                      -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)docs);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)bytes);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = sql_fail(db, err, "cannot insert version");
    sqlite3_finalize(st);
    if (rc < 0)
        return rc;
    rc = sql_prepare(db,
                     "INSERT INTO version_shards (version_id, seq, object,"
                     " docs, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
                     &st, err);
    if (rc < 0)
        return rc;
    for (i = 0; i < spec->n && rc == 0; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        sqlite3_bind_text(st, 3, shards[i].hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)shards[i].docs);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)shards[i].bytes);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sql_fail(db, err, "cannot insert version shard");
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

    rc = ref_dataset_id(db, name, ds, err);
    if (rc != NH_ENOENT)
        return rc;
    rc = sql_prepare(db, "INSERT INTO datasets (name) VALUES (?1)", &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = sql_fail(db, err, "cannot add dataset");
    else
        *ds = sqlite3_last_insert_rowid(db);
    sqlite3_finalize(st);
    return rc;
}

/* Record the version (one transaction) and save its manifest. */
static int
commit_rows(sqlite3 *db, const char *dir, const struct version_spec *spec,
            const struct manifest_shard *shards, char id[OBJSTORE_HASH_LEN + 1],
            struct nh_error *err)
{
    char head[OBJSTORE_HASH_LEN + 1], head_parent[OBJSTORE_HASH_LEN + 1];
    const char *parent = spec->parent;
    cJSON *json = NULL;
    bool found = false, exists = false;
    int64_t ds;
    int rc;

    rc = sql_exec(db, "BEGIN IMMEDIATE", err);
    if (rc < 0)
        return rc;
    rc = dataset_get_or_add(db, spec->dataset, &ds, err);
    if (rc < 0)
        goto out;
    if (parent) {
        rc = version_exists(db, parent, &exists, err);
        if (rc == 0 && !exists)
            rc = nh_errorf(err, NH_ENOENT, "no parent version '%s'", parent);
        if (rc < 0)
            goto out;
    } else {
        rc = ref_newest_version(db, ds, &found, head, head_parent, err);
        if (rc < 0)
            goto out;
        if (found) {
            /* Is the newest version this very commit? */
            rc = build_manifest(spec, shards,
                                head_parent[0] ? head_parent : NULL, &json, id,
                                err);
            if (rc < 0)
                goto out;
            cJSON_Delete(json);
            json = NULL;
            if (!strcmp(id, head)) {
                if (spec->before_commit)
                    rc = spec->before_commit(db, id, spec->before_commit_arg,
                                             err);
                if (rc == 0)
                    rc = sql_exec(db, "COMMIT", err);
                goto out;
            }
            parent = head;
        }
    }
    rc = build_manifest(spec, shards, parent, &json, id, err);
    if (rc == 0)
        rc = version_exists(db, id, &exists, err);
    if (rc < 0)
        goto out;
    if (!exists) {
        rc = manifest_save(dir, json, id, err);
        if (rc == 0)
            rc = version_insert(db, ds, id, parent, spec, shards, err);
        if (rc < 0)
            goto out;
    }
    if (spec->before_commit &&
        (rc = spec->before_commit(db, id, spec->before_commit_arg, err)) < 0)
        goto out;
    rc = sql_exec(db, "COMMIT", err);
out:
    cJSON_Delete(json);
    if (rc < 0)
        sql_rollback(db);
    return rc;
}

int
version_commit(sqlite3 *db, const char *data_dir,
               const struct version_spec *spec,
               char id_out[OBJSTORE_HASH_LEN + 1], struct nh_error *err)
{
    struct manifest_shard *shards = NULL;
    char id[OBJSTORE_HASH_LEN + 1];
    int rc;

    if (!spec->dataset || !ref_dataset_name_valid(spec->dataset))
        return nh_errorf(err, NH_EINVAL,
                         "bad dataset name '%.200s': 1-%d bytes without "
                         "spaces, '@' or '/'",
                         spec->dataset ? spec->dataset : "",
                         REF_DATASET_NAME_MAX);
    if (spec->n < 1 || spec->n > VERSION_MAX_SHARDS ||
        (!spec->paths && !spec->objects))
        return nh_errorf(err, NH_EINVAL, "a version needs 1-%d shards",
                         VERSION_MAX_SHARDS);
    if (spec->parent && !objstore_hash_valid(spec->parent))
        return nh_errorf(err, NH_EINVAL, "bad parent version id '%.64s'",
                         spec->parent);
    shards = calloc(spec->n, sizeof(*shards));
    if (!shards)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    rc = store_shards(data_dir, spec, shards, err);
    if (rc == 0)
        rc = commit_rows(db, data_dir, spec, shards, id, err);
    if (rc == 0)
        memcpy(id_out, id, sizeof(id));
    free(shards);
    return rc;
}
