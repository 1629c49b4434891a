/* cmd-pipeline.c - `nh pipeline run NAME[@REF] --config FILE`
 *
 * Reads the pipeline config (JSON, schemas/pipeline.schema.json) on the
 * client, sends it with pipeline.run, and prints the job it queued; with
 * --wait it follows the job (job_follow() in cmd-job.c) and exits 1
 * unless the job succeeded.
 */
#include "nh.h"

#include "strbuf.h"

#include <errno.h>
#include <string.h>

#define CONFIG_MAX (1 << 20)

int
read_json_object(const char *path, cJSON **out, struct nh_error *err)
{
    struct strbuf sb = STRBUF_INIT;
    char buf[8192];
    FILE *f = fopen(path, "r");
    size_t n;
    int rc = 0;

    strbuf_init(&sb, CONFIG_MAX);
    if (!f)
        return nh_error_errno(err, "cannot open '%s'", path);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        if (strbuf_add(&sb, buf, n) < 0) {
            rc = nh_errorf(err, NH_ETOOBIG, "'%s' is over %d bytes", path,
                           CONFIG_MAX);
            goto out;
        }
    if (ferror(f)) {
        rc = nh_error_errno(err, "cannot read '%s'", path);
        goto out;
    }
    *out = cJSON_ParseWithLength(strbuf_str(&sb), sb.len);
    if (!*out || !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        rc = nh_errorf(err, NH_EFORMAT, "'%s' is not a JSON object", path);
    }
out:
    fclose(f);
    strbuf_release(&sb);
    return rc;
}

int
cmd_pipeline_run(struct cmd_ctx *ctx)
{
    const char *config = cmd_opt(ctx, "config");
    const char *output = cmd_opt(ctx, "output");
    struct client *c = NULL;
    cJSON *args = NULL, *cfg = NULL, *res = NULL, *final = NULL;
    struct nh_error err;
    int64_t job;
    int rc;

    if (!config)
        return cmd_usage(ctx, "pipeline run needs --config FILE");
    if (read_json_object(config, &cfg, &err) < 0)
        return nh_fail(&err);
    args = cJSON_CreateObject();
    if (!args || !cJSON_AddStringToObject(args, "ref", ctx->argv[0]) ||
        !cJSON_AddItemToObject(args, "config", cfg) ||
        (output && !cJSON_AddStringToObject(args, "output", output))) {
        if (!args || !cJSON_GetObjectItemCaseSensitive(args, "config"))
            cJSON_Delete(cfg);
        rc = nh_failf("out of memory");
        goto out;
    }
    if (nh_connect(&c, &err) < 0 ||
        client_call(c, "pipeline.run", args, &res, &err) < 0) {
        rc = nh_fail(&err);
        goto out;
    }
    job = json_int(cJSON_GetObjectItemCaseSensitive(res, "job"), -1);
    if (!cmd_flag(ctx, "wait")) {
        if (ctx->json)
            out_json(res);
        else
            printf("job %lld %s\n", (long long)job,
                   json_str(res, "state", "?"));
        rc = NH_EXIT_OK;
        goto out;
    }
    if (!ctx->json)
        fprintf(stderr, "job %lld %s\n", (long long)job,
                json_str(res, "state", "?"));
    rc = job_follow(c, job, ctx->json, &final);
    if (final) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(final, "output");
        if (ctx->json)
            out_json(final);
        else if (cJSON_IsString(o))
            printf("job %lld %s: %s@%s\n", (long long)job,
                   json_str(final, "state", "?"),
                   json_str(final, "dataset", "?"), o->valuestring);
        else
            printf("job %lld %s\n", (long long)job,
                   json_str(final, "state", "?"));
        if (rc != NH_EXIT_OK) {
            const char *e = json_str(final, "error", NULL);
            fprintf(stderr, "nh: error: job %lld %s%s%s\n", (long long)job,
                    json_str(final, "state", "?"), e ? ": " : "", e ? e : "");
        }
    }
out:
    cJSON_Delete(args);
    cJSON_Delete(res);
    cJSON_Delete(final);
    client_free(c);
    return rc;
}
