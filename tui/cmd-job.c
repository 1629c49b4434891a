/* cmd-job.c - `nh job ls|show|watch|cancel|resume|logs` and job_follow()
 *
 * One op each (job.list, job.get, job.cancel, job.resume, job.logs
 * paged with "after"), except watch: job_follow() subscribes to job/ID
 * and reads events until a job.state with a terminal state, drawing a
 * progress bar on stderr when it is a terminal and a plain line every
 * few seconds when it is not. `nh pipeline run --wait` uses it too.
 */
#include "clock.h"
#include "nh.h"
#include "strbuf.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FOLLOW_LINE_SECONDS 5.0 /* plain progress lines at most this often */
#define BAR_WIDTH 30
#define STAGE_TOP_REASONS 3 /* removal reasons shown per stage */

/* ID from a command line word; false when it is not a job id. */
static bool
parse_job_id(const char *s, int64_t *id)
{
    char *e;
    long long v = strtoll(s, &e, 10);

    if (e == s || *e || v < 1)
        return false;
    *id = v;
    return true;
}

static bool
state_is_terminal(const char *s)
{
    return !strcmp(s, "succeeded") || !strcmp(s, "failed") ||
           !strcmp(s, "cancelled") || !strcmp(s, "interrupted");
}

struct follow {
    bool tty;
    bool bar_drawn;
    double last_line;
    char last_phase[64];
};

static void
show_progress(struct follow *fl, const cJSON *p)
{
    double bd =
        (double)json_int(cJSON_GetObjectItemCaseSensitive(p, "bytes_done"), 0);
    double bt =
        (double)json_int(cJSON_GetObjectItemCaseSensitive(p, "bytes_total"), 0);
    double ud =
        (double)json_int(cJSON_GetObjectItemCaseSensitive(p, "units_done"), 0);
    double ut =
        (double)json_int(cJSON_GetObjectItemCaseSensitive(p, "units_total"), 0);
    long long docs =
        (long long)json_int(cJSON_GetObjectItemCaseSensitive(p, "docs"), 0);
    const char *phase = json_str(p, "phase", "");
    double frac = bt > 0 ? bd / bt : (ut > 0 ? ud / ut : 0);
    double now = nh_now();
    char size[32];
    bool new_phase = strcmp(phase, fl->last_phase) != 0;
    int i, fill;

    if (frac > 1)
        frac = 1;
    if (frac < 0)
        frac = 0;
    snprintf(fl->last_phase, sizeof(fl->last_phase), "%s", phase);
    fmt_size(bd, size, sizeof(size));
    if (fl->tty) {
        fill = (int)(frac * BAR_WIDTH);
        fputs("\r[", stderr);
        for (i = 0; i < BAR_WIDTH; i++)
            fputc(i < fill ? '#' : '.', stderr);
        fprintf(stderr, "] %3d%% %-10.10s %lld docs %s\033[K",
                (int)(frac * 100), phase, docs, size);
        fl->bar_drawn = true;
        return;
    }
    if (!new_phase && now - fl->last_line < FOLLOW_LINE_SECONDS)
        return;
    fl->last_line = now;
    fprintf(stderr, "progress: %d%% %s, %lld docs, %s\n", (int)(frac * 100),
            phase, docs, size);
}

int
job_follow(struct client *c, int64_t job, bool json, cJSON **final)
{
    struct follow fl = {isatty(2) && !json, false, 0, ""};
    cJSON *args = NULL, *res = NULL, *ev = NULL;
    struct nh_error err;
    char topic[48];
    int rc;

    snprintf(topic, sizeof(topic), "job/%lld", (long long)job);
    args = cJSON_CreateObject();
    if (!args || !cJSON_AddStringToObject(args, "topic", topic)) {
        cJSON_Delete(args);
        return nh_failf("out of memory");
    }
    rc = client_call(c, "subscribe", args, &res, &err);
    cJSON_Delete(args);
    cJSON_Delete(res);
    if (rc < 0)
        return nh_fail(&err);
    for (;;) {
        const char *name;
        const cJSON *data;
        /* every few seconds without events, ask: an event missed (a
         * slow connection drops them) must not leave us waiting forever */
        rc = client_next_event(c, 5000, &ev, &err);
        if (rc == CLIENT_ETIMEOUT) {
            cJSON *a = cJSON_CreateObject(), *got = NULL;

            if (a && cJSON_AddNumberToObject(a, "job", (double)job))
                rc = client_call(c, "job.get", a, &got, &err);
            cJSON_Delete(a);
            if (rc == 0 && state_is_terminal(json_str(got, "state", ""))) {
                ev = cJSON_CreateObject();
                if (!ev || !cJSON_AddItemToObject(ev, "data", got)) {
                    cJSON_Delete(got);
                    return nh_failf("out of memory");
                }
                break;
            }
            cJSON_Delete(got);
            if (rc == 0)
                continue;
        }
        if (rc < 0) {
            if (fl.bar_drawn)
                fputc('\n', stderr);
            return nh_fail(&err);
        }
        name = json_str(ev, "event", "");
        data = cJSON_GetObjectItemCaseSensitive(ev, "data");
        if (json_int(cJSON_GetObjectItemCaseSensitive(data, "job"), -1) !=
            job) {
            cJSON_Delete(ev);
            continue;
        }
        if (!strcmp(name, "job.progress")) {
            show_progress(&fl,
                          cJSON_GetObjectItemCaseSensitive(data, "progress"));
        } else if (!strcmp(name, "job.state") &&
                   state_is_terminal(json_str(data, "state", ""))) {
            break;
        }
        cJSON_Delete(ev);
    }
    if (fl.bar_drawn)
        fputc('\n', stderr);
    *final = cJSON_DetachItemFromObjectCaseSensitive(ev, "data");
    cJSON_Delete(ev);
    return strcmp(json_str(*final, "state", ""), "succeeded") ? NH_EXIT_ERROR
                                                              : NH_EXIT_OK;
}

/* One line about a job summary. */
static void
print_summary(const cJSON *j)
{
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(j, "output");
    char id[16];

    printf("job %lld %s",
           (long long)json_int(cJSON_GetObjectItemCaseSensitive(j, "job"), 0),
           json_str(j, "state", "?"));
    if (cJSON_IsString(out))
        printf(", output %s@%s", json_str(j, "dataset", "?"),
               short_id(out->valuestring, id, 12));
    putchar('\n');
}

int
cmd_job_watch(struct cmd_ctx *ctx)
{
    struct client *c = NULL;
    cJSON *final = NULL;
    struct nh_error err;
    int64_t id;
    int rc;

    if (!parse_job_id(ctx->argv[0], &id))
        return cmd_usage(ctx, "ID is a job number");
    if (nh_connect(&c, &err) < 0)
        return nh_fail(&err);
    rc = job_follow(c, id, ctx->json, &final);
    if (final) {
        if (ctx->json)
            out_json(final);
        else
            print_summary(final);
        if (rc != NH_EXIT_OK) {
            const char *e = json_str(final, "error", NULL);
            fprintf(stderr, "nh: error: job %lld %s%s%s\n", (long long)id,
                    json_str(final, "state", "?"), e ? ": " : "", e ? e : "");
        }
    }
    cJSON_Delete(final);
    client_free(c);
    return rc;
}

/* A one-op job command taking {"job": ID}. */
static int
job_op(struct cmd_ctx *ctx, const char *op, cJSON **res)
{
    cJSON *args;
    int64_t id;
    int rc;

    if (!parse_job_id(ctx->argv[0], &id))
        return cmd_usage(ctx, "ID is a job number");
    args = cJSON_CreateObject();
    if (!args || !cJSON_AddNumberToObject(args, "job", (double)id)) {
        cJSON_Delete(args);
        return nh_failf("out of memory");
    }
    rc = nh_call1(op, args, res);
    cJSON_Delete(args);
    if (rc == NH_EXIT_OK && ctx->json)
        out_json(*res);
    return rc;
}

/* "reason ×N, ..." for the STAGE_TOP_REASONS largest counts of a
 * stats "removed" object (ties by name), "…" when there are more. */
static void
top_reasons(const cJSON *removed, struct strbuf *sb)
{
    const cJSON *it, *best;
    const cJSON *shown[STAGE_TOP_REASONS];
    int n = 0, total = cJSON_GetArraySize(removed), k;

    while (n < STAGE_TOP_REASONS && n < total) {
        best = NULL;
        cJSON_ArrayForEach(it, removed)
        {
            bool seen = false;
            for (k = 0; k < n; k++)
                seen = seen || shown[k] == it;
            if (seen || !cJSON_IsNumber(it) || !it->string)
                continue;
            if (!best || it->valuedouble > best->valuedouble ||
                (it->valuedouble == best->valuedouble &&
                 strcmp(it->string, best->string) < 0))
                best = it;
        }
        if (!best)
            break;
        shown[n++] = best;
        strbuf_addf(sb, "%s%s \xc3\x97%lld", n > 1 ? ", " : "", best->string,
                    (long long)best->valuedouble);
    }
    if (total > n)
        strbuf_addstr(sb, ", \xe2\x80\xa6");
}

/* One row of the stage table from a stats.json counters object. */
static int
stage_row(struct table *t, const char *name, const cJSON *s)
{
    char cells[7][32];
    const char *row[8];
    struct strbuf why = STRBUF_INIT;
    int64_t in = json_int(cJSON_GetObjectItemCaseSensitive(s, "docs_in"), 0);
    int64_t outd = json_int(cJSON_GetObjectItemCaseSensitive(s, "docs_out"), 0);
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(s, "seconds");
    int rc, i;

    snprintf(cells[0], sizeof(cells[0]), "%lld", (long long)in);
    snprintf(cells[1], sizeof(cells[1]), "%lld", (long long)outd);
    snprintf(cells[2], sizeof(cells[2]), "%lld",
             (long long)(in > outd ? in - outd : 0));
    snprintf(
        cells[3], sizeof(cells[3]), "%.1f",
        (double)json_int(cJSON_GetObjectItemCaseSensitive(s, "bytes_in"), 0) /
            1e6);
    snprintf(
        cells[4], sizeof(cells[4]), "%.1f",
        (double)json_int(cJSON_GetObjectItemCaseSensitive(s, "bytes_out"), 0) /
            1e6);
    snprintf(cells[5], sizeof(cells[5]), "%.2f",
             cJSON_IsNumber(sec) ? sec->valuedouble : 0.0);
    top_reasons(cJSON_GetObjectItemCaseSensitive(s, "removed"), &why);
    row[0] = name;
    for (i = 0; i < 6; i++)
        row[i + 1] = cells[i];
    row[7] = strbuf_str(&why);
    rc = table_add(t, row);
    strbuf_release(&why);
    return rc;
}

/* The per-stage table of a job's stats (nh-clean's stats.json), with
 * the columns of `nh-clean stats OUT` and the top removal reasons. */
static int
print_stage_table(const cJSON *stats, const cJSON *removed)
{
    static const char *const hdr[] = {"STAGE",   "DOCS IN",    "DOCS OUT",
                                      "REMOVED", "MB IN",      "MB OUT",
                                      "SECONDS", "TOP REASONS"};
    const cJSON *st, *o, *name;
    struct table *t = table_new(8, hdr);
    int rc = 0, i;

    if (!t)
        return nh_failf("out of memory");
    for (i = 1; i <= 6; i++)
        table_right(t, i);
    o = cJSON_GetObjectItemCaseSensitive(stats, "read");
    if (cJSON_IsObject(o))
        rc = stage_row(t, "read", o);
    cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(stats, "stages"))
    {
        if (rc < 0)
            break;
        name = cJSON_GetObjectItemCaseSensitive(st, "name");
        rc = stage_row(t, cJSON_IsString(name) ? name->valuestring : "?", st);
    }
    if (rc < 0) {
        table_free(t);
        return nh_failf("out of memory");
    }
    printf("stages:\n");
    table_print(t, stdout);
    table_free(t);
    o = cJSON_GetObjectItemCaseSensitive(stats, "output");
    printf(
        "output: %lld documents, %.1f MB in %lld shard(s); %lld removed "
        "in %d shard(s)\n",
        (long long)json_int(cJSON_GetObjectItemCaseSensitive(o, "docs"), 0),
        (double)json_int(cJSON_GetObjectItemCaseSensitive(o, "bytes"), 0) / 1e6,
        (long long)json_int(cJSON_GetObjectItemCaseSensitive(o, "shards"), 0),
        (long long)json_int(cJSON_GetObjectItemCaseSensitive(o, "removed_docs"),
                            0),
        cJSON_GetArraySize(removed));
    o = cJSON_GetObjectItemCaseSensitive(stats, "seconds");
    if (cJSON_IsNumber(o))
        printf("time: %.2f s\n", o->valuedouble);
    return NH_EXIT_OK;
}

int
cmd_job_show(struct cmd_ctx *ctx)
{
    static const char *const keys[] = {
        "kind",    "state",   "dataset", "input",          "output",
        "created", "started", "ended",   "queue_position", "error"};
    cJSON *res = NULL;
    const cJSON *v;
    char buf[64];
    size_t i;
    int rc;

    rc = job_op(ctx, "job.get", &res);
    if (rc != NH_EXIT_OK || ctx->json)
        goto out;
    printf(
        "%-15s %lld\n", "job:",
        (long long)json_int(cJSON_GetObjectItemCaseSensitive(res, "job"), 0));
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        v = cJSON_GetObjectItemCaseSensitive(res, keys[i]);
        snprintf(buf, sizeof(buf), "%s:", keys[i]);
        if (!v || cJSON_IsNull(v))
            continue;
        if (!strcmp(keys[i], "created") || !strcmp(keys[i], "started") ||
            !strcmp(keys[i], "ended")) {
            char t[32];
            printf("%-15s %s\n", buf, fmt_time(v, t, sizeof(t)));
        } else if (cJSON_IsString(v)) {
            printf("%-15s %s\n", buf, v->valuestring);
        } else {
            char *text = cJSON_PrintUnformatted(v);
            printf("%-15s %s\n", buf, text ? text : "?");
            free(text);
        }
    }
    for (i = 0; i < 2; i++) {
        static const char *const more[] = {"progress", "args"};
        char *text;
        v = cJSON_GetObjectItemCaseSensitive(res, more[i]);
        if (!v || cJSON_IsNull(v))
            continue;
        text = cJSON_PrintUnformatted(v);
        snprintf(buf, sizeof(buf), "%s:", more[i]);
        printf("%-15s %s\n", buf, text ? text : "?");
        free(text);
    }
    v = cJSON_GetObjectItemCaseSensitive(res, "stats");
    if (cJSON_IsObject(v))
        rc = print_stage_table(
            v, cJSON_GetObjectItemCaseSensitive(res, "removed"));
out:
    cJSON_Delete(res);
    return rc;
}

int
cmd_job_cancel(struct cmd_ctx *ctx)
{
    cJSON *res = NULL;
    int rc = job_op(ctx, "job.cancel", &res);

    if (rc == NH_EXIT_OK && !ctx->json)
        print_summary(res);
    cJSON_Delete(res);
    return rc;
}

int
cmd_job_resume(struct cmd_ctx *ctx)
{
    cJSON *res = NULL;
    int rc = job_op(ctx, "job.resume", &res);

    if (rc == NH_EXIT_OK && !ctx->json)
        print_summary(res);
    cJSON_Delete(res);
    return rc;
}

int
cmd_job_ls(struct cmd_ctx *ctx)
{
    static const char *const hdr[] = {"JOB",     "KIND",    "STATE",
                                      "DATASET", "CREATED", "PROGRESS"};
    const char *state = cmd_opt(ctx, "state"), *limit = cmd_opt(ctx, "limit");
    cJSON *args = cJSON_CreateObject(), *res = NULL;
    const cJSON *j;
    struct table *t = NULL;
    int rc;

    if (!args)
        return nh_failf("out of memory");
    if (state)
        cJSON_AddStringToObject(args, "state", state);
    if (limit) {
        char *e;
        long v = strtol(limit, &e, 10);
        if (e == limit || *e || v < 1) {
            cJSON_Delete(args);
            return cmd_usage(ctx, "--limit is a positive number");
        }
        cJSON_AddNumberToObject(args, "limit", (double)v);
    }
    rc = nh_call1("job.list", args, &res);
    cJSON_Delete(args);
    if (rc != NH_EXIT_OK)
        goto out;
    if (ctx->json) {
        out_json(res);
        goto out;
    }
    t = table_new(6, hdr);
    if (!t) {
        rc = nh_failf("out of memory");
        goto out;
    }
    table_right(t, 0);
    cJSON_ArrayForEach(j, cJSON_GetObjectItemCaseSensitive(res, "jobs"))
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "progress");
        char id[24], created[32], prog[64];
        const char *row[6];
        snprintf(
            id, sizeof(id), "%lld",
            (long long)json_int(cJSON_GetObjectItemCaseSensitive(j, "job"), 0));
        if (cJSON_IsObject(p))
            snprintf(prog, sizeof(prog), "%s %lld docs",
                     json_str(p, "phase", ""),
                     (long long)json_int(
                         cJSON_GetObjectItemCaseSensitive(p, "docs"), 0));
        else
            snprintf(prog, sizeof(prog), "-");
        row[0] = id;
        row[1] = json_str(j, "kind", "?");
        row[2] = json_str(j, "state", "?");
        row[3] = json_str(j, "dataset", "-");
        row[4] = fmt_time(cJSON_GetObjectItemCaseSensitive(j, "created"),
                          created, sizeof(created));
        row[5] = prog;
        if (table_add(t, row) < 0) {
            rc = nh_failf("out of memory");
            goto out;
        }
    }
    table_print(t, stdout);
    printf(
        "%lld running, %lld queued (at most %lld at once)\n",
        (long long)json_int(cJSON_GetObjectItemCaseSensitive(res, "running"),
                            0),
        (long long)json_int(cJSON_GetObjectItemCaseSensitive(res, "queued"), 0),
        (long long)json_int(
            cJSON_GetObjectItemCaseSensitive(res, "max_running"), 0));
out:
    table_free(t);
    cJSON_Delete(res);
    return rc;
}

int
cmd_job_logs(struct cmd_ctx *ctx)
{
    struct client *c = NULL;
    cJSON *args = NULL, *res = NULL, *all = NULL;
    struct nh_error err;
    long long after = -1;
    int64_t id;
    int rc = 0;

    if (!parse_job_id(ctx->argv[0], &id))
        return cmd_usage(ctx, "ID is a job number");
    all = cJSON_CreateArray();
    if (!all)
        return nh_failf("out of memory");
    rc = nh_connect(&c, &err);
    while (rc == 0) {
        const cJSON *l, *lines;
        int n;
        args = cJSON_CreateObject();
        if (!args || !cJSON_AddNumberToObject(args, "job", (double)id) ||
            !cJSON_AddNumberToObject(args, "after", (double)after)) {
            rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
            break;
        }
        rc = client_call(c, "job.logs", args, &res, &err);
        if (rc < 0)
            break;
        lines = cJSON_GetObjectItemCaseSensitive(res, "lines");
        n = cJSON_GetArraySize(lines);
        cJSON_ArrayForEach(l, lines)
        {
            if (ctx->json)
                cJSON_AddItemToArray(all, cJSON_Duplicate(l, 1));
            else
                printf("%s\n", json_str(l, "line", ""));
            after = (long long)json_int(
                cJSON_GetObjectItemCaseSensitive(l, "seq"), after);
        }
        cJSON_Delete(args);
        cJSON_Delete(res);
        args = res = NULL;
        if (n == 0)
            break;
    }
    if (rc == 0 && ctx->json) {
        cJSON *out = cJSON_CreateObject();
        if (out && cJSON_AddNumberToObject(out, "job", (double)id) &&
            cJSON_AddItemToObject(out, "lines", all)) {
            all = NULL;
            out_json(out);
        } else {
            rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
        }
        cJSON_Delete(out);
    }
    cJSON_Delete(args);
    cJSON_Delete(res);
    cJSON_Delete(all);
    client_free(c);
    return rc < 0 ? nh_fail(&err) : NH_EXIT_OK;
}
