/* op-diff.c - "dataset.diff": which documents one version adds and
 * removes relative to another
 *
 * A document is one line of a shard; two documents are the same when
 * the XXH3-128 of their whole line (without the '\n') is. Each version's
 * shards are streamed once, their line hashes collected in an array,
 * sorted and merged: a hash only in b is added, only in a removed, in
 * both common (as multisets, so a duplicated line counts each time).
 * The samples are the first added (removed) documents in b's (a's)
 * shard order, found by streaming that version once more and stopping
 * once they are all found. The arrays cost 16 bytes a document; a diff
 * of versions over DIFF_MAX_DOCS documents is refused up front.
 *
 * The versions and shard lists are read in one short transaction; the
 * shard objects are immutable, so the streaming needs no lock. Runs on a
 * DB worker (ops.h).
 */
#include "ops.h"

#include "hash.h"
#include "objstore.h"
#include "ref.h"
#include "sql.h"
#include "store.h"
#include "strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIFF_MAX_DOCS (64ULL * 1024 * 1024)
#define DIFF_SAMPLE_DEFAULT 5
#define DIFF_SAMPLE_MAX 100
#define DIFF_LINE_MAX (256U * 1024 * 1024) /* bytes in one document */
#define DIFF_BLOCK (1024 * 1024)

/* One side of the diff: a version, its shard objects and line hashes. */
struct side {
    struct ref_version rv;
    uint64_t docs;
    char (*objects)[OBJSTORE_HASH_LEN + 1];
    size_t nobjects;
    struct nh_h128 *hashes;
    size_t nhashes;
};

/* Called for each line (without '\n'); a positive return stops. */
typedef int line_fn(void *ctx, const char *line, size_t len);

/* Call fn on every line of the file at path: lines within a block are
 * passed in place, a line that spans blocks is gathered in a buffer. */
static int
each_line(const char *path, line_fn *fn, void *ctx, struct nh_error *err)
{
    struct strbuf pending;
    char *buf = NULL;
    const char *p, *end, *nl;
    ssize_t got;
    int fd, rc = 0;

    strbuf_init(&pending, 0);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nh_errorf(err, NH_EIO, "cannot open '%s': %s", path,
                         strerror(errno));
    buf = malloc(DIFF_BLOCK);
    if (!buf) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    while (rc == 0) {
        got = read(fd, buf, DIFF_BLOCK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = nh_errorf(err, NH_EIO, "cannot read '%s': %s", path,
                           strerror(errno));
            break;
        }
        if (got == 0) {
            if (pending.len)
                rc = fn(ctx, pending.buf, pending.len);
            break;
        }
        p = buf;
        end = buf + got;
        while (rc == 0 && p < end &&
               (nl = memchr(p, '\n', (size_t)(end - p)))) {
            if (pending.len) {
                if (strbuf_add(&pending, p, (size_t)(nl - p)) < 0) {
                    rc = nh_errorf(err, NH_ENOMEM, "out of memory");
                    break;
                }
                rc = fn(ctx, pending.buf, pending.len);
                strbuf_reset(&pending);
            } else {
                rc = fn(ctx, p, (size_t)(nl - p));
            }
            p = nl + 1;
        }
        if (rc == 0 && p < end) {
            if (pending.len + (size_t)(end - p) > DIFF_LINE_MAX) {
                rc = nh_errorf(err, NH_EINVAL,
                               "a document in '%s' is over %u bytes", path,
                               DIFF_LINE_MAX);
                break;
            }
            if (strbuf_add(&pending, p, (size_t)(end - p)) < 0)
                rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        }
    }
out:
    free(buf);
    strbuf_release(&pending);
    close(fd);
    return rc < 0 ? rc : 0;
}

/* Resolve ref into side and read its docs and shard objects. */
static int
side_load(sqlite3 *db, const char *ref, struct side *sd, struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc, src = SQLITE_DONE;

    rc = ref_resolve(db, ref, &sd->rv, err);
    if (rc < 0)
        return rc;
    rc = sql_prepare(db,
                     "SELECT object, (SELECT docs FROM versions WHERE id = ?1),"
                     " (SELECT count(*) FROM version_shards WHERE"
                     " version_id = ?1) FROM version_shards"
                     " WHERE version_id = ?1 ORDER BY seq",
                     &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, sd->rv.version, -1, SQLITE_STATIC);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (!sd->objects) {
            sd->docs = (uint64_t)sqlite3_column_int64(st, 1);
            sd->objects = calloc((size_t)sqlite3_column_int64(st, 2) + 1,
                                 sizeof(*sd->objects));
            if (!sd->objects) {
                rc = nh_errorf(err, NH_ENOMEM, "out of memory");
                break;
            }
        }
        if (!sql_column_hash(st, 0, sd->objects[sd->nobjects])) {
            rc = nh_errorf(err, NH_ECORRUPT, "bad object hash in database");
            break;
        }
        sd->nobjects++;
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = sql_fail(db, err, "cannot read version shards");
    sqlite3_finalize(st);
    if (rc == 0 && sd->docs > DIFF_MAX_DOCS)
        rc = nh_errorf(err, NH_EINVAL,
                       "'%s' has %llu documents, more than a diff compares "
                       "(%llu)",
                       ref, (unsigned long long)sd->docs, DIFF_MAX_DOCS);
    return rc;
}

static void
side_release(struct side *sd)
{
    free(sd->objects);
    free(sd->hashes);
}

static int
hash_line(void *ctx, const char *line, size_t len)
{
    struct side *sd = ctx;

    if (sd->nhashes >= sd->docs + 1)
        return NH_ECORRUPT; /* more lines than the version says */
    sd->hashes[sd->nhashes++] = nh_hash128(line, len);
    return 0;
}

static int
h128_cmp(const void *pa, const void *pb)
{
    const struct nh_h128 *a = pa, *b = pb;

    if (a->hi != b->hi)
        return a->hi < b->hi ? -1 : 1;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    return 0;
}

/* Hash every document of sd into sd->hashes, sorted. */
static int
side_hash(const char *dir, struct side *sd, struct nh_error *err)
{
    struct strbuf path;
    size_t i;
    int rc = 0;

    sd->hashes = malloc((size_t)(sd->docs + 1) * sizeof(*sd->hashes));
    if (!sd->hashes)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    strbuf_init(&path, 0);
    for (i = 0; i < sd->nobjects && rc == 0; i++) {
        rc = objstore_path(dir, sd->objects[i], &path);
        if (rc < 0) {
            nh_errorf(err, rc, "bad object hash");
            break;
        }
        rc = each_line(strbuf_str(&path), hash_line, sd, err);
        if (rc == NH_ECORRUPT)
            nh_errorf(err, rc, "version '%s' has more documents than recorded",
                      sd->rv.version);
    }
    strbuf_release(&path);
    if (rc == 0)
        qsort(sd->hashes, sd->nhashes, sizeof(*sd->hashes), h128_cmp);
    return rc;
}

/* The samples to find: sorted hashes, the text found for each. */
struct sample {
    struct nh_h128 *want;
    size_t n, left;
    cJSON **text; /* per want[i], NULL until found */
    cJSON *arr;   /* found texts, in shard order */
};

static int
sample_line(void *ctx, const char *line, size_t len)
{
    struct sample *sm = ctx;
    struct nh_h128 h = nh_hash128(line, len);
    struct nh_h128 *hit;
    char *copy;
    cJSON *s;
    size_t i;

    hit = bsearch(&h, sm->want, sm->n, sizeof(h), h128_cmp);
    if (!hit)
        return 0;
    i = (size_t)(hit - sm->want);
    if (sm->text[i])
        return 0;
    copy = malloc(len + 1);
    if (!copy)
        return NH_ENOMEM;
    memcpy(copy, line, len);
    copy[len] = '\0';
    s = cJSON_CreateString(copy);
    free(copy);
    if (!s || !cJSON_AddItemToArray(sm->arr, s)) {
        cJSON_Delete(s);
        return NH_ENOMEM;
    }
    sm->text[i] = s;
    return --sm->left == 0 ? 1 : 0;
}

/* Stream sd's shards to find the documents hashed in want (n, sorted),
 * adding their texts to arr. */
static int
side_sample(const char *dir, const struct side *sd, struct nh_h128 *want,
            size_t n, cJSON *arr, struct nh_error *err)
{
    struct sample sm = {.want = want, .n = n, .left = n, .arr = arr};
    struct strbuf path;
    size_t i;
    int rc = 0;

    if (n == 0)
        return 0;
    sm.text = calloc(n, sizeof(*sm.text));
    if (!sm.text)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    strbuf_init(&path, 0);
    for (i = 0; i < sd->nobjects && rc == 0 && sm.left; i++) {
        rc = objstore_path(dir, sd->objects[i], &path);
        if (rc == 0)
            rc = each_line(strbuf_str(&path), sample_line, &sm, err);
        if (rc == NH_ENOMEM)
            nh_errorf(err, rc, "out of memory");
    }
    strbuf_release(&path);
    free(sm.text);
    return rc;
}

/* Merge the sorted hashes; the first `sample` of each kind go to
 * add_s / rem_s (at most sample each). */
static void
merge(const struct side *a, const struct side *b, size_t sample,
      uint64_t counts[3], struct nh_h128 *add_s, size_t *nadd,
      struct nh_h128 *rem_s, size_t *nrem)
{
    size_t i = 0, j = 0;
    int c;

    counts[0] = counts[1] = counts[2] = 0; /* added, removed, common */
    *nadd = *nrem = 0;
    while (i < a->nhashes || j < b->nhashes) {
        if (i == a->nhashes)
            c = 1;
        else if (j == b->nhashes)
            c = -1;
        else
            c = h128_cmp(&a->hashes[i], &b->hashes[j]);
        if (c == 0) {
            counts[2]++;
            i++;
            j++;
        } else if (c < 0) {
            if (*nrem < sample &&
                (*nrem == 0 || h128_cmp(&rem_s[*nrem - 1], &a->hashes[i])))
                rem_s[(*nrem)++] = a->hashes[i];
            counts[1]++;
            i++;
        } else {
            if (*nadd < sample &&
                (*nadd == 0 || h128_cmp(&add_s[*nadd - 1], &b->hashes[j])))
                add_s[(*nadd)++] = b->hashes[j];
            counts[0]++;
            j++;
        }
    }
}

void
op_dataset_diff(struct store *s, const struct dbq_job *job,
                struct dbq_result *res)
{
    const cJSON *ja = cJSON_GetObjectItemCaseSensitive(job->args, "a");
    const cJSON *jb = cJSON_GetObjectItemCaseSensitive(job->args, "b");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(job->args, "sample");
    struct side a = {0}, b = {0};
    struct nh_h128 *add_s = NULL, *rem_s = NULL;
    struct nh_error err = {0};
    sqlite3 *db = store_db(s);
    cJSON *r = NULL, *add_arr, *rem_arr;
    uint64_t counts[3];
    size_t sample = DIFF_SAMPLE_DEFAULT, nadd, nrem;
    int rc = 0;

    if (!cJSON_IsString(ja) || !cJSON_IsString(jb))
        rc = nh_errorf(&err, NH_EINVAL, "'args.a' and 'args.b' must be refs");
    else if (js && (!cJSON_IsNumber(js) || js->valuedouble < 0 ||
                    js->valuedouble > DIFF_SAMPLE_MAX ||
                    js->valuedouble != (double)(int)js->valuedouble))
        rc = nh_errorf(&err, NH_EINVAL,
                       "'args.sample' must be an integer from 0 to %d",
                       DIFF_SAMPLE_MAX);
    if (rc < 0)
        goto out;
    if (js)
        sample = (size_t)js->valuedouble;
    rc = sql_exec(db, "BEGIN", &err);
    if (rc == 0)
        rc = side_load(db, ja->valuestring, &a, &err);
    if (rc == 0)
        rc = side_load(db, jb->valuestring, &b, &err);
    if (!sqlite3_get_autocommit(db))
        sql_exec(db, "COMMIT", NULL);
    if (rc == 0)
        rc = side_hash(job->data_dir, &a, &err);
    if (rc == 0)
        rc = side_hash(job->data_dir, &b, &err);
    if (rc < 0)
        goto out;
    add_s = malloc((sample + 1) * sizeof(*add_s));
    rem_s = malloc((sample + 1) * sizeof(*rem_s));
    r = cJSON_CreateObject();
    if (!add_s || !rem_s || !r) {
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
        goto out;
    }
    merge(&a, &b, sample, counts, add_s, &nadd, rem_s, &nrem);
    free(a.hashes);
    free(b.hashes);
    a.hashes = b.hashes = NULL;
    if (!cJSON_AddStringToObject(r, "a", a.rv.version) ||
        !cJSON_AddStringToObject(r, "b", b.rv.version) ||
        !cJSON_AddNumberToObject(r, "added", (double)counts[0]) ||
        !cJSON_AddNumberToObject(r, "removed", (double)counts[1]) ||
        !cJSON_AddNumberToObject(r, "common", (double)counts[2]) ||
        !(add_arr = cJSON_AddArrayToObject(r, "added_sample")) ||
        !(rem_arr = cJSON_AddArrayToObject(r, "removed_sample"))) {
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
        goto out;
    }
    rc = side_sample(job->data_dir, &b, add_s, nadd, add_arr, &err);
    if (rc == 0)
        rc = side_sample(job->data_dir, &a, rem_s, nrem, rem_arr, &err);
out:
    if (rc < 0) {
        cJSON_Delete(r);
        r = NULL;
    }
    free(add_s);
    free(rem_s);
    side_release(&a);
    side_release(&b);
    ops_reply(job, res, rc, r, &err);
}
