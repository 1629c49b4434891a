/* op-upload.c - resumable uploads: "upload.begin", "upload.chunk",
 * "upload.finish"
 *
 * A client without access to the server's disk sends a shard file in
 * base64 chunks of at most UPLOAD_CHUNK_MAX decoded bytes, in order. The
 * uploads table (schemas/db/0002-uploads.sql) keeps each upload's size,
 * expected XXH3-128 and the offset of the bytes stored so far in
 * DATA/uploads/<id>.part; begin with the same size and hash answers the
 * same upload and its offset, so an interrupted client resumes where the
 * server's copy ends. Each chunk is written and fdatasync'd before the
 * offset moves, and a .part longer than the offset (a crash between the
 * two) is cut back on the next chunk. finish hashes the file, discards
 * the upload on a mismatch, and otherwise moves it into the object store
 * (objstore.h), after which dataset.import takes the upload id.
 *
 * base64 is decoded here (standard alphabet, '=' padding, no line
 * breaks), by hand rather than with OpenSSL's EVP_DecodeBlock, which
 * does not report the padding it decoded as zero bytes.
 */
#include "ops.h"

#include "hash.h"
#include "objstore.h"
#include "sql.h"
#include "store.h"
#include "strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define UPLOAD_DIR "uploads"
#define UPLOAD_CHUNK_MAX (512 * 1024)
#define UPLOAD_BLOCK 65536

/* The value of base64 digit c, -1 for anything else. */
static int
b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode len bytes of base64 into out (room for len / 4 * 3); *n_out is
 * the decoded length. NH_EINVAL for anything but canonical base64. */
static int
base64_decode(const char *in, size_t len, unsigned char *out, size_t *n_out)
{
    size_t i, n = 0, pad = 0;
    int k;

    if (len % 4)
        return NH_EINVAL;
    if (len && in[len - 1] == '=')
        pad = len >= 2 && in[len - 2] == '=' ? 2 : 1;
    for (i = 0; i < len; i += 4) {
        int v[4];
        uint32_t w;

        for (k = 0; k < 4; k++) {
            bool padded = i + 4 == len && k >= 4 - (int)pad;

            v[k] = padded ? 0 : b64_value(in[i + (size_t)k]);
            if (v[k] < 0)
                return NH_EINVAL;
        }
        w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
            (uint32_t)v[3];
        out[n++] = (unsigned char)(w >> 16);
        if (i + 4 < len || pad < 2)
            out[n++] = (unsigned char)(w >> 8);
        if (i + 4 < len || pad < 1)
            out[n++] = (unsigned char)w;
        /* canonical: the bits under the padding are zero */
        if (i + 4 == len &&
            ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff))))
            return NH_EINVAL;
    }
    *n_out = n;
    return 0;
}

/* The upload's id in args.upload (32 lowercase hex), or NULL. */
static const char *
arg_upload(const cJSON *args, struct nh_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, "upload");

    if (!cJSON_IsString(v) || !objstore_hash_valid(v->valuestring)) {
        nh_errorf(err, NH_EINVAL, "'args.upload' must be an upload id");
        return NULL;
    }
    return v->valuestring;
}

/* args.key as an integer from 0 to 2^53. */
static int
arg_count(const cJSON *args, const char *key, uint64_t *out,
          struct nh_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);

    if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
        v->valuedouble > MANIFEST_INT_MAX ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return nh_errorf(err, NH_EINVAL,
                         "'args.%s' must be a non-negative integer", key);
    *out = (uint64_t)v->valuedouble;
    return 0;
}

/* DIR/uploads/<id>.part in out (and DIR/uploads created when mk). */
static int
part_path(const char *dir, const char *id, bool mk, struct strbuf *out,
          struct nh_error *err)
{
    int rc;

    strbuf_reset(out);
    rc = strbuf_addf(out, "%s/%s", dir, UPLOAD_DIR);
    if (rc < 0)
        return nh_errorf(err, rc, "out of memory");
    if (mk && mkdir(strbuf_str(out), 0700) < 0 && errno != EEXIST)
        return nh_error_errno(err, "cannot create '%s'", strbuf_str(out));
    rc = strbuf_addf(out, "/%s.part", id);
    return rc < 0 ? nh_errorf(err, rc, "out of memory") : 0;
}

static cJSON *
upload_result(const char *id, const char *key, double num, const char *str)
{
    cJSON *r = cJSON_CreateObject();

    if (!r || !cJSON_AddStringToObject(r, "upload", id) ||
        !(str ? cJSON_AddStringToObject(r, key, str)
              : cJSON_AddNumberToObject(r, key, num))) {
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

/* Start (or find) the upload of size and hash. */
static int
begin(sqlite3 *db, const struct dbq_job *job, cJSON **out, struct nh_error *err)
{
    const char *dir = job->data_dir;
    const cJSON *args = job->args;
    const cJSON *jh = cJSON_GetObjectItemCaseSensitive(args, "hash");
    char id[OBJSTORE_HASH_LEN + 1];
    unsigned char raw[16];
    struct strbuf path;
    sqlite3_stmt *st = NULL;
    uint64_t size, offset = 0;
    struct stat sb;
    int rc, src, fd;
    size_t i;

    strbuf_init(&path, 0);
    rc = arg_count(args, "size", &size, err);
    if (rc < 0)
        return rc;
    if (!cJSON_IsString(jh) || !objstore_hash_valid(jh->valuestring))
        return nh_errorf(err, NH_EINVAL,
                         "'args.hash' must be 32 lowercase hex digits");
    rc = sql_prepare(db,
                     "SELECT id, offset, object FROM uploads"
                     " WHERE size = ?1 AND hash = ?2",
                     &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
    sqlite3_bind_text(st, 2, jh->valuestring, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        if (!sql_column_hash(st, 0, id)) {
            rc = nh_errorf(err, NH_ECORRUPT, "bad upload id in database");
        } else if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
            offset = size; /* finished: only finish is left to call */
        } else {
            offset = (uint64_t)sqlite3_column_int64(st, 1);
            rc = part_path(dir, id, false, &path, err);
            /* the .part is gone: start over */
            if (rc == 0 && offset > 0 &&
                (stat(strbuf_str(&path), &sb) < 0 ||
                 (uint64_t)sb.st_size < offset))
                offset = 0;
        }
        sqlite3_finalize(st);
        st = NULL;
        if (rc == 0)
            rc = sql_prepare(db,
                             "UPDATE uploads SET offset = ?2 WHERE id = ?1"
                             " AND object IS NULL",
                             &st, err);
        if (rc == 0) {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, (sqlite3_int64)offset);
            if (sqlite3_step(st) != SQLITE_DONE)
                rc = sql_fail(db, err, "cannot update upload");
        }
        goto out;
    }
    if (src != SQLITE_DONE) {
        rc = sql_fail(db, err, "cannot read uploads");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        rc = nh_error_errno(err, "cannot make an upload id");
        goto out;
    }
    for (i = 0; i < sizeof(raw); i++)
        snprintf(id + 2 * i, 3, "%02x", raw[i]);
    rc = part_path(dir, id, true, &path, err);
    if (rc < 0)
        goto out;
    fd =
        open(strbuf_str(&path), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = nh_error_errno(err, "cannot create '%s'", strbuf_str(&path));
        goto out;
    }
    close(fd);
    rc = sql_prepare(db,
                     "INSERT INTO uploads (id, size, hash) VALUES (?1, ?2, ?3)",
                     &st, err);
    if (rc < 0)
        goto out;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
    sqlite3_bind_text(st, 3, jh->valuestring, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = sql_fail(db, err, "cannot add upload");
out:
    sqlite3_finalize(st);
    strbuf_release(&path);
    if (rc == 0 && !(*out = upload_result(id, "offset", (double)offset, NULL)))
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
    return rc;
}

/* pwrite all n bytes at off. */
static int
write_at(int fd, const unsigned char *p, size_t n, uint64_t off)
{
    size_t done = 0;
    ssize_t w;

    while (done < n) {
        w = pwrite(fd, p + done, n - done, (off_t)(off + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        done += (size_t)w;
    }
    return 0;
}

/* Append one chunk at the upload's current offset. */
static int
chunk(sqlite3 *db, const struct dbq_job *job, cJSON **out, struct nh_error *err)
{
    const char *dir = job->data_dir;
    const cJSON *args = job->args;
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(args, "data");
    const char *id = arg_upload(args, err);
    unsigned char *data = NULL;
    struct strbuf path;
    sqlite3_stmt *st = NULL;
    uint64_t offset, size = 0, cur = 0;
    size_t n = 0, dlen;
    int rc, src, fd = -1;

    strbuf_init(&path, 0);
    if (!id)
        return NH_EINVAL;
    rc = arg_count(args, "offset", &offset, err);
    if (rc < 0)
        return rc;
    if (!cJSON_IsString(jd))
        return nh_errorf(err, NH_EINVAL, "'args.data' must be base64 text");
    dlen = strlen(jd->valuestring);
    if (dlen / 4 * 3 > UPLOAD_CHUNK_MAX + 2)
        return nh_errorf(err, NH_EINVAL,
                         "a chunk holds at most %d bytes (decoded)",
                         UPLOAD_CHUNK_MAX);
    data = malloc(dlen / 4 * 3 + 1);
    if (!data)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    if (base64_decode(jd->valuestring, dlen, data, &n) < 0) {
        rc = nh_errorf(err, NH_EINVAL, "'args.data' is not valid base64");
        goto out;
    }
    if (n > UPLOAD_CHUNK_MAX) {
        rc = nh_errorf(err, NH_EINVAL,
                       "a chunk holds at most %d bytes (decoded)",
                       UPLOAD_CHUNK_MAX);
        goto out;
    }
    rc = sql_prepare(
        db, "SELECT size, offset, object FROM uploads WHERE id = ?1", &st, err);
    if (rc < 0)
        goto out;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        size = (uint64_t)sqlite3_column_int64(st, 0);
        cur = (uint64_t)sqlite3_column_int64(st, 1);
        if (sqlite3_column_type(st, 2) != SQLITE_NULL)
            rc = nh_errorf(err, NH_EINVAL, "upload '%s' is finished", id);
        else if (offset != cur)
            rc = nh_errorf(err, NH_EINVAL,
                           "offset %llu is not upload '%s''s current offset "
                           "%llu",
                           (unsigned long long)offset, id,
                           (unsigned long long)cur);
        else if (n > size - cur)
            rc = nh_errorf(err, NH_EINVAL,
                           "the chunk goes past the upload's size %llu",
                           (unsigned long long)size);
    } else if (src == SQLITE_DONE) {
        rc = nh_errorf(err, NH_ENOENT, "no upload '%s'", id);
    } else {
        rc = sql_fail(db, err, "cannot read uploads");
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc < 0)
        goto out;
    rc = part_path(dir, id, true, &path, err);
    if (rc < 0)
        goto out;
    fd = open(strbuf_str(&path), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)cur) < 0 ||
        write_at(fd, data, n, cur) < 0 || fdatasync(fd) < 0) {
        rc = nh_error_errno(err, "cannot write '%s'", strbuf_str(&path));
        goto out;
    }
    rc = sql_prepare(db, "UPDATE uploads SET offset = ?2 WHERE id = ?1", &st,
                     err);
    if (rc < 0)
        goto out;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)(cur + n));
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = sql_fail(db, err, "cannot update upload");
    if (rc == 0 &&
        !(*out = upload_result(id, "offset", (double)(cur + n), NULL)))
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
out:
    if (fd >= 0)
        close(fd);
    sqlite3_finalize(st);
    strbuf_release(&path);
    free(data);
    return rc;
}

/* XXH3-128 hex of the file at path. */
static int
hash_file(const char *path, char hex[OBJSTORE_HASH_LEN + 1],
          struct nh_error *err)
{
    struct nh_hash_state *hs;
    char *buf;
    ssize_t got;
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nh_error_errno(err, "cannot open '%s'", path);
    buf = malloc(UPLOAD_BLOCK);
    hs = nh_hash128_begin();
    if (!buf || !hs) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
    } else {
        while ((got = read(fd, buf, UPLOAD_BLOCK)) != 0) {
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0) {
                rc = nh_error_errno(err, "cannot read '%s'", path);
                break;
            }
            nh_hash128_update(hs, buf, (size_t)got);
        }
    }
    if (hs) {
        struct nh_h128 h = nh_hash128_end(hs);

        if (rc == 0)
            nh_h128_hex(h, hex);
    }
    free(buf);
    close(fd);
    return rc;
}

/* Run one statement on id. */
static int
exec_id(sqlite3 *db, const char *sql, const char *id, const char *arg,
        struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = sql_prepare(db, sql, &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (arg)
        sqlite3_bind_text(st, 2, arg, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = sql_fail(db, err, "cannot update uploads");
    sqlite3_finalize(st);
    return rc;
}

/* Check the finished upload's hash and move it into the object store.
 * Runs outside a transaction: hashing a large file must not hold the
 * database's write lock. */
static int
finish(sqlite3 *db, const struct dbq_job *job, cJSON **out,
       struct nh_error *err)
{
    const char *dir = job->data_dir;
    const cJSON *args = job->args;
    const char *id = arg_upload(args, err);
    char want[OBJSTORE_HASH_LEN + 1], got[OBJSTORE_HASH_LEN + 1];
    char obj[OBJSTORE_HASH_LEN + 1];
    struct strbuf path;
    sqlite3_stmt *st = NULL;
    uint64_t size = 0, offset = 0;
    bool done = false;
    int rc, src;

    if (!id)
        return NH_EINVAL;
    strbuf_init(&path, 0);
    rc = sql_prepare(db,
                     "SELECT size, offset, hash, object FROM uploads"
                     " WHERE id = ?1",
                     &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        size = (uint64_t)sqlite3_column_int64(st, 0);
        offset = (uint64_t)sqlite3_column_int64(st, 1);
        done = sqlite3_column_type(st, 3) != SQLITE_NULL;
        if (!sql_column_hash(st, 2, want))
            rc = nh_errorf(err, NH_ECORRUPT, "bad upload hash in database");
    } else if (src == SQLITE_DONE) {
        rc = nh_errorf(err, NH_ENOENT, "no upload '%s'", id);
    } else {
        rc = sql_fail(db, err, "cannot read uploads");
    }
    sqlite3_finalize(st);
    if (rc < 0 || done)
        goto out;
    if (offset != size) {
        rc =
            nh_errorf(err, NH_EINVAL, "upload '%s' has %llu of its %llu bytes",
                      id, (unsigned long long)offset, (unsigned long long)size);
        goto out;
    }
    rc = part_path(dir, id, false, &path, err);
    if (rc == 0)
        rc = hash_file(strbuf_str(&path), got, err);
    if (rc < 0)
        goto out;
    if (strcmp(got, want)) {
        exec_id(db, "DELETE FROM uploads WHERE id = ?1", id, NULL, NULL);
        unlink(strbuf_str(&path));
        rc = nh_errorf(err, NH_EINVAL,
                       "upload '%s' does not match its hash: expected '%s', "
                       "got '%s'; it is discarded",
                       id, want, got);
        goto out;
    }
    rc = objstore_put_file(dir, strbuf_str(&path), obj, NULL, err);
    if (rc == 0 && strcmp(obj, want))
        rc = nh_errorf(err, NH_EIO, "upload '%s' changed while stored", id);
    if (rc == 0)
        rc = exec_id(db, "UPDATE uploads SET object = ?2 WHERE id = ?1", id,
                     want, err);
    if (rc == 0)
        unlink(strbuf_str(&path));
out:
    strbuf_release(&path);
    if (rc == 0 && !(*out = upload_result(id, "object", 0, want)))
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
    return rc;
}

void
op_upload_begin(struct store *s, const struct dbq_job *job,
                struct dbq_result *res)
{
    ops_run(s, job, res, begin, OPS_TXN_WRITE);
}

void
op_upload_chunk(struct store *s, const struct dbq_job *job,
                struct dbq_result *res)
{
    ops_run(s, job, res, chunk, OPS_TXN_WRITE);
}

void
op_upload_finish(struct store *s, const struct dbq_job *job,
                 struct dbq_result *res)
{
    ops_run(s, job, res, finish, OPS_TXN_NONE);
}
