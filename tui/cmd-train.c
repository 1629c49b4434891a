/* cmd-train.c - `nh train launch|ls|show|watch|stop|resume`
 *
 * launch sends train.launch (the model config read here, the tokenizer a
 * server path); stop and resume are job.cancel and job.resume of the
 * train job; ls and show read job.list, job.get and train.records. watch
 * (and launch --wait) subscribes to job/ID, prints the records the run
 * already has (train.records) and then each train.metrics and
 * train.supervisor event as a line, by seq so none is printed twice,
 * until a job.state with a terminal state.
 */
#include "nh.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define WATCH_POLL_MS 5000 /* without events, ask for the job's state */

static bool
parse_run(const char *s, int64_t *id)
{
    char *e;
    long long v = strtoll(s, &e, 10);

    if (e == s || *e || v < 1)
        return false;
    *id = v;
    return true;
}

static bool
terminal(const char *s)
{
    return !strcmp(s, "succeeded") || !strcmp(s, "failed") ||
           !strcmp(s, "cancelled") || !strcmp(s, "interrupted");
}

static double
num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static bool
has(const cJSON *o, const char *k)
{
    return cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* One record (train.records, train.metrics, train.supervisor) as a
 * line on stdout; JSON lines with --json. */
static void
print_record(const char *source, const cJSON *r, bool json)
{
    const char *ev = json_str(r, "event", NULL);

    if (json) {
        char *t = cJSON_PrintUnformatted(r);

        if (t)
            printf("{\"source\":\"%s\",\"record\":%s}\n", source, t);
        free(t);
        return;
    }
    if (!strcmp(source, "metrics")) {
        if (!ev)
            printf("step %lld  loss %.4f  lr %.3g  %.0f tok/s  mfu %.3f\n",
                   (long long)num(r, "step"), num(r, "loss"), num(r, "lr"),
                   num(r, "tokens_per_s"), num(r, "mfu"));
        else if (!strcmp(ev, "eval"))
            printf("eval at step %lld  loss %.4f\n", (long long)num(r, "step"),
                   num(r, "loss"));
        return;
    }
    if (!ev)
        return;
    if (!strcmp(ev, "fault")) {
        printf("fault: %s", json_str(r, "cause", "?"));
        if (has(r, "rank"))
            printf(" of rank %lld", (long long)num(r, "rank"));
        printf(" at step %lld (found in %.2f s)\n", (long long)num(r, "step"),
               num(r, "detection_s"));
    } else if (!strcmp(ev, "restart")) {
        printf("restart: attempt %lld", (long long)num(r, "attempt"));
        if (has(r, "resumed_from"))
            printf(" resumed from step %lld, %lld steps redone, recovery "
                   "%.2f s",
                   (long long)num(r, "resumed_from"),
                   (long long)num(r, "steps_redone"), num(r, "recovery_s"));
        putchar('\n');
    } else if (!strcmp(ev, "summary")) {
        printf("summary: %s at step %lld, %lld restarts, goodput %.3f, "
               "%.4f device-hours\n",
               json_str(r, "status", "?"), (long long)num(r, "step"),
               (long long)num(r, "restarts"), num(r, "goodput"),
               num(r, "device_hours"));
    } else if (!strcmp(ev, "stopped")) {
        printf("stopped\n");
    }
}

static cJSON *
job_args(int64_t id)
{
    cJSON *a = cJSON_CreateObject();

    if (a && !cJSON_AddNumberToObject(a, "job", (double)id)) {
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}

/* Print the records after *seq (moving it on); *live: whether the
 * run's supervisor still runs. */
static int
catch_up(struct client *c, int64_t id, int64_t *seq, bool json, bool *live,
         struct nh_error *err)
{
    for (;;) {
        cJSON *a = job_args(id), *res = NULL;
        const cJSON *r, *run;
        int rc, n = 0;

        if (!a || !cJSON_AddNumberToObject(a, "after", (double)*seq)) {
            cJSON_Delete(a);
            return nh_errorf(err, NH_ENOMEM, "out of memory");
        }
        rc = client_call(c, "train.records", a, &res, err);
        cJSON_Delete(a);
        if (rc < 0)
            return rc;
        cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(res, "records"))
        {
            print_record(json_str(r, "source", ""),
                         cJSON_GetObjectItemCaseSensitive(r, "record"), json);
            n++;
        }
        run = cJSON_GetObjectItemCaseSensitive(res, "run");
        *live = has(run, "pid");
        *seq = json_int(cJSON_GetObjectItemCaseSensitive(res, "next"), *seq);
        cJSON_Delete(res);
        fflush(stdout);
        if (n == 0)
            return 0;
    }
}

/* Follow train job id until it ends and its supervisor is gone (a
 * stopped job ends at once; its supervisor still stops the ranks and
 * writes its summary); its final summary in *final. */
static int
train_follow(struct client *c, int64_t id, bool json, cJSON **final)
{
    struct nh_error err;
    cJSON *a, *res = NULL, *ev = NULL;
    char topic[48];
    int64_t seq = -1;
    bool live = true;
    int rc;

    *final = NULL;
    snprintf(topic, sizeof(topic), "job/%lld", (long long)id);
    a = cJSON_CreateObject();
    if (!a || !cJSON_AddStringToObject(a, "topic", topic)) {
        cJSON_Delete(a);
        return nh_failf("out of memory");
    }
    rc = client_call(c, "subscribe", a, &res, &err);
    cJSON_Delete(a);
    cJSON_Delete(res);
    if (rc < 0 || catch_up(c, id, &seq, json, &live, &err) < 0)
        goto fail;
    for (;;) {
        const char *name;
        const cJSON *data;

        rc = client_next_event(c, *final ? 200 : WATCH_POLL_MS, &ev, &err);
        if (rc == CLIENT_ETIMEOUT) { /* an event may have been dropped */
            cJSON *got = NULL;

            if (catch_up(c, id, &seq, json, &live, &err) < 0 ||
                !(a = job_args(id)))
                goto fail;
            rc = client_call(c, "job.get", a, &got, &err);
            cJSON_Delete(a);
            if (rc < 0)
                goto fail;
            if (terminal(json_str(got, "state", ""))) {
                cJSON_Delete(*final);
                *final = got;
                if (!live)
                    break;
            } else {
                cJSON_Delete(got);
            }
            continue;
        }
        if (rc < 0)
            goto fail;
        name = json_str(ev, "event", "");
        data = cJSON_GetObjectItemCaseSensitive(ev, "data");
        if (json_int(cJSON_GetObjectItemCaseSensitive(data, "job"), -1) != id) {
            cJSON_Delete(ev);
            continue;
        }
        if (!strncmp(name, "train.", 6)) {
            int64_t s =
                json_int(cJSON_GetObjectItemCaseSensitive(data, "seq"), -1);

            if (s == seq + 1) {
                print_record(
                    strcmp(name, "train.metrics") ? "supervisor" : "metrics",
                    cJSON_GetObjectItemCaseSensitive(data, "record"), json);
                seq = s;
                fflush(stdout);
            } else if (s > seq + 1 &&
                       catch_up(c, id, &seq, json, &live, &err) < 0) {
                goto fail;
            }
        } else if (!strcmp(name, "job.state") &&
                   terminal(json_str(data, "state", ""))) {
            if (catch_up(c, id, &seq, json, &live, &err) < 0)
                goto fail;
            cJSON_Delete(*final);
            *final = cJSON_DetachItemFromObjectCaseSensitive(ev, "data");
            if (!live) {
                cJSON_Delete(ev);
                break;
            }
        }
        cJSON_Delete(ev);
        ev = NULL;
    }
    return strcmp(json_str(*final, "state", ""), "succeeded") ? NH_EXIT_ERROR
                                                              : NH_EXIT_OK;
fail:
    cJSON_Delete(ev);
    cJSON_Delete(*final);
    *final = NULL;
    return nh_fail(&err);
}

static int
watch_and_report(struct client *c, int64_t id, bool json)
{
    cJSON *final = NULL, *a;
    int rc = train_follow(c, id, json, &final);
    struct nh_error err;

    /* a job.state event has no error: ask for the whole job */
    if (final && rc != NH_EXIT_OK && !json_str(final, "error", NULL) &&
        (a = job_args(id))) {
        cJSON *got = NULL;

        if (client_call(c, "job.get", a, &got, &err) == 0) {
            cJSON_Delete(final);
            final = got;
        }
        cJSON_Delete(a);
    }

    if (final && !json)
        printf("job %lld %s\n", (long long)id, json_str(final, "state", "?"));
    if (final && rc != NH_EXIT_OK) {
        const char *e = json_str(final, "error", NULL);

        fprintf(stderr, "nh: error: job %lld %s%s%s\n", (long long)id,
                json_str(final, "state", "?"), e ? ": " : "", e ? e : "");
    }
    cJSON_Delete(final);
    return rc;
}

/* Option name as a number into args.key; false when it is not one. */
static bool
add_num_opt(struct cmd_ctx *ctx, cJSON *args, const char *name, const char *key)
{
    const char *v = cmd_opt(ctx, name);
    char *e;
    double d;

    if (!v)
        return true;
    d = strtod(v, &e);
    return e != v && !*e && cJSON_AddNumberToObject(args, key, d);
}

int
cmd_train_launch(struct cmd_ctx *ctx)
{
    static const char *const nums[][2] = {
        {"vocab", "vocab"},           {"np", "np"},          {"steps", "steps"},
        {"batch", "batch"},           {"seq", "seq"},        {"lr", "lr"},
        {"ckpt-every", "ckpt_every"}, {"threads", "threads"}};
    const char *model = cmd_opt(ctx, "model"), *tok = cmd_opt(ctx, "tokenizer");
    const char *fault = cmd_opt(ctx, "fault"), *plan = cmd_opt(ctx, "plan");
    char tokpath[PATH_MAX], planpath[PATH_MAX];
    struct client *c = NULL;
    struct nh_error err;
    cJSON *args = NULL, *m = NULL, *res = NULL;
    int64_t job;
    int rc;

    if (!model)
        return cmd_usage(ctx, "train launch needs --model MODEL.json");
    if (!tok == !cmd_opt(ctx, "vocab"))
        return cmd_usage(ctx, "give one of --tokenizer TOK and --vocab N");
    /* server paths: absolute, as this shell sees them */
    if (tok && !realpath(tok, tokpath))
        snprintf(tokpath, sizeof(tokpath), "%s", tok);
    if (plan && !realpath(plan, planpath))
        snprintf(planpath, sizeof(planpath), "%s", plan);
    if (read_json_object(model, &m, &err) < 0)
        return nh_fail(&err);
    args = cJSON_CreateObject();
    if (!args || !cJSON_AddStringToObject(args, "ref", ctx->argv[0]) ||
        !cJSON_AddItemToObject(args, "model", m)) {
        cJSON_Delete(m);
        rc = nh_failf("out of memory");
        goto out;
    }
    if ((tok && !cJSON_AddStringToObject(args, "tokenizer", tokpath)) ||
        (fault && !cJSON_AddStringToObject(args, "fault", fault)) ||
        (plan && !cJSON_AddStringToObject(args, "plan", planpath))) {
        rc = nh_failf("out of memory");
        goto out;
    }
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        if (!add_num_opt(ctx, args, nums[i][0], nums[i][1])) {
            char why[64];

            snprintf(why, sizeof(why), "--%s takes a number", nums[i][0]);
            rc = cmd_usage(ctx, why);
            goto out;
        }
    if (nh_connect(&c, &err) < 0 ||
        client_call(c, "train.launch", args, &res, &err) < 0) {
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
    rc = watch_and_report(c, job, ctx->json);
out:
    cJSON_Delete(args);
    cJSON_Delete(res);
    client_free(c);
    return rc;
}

int
cmd_train_watch(struct cmd_ctx *ctx)
{
    struct client *c = NULL;
    struct nh_error err;
    int64_t id;
    int rc;

    if (!parse_run(ctx->argv[0], &id))
        return cmd_usage(ctx, "RUN is a job number");
    if (nh_connect(&c, &err) < 0)
        return nh_fail(&err);
    rc = watch_and_report(c, id, ctx->json);
    client_free(c);
    return rc;
}

static int
run_op(struct cmd_ctx *ctx, const char *op, cJSON **res)
{
    cJSON *a;
    int64_t id;
    int rc;

    if (!parse_run(ctx->argv[0], &id))
        return cmd_usage(ctx, "RUN is a job number");
    if (!(a = job_args(id)))
        return nh_failf("out of memory");
    rc = nh_call1(op, a, res);
    cJSON_Delete(a);
    return rc;
}

static int
move(struct cmd_ctx *ctx, const char *op)
{
    cJSON *res = NULL;
    int rc = run_op(ctx, op, &res);

    if (rc == NH_EXIT_OK) {
        if (ctx->json)
            out_json(res);
        else
            printf("job %lld %s\n",
                   (long long)json_int(
                       cJSON_GetObjectItemCaseSensitive(res, "job"), 0),
                   json_str(res, "state", "?"));
    }
    cJSON_Delete(res);
    return rc;
}

int
cmd_train_stop(struct cmd_ctx *ctx)
{
    return move(ctx, "job.cancel");
}

int
cmd_train_resume(struct cmd_ctx *ctx)
{
    return move(ctx, "job.resume");
}

int
cmd_train_show(struct cmd_ctx *ctx)
{
    cJSON *job = NULL, *recs = NULL;
    const cJSON *run, *r;
    char ver[16];
    int rc;

    if ((rc = run_op(ctx, "job.get", &job)) != NH_EXIT_OK)
        goto out;
    if (strcmp(json_str(job, "kind", ""), "train")) {
        rc = nh_failf("job %s is not a train job", ctx->argv[0]);
        goto out;
    }
    if ((rc = run_op(ctx, "train.records", &recs)) != NH_EXIT_OK)
        goto out;
    if (ctx->json) {
        cJSON_AddItemReferenceToObject(job, "train", recs);
        out_json(job);
        goto out;
    }
    run = cJSON_GetObjectItemCaseSensitive(recs, "run");
    printf("job %s %s\n", ctx->argv[0], json_str(job, "state", "?"));
    printf("dataset   %s@%s\n", json_str(job, "dataset", "?"),
           short_id(json_str(run, "version", NULL), ver, 12));
    printf("tokens    %s (tokenizer %s)\n", json_str(run, "tokens", "-"),
           json_str(run, "tokenizer_hash", "trained"));
    printf("run dir   %s\n", json_str(run, "run_dir", "-"));
    if (has(run, "last_step"))
        printf("last step %lld, loss %.4f\n", (long long)num(run, "last_step"),
               num(run, "last_loss"));
    printf("restarts  %lld\n", (long long)num(run, "restarts"));
    if (json_str(job, "error", NULL))
        printf("error     %s\n", json_str(job, "error", ""));
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(recs, "records"))
    {
        const cJSON *rec = cJSON_GetObjectItemCaseSensitive(r, "record");
        const char *ev = json_str(rec, "event", "");

        if (!strcmp(json_str(r, "source", ""), "supervisor") &&
            (!strcmp(ev, "fault") || !strcmp(ev, "restart") ||
             !strcmp(ev, "summary") || !strcmp(ev, "stopped")))
            print_record("supervisor", rec, false);
    }
out:
    cJSON_Delete(job);
    cJSON_Delete(recs);
    return rc;
}

int
cmd_train_ls(struct cmd_ctx *ctx)
{
    static const char *const hdr[] = {"RUN",  "STATE", "DATASET",
                                      "STEP", "LOSS",  "RESTARTS"};
    cJSON *args = cJSON_CreateObject(), *res = NULL;
    cJSON *all = cJSON_CreateArray(); /* --json */
    const cJSON *j;
    struct table *t = NULL;
    int rc;

    if (!args || !all || !cJSON_AddNumberToObject(args, "limit", 1000)) {
        cJSON_Delete(all);
        cJSON_Delete(args);
        return nh_failf("out of memory");
    }
    rc = nh_call1("job.list", args, &res);
    cJSON_Delete(args);
    if (rc != NH_EXIT_OK)
        goto out;
    if (!(t = table_new(6, hdr))) {
        rc = nh_failf("out of memory");
        goto out;
    }
    table_right(t, 0);
    table_right(t, 3);
    table_right(t, 4);
    table_right(t, 5);
    cJSON_ArrayForEach(j, cJSON_GetObjectItemCaseSensitive(res, "jobs"))
    {
        int64_t id = json_int(cJSON_GetObjectItemCaseSensitive(j, "job"), 0);
        cJSON *a, *recs = NULL;
        const cJSON *run;
        char sid[24], step[24], loss[24], rs[24], ds[160], ver[16];
        const char *row[6];

        if (strcmp(json_str(j, "kind", ""), "train"))
            continue;
        if (!(a = job_args(id)) || !cJSON_AddNumberToObject(a, "after", 1e15) ||
            (rc = nh_call1("train.records", a, &recs)) != NH_EXIT_OK) {
            cJSON_Delete(a);
            if (rc == NH_EXIT_OK)
                rc = nh_failf("out of memory");
            goto out;
        }
        cJSON_Delete(a);
        run = cJSON_GetObjectItemCaseSensitive(recs, "run");
        if (ctx->json) {
            cJSON *one = cJSON_Duplicate(j, 1);

            if (!one || !cJSON_AddItemToArray(all, one) ||
                !cJSON_AddItemToObject(one, "run", cJSON_Duplicate(run, 1))) {
                cJSON_Delete(recs);
                rc = nh_failf("out of memory");
                goto out;
            }
        }
        snprintf(sid, sizeof(sid), "%lld", (long long)id);
        snprintf(ds, sizeof(ds), "%s@%s", json_str(j, "dataset", "?"),
                 short_id(json_str(j, "input", NULL), ver, 8));
        if (has(run, "last_step")) {
            snprintf(step, sizeof(step), "%lld",
                     (long long)num(run, "last_step"));
            snprintf(loss, sizeof(loss), "%.4f", num(run, "last_loss"));
        } else {
            snprintf(step, sizeof(step), "-");
            snprintf(loss, sizeof(loss), "-");
        }
        snprintf(rs, sizeof(rs), "%lld", (long long)num(run, "restarts"));
        row[0] = sid;
        row[1] = json_str(j, "state", "?");
        row[2] = ds;
        row[3] = step;
        row[4] = loss;
        row[5] = rs;
        cJSON_Delete(recs);
        if (table_add(t, row) < 0) {
            rc = nh_failf("out of memory");
            goto out;
        }
    }
    if (ctx->json)
        out_json(all);
    else
        table_print(t, stdout);
out:
    table_free(t);
    cJSON_Delete(all);
    cJSON_Delete(res);
    return rc;
}
