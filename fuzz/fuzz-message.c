/* fuzz-message.c - libFuzzer target for nhd's message handling
 *
 * Each input is one WebSocket message as nhd's service thread would get
 * it. It goes through proto_req_parse(); a failure is answered with
 * proto_error() the way net.c does. A parsed request naming a table op
 * (ops_find) is turned into a struct dbq_job like net.c's queue_job()
 * builds and its dbq_fn runs here, synchronously, against one real store
 * (SQLite, migrations from schemas/db, an admin bootstrapped) in a fresh
 * temporary data directory made in LLVMFuzzerInitialize and removed at
 * exit. "auth" checks args.token with store_token_check() as auth_job
 * does. Every response must be JSON with the request's "id" (null when it
 * had none) and a boolean "ok" with "result" or "error"{"code","message"};
 * anything else aborts, which libFuzzer reports as a crash.
 *
 * Roles are not checked: every op runs as admin. dataset.import reads
 * server paths, so the target runs it only when every path is a plain
 * file name (no '/'), which it turns into a path in the temporary
 * directory (it holds a.jsonl and b.jsonl); other paths are never opened.
 *
 *   make fuzz                       FUZZ_SECONDS (60) on fuzz/corpus
 *   build/fuzz/fuzz-message -runs=N fuzz/corpus
 */
#include "dbq.h"
#include "ops.h"
#include "proto.h"
#include "store.h"

#include <cjson/cJSON.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef FUZZ_TOP
#define FUZZ_TOP "."
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_dir[64];   /* the temporary directory */
static char fuzz_data[128]; /* fuzz_dir/data: the data directory */
static struct store *fuzz_store;

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
fuzz_cleanup(void)
{
    store_close(fuzz_store);
    fuzz_store = NULL;
    if (fuzz_dir[0])
        nftw(fuzz_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
die(const char *what)
{
    fprintf(stderr, "fuzz-message: %s\n", what);
    abort();
}

static void
write_file(const char *name, const char *text)
{
    char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", fuzz_dir, name);
    f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        die("cannot write a shard file");
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char migrations[4096], token[STORE_TOKEN_LEN + 1];
    const char *top = getenv("NH_TOP");
    struct nh_error err = {0};
    bool created;

    (void)argc;
    (void)argv;
    snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/nh-fuzz.XXXXXX");
    if (!mkdtemp(fuzz_dir))
        die("cannot make a temporary directory");
    atexit(fuzz_cleanup);
    snprintf(fuzz_data, sizeof(fuzz_data), "%s/data", fuzz_dir);
    if (snprintf(migrations, sizeof(migrations), "%s/schemas/db",
                 top ? top : FUZZ_TOP) >= (int)sizeof(migrations))
        die("NH_TOP too long");
    write_file("a.jsonl", "{\"text\":\"one\"}\n{\"text\":\"two\"}\n");
    write_file("b.jsonl", "{\"text\":\"\\u4e09\"}");
    if (store_open(&fuzz_store, fuzz_data, migrations, &err) < 0 ||
        store_admin_bootstrap(fuzz_store, token, &created, &err) < 0) {
        fprintf(stderr, "fuzz-message: %s\n", err.msg);
        abort();
    }
    return 0;
}

/* Abort unless text[0..len) is one response to a request with (has_id,
 * id), shaped as proto.h says. */
static void
check_response(const char *text, size_t len, bool has_id, int64_t id)
{
    cJSON *r;
    const cJSON *jid, *ok, *e;

    if (!text)
        die("no response text");
    r = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(r))
        die("response is not a JSON object");
    jid = cJSON_GetObjectItemCaseSensitive(r, "id");
    ok = cJSON_GetObjectItemCaseSensitive(r, "ok");
    if (!jid || !cJSON_IsBool(ok))
        die("response without \"id\" or boolean \"ok\"");
    if (has_id ? !cJSON_IsNumber(jid) || jid->valuedouble != (double)id
               : !cJSON_IsNull(jid))
        die("response \"id\" is not the request's");
    if (cJSON_IsTrue(ok)) {
        if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(r, "result")))
            die("ok response without a \"result\" object");
    } else {
        e = cJSON_GetObjectItemCaseSensitive(r, "error");
        if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "code")) ||
            !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")))
            die("error response without \"error\".\"code\" and \"message\"");
    }
    cJSON_Delete(r);
}

/* May dataset.import with args run here? Only on bare file names,
 * which become paths in fuzz_dir. false when it must not run. */
static bool
import_paths_confine(cJSON *args)
{
    cJSON *paths = cJSON_GetObjectItemCaseSensitive(args, "paths");
    cJSON *p, *abs;
    char path[4096];
    int i = 0;

    cJSON_ArrayForEach(p, paths)
    {
        if (cJSON_IsString(p) && strchr(p->valuestring, '/'))
            return false;
    }
    for (p = cJSON_IsArray(paths) ? paths->child : NULL; p; i++) {
        cJSON *next = p->next;

        if (cJSON_IsString(p) && p->valuestring[0]) {
            if (snprintf(path, sizeof(path), "%s/%s", fuzz_dir,
                         p->valuestring) >= (int)sizeof(path))
                return false;
            abs = cJSON_CreateString(path);
            if (!abs || !cJSON_ReplaceItemInArray(paths, i, abs)) {
                cJSON_Delete(abs);
                return false;
            }
        }
        p = next;
    }
    return true;
}

/* "auth" as net.c's auth_job answers it. */
static void
run_auth(const struct proto_req *req)
{
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(req->args, "token");
    struct store_user user;
    size_t len = 0;
    char *text;
    int rc;

    if (!cJSON_IsString(tok))
        return;
    rc = store_token_check(fuzz_store, tok->valuestring, &user);
    if (rc == 0)
        text = proto_result(true, req->id, NULL, &len);
    else
        text =
            proto_error(true, req->id, PROTO_EBAD_TOKEN, "invalid token", &len);
    check_response(text, len, true, req->id);
    free(text);
}

/* A table op, through a job built as net.c's queue_job() builds it. */
static void
run_op(struct proto_req *req, const struct op_desc *op)
{
    struct dbq_job job;
    struct dbq_result res;

    memset(&job, 0, sizeof(job));
    memset(&res, 0, sizeof(res));
    job.has_id = true;
    job.id = req->id;
    job.fn = op->fn;
    job.data_dir = fuzz_data;
    job.args = cJSON_DetachItemFromObjectCaseSensitive(req->root, "args");
    req->args = NULL;
    if (!strcmp(op->name, "dataset.import") &&
        !import_paths_confine(job.args)) {
        cJSON_Delete(job.args);
        return;
    }
    job.fn(fuzz_store, &job, &res);
    check_response(res.text, res.len, job.has_id, job.id);
    free(res.text);
    cJSON_Delete(job.args);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proto_req req;
    struct nh_error err = {0};
    const struct op_desc *op;
    size_t len = 0;
    char *text;

    if (proto_req_parse((const char *)data, size, &req, &err) < 0) {
        text =
            proto_error(req.has_id, req.id, PROTO_EBAD_REQUEST, err.msg, &len);
        check_response(text, len, req.has_id, req.id);
        free(text);
        proto_req_release(&req);
        return 0;
    }
    if (!req.has_id)
        die("a parsed request without an id");
    if (!strcmp(req.op, "auth"))
        run_auth(&req);
    else if ((op = ops_find(req.op)))
        run_op(&req, op);
    else {
        text = proto_error(true, req.id, PROTO_EUNKNOWN_OP, "unknown op", &len);
        check_response(text, len, true, req.id);
        free(text);
    }
    proto_req_release(&req);
    return 0;
}
