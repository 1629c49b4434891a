/* proto.c - the naohai.v1 envelope: parsing requests, building responses
 *
 * The service thread (net.c) hands every complete text message here
 * before looking at the op; the DB workers (dbq.c) and the service thread
 * both build their answers with proto_result() and proto_error(), so the
 * envelope is spelt in one place. See proto.h for the format.
 */
#include "proto.h"

#include "strbuf.h"
#include "utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROTO_ID_MAX 9007199254740992.0 /* 2^53: exact in a double */

/* Is v a JSON number holding an integer a double represents exactly? */
static bool
json_is_int(const cJSON *v)
{
    double d;

    if (!cJSON_IsNumber(v))
        return false;
    d = v->valuedouble;
    return isfinite(d) && d == floor(d) && fabs(d) <= PROTO_ID_MAX;
}

int
proto_req_parse(const char *buf, size_t len, struct proto_req *req,
                struct nh_error *err)
{
    const cJSON *id, *op, *args;
    cJSON *root;
    size_t oplen;
    int rc;
    memset(req, 0, sizeof(*req));
    /* everything nhd stores and sends on must stay valid UTF-8 */
    if (!utf8_valid(buf, len))
        return nh_errorf(err, NH_EFORMAT, "message is not valid UTF-8");
    root = cJSON_ParseWithLength(buf, len);
    if (!root)
        return nh_errorf(err, NH_EFORMAT, "message is not valid JSON");
    if (!cJSON_IsObject(root)) {
        rc = nh_errorf(err, NH_EINVAL, "message is not a JSON object");
        goto fail;
    }
    id = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (!json_is_int(id)) {
        rc = nh_errorf(err, NH_EINVAL, "'id' must be an integer");
        goto fail;
    }
    req->has_id = true;
    req->id = (int64_t)id->valuedouble;
    op = cJSON_GetObjectItemCaseSensitive(root, "op");
    if (!cJSON_IsString(op)) {
        rc = nh_errorf(err, NH_EINVAL, "'op' must be a string");
        goto fail;
    }
    oplen = strlen(op->valuestring);
    if (oplen == 0 || oplen > PROTO_OP_MAX) {
        rc = nh_errorf(err, NH_EINVAL, "'op' must be 1-%d bytes", PROTO_OP_MAX);
        goto fail;
    }
    args = cJSON_GetObjectItemCaseSensitive(root, "args");
    if (args && !cJSON_IsObject(args)) {
        rc = nh_errorf(err, NH_EINVAL, "'args' must be an object");
        goto fail;
    }
    for (const cJSON *it = root->child; it; it = it->next) {
        if (strcmp(it->string, "id") && strcmp(it->string, "op") &&
            strcmp(it->string, "args")) {
            rc = nh_errorf(err, NH_EINVAL, "unknown key '%.64s'", it->string);
            goto fail;
        }
    }
    memcpy(req->op, op->valuestring, oplen + 1);
    req->args = args;
    req->root = root;
    return 0;
fail:
    cJSON_Delete(root);
    return rc;
}

void
proto_req_release(struct proto_req *req)
{
    cJSON_Delete(req->root);
    req->root = NULL;
    req->args = NULL;
}

/* Print resp (which this frees) as compact text. */
static char *
finish(cJSON *resp, size_t *len_out)
{
    char *text = NULL;

    if (resp)
        text = cJSON_PrintUnformatted(resp);
    cJSON_Delete(resp);
    if (text)
        *len_out = strlen(text);
    return text;
}

/* {"id": id|null, "ok": ok}, or NULL when out of memory. */
static cJSON *
envelope(bool has_id, int64_t id, bool ok)
{
    cJSON *resp = cJSON_CreateObject();
    char digits[24];
    cJSON *v;

    if (!resp)
        return NULL;
    /* Raw digits: cJSON prints numbers with 15 significant digits when
     * that reads back within its epsilon, so an id of 16 digits would
     * come back changed (9007199254740992 as 9.00719925474099e+15). */
    snprintf(digits, sizeof(digits), "%lld", (long long)id);
    v = has_id ? cJSON_CreateRaw(digits) : cJSON_CreateNull();
    if (!cJSON_AddItemToObject(resp, "id", v) ||
        !cJSON_AddBoolToObject(resp, "ok", ok)) {
        cJSON_Delete(resp);
        return NULL;
    }
    return resp;
}

char *
proto_result(bool has_id, int64_t id, const cJSON *result, size_t *len_out)
{
    cJSON *resp = envelope(has_id, id, true);
    cJSON *copy;

    if (!resp)
        return NULL;
    copy = result ? cJSON_Duplicate(result, 1) : cJSON_CreateObject();
    if (!cJSON_AddItemToObject(resp, "result", copy)) {
        cJSON_Delete(copy);
        cJSON_Delete(resp);
        return NULL;
    }
    return finish(resp, len_out);
}

char *
proto_result_take(bool has_id, int64_t id, cJSON *result, size_t *len_out)
{
    cJSON *resp = envelope(has_id, id, true);

    if (!result)
        result = cJSON_CreateObject();
    if (!resp || !cJSON_AddItemToObject(resp, "result", result)) {
        cJSON_Delete(result);
        cJSON_Delete(resp);
        return NULL;
    }
    return finish(resp, len_out);
}

char *
proto_error(bool has_id, int64_t id, const char *code, const char *message,
            size_t *len_out)
{
    cJSON *resp = envelope(has_id, id, false);
    struct strbuf fixed;
    cJSON *e;
    bool ok;

    if (!resp)
        return NULL;
    /* a message quoting input may have been cut mid-character */
    strbuf_init(&fixed, 0);
    if (!utf8_valid(message, strlen(message)) &&
        utf8_repair(&fixed, message, strlen(message)) >= 0)
        message = strbuf_str(&fixed);
    e = cJSON_AddObjectToObject(resp, "error");
    ok = e && cJSON_AddStringToObject(e, "code", code) &&
         cJSON_AddStringToObject(e, "message", message);
    strbuf_release(&fixed);
    if (!ok) {
        cJSON_Delete(resp);
        return NULL;
    }
    return finish(resp, len_out);
}
