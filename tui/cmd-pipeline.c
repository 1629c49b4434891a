/* cmd-pipeline.c - the commands that queue jobs: `nh pipeline run
 * NAME[@REF] --config FILE`, `nh augment run NAME[@REF] --ops FILE`,
 * `nh mix create NAME --source REF:WEIGHT...`, and `nh mix show`
 *
 * Reads the pipeline config (JSON, schemas/pipeline.schema.json) on the
 * client, sends it with pipeline.run, and prints the job it queued; with
 * --wait it follows the job (job_follow() in cmd-job.c) and exits 1
 * unless the job succeeded.
 */
#include "nh.h"

#include "strbuf.h"

#include <errno.h>
#include <stdlib.h>
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

/* Send op with args, print the job it queued; with --wait follow it.
 * args stays the caller's. */
static int
submit_job(struct cmd_ctx *ctx, const char *op, const cJSON *args)
{
    struct client *c = NULL;
    cJSON *res = NULL, *final = NULL;
    struct nh_error err;
    int64_t job;
    int rc;

    if (nh_connect(&c, &err) < 0 || client_call(c, op, args, &res, &err) < 0) {
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
    cJSON_Delete(res);
    cJSON_Delete(final);
    client_free(c);
    return rc;
}

int
cmd_pipeline_run(struct cmd_ctx *ctx)
{
    const char *config = cmd_opt(ctx, "config");
    const char *output = cmd_opt(ctx, "output");
    cJSON *args = NULL, *cfg = NULL;
    struct nh_error err;
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
        cJSON_Delete(args);
        return nh_failf("out of memory");
    }
    rc = submit_job(ctx, "pipeline.run", args);
    cJSON_Delete(args);
    return rc;
}

/* `nh augment run NAME[@REF] --ops FILE [--ratio R] [--seed S]
 * [--only-new] [--review N] [--output NAME] [--wait]`: augment.run */
int
cmd_augment_run(struct cmd_ctx *ctx)
{
    const char *ops = cmd_opt(ctx, "ops"), *output = cmd_opt(ctx, "output");
    const char *ratio = cmd_opt(ctx, "ratio"), *seed = cmd_opt(ctx, "seed");
    const char *review = cmd_opt(ctx, "review");
    cJSON *args = NULL, *cfg = NULL;
    struct nh_error err;
    double r = 1;
    long long sd = 0, rv = 100;
    char *end;
    int rc;

    if (!ops)
        return cmd_usage(ctx, "augment run needs --ops FILE");
    if (ratio && ((r = strtod(ratio, &end)), *end || end == ratio))
        return cmd_usage(ctx, "--ratio must be a number");
    if (seed && ((sd = strtoll(seed, &end, 10)), *end || end == seed))
        return cmd_usage(ctx, "--seed must be an integer");
    if (review && ((rv = strtoll(review, &end, 10)), *end || end == review))
        return cmd_usage(ctx, "--review must be an integer");
    if (read_json_object(ops, &cfg, &err) < 0)
        return nh_fail(&err);
    args = cJSON_CreateObject();
    if (!args || !cJSON_AddStringToObject(args, "ref", ctx->argv[0]) ||
        !cJSON_AddItemToObject(args, "ops", cfg) ||
        !cJSON_AddNumberToObject(args, "ratio", r) ||
        !cJSON_AddNumberToObject(args, "seed", (double)sd) ||
        !cJSON_AddNumberToObject(args, "review_size", (double)rv) ||
        !cJSON_AddBoolToObject(args, "only_new", cmd_flag(ctx, "only-new")) ||
        (output && !cJSON_AddStringToObject(args, "output", output))) {
        if (!args || !cJSON_GetObjectItemCaseSensitive(args, "ops"))
            cJSON_Delete(cfg);
        cJSON_Delete(args);
        return nh_failf("out of memory");
    }
    rc = submit_job(ctx, "augment.run", args);
    cJSON_Delete(args);
    return rc;
}

/* `nh mix create NAME --source REF:WEIGHT... --tokens N [--by M]
 * [--seed S] [--wait]`: mix.create. The repeated --source values come
 * joined with commas; each splits at its last ':'. */
int
cmd_mix_create(struct cmd_ctx *ctx)
{
    const char *srcs = cmd_opt(ctx, "source"), *by = cmd_opt(ctx, "by");
    const char *tokens = cmd_opt(ctx, "tokens"), *seed = cmd_opt(ctx, "seed");
    cJSON *args = cJSON_CreateObject(), *list;
    char *copy = NULL, *p, *save = NULL, *end;
    double target;
    long long sd = 0;
    int rc;

    if (!srcs || !tokens) {
        cJSON_Delete(args);
        return cmd_usage(ctx, "mix create needs --source and --tokens");
    }
    target = strtod(tokens, &end);
    if (*end || end == tokens ||
        (seed && ((sd = strtoll(seed, &end, 10)), *end || end == seed))) {
        cJSON_Delete(args);
        return cmd_usage(ctx, "--tokens and --seed must be numbers");
    }
    if (!args || !(copy = strdup(srcs)) ||
        !cJSON_AddStringToObject(args, "name", ctx->argv[0]) ||
        !(list = cJSON_AddArrayToObject(args, "sources")) ||
        !cJSON_AddNumberToObject(args, "target", target) ||
        (by && !cJSON_AddStringToObject(args, "by", by)) ||
        !cJSON_AddNumberToObject(args, "seed", (double)sd)) {
        rc = nh_failf("out of memory");
        goto out;
    }
    for (p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(p, ':');
        double w;
        cJSON *e;

        if (!colon || colon == p ||
            ((w = strtod(colon + 1, &end)), *end || end == colon + 1)) {
            rc = cmd_usage(ctx, "--source must be NAME[@REF]:WEIGHT");
            goto out;
        }
        *colon = 0;
        e = cJSON_CreateObject();
        if (!e || !cJSON_AddItemToArray(list, e) ||
            !cJSON_AddStringToObject(e, "ref", p) ||
            !cJSON_AddNumberToObject(e, "weight", w)) {
            rc = nh_failf("out of memory");
            goto out;
        }
    }
    rc = submit_job(ctx, "mix.create", args);
out:
    free(copy);
    cJSON_Delete(args);
    return rc;
}

/* `nh mix show NAME[@REF]`: the report of the mix job that made it. */
int
cmd_mix_show(struct cmd_ctx *ctx)
{
    cJSON *args = cJSON_CreateObject(), *res = NULL;
    const cJSON *mix, *s;
    int rc;

    if (!args || !cJSON_AddStringToObject(args, "ref", ctx->argv[0])) {
        cJSON_Delete(args);
        return nh_failf("out of memory");
    }
    rc = nh_call1("dataset.show", args, &res);
    cJSON_Delete(args);
    if (rc != NH_EXIT_OK)
        return rc;
    mix = cJSON_GetObjectItemCaseSensitive(res, "mix");
    if (!cJSON_IsObject(mix)) {
        cJSON_Delete(res);
        return nh_failf("'%s' was not made by a mixture", ctx->argv[0]);
    }
    if (ctx->json) {
        out_json(mix);
    } else {
        printf(
            "%s@%s: %s %.0f, seed %.0f, max share error %.4f%%\n",
            json_str(res, "dataset", "?"), json_str(res, "version", "?"),
            json_str(mix, "by", "?"),
            cJSON_GetNumberValue(
                cJSON_GetObjectItemCaseSensitive(mix, "target")),
            cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(mix, "seed")),
            100 * cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(
                      mix, "max_share_error")));
        printf("%-40s %10s %12s %12s %8s %8s %7s\n", "SOURCE", "DOCS", "BYTES",
               "TOKENS", "SHARE", "TARGET", "EPOCHS");
        cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(mix, "sources"))
        {
#define NUM(k) cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(s, k))
            printf("%-40s %10.0f %12.0f %12.0f %7.3f%% %7.3f%% %7.3f\n",
                   json_str(s, "ref", "?"), NUM("docs"), NUM("bytes"),
                   NUM("tokens"), 100 * NUM("share"), 100 * NUM("target_share"),
                   NUM("epochs"));
#undef NUM
        }
    }
    cJSON_Delete(res);
    return NH_EXIT_OK;
}
