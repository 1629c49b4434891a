/* op-read.c - "dataset.read": a page of whole JSONL lines from one shard
 *
 * A client pages through a shard by byte offset: each answer holds the
 * whole lines from "offset" up to about "max_bytes" (default 1 MiB, at
 * most 8 MiB, but always at least one line, up to READ_LINE_MAX) and
 * says where the next page starts. The offset must be 0 or just after a
 * '\n' (or the shard's end), so a page never starts in the middle of
 * a document. Shards are
 * valid UTF-8 without NUL bytes (version.h checks on import), so the
 * page travels as a JSON string as is; a shard that is not is reported
 * as corrupt rather than sent.
 *
 * The version and shard row are read in one short transaction; the
 * object file is immutable and read with pread. Runs on a DB worker.
 */
#include "ops.h"

#include "objstore.h"
#include "ref.h"
#include "sql.h"
#include "store.h"
#include "strbuf.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_DEFAULT (1024 * 1024)
#define READ_MAX (8 * 1024 * 1024)
#define READ_LINE_MAX (64 * 1024 * 1024) /* a page holding one long line */

struct read_req {
    struct ref_version rv;
    int64_t shard, shards;
    uint64_t offset, max, bytes;
    char object[OBJSTORE_HASH_LEN + 1];
};

/* args.key as a non-negative integer up to max; def when absent and
 * def >= 0, else required. */
static int
arg_uint(const cJSON *args, const char *key, double max, int64_t def,
         uint64_t *out, struct nh_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);

    if (!v && def >= 0) {
        *out = (uint64_t)def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > max ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return nh_errorf(err, NH_EINVAL,
                         "'args.%s' must be an integer from 0 to %.0f", key,
                         max);
    *out = (uint64_t)v->valuedouble;
    return 0;
}

/* Parse args and look up the shard (in a read transaction). */
static int
read_lookup(sqlite3 *db, const cJSON *args, struct read_req *rq,
            struct nh_error *err)
{
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(args, "ref");
    sqlite3_stmt *st = NULL;
    uint64_t shard;
    int rc, src;

    if (!cJSON_IsString(ref))
        return nh_errorf(err, NH_EINVAL, "'args.ref' must be a string");
    if ((rc = arg_uint(args, "shard", 1e9, -1, &shard, err)) < 0 ||
        (rc = arg_uint(args, "offset", MANIFEST_INT_MAX, -1, &rq->offset,
                       err)) < 0 ||
        (rc = arg_uint(args, "max_bytes", READ_MAX, READ_DEFAULT, &rq->max,
                       err)) < 0)
        return rc;
    if (rq->max == 0)
        rq->max = 1;
    rq->shard = (int64_t)shard;
    rc = ref_resolve(db, ref->valuestring, &rq->rv, err);
    if (rc < 0)
        return rc;
    rc =
        sql_prepare(db,
                    "SELECT (SELECT count(*) FROM version_shards"
                    " WHERE version_id = ?1), object, bytes FROM version_shards"
                    " WHERE version_id = ?1 AND seq = ?2",
                    &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, rq->rv.version, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, rq->shard);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        rq->shards = sqlite3_column_int64(st, 0);
        rq->bytes = (uint64_t)sqlite3_column_int64(st, 2);
        if (!sql_column_hash(st, 1, rq->object))
            rc = nh_errorf(err, NH_ECORRUPT, "bad object hash in database");
    } else if (src == SQLITE_DONE) {
        rc = nh_errorf(err, NH_ENOENT, "version '%s' has no shard %lld",
                       rq->rv.version, (long long)rq->shard);
    } else {
        rc = sql_fail(db, err, "cannot read version shards");
    }
    sqlite3_finalize(st);
    if (rc == 0 && rq->offset > rq->bytes)
        rc = nh_errorf(err, NH_EINVAL,
                       "offset %llu is past the end of shard %lld (%llu "
                       "bytes)",
                       (unsigned long long)rq->offset, (long long)rq->shard,
                       (unsigned long long)rq->bytes);
    return rc;
}

/* pread exactly n bytes at off into buf. */
static int
read_at(int fd, char *buf, size_t n, uint64_t off, struct nh_error *err)
{
    size_t done = 0;
    ssize_t got;

    while (done < n) {
        got = pread(fd, buf + done, n - done, (off_t)(off + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return nh_errorf(err, NH_EIO, "cannot read shard object: %s",
                             got < 0 ? strerror(errno) : "file is short");
        done += (size_t)got;
    }
    return 0;
}

/* Read the page of rq into *data (NUL-terminated, *len bytes). */
static int
read_page(const char *dir, const struct read_req *rq, char **data, size_t *len,
          struct nh_error *err)
{
    struct strbuf path;
    struct stat sb;
    char *buf = NULL, *nl, prev;
    size_t want, have = 0, cap, keep = 0;
    uint64_t left = rq->bytes - rq->offset;
    int fd = -1, rc;

    strbuf_init(&path, 0);
    rc = objstore_path(dir, rq->object, &path);
    if (rc < 0) {
        nh_errorf(err, rc, "bad object hash");
        goto out;
    }
    fd = open(strbuf_str(&path), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) < 0 || (uint64_t)sb.st_size != rq->bytes) {
        rc = nh_errorf(err, NH_ECORRUPT,
                       "shard object '%s' is missing or "
                       "has the wrong size",
                       rq->object);
        goto out;
    }
    if (rq->offset > 0 && rq->offset < rq->bytes) {
        rc = read_at(fd, &prev, 1, rq->offset - 1, err);
        if (rc == 0 && prev != '\n')
            rc = nh_errorf(err, NH_EINVAL,
                           "offset %llu is not at the start of a line",
                           (unsigned long long)rq->offset);
        if (rc < 0)
            goto out;
    }
    /* Read max bytes; if they hold no '\n' and the shard goes on, read
     * on in steps of max until a line ends. */
    cap = 0;
    for (;;) {
        want = (size_t)(left - have < rq->max ? left - have : rq->max);
        if (have + want > READ_LINE_MAX) {
            rc = nh_errorf(err, NH_EINVAL,
                           "the line at offset %llu is longer than %d bytes",
                           (unsigned long long)rq->offset, READ_LINE_MAX);
            goto out;
        }
        if (have + want + 1 > cap) {
            char *nb = realloc(buf, have + want + 1);

            if (!nb) {
                rc = nh_errorf(err, NH_ENOMEM, "out of memory");
                goto out;
            }
            buf = nb;
            cap = have + want + 1;
        }
        rc = read_at(fd, buf + have, want, rq->offset + have, err);
        if (rc < 0)
            goto out;
        have += want;
        if (have == left) { /* the shard ends here: all of it */
            keep = have;
            break;
        }
        /* within max: end at the last '\n'; past it: at the first,
         * which ends the one long line */
        nl = have == want ? memrchr(buf, '\n', want)
                          : memchr(buf + have - want, '\n', want);
        if (nl) {
            keep = (size_t)(nl - buf) + 1;
            break;
        }
    }
    buf[keep] = '\0';
    if (!utf8_valid(buf, keep) || memchr(buf, '\0', keep)) {
        rc = nh_errorf(err, NH_ECORRUPT,
                       "shard object '%s' is not UTF-8 text near offset %llu",
                       rq->object, (unsigned long long)rq->offset);
        goto out;
    }
    *data = buf;
    *len = keep;
    buf = NULL;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    strbuf_release(&path);
    return rc;
}

void
op_dataset_read(struct store *s, const struct dbq_job *job,
                struct dbq_result *res)
{
    struct read_req rq = {0};
    struct nh_error err = {0};
    sqlite3 *db = store_db(s);
    cJSON *r = NULL;
    char *data = NULL;
    size_t len = 0;
    int rc;

    rc = sql_exec(db, "BEGIN", &err);
    if (rc == 0)
        rc = read_lookup(db, job->args, &rq, &err);
    if (!sqlite3_get_autocommit(db))
        sql_exec(db, "COMMIT", NULL);
    if (rc == 0)
        rc = read_page(job->data_dir, &rq, &data, &len, &err);
    if (rc == 0) {
        r = cJSON_CreateObject();
        if (!r || !cJSON_AddStringToObject(r, "version", rq.rv.version) ||
            !cJSON_AddNumberToObject(r, "shard", (double)rq.shard) ||
            !cJSON_AddNumberToObject(r, "shards", (double)rq.shards) ||
            !cJSON_AddNumberToObject(r, "offset", (double)rq.offset) ||
            !cJSON_AddNumberToObject(r, "next", (double)(rq.offset + len)) ||
            !cJSON_AddBoolToObject(r, "eof", rq.offset + len == rq.bytes) ||
            !cJSON_AddStringToObject(r, "data", data))
            rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
    }
    free(data);
    if (rc < 0) {
        cJSON_Delete(r);
        r = NULL;
    }
    ops_reply(job, res, rc, r, &err);
}
