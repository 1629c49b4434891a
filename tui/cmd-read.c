/* cmd-read.c - `nh dataset cat` and `nh dataset export`: shards to bytes
 *
 * Both resolve the ref once with dataset.show (so every page comes from
 * the same version even if a new one appears meanwhile), then page
 * through each shard with dataset.read (whole JSONL lines, "next" is the
 * offset to ask for, "eof" ends the shard). export writes each shard to
 * a temporary name while hashing it, checks the XXH3-128 against the
 * shard's object id, and only then renames it to part-NNNNN.jsonl.
 */
#include "nh.h"

#include "hash.h"
#include "strbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_PAGE (4 << 20) /* max_bytes asked per dataset.read */

typedef int read_sink(const char *data, size_t len, void *arg,
                      struct nh_error *err);

/* Call sink with every page of shard shard of ref. */
static int
read_shard(struct client *c, const char *ref, int shard, read_sink *sink,
           void *arg, struct nh_error *err)
{
    cJSON *args = NULL, *res = NULL;
    long long offset = 0;
    int rc = 0;

    for (;;) {
        const cJSON *data;
        long long next;
        args = cJSON_CreateObject();
        if (!args || !cJSON_AddStringToObject(args, "ref", ref) ||
            !cJSON_AddNumberToObject(args, "shard", shard) ||
            !cJSON_AddNumberToObject(args, "offset", (double)offset) ||
            !cJSON_AddNumberToObject(args, "max_bytes", READ_PAGE)) {
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            goto out;
        }
        rc = client_call(c, "dataset.read", args, &res, err);
        if (rc < 0)
            goto out;
        data = cJSON_GetObjectItemCaseSensitive(res, "data");
        next = (long long)json_int(
            cJSON_GetObjectItemCaseSensitive(res, "next"), -1);
        if (!cJSON_IsString(data) || next < offset) {
            rc = nh_errorf(err, NH_EFORMAT, "bad dataset.read result");
            goto out;
        }
        rc = sink(data->valuestring, strlen(data->valuestring), arg, err);
        if (rc < 0)
            goto out;
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "eof")))
            break;
        if (next == offset) {
            rc = nh_errorf(err, NH_EFORMAT, "dataset.read made no progress");
            goto out;
        }
        offset = next;
        cJSON_Delete(args);
        cJSON_Delete(res);
        args = res = NULL;
    }
out:
    cJSON_Delete(args);
    cJSON_Delete(res);
    return rc;
}

/* dataset.show of argv ref; *pinned gets "DATASET@VERSION" (malloc'd). */
static int
show_pinned(struct client *c, const char *ref, cJSON **show, char **pinned,
            struct nh_error *err)
{
    cJSON *args = cJSON_CreateObject(), *res = NULL;
    struct strbuf sb = STRBUF_INIT;
    int rc;

    if (!args || !cJSON_AddStringToObject(args, "ref", ref)) {
        cJSON_Delete(args);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    rc = client_call(c, "dataset.show", args, &res, err);
    cJSON_Delete(args);
    if (rc < 0)
        return rc;
    if (!json_str(res, "dataset", NULL) || !json_str(res, "version", NULL) ||
        !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(res, "shards"))) {
        cJSON_Delete(res);
        return nh_errorf(err, NH_EFORMAT, "bad dataset.show result");
    }
    if (strbuf_addf(&sb, "%s@%s", json_str(res, "dataset", ""),
                    json_str(res, "version", "")) < 0) {
        cJSON_Delete(res);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    *show = res;
    *pinned = strbuf_detach(&sb, NULL);
    return 0;
}

static int
sink_stdout(const char *data, size_t len, void *arg, struct nh_error *err)
{
    (void)arg;
    if (fwrite(data, 1, len, stdout) != len)
        return nh_error_errno(err, "cannot write to stdout");
    return 0;
}

int
cmd_dataset_cat(struct cmd_ctx *ctx)
{
    struct client *c = NULL;
    cJSON *show = NULL;
    char *pinned = NULL;
    struct nh_error err;
    int i, n, rc;

    rc = nh_connect(&c, &err);
    if (rc == 0)
        rc = show_pinned(c, ctx->argv[0], &show, &pinned, &err);
    n = show ? cJSON_GetArraySize(
                   cJSON_GetObjectItemCaseSensitive(show, "shards"))
             : 0;
    for (i = 0; rc == 0 && i < n; i++)
        rc = read_shard(c, pinned, i, sink_stdout, NULL, &err);
    client_free(c);
    cJSON_Delete(show);
    free(pinned);
    return rc < 0 ? nh_fail(&err) : NH_EXIT_OK;
}

struct file_sink {
    FILE *f;
    const char *path;
    struct nh_hash_state *st;
    long long bytes;
};

static int
sink_file(const char *data, size_t len, void *arg, struct nh_error *err)
{
    struct file_sink *fs = arg;

    if (fwrite(data, 1, len, fs->f) != len)
        return nh_error_errno(err, "cannot write '%s'", fs->path);
    nh_hash128_update(fs->st, data, len);
    fs->bytes += (long long)len;
    return 0;
}

/* Write shard i of pinned to dir/part-NNNNN.jsonl and check it against
 * object. */
static int
export_shard(struct client *c, const char *pinned, int i, const char *object,
             const char *dir, cJSON *files, struct nh_error *err)
{
    struct strbuf tmp = STRBUF_INIT, final = STRBUF_INIT;
    struct file_sink fs = {NULL, NULL, NULL, 0};
    cJSON *item = NULL;
    char hex[33];
    int rc;

    if (strbuf_addf(&tmp, "%s/.part-%05d.jsonl.tmp-%ld", dir, i,
                    (long)getpid()) < 0 ||
        strbuf_addf(&final, "%s/part-%05d.jsonl", dir, i) < 0) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    fs.path = tmp.buf;
    fs.f = fopen(tmp.buf, "wb");
    if (!fs.f) {
        rc = nh_error_errno(err, "cannot create '%s'", tmp.buf);
        goto out;
    }
    fs.st = nh_hash128_begin();
    if (!fs.st) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    rc = read_shard(c, pinned, i, sink_file, &fs, err);
    if (rc < 0)
        goto out;
    nh_h128_hex(nh_hash128_end(fs.st), hex);
    fs.st = NULL;
    if (fflush(fs.f) != 0 || fsync(fileno(fs.f)) < 0) {
        rc = nh_error_errno(err, "cannot write '%s'", tmp.buf);
        goto out;
    }
    if (fclose(fs.f) != 0) {
        fs.f = NULL;
        rc = nh_error_errno(err, "cannot write '%s'", tmp.buf);
        goto out;
    }
    fs.f = NULL;
    if (strcmp(hex, object)) {
        rc = nh_errorf(err, NH_ECORRUPT,
                       "shard %d of '%s' has hash %s, expected %s", i, pinned,
                       hex, object);
        goto out;
    }
    if (rename(tmp.buf, final.buf) < 0) {
        rc = nh_error_errno(err, "cannot rename '%s' to '%s'", tmp.buf,
                            final.buf);
        goto out;
    }
    item = cJSON_CreateObject();
    if (!item || !cJSON_AddStringToObject(item, "path", final.buf) ||
        !cJSON_AddStringToObject(item, "object", object) ||
        !cJSON_AddNumberToObject(item, "bytes", (double)fs.bytes) ||
        !cJSON_AddItemToArray(files, item)) {
        cJSON_Delete(item);
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
out:
    if (fs.st)
        nh_hash128_end(fs.st);
    if (fs.f)
        fclose(fs.f);
    if (rc < 0 && tmp.buf)
        unlink(tmp.buf);
    strbuf_release(&tmp);
    strbuf_release(&final);
    return rc;
}

int
cmd_dataset_export(struct cmd_ctx *ctx)
{
    const char *dir = ctx->argv[1];
    struct client *c = NULL;
    cJSON *show = NULL, *out = NULL, *files = NULL;
    const cJSON *s;
    char *pinned = NULL;
    struct nh_error err;
    int i = 0, rc;

    if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
        rc = nh_error_errno(&err, "cannot create '%s'", dir);
        goto out;
    }
    rc = nh_connect(&c, &err);
    if (rc == 0)
        rc = show_pinned(c, ctx->argv[0], &show, &pinned, &err);
    if (rc < 0)
        goto out;
    out = cJSON_CreateObject();
    files = cJSON_CreateArray();
    if (!out || !files ||
        !cJSON_AddStringToObject(out, "dataset",
                                 json_str(show, "dataset", "")) ||
        !cJSON_AddStringToObject(out, "version",
                                 json_str(show, "version", "")) ||
        !cJSON_AddStringToObject(out, "dir", dir) ||
        !cJSON_AddItemToObject(out, "files", files)) {
        cJSON_Delete(files);
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
        goto out;
    }
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(show, "shards"))
    {
        const char *object = json_str(s, "object", NULL);
        if (!object) {
            rc = nh_errorf(&err, NH_EFORMAT, "bad dataset.show result");
            goto out;
        }
        rc = export_shard(c, pinned, i, object, dir, files, &err);
        if (rc < 0)
            goto out;
        if (!ctx->json)
            printf("%s/part-%05d.jsonl\n", dir, i);
        i++;
    }
    if (ctx->json)
        out_json(out);
out:
    client_free(c);
    cJSON_Delete(show);
    cJSON_Delete(out);
    free(pinned);
    return rc < 0 ? nh_fail(&err) : NH_EXIT_OK;
}
