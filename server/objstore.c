/* objstore.c - nhd's content-addressed object store and version manifests
 *
 * The storage under a dataset version (docs/SERVER.md, "Storage"): jobs
 * hash their output shards into DIR/objects with objstore_put_file(), and
 * the version that lists them is a manifest whose id is the hash of its
 * canonical JSON. Both halves name content by XXH3-128 (common/hash.h),
 * so a version id pins every byte of every shard it lists. The database
 * (store.c) records versions and their shards; this file only touches
 * files and JSON.
 */
#include "objstore.h"

#include "hash.h"
#include "jsonl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK_SIZE ((size_t)1 << 20) /* bytes read per read(2) */
#define CANON_MAX_DEPTH 256

bool
objstore_hash_valid(const char *s)
{
    size_t i;

    if (!s)
        return false;
    for (i = 0; i < OBJSTORE_HASH_LEN; i++) {
        char c = s[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return s[i] == '\0';
}

int
objstore_path(const char *dir, const char *hash, struct strbuf *out)
{
    if (!objstore_hash_valid(hash))
        return NH_EINVAL;
    strbuf_reset(out);
    return strbuf_addf(out, "%s/" OBJSTORE_DIR "/%.2s/%s", dir, hash, hash);
}

/* mkdir that accepts an existing directory; *made says whether it was
 * new (so the caller knows to fsync the parent). */
static int
make_dir(const char *path, bool *made, struct nh_error *err)
{
    *made = false;
    if (mkdir(path, 0755) == 0) {
        *made = true;
        return 0;
    }
    if (errno == EEXIST)
        return 0;
    return nh_error_errno(err, "cannot create directory '%s'", path);
}

static int
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read fd to its end in blocks through an XXH3-128 state, copying each
 * block to out_fd unless it is -1. */
static int
hash_fd(int fd, int out_fd, const char *path, const char *out_path,
        struct nh_h128 *h, uint64_t *bytes, struct nh_error *err)
{
    struct nh_hash_state *st;
    char *buf;
    uint64_t total = 0;
    int rc = 0;

    buf = malloc(BLOCK_SIZE);
    st = nh_hash128_begin();
    if (!buf || !st) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory hashing '%s'", path);
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf, BLOCK_SIZE);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = nh_error_errno(err, "cannot read '%s'", path);
            goto out;
        }
        if (n == 0)
            break;
        nh_hash128_update(st, buf, (size_t)n);
        total += (uint64_t)n;
        if (out_fd >= 0 && write_all(out_fd, buf, (size_t)n) < 0) {
            rc = nh_error_errno(err, "cannot write '%s'", out_path);
            goto out;
        }
    }
    *h = nh_hash128_end(st);
    st = NULL;
    *bytes = total;
out:
    if (st)
        nh_hash128_end(st);
    free(buf);
    return rc;
}

int
objstore_put_file(const char *dir, const char *path, char hash_out[33],
                  uint64_t *bytes_out, struct nh_error *err)
{
    struct strbuf objdir = STRBUF_INIT, tmp = STRBUF_INIT, sub = STRBUF_INIT,
                  final = STRBUF_INIT;
    struct nh_h128 h;
    struct stat st;
    char hex[OBJSTORE_HASH_LEN + 1];
    uint64_t bytes = 0;
    int in = -1, fd = -1, rc;
    bool made, tmp_exists = false;

    if ((rc = strbuf_addf(&objdir, "%s/" OBJSTORE_DIR, dir)) < 0 ||
        (rc = strbuf_addf(&tmp, "%s/tmp-XXXXXX", objdir.buf)) < 0) {
        rc = nh_errorf(err, rc, "object store path for '%s' too long", dir);
        goto out;
    }
    if ((rc = make_dir(dir, &made, err)) < 0 ||
        (rc = make_dir(objdir.buf, &made, err)) < 0)
        goto out;
    if (made)
        nh_sync_parent_dir(objdir.buf);

    in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        rc = nh_error_errno(err, "cannot open '%s'", path);
        goto out;
    }
    fd = mkostemp(tmp.buf, O_CLOEXEC);
    if (fd < 0) {
        rc = nh_error_errno(err, "cannot create '%s'", tmp.buf);
        goto out;
    }
    tmp_exists = true;
    if ((rc = hash_fd(in, fd, path, tmp.buf, &h, &bytes, err)) < 0)
        goto out;
    if (fchmod(fd, 0444) < 0 || fsync(fd) < 0) {
        rc = nh_error_errno(err, "cannot sync '%s'", tmp.buf);
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        rc = nh_error_errno(err, "cannot close '%s'", tmp.buf);
        goto out;
    }
    fd = -1;

    nh_h128_hex(h, hex);
    if ((rc = strbuf_addf(&sub, "%s/%.2s", objdir.buf, hex)) < 0 ||
        (rc = objstore_path(dir, hex, &final)) < 0) {
        rc = nh_errorf(err, rc, "object store path for '%s' too long", dir);
        goto out;
    }
    if ((rc = make_dir(sub.buf, &made, err)) < 0)
        goto out;
    if (made)
        nh_sync_parent_dir(sub.buf);
    if (lstat(final.buf, &st) == 0) {
        /* already stored: same hash, same content */
        unlink(tmp.buf);
        tmp_exists = false;
    } else {
        if (rename(tmp.buf, final.buf) < 0) {
            rc = nh_error_errno(err, "cannot rename '%s' to '%s'", tmp.buf,
                                final.buf);
            goto out;
        }
        tmp_exists = false;
        if (nh_sync_parent_dir(final.buf) < 0) {
            rc =
                nh_error_errno(err, "cannot sync directory of '%s'", final.buf);
            goto out;
        }
    }
    memcpy(hash_out, hex, sizeof(hex));
    if (bytes_out)
        *bytes_out = bytes;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (in >= 0)
        close(in);
    if (tmp_exists)
        unlink(tmp.buf);
    strbuf_release(&objdir);
    strbuf_release(&tmp);
    strbuf_release(&sub);
    strbuf_release(&final);
    return rc;
}

int
objstore_verify(const char *dir, const char *hash, struct nh_error *err)
{
    struct strbuf path = STRBUF_INIT;
    struct nh_h128 h;
    char hex[OBJSTORE_HASH_LEN + 1];
    uint64_t bytes;
    int fd = -1, rc;

    if (!objstore_hash_valid(hash))
        return nh_errorf(err, NH_EINVAL, "'%s' is not an object hash",
                         hash ? hash : "(null)");
    if ((rc = objstore_path(dir, hash, &path)) < 0)
        return nh_errorf(err, rc, "object path for '%s' too long", hash);
    fd = open(path.buf, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            rc = nh_errorf(err, NH_ENOENT, "no object '%s'", hash);
        else
            rc = nh_error_errno(err, "cannot open '%s'", path.buf);
        goto out;
    }
    if ((rc = hash_fd(fd, -1, path.buf, NULL, &h, &bytes, err)) < 0)
        goto out;
    nh_h128_hex(h, hex);
    if (strcmp(hex, hash) != 0)
        rc = nh_errorf(err, NH_ECORRUPT, "object '%s' hashes to '%s'", hash,
                       hex);
out:
    if (fd >= 0)
        close(fd);
    strbuf_release(&path);
    return rc;
}

/* ---- manifests ---- */

static cJSON *
string_or_null(const char *s)
{
    return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

/* Add item to obj under key; consumes item, even on failure. */
static bool
add(cJSON *obj, const char *key, cJSON *item)
{
    if (!item)
        return false;
    if (!cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

cJSON *
manifest_to_json(const struct manifest *m)
{
    cJSON *root, *shards;
    size_t i;

    if (!m->dataset || !m->tool_version)
        return NULL;
    root = cJSON_CreateObject();
    shards = cJSON_CreateArray();
    if (!root || !shards)
        goto fail;
    for (i = 0; i < m->nshards; i++) {
        const struct manifest_shard *s = &m->shards[i];
        cJSON *o = cJSON_CreateObject();

        if (!o || !cJSON_AddItemToArray(shards, o)) {
            cJSON_Delete(o);
            goto fail;
        }
        if (!add(o, "hash", cJSON_CreateString(s->hash)) ||
            !add(o, "docs", cJSON_CreateNumber((double)s->docs)) ||
            !add(o, "bytes", cJSON_CreateNumber((double)s->bytes)))
            goto fail;
    }
    if (!add(root, "format", cJSON_CreateString(MANIFEST_FORMAT)) ||
        !add(root, "dataset", cJSON_CreateString(m->dataset)))
        goto fail;
    if (!add(root, "shards", shards)) {
        shards = NULL;
        goto fail;
    }
    shards = NULL;
    if (!add(root, "parent", string_or_null(m->parent)) ||
        !add(root, "job_id",
             m->job_id < 0 ? cJSON_CreateNull()
                           : cJSON_CreateNumber((double)m->job_id)) ||
        !add(root, "config_hash", string_or_null(m->config_hash)) ||
        !add(root, "tool_version", cJSON_CreateString(m->tool_version)))
        goto fail;
    return root;
fail:
    cJSON_Delete(shards);
    cJSON_Delete(root);
    return NULL;
}

static int
key_cmp(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a;
    const cJSON *y = *(const cJSON *const *)b;

    return strcmp(x->string, y->string); /* compares as unsigned char */
}

static int canon(const cJSON *v, struct strbuf *out, int depth);

static int
canon_object(const cJSON *v, struct strbuf *out, int depth)
{
    const cJSON *c;
    const cJSON **kids;
    size_t n = 0, i;
    int rc = 0;

    for (c = v->child; c; c = c->next)
        n++;
    if (n == 0)
        return strbuf_addstr(out, "{}");
    kids = malloc(n * sizeof(*kids));
    if (!kids)
        return NH_ENOMEM;
    for (i = 0, c = v->child; c; c = c->next)
        kids[i++] = c;
    qsort(kids, n, sizeof(*kids), key_cmp);
    for (i = 1; i < n; i++)
        if (strcmp(kids[i - 1]->string, kids[i]->string) == 0) {
            rc = NH_EINVAL;
            goto out;
        }
    for (i = 0; i < n; i++) {
        const char *k = kids[i]->string;

        if ((rc = strbuf_addch(out, i ? ',' : '{')) < 0 ||
            (rc = strbuf_add_json_str(out, k, strlen(k))) < 0 ||
            (rc = strbuf_addch(out, ':')) < 0 ||
            (rc = canon(kids[i], out, depth + 1)) < 0)
            goto out;
    }
    rc = strbuf_addch(out, '}');
out:
    free(kids);
    return rc;
}

static int
canon_number(double d, struct strbuf *out)
{
    if (!isfinite(d))
        return NH_EINVAL;
    if (floor(d) == d && fabs(d) < 9223372036854775808.0)
        return strbuf_addf(out, "%" PRId64, (int64_t)d);
    return strbuf_addf(out, "%.17g", d);
}

static int
canon(const cJSON *v, struct strbuf *out, int depth)
{
    const cJSON *c;
    int rc;

    if (depth > CANON_MAX_DEPTH)
        return NH_ETOOBIG;
    switch (v->type & 0xff) {
    case cJSON_NULL:
        return strbuf_addstr(out, "null");
    case cJSON_True:
        return strbuf_addstr(out, "true");
    case cJSON_False:
        return strbuf_addstr(out, "false");
    case cJSON_Number:
        return canon_number(v->valuedouble, out);
    case cJSON_String:
        return strbuf_add_json_str(out, v->valuestring, strlen(v->valuestring));
    case cJSON_Array:
        if ((rc = strbuf_addch(out, '[')) < 0)
            return rc;
        for (c = v->child; c; c = c->next)
            if ((c != v->child && (rc = strbuf_addch(out, ',')) < 0) ||
                (rc = canon(c, out, depth + 1)) < 0)
                return rc;
        return strbuf_addch(out, ']');
    case cJSON_Object:
        return canon_object(v, out, depth);
    default:
        return NH_EINVAL; /* cJSON_Raw or invalid */
    }
}

int
manifest_canonical(const cJSON *m, struct strbuf *out)
{
    strbuf_reset(out);
    return canon(m, out, 0);
}

int
manifest_id(const cJSON *m, char id[OBJSTORE_HASH_LEN + 1])
{
    struct strbuf sb = STRBUF_INIT;
    int rc = manifest_canonical(m, &sb);

    if (rc == 0)
        nh_h128_hex(nh_hash128(sb.buf, sb.len), id);
    strbuf_release(&sb);
    return rc;
}

/* Every child of obj has a name in keys[] and no name appears twice;
 * every name in keys[] is present. where prefixes field names ("" or
 * "shards[3]."). */
static int
check_keys(const cJSON *obj, const char *const *keys, size_t nkeys,
           const char *where, struct nh_error *err)
{
    const cJSON *c, *d;
    size_t i;

    for (c = obj->child; c; c = c->next) {
        for (i = 0; i < nkeys; i++)
            if (strcmp(c->string, keys[i]) == 0)
                break;
        if (i == nkeys)
            return nh_errorf(err, NH_EINVAL, "manifest: unknown field '%s%s'",
                             where, c->string);
        for (d = obj->child; d != c; d = d->next)
            if (strcmp(d->string, c->string) == 0)
                return nh_errorf(err, NH_EINVAL,
                                 "manifest: duplicate field '%s%s'", where,
                                 c->string);
    }
    for (i = 0; i < nkeys; i++)
        if (!cJSON_GetObjectItemCaseSensitive(obj, keys[i]))
            return nh_errorf(err, NH_EINVAL, "manifest: missing field '%s%s'",
                             where, keys[i]);
    return 0;
}

static bool
is_count(const cJSON *v)
{
    return cJSON_IsNumber(v) && v->valuedouble >= 0 &&
           v->valuedouble <= MANIFEST_INT_MAX &&
           floor(v->valuedouble) == v->valuedouble;
}

static int
check_shard(const cJSON *s, size_t i, struct nh_error *err)
{
    static const char *const keys[] = {"hash", "docs", "bytes"};
    const cJSON *v;
    char where[48];
    int rc;

    snprintf(where, sizeof(where), "shards[%zu].", i);
    if (!cJSON_IsObject(s))
        return nh_errorf(err, NH_EINVAL,
                         "manifest: 'shards[%zu]' is not an "
                         "object",
                         i);
    if ((rc = check_keys(s, keys, 3, where, err)) < 0)
        return rc;
    v = cJSON_GetObjectItemCaseSensitive(s, "hash");
    if (!cJSON_IsString(v) || !objstore_hash_valid(v->valuestring))
        return nh_errorf(err, NH_EINVAL,
                         "manifest: '%shash' is not 32 "
                         "lowercase hex digits",
                         where);
    if (!is_count(cJSON_GetObjectItemCaseSensitive(s, "docs")))
        return nh_errorf(err, NH_EINVAL,
                         "manifest: '%sdocs' is not a "
                         "non-negative integer",
                         where);
    if (!is_count(cJSON_GetObjectItemCaseSensitive(s, "bytes")))
        return nh_errorf(err, NH_EINVAL,
                         "manifest: '%sbytes' is not a "
                         "non-negative integer",
                         where);
    return 0;
}

static int
check_manifest(const cJSON *m, struct nh_error *err)
{
    static const char *const keys[] = {
        "format", "dataset",     "shards",       "parent",
        "job_id", "config_hash", "tool_version",
    };
    const cJSON *v, *s;
    size_t i = 0;
    int rc;

    if (!cJSON_IsObject(m))
        return nh_errorf(err, NH_EINVAL, "manifest: not a JSON object");
    if ((rc = check_keys(m, keys, sizeof(keys) / sizeof(keys[0]), "", err)) < 0)
        return rc;
    v = cJSON_GetObjectItemCaseSensitive(m, "format");
    if (!cJSON_IsString(v) || strcmp(v->valuestring, MANIFEST_FORMAT) != 0)
        return nh_errorf(err, NH_EINVAL, "manifest: 'format' is not '%s'",
                         MANIFEST_FORMAT);
    v = cJSON_GetObjectItemCaseSensitive(m, "dataset");
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return nh_errorf(err, NH_EINVAL,
                         "manifest: 'dataset' is not a non-empty string");
    v = cJSON_GetObjectItemCaseSensitive(m, "tool_version");
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return nh_errorf(err, NH_EINVAL,
                         "manifest: 'tool_version' is not a non-empty string");
    v = cJSON_GetObjectItemCaseSensitive(m, "parent");
    if (!cJSON_IsNull(v) &&
        !(cJSON_IsString(v) && objstore_hash_valid(v->valuestring)))
        return nh_errorf(err, NH_EINVAL,
                         "manifest: 'parent' is neither null "
                         "nor 32 lowercase hex digits");
    v = cJSON_GetObjectItemCaseSensitive(m, "job_id");
    if (!cJSON_IsNull(v) && !is_count(v))
        return nh_errorf(err, NH_EINVAL,
                         "manifest: 'job_id' is neither null "
                         "nor a non-negative integer");
    v = cJSON_GetObjectItemCaseSensitive(m, "config_hash");
    if (!cJSON_IsNull(v) && !cJSON_IsString(v))
        return nh_errorf(err, NH_EINVAL,
                         "manifest: 'config_hash' is neither null nor a "
                         "string");
    v = cJSON_GetObjectItemCaseSensitive(m, "shards");
    if (!cJSON_IsArray(v))
        return nh_errorf(err, NH_EINVAL, "manifest: 'shards' is not an array");
    for (s = v->child; s; s = s->next, i++)
        if ((rc = check_shard(s, i, err)) < 0)
            return rc;
    return 0;
}

int
manifest_parse(const char *json, size_t len, cJSON **out, struct nh_error *err)
{
    cJSON *m = cJSON_ParseWithLength(json, len);
    int rc;

    if (!m)
        return nh_errorf(err, NH_EFORMAT, "manifest: not valid JSON");
    if ((rc = check_manifest(m, err)) < 0) {
        cJSON_Delete(m);
        return rc;
    }
    *out = m;
    return 0;
}
