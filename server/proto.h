/* proto.h - the naohai.v1 envelope: parsing requests, building responses
 *
 * Every WebSocket text frame a client sends is one request:
 *   {"id": 7, "op": "dataset.list", "args": {...}}
 * with "id" an integer (|id| <= 2^53, so a JSON double holds it exactly),
 * "op" a non-empty string and "args" an optional object. Every answer is
 * one response:
 *   {"id": 7, "ok": true, "result": {...}}
 *   {"id": 7, "ok": false, "error": {"code": "bad_request", "message": "..."}}
 * where "id" is null when the request had none we could read.
 *
 * This file knows nothing about connections or threads: it turns bytes
 * into a struct proto_req and values into response text. Error codes are
 * the PROTO_E* strings below; the caller picks the code, this file only
 * spells the envelope.
 */
#ifndef NH_PROTO_H
#define NH_PROTO_H

#include "err.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_SUBPROTOCOL "naohai.v1"
#define PROTO_MAX_FRAME (1024 * 1024) /* bytes in one request message */
#define PROTO_OP_MAX 64               /* bytes in an op name */

/* Error codes sent in "error"."code". */
#define PROTO_EBAD_REQUEST "bad_request"
#define PROTO_EUNAUTHENTICATED "unauthenticated"
#define PROTO_EUNKNOWN_OP "unknown_op"
#define PROTO_ETOO_LARGE "too_large"
#define PROTO_EBAD_TOKEN "bad_token"
#define PROTO_EINTERNAL "internal"
#define PROTO_EFORBIDDEN "forbidden"
#define PROTO_ENOT_FOUND "not_found"
#define PROTO_EEXISTS "exists"
#define PROTO_ECONFLICT "conflict"

struct proto_req {
    bool has_id; /* false: answer with "id": null */
    int64_t id;  /* valid when has_id */
    char op[PROTO_OP_MAX + 1];
    cJSON *root;       /* the parsed message; owns args */
    const cJSON *args; /* the "args" object, or NULL when absent */
};

/* Parse len bytes (not NUL-terminated) as a request. On success fill
 * *req; the caller frees it with proto_req_release(). On failure return
 * NH_EFORMAT (not JSON) or NH_EINVAL (bad envelope) with err saying why,
 * and set req->has_id / req->id when an id could be read anyway, so the
 * error can carry it; req->root is NULL then. */
int proto_req_parse(const char *buf, size_t len, struct proto_req *req,
                    struct nh_error *err);

/* Free what proto_req_parse() allocated; safe on a zeroed or failed req. */
void proto_req_release(struct proto_req *req);

/* The response {"id","ok":true,"result"} as malloc'd text (*len_out set
 * to its length, without the NUL); result is copied, not taken, and NULL
 * means {}. NULL when out of memory. The caller frees the text. */
char *proto_result(bool has_id, int64_t id, const cJSON *result,
                   size_t *len_out);

/* proto_result(), taking result over instead of copying it: it is freed
 * (or made part of the response and freed with it) in every case. */
char *proto_result_take(bool has_id, int64_t id, cJSON *result,
                        size_t *len_out);

/* The response {"id","ok":false,"error":{"code","message"}}, as
 * proto_result(). */
char *proto_error(bool has_id, int64_t id, const char *code,
                  const char *message, size_t *len_out);

#endif
