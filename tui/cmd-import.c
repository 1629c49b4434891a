/* cmd-import.c - `nh dataset import NAME PATH...`
 *
 * By default each file is uploaded: upload.begin with its size and
 * XXH3-128 (the server answers the offset to continue from, so running
 * the command again after an interruption resumes), upload.chunk with
 * base64 pieces of UPLOAD_CHUNK bytes, upload.finish (the server checks
 * the hash); then one dataset.import with the upload ids. With
 * --server-paths the paths (made absolute) go to dataset.import as they
 * are and the server reads the files itself.
 */
#include "nh.h"

#include "hash.h"
#include "strbuf.h"

#include <errno.h>
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define UPLOAD_CHUNK (512 * 1024) /* decoded bytes per upload.chunk */

/* Size and XXH3-128 hex of the file at path. */
static int
file_hash(const char *path, long long *size, char hex[33], struct nh_error *err)
{
    struct nh_hash_state *st;
    char *buf;
    FILE *f;
    size_t n;
    long long total = 0;
    int rc = 0;

    f = fopen(path, "rb");
    if (!f)
        return nh_error_errno(err, "cannot open '%s'", path);
    buf = malloc(1 << 20);
    st = nh_hash128_begin();
    if (!buf || !st) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    while ((n = fread(buf, 1, 1 << 20, f)) > 0) {
        nh_hash128_update(st, buf, n);
        total += (long long)n;
    }
    if (ferror(f)) {
        rc = nh_error_errno(err, "cannot read '%s'", path);
        goto out;
    }
    nh_h128_hex(nh_hash128_end(st), hex);
    st = NULL;
    *size = total;
out:
    if (st)
        nh_hash128_end(st);
    free(buf);
    fclose(f);
    return rc;
}

/* Upload one file; *upload gets the upload id (as the server spells it). */
static int
upload_file(struct client *c, const char *path, bool progress, cJSON **upload,
            struct nh_error *err)
{
    cJSON *args = NULL, *res = NULL, *id = NULL;
    char hex[33];
    long long size = 0, offset;
    char *raw = NULL, *b64 = NULL;
    FILE *f = NULL;
    int rc;

    rc = file_hash(path, &size, hex, err);
    if (rc < 0)
        return rc;
    args = cJSON_CreateObject();
    if (!args || !cJSON_AddNumberToObject(args, "size", (double)size) ||
        !cJSON_AddStringToObject(args, "hash", hex)) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    rc = client_call(c, "upload.begin", args, &res, err);
    if (rc < 0)
        goto out;
    id = cJSON_DetachItemFromObjectCaseSensitive(res, "upload");
    offset = (long long)json_int(
        cJSON_GetObjectItemCaseSensitive(res, "offset"), -1);
    if (!id || offset < 0 || offset > size) {
        rc = nh_errorf(err, NH_EFORMAT, "bad upload.begin result");
        goto out;
    }
    f = fopen(path, "rb");
    raw = malloc(UPLOAD_CHUNK);
    b64 = malloc(UPLOAD_CHUNK / 3 * 4 + 16);
    if (!f) {
        rc = nh_error_errno(err, "cannot open '%s'", path);
        goto out;
    }
    if (!raw || !b64) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    if (fseeko(f, (off_t)offset, SEEK_SET) < 0) {
        rc = nh_error_errno(err, "cannot seek in '%s'", path);
        goto out;
    }
    while (offset < size) {
        size_t want = (size_t)(size - offset) < (size_t)UPLOAD_CHUNK
                          ? (size_t)(size - offset)
                          : (size_t)UPLOAD_CHUNK;
        size_t n = fread(raw, 1, want, f);
        int bn;
        if (n != want) {
            rc = ferror(f)
                     ? nh_error_errno(err, "cannot read '%s'", path)
                     : nh_errorf(err, NH_EIO, "'%s' shrank while read", path);
            goto out;
        }
        bn = lws_b64_encode_string(raw, (int)n, b64, UPLOAD_CHUNK / 3 * 4 + 16);
        if (bn < 0) {
            rc = nh_errorf(err, NH_ENOMEM, "base64 buffer too small");
            goto out;
        }
        cJSON_Delete(args);
        cJSON_Delete(res);
        res = NULL;
        args = cJSON_CreateObject();
        if (!args ||
            !cJSON_AddItemToObject(args, "upload", cJSON_Duplicate(id, 1)) ||
            !cJSON_AddNumberToObject(args, "offset", (double)offset) ||
            !cJSON_AddStringToObject(args, "data", b64)) {
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            goto out;
        }
        rc = client_call(c, "upload.chunk", args, &res, err);
        if (rc < 0)
            goto out;
        offset += (long long)n;
        if (json_int(cJSON_GetObjectItemCaseSensitive(res, "offset"), -1) !=
            offset) {
            rc = nh_errorf(err, NH_EFORMAT,
                           "the server is at another offset of '%s'", path);
            goto out;
        }
        if (progress)
            fprintf(stderr, "\r%s: %3d%%", path,
                    size ? (int)(offset * 100 / size) : 100);
    }
    if (progress)
        fprintf(stderr, "\r%s: done\n", path);
    cJSON_Delete(args);
    cJSON_Delete(res);
    res = NULL;
    args = cJSON_CreateObject();
    if (!args ||
        !cJSON_AddItemToObject(args, "upload", cJSON_Duplicate(id, 1))) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    rc = client_call(c, "upload.finish", args, &res, err);
    if (rc < 0)
        goto out;
    *upload = id;
    id = NULL;
out:
    if (f)
        fclose(f);
    free(raw);
    free(b64);
    cJSON_Delete(id);
    cJSON_Delete(args);
    cJSON_Delete(res);
    return rc;
}

int
cmd_dataset_import(struct cmd_ctx *ctx)
{
    bool server_paths = cmd_flag(ctx, "server-paths");
    bool progress = !ctx->json && isatty(2);
    struct client *c = NULL;
    cJSON *args = NULL, *list, *res = NULL;
    struct nh_error err;
    char cwd[4096];
    int i, rc;

    args = cJSON_CreateObject();
    list = cJSON_CreateArray();
    if (!args || !list ||
        !cJSON_AddStringToObject(args, "name", ctx->argv[0]) ||
        !cJSON_AddItemToObject(args, server_paths ? "paths" : "uploads",
                               list)) {
        cJSON_Delete(list);
        rc = nh_failf("out of memory");
        goto out;
    }
    if (server_paths && !getcwd(cwd, sizeof(cwd))) {
        rc = nh_failf("cannot get the current directory: %s", strerror(errno));
        goto out;
    }
    rc = nh_connect(&c, &err);
    if (rc < 0) {
        rc = nh_fail(&err);
        goto out;
    }
    for (i = 1; i < ctx->argc; i++) {
        const char *p = ctx->argv[i];
        cJSON *item = NULL;
        if (server_paths) {
            struct strbuf sb = STRBUF_INIT;
            if (p[0] != '/')
                strbuf_addf(&sb, "%s/%s", cwd, p);
            else
                strbuf_addstr(&sb, p);
            item = cJSON_CreateString(strbuf_str(&sb));
            strbuf_release(&sb);
        } else {
            struct stat st;
            if (stat(p, &st) < 0) {
                rc = nh_failf("cannot open '%s': %s", p, strerror(errno));
                goto out;
            }
            if (!S_ISREG(st.st_mode)) {
                rc = nh_failf("'%s' is not a regular file", p);
                goto out;
            }
            if (upload_file(c, p, progress, &item, &err) < 0) {
                rc = nh_fail(&err);
                goto out;
            }
        }
        if (!item || !cJSON_AddItemToArray(list, item)) {
            cJSON_Delete(item);
            rc = nh_failf("out of memory");
            goto out;
        }
    }
    if (client_call(c, "dataset.import", args, &res, &err) < 0) {
        rc = nh_fail(&err);
        goto out;
    }
    if (ctx->json) {
        out_json(res);
    } else {
        char size[32];
        printf("%s@%s: %lld docs, %s, %lld shards\n",
               json_str(res, "dataset", ctx->argv[0]),
               json_str(res, "version", "?"),
               (long long)json_int(
                   cJSON_GetObjectItemCaseSensitive(res, "docs"), 0),
               fmt_size((double)json_int(
                            cJSON_GetObjectItemCaseSensitive(res, "bytes"), 0),
                        size, sizeof(size)),
               (long long)json_int(
                   cJSON_GetObjectItemCaseSensitive(res, "shards"), 0));
    }
    rc = NH_EXIT_OK;
out:
    client_free(c);
    cJSON_Delete(args);
    cJSON_Delete(res);
    return rc;
}
