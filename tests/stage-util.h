/* stage-util.h - run one pipeline stage on one text, for unit tests
 *
 *   struct stage_run r;
 *   stage_run(&r, "pii", "{\"action\": \"mask\"}", "call 13812345678");
 *   CHECK(r.rc == 0 && r.verdict == STAGE_KEEP);
 *   CHECK_STR(r.text, "call <PHONE>");
 *   stage_run_release(&r);
 *
 * params is the stage's config object without "op" ("{}" or NULL for all
 * defaults). r.init_rc / r.err hold init()'s result when it fails (r.rc
 * is then the same code and nothing else ran). r.obj is the record after
 * the stage, so tests can look at fields the stage added.
 */
#ifndef NH_STAGE_UTIL_H
#define NH_STAGE_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stage.h"
#include "utf8.h"

struct stage_run {
    int init_rc, rc, verdict;
    const char *reason;
    char *text; /* text after the stage (malloc'd) */
    cJSON *obj; /* record after the stage */
    struct nh_error err;
};

/* Like stage_run(), for a record that also carries "format": format
 * (none when NULL), as HTML documents do. */
static inline void
stage_run_format(struct stage_run *r, const char *op, const char *params,
                 const char *format, const char *text)
{
    const struct stage_ops *ops = stage_find(op);
    cJSON *p = params ? cJSON_Parse(params) : cJSON_CreateObject();
    struct stage_ctx ctx;
    struct doc d;
    void *conf = NULL;

    memset(r, 0, sizeof(*r));
    memset(&ctx, 0, sizeof(ctx));
    memset(&d, 0, sizeof(d));
    if (!ops || !p) {
        r->rc = r->init_rc = NH_EINVAL;
        snprintf(r->err.msg, sizeof(r->err.msg), "no op or bad params");
        cJSON_Delete(p);
        return;
    }
    cJSON_AddStringToObject(p, "op", op);
    r->init_rc = ops->init(p, "stages[0] (test)", &conf, &r->err);
    cJSON_Delete(p);
    if (r->init_rc < 0) {
        r->rc = r->init_rc;
        return;
    }
    d.obj = cJSON_CreateObject();
    cJSON_AddStringToObject(d.obj, "id", "test-1");
    if (format)
        cJSON_AddStringToObject(d.obj, "format", format);
    d.id = "test-1";
    d.source = "";
    strbuf_add(&d.text, text, strlen(text));
    d.in_bytes = d.text.len;
    d.bad_utf8 = !utf8_valid(text, strlen(text));
    if (ops->thread_init)
        ctx.tstate = ops->thread_init(conf);
    r->rc = ops->apply(conf, &ctx, &d, &r->reason);
    r->verdict = r->rc;
    r->text = strbuf_detach(&d.text, NULL);
    r->obj = d.obj;
    if (ops->thread_free)
        ops->thread_free(ctx.tstate);
    strbuf_release(&ctx.scratch);
    strbuf_release(&ctx.scratch2);
    if (ops->free)
        ops->free(conf);
}

static inline void
stage_run(struct stage_run *r, const char *op, const char *params,
          const char *text)
{
    stage_run_format(r, op, params, NULL, text);
}

static inline void
stage_run_release(struct stage_run *r)
{
    free(r->text);
    cJSON_Delete(r->obj);
    r->text = NULL;
    r->obj = NULL;
}

#endif
