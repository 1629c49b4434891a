/* cli-mix.c - `nh-clean mix`: a corpus mixture in given proportions
 *
 * Two passes over each source (pipeline/input.c reads them): the first
 * measures every document (tokens by mix_tokens(), documents, bytes of
 * text), mix_plan() (pipeline/mix.h) decides how many copies of each
 * go in, the second writes them to OUT/data/part-NNNNN.jsonl, source
 * after source in input order; OUT/stats.json is the mixture's report
 * (docs/MIX.md). nhd's mix jobs (server/jobs.c) run it with
 * --progress json. main.c dispatches here.
 * Exit status: 0 success, 1 failure, 2 bad usage.
 */
#include "input.h"
#include "jsonl.h"
#include "mix.h"
#include "stage.h"

#include "clock.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MIX_MAX_SOURCES 64
#define PART_BYTES ((uint64_t)256 << 20)

static const char usage_text[] =
    "usage: nh-clean mix --source LABEL=WEIGHT=PATH... --target N\n"
    "                    [--by tokens|docs|bytes] [--seed S] -o OUT\n"
    "\n"
    "Draw a mixture of the sources in proportion to their weights: N\n"
    "tokens (documents, bytes of text) in all; a small source is repeated\n"
    "(epochs > 1), a large one sampled. The same seed, the same draw.\n"
    "Writes OUT/data/part-NNNNN.jsonl and the report OUT/stats.json.\n"
    "Tokens are estimated: one per CJK character, per word, per\n"
    "punctuation mark (docs/MIX.md).\n";

enum by { BY_TOKENS, BY_DOCS, BY_BYTES };

struct src {
    const char *label, *path;
    double weight;
    struct input_set in;
    bool scanned;
    double *m; /* the measure by --by */
    uint64_t *tok, *bytes;
    uint64_t ndocs, cap;
    uint64_t out_docs, out_bytes, out_tokens;
    struct mix_source plan;
};

struct writer {
    struct nh_writer *w;
    const char *out;
    unsigned part;
    uint64_t docs, bytes;
    struct nh_error *err;
};

static int
put_line(struct writer *w, const char *s, size_t len)
{
    char path[4096];
    int rc;

    if (w->w && nh_writer_bytes(w->w) >= PART_BYTES) {
        rc = nh_writer_commit(w->w, w->err);
        w->w = NULL;
        if (rc < 0)
            return rc;
    }
    if (!w->w) {
        snprintf(path, sizeof(path), "%s/data/part-%05u.jsonl", w->out,
                 w->part++);
        if ((rc = nh_writer_open(&w->w, path, 0, w->err)) < 0)
            return rc;
    }
    if ((rc = nh_writer_write(w->w, s, len, w->err)) < 0 ||
        (rc = nh_writer_write(w->w, "\n", 1, w->err)) < 0)
        return rc;
    w->docs++;
    w->bytes += len + 1;
    return 0;
}

/* Pass 1 (out == NULL): measure; pass 2: write each document its
 * planned number of times. */
static int
pass(struct src *s, enum by by, struct writer *out, struct nh_error *err)
{
    struct input_opts io = {.text_field = "text",
                            .max_doc_bytes = (size_t)64 << 20};
    uint64_t d = 0;
    int rc = 0;

    for (size_t u = 0; u < s->in.nunits && rc == 0; u++) {
        struct input_cursor *cur;

        if ((rc = input_open(&cur, &s->in, u, &io, err)) < 0)
            break;
        for (;;) {
            struct doc doc;
            struct input_reject rej;
            int k = input_next(cur, &doc, &rej, err);

            if (k <= 0) {
                rc = k;
                break;
            }
            if (k == 2) {
                cJSON_Delete(rej.record);
                continue;
            }
            if (!out) {
                if (s->ndocs == s->cap) {
                    uint64_t nc = s->cap ? 2 * s->cap : 4096;
                    double *m = realloc(s->m, nc * sizeof(*m));
                    uint64_t *t = m ? realloc(s->tok, nc * sizeof(*t)) : NULL;
                    uint64_t *b = t ? realloc(s->bytes, nc * sizeof(*b)) : NULL;

                    if (m)
                        s->m = m;
                    if (t)
                        s->tok = t;
                    if (!b) {
                        doc_release(&doc);
                        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
                        break;
                    }
                    s->bytes = b;
                    s->cap = nc;
                }
                s->tok[s->ndocs] = mix_tokens(doc.text.buf, doc.text.len);
                s->bytes[s->ndocs] = doc.text.len;
                s->m[s->ndocs] = by == BY_TOKENS ? (double)s->tok[s->ndocs]
                                 : by == BY_DOCS ? 1.0
                                                 : (double)doc.text.len;
                s->ndocs++;
                doc_release(&doc);
                continue;
            }
            if (d >= s->ndocs) {
                doc_release(&doc);
                rc = nh_errorf(err, NH_ECONFLICT,
                               "source '%s' changed while it was read",
                               s->label);
                break;
            }
            if (s->plan.count[d]) {
                cJSON *rec = doc_to_record(&doc, io.text_field);
                char *line = cJSON_PrintUnformatted(rec);

                for (unsigned c = 0; line && rc == 0 && c < s->plan.count[d];
                     c++) {
                    rc = put_line(out, line, strlen(line));
                    s->out_docs++;
                    s->out_bytes += s->bytes[d];
                    s->out_tokens += s->tok[d];
                }
                if (!line)
                    rc = nh_errorf(err, NH_ENOMEM, "out of memory");
                free(line);
                cJSON_Delete(rec);
            } else {
                doc_release(&doc);
            }
            d++;
            if (rc < 0)
                break;
        }
        input_close(cur);
    }
    return rc;
}

static int
write_report(const char *outdir, struct src *s, size_t n, enum by by,
             double target, uint64_t seed, double secs, struct nh_error *err)
{
    static const char *const bys[] = {"tokens", "docs", "bytes"};
    cJSON *o = cJSON_CreateObject(), *arr, *tot;
    double wsum = 0, sum = 0, maxerr = 0;
    uint64_t td = 0, tb = 0, tt = 0;
    struct nh_writer *w = NULL;
    char path[4096], *text = NULL;
    int rc = 0;

    for (size_t i = 0; i < n; i++) {
        wsum += s[i].weight;
        sum += s[i].plan.taken;
        td += s[i].out_docs;
        tb += s[i].out_bytes;
        tt += s[i].out_tokens;
    }
    if (!o || !cJSON_AddStringToObject(o, "tool", "nh-clean mix") ||
        !cJSON_AddStringToObject(o, "by", bys[by]) ||
        !cJSON_AddNumberToObject(o, "target", target) ||
        !cJSON_AddNumberToObject(o, "seed", (double)seed) ||
        !(arr = cJSON_AddArrayToObject(o, "sources")))
        goto oom;
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject(), *av;
        double want = s[i].weight / wsum;
        double share = sum > 0 ? s[i].plan.taken / sum : 0;

        if (fabs(share - want) > maxerr)
            maxerr = fabs(share - want);
        if (!e || !cJSON_AddItemToArray(arr, e) ||
            !cJSON_AddStringToObject(e, "label", s[i].label) ||
            !cJSON_AddNumberToObject(e, "weight", s[i].weight) ||
            !cJSON_AddNumberToObject(e, "target_share", want) ||
            !cJSON_AddNumberToObject(e, "share", share) ||
            !cJSON_AddNumberToObject(e, "share_error", share - want) ||
            !cJSON_AddNumberToObject(e, "docs", (double)s[i].out_docs) ||
            !cJSON_AddNumberToObject(e, "bytes", (double)s[i].out_bytes) ||
            !cJSON_AddNumberToObject(e, "tokens", (double)s[i].out_tokens) ||
            !cJSON_AddNumberToObject(e, "epochs", s[i].plan.epochs) ||
            !(av = cJSON_AddObjectToObject(e, "available")) ||
            !cJSON_AddNumberToObject(av, "docs", (double)s[i].ndocs))
            goto oom;
        {
            uint64_t b = 0, t = 0;

            for (uint64_t d = 0; d < s[i].ndocs; d++) {
                b += s[i].bytes[d];
                t += s[i].tok[d];
            }
            if (!cJSON_AddNumberToObject(av, "bytes", (double)b) ||
                !cJSON_AddNumberToObject(av, "tokens", (double)t))
                goto oom;
        }
    }
    if (!(tot = cJSON_AddObjectToObject(o, "total")) ||
        !cJSON_AddNumberToObject(tot, "docs", (double)td) ||
        !cJSON_AddNumberToObject(tot, "bytes", (double)tb) ||
        !cJSON_AddNumberToObject(tot, "tokens", (double)tt) ||
        !cJSON_AddNumberToObject(tot, "measure", sum) ||
        !cJSON_AddNumberToObject(o, "max_share_error", maxerr) ||
        !cJSON_AddNumberToObject(o, "seconds", secs) ||
        !(text = cJSON_Print(o)))
        goto oom;
    snprintf(path, sizeof(path), "%s/stats.json", outdir);
    if ((rc = nh_writer_open(&w, path, 0, err)) == 0 &&
        (rc = nh_writer_write(w, text, strlen(text), err)) == 0 &&
        (rc = nh_writer_write(w, "\n", 1, err)) == 0) {
        rc = nh_writer_commit(w, err);
        w = NULL;
    }
    if (w)
        nh_writer_abort(w);
    free(text);
    cJSON_Delete(o);
    return rc;
oom:
    cJSON_Delete(o);
    return nh_errorf(err, NH_ENOMEM, "out of memory");
}

static int
parse_source(struct src *s, char *arg)
{
    char *eq = strchr(arg, '='), *eq2, *end;

    if (!eq || eq == arg || !(eq2 = strchr(eq + 1, '=')) || !eq2[1])
        return -1;
    *eq = *eq2 = 0;
    s->label = arg;
    s->weight = strtod(eq + 1, &end);
    if (end == eq + 1 || *end || !(s->weight >= 0) || s->weight > 1e12)
        return -1;
    s->path = eq2 + 1;
    return 0;
}

int
cmd_mix(int argc, char **argv)
{
    static const struct option opts[] = {
        {"source", required_argument, NULL, 's'},
        {"target", required_argument, NULL, 't'},
        {"by", required_argument, NULL, 'b'},
        {"seed", required_argument, NULL, 'S'},
        {"output", required_argument, NULL, 'o'},
        {"progress", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct src src[MIX_MAX_SOURCES];
    struct mix_source plan[MIX_MAX_SOURCES];
    struct writer w = {0};
    struct nh_error err = {0};
    size_t n = 0;
    enum by by = BY_TOKENS;
    double target = 0, t0 = nh_now();
    unsigned long long seed = 0;
    bool json = false;
    const char *out = NULL;
    char *end, path[4096];
    int c, rc = 0;

    memset(src, 0, sizeof(src));
    memset(plan, 0, sizeof(plan));
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (n == MIX_MAX_SOURCES || parse_source(&src[n], optarg) < 0) {
                fprintf(stderr, "nh-clean: --source must be "
                                "LABEL=WEIGHT=PATH (at most 64)\n");
                return 2;
            }
            n++;
            break;
        case 't':
            target = strtod(optarg, &end);
            if (*end || end == optarg || !(target >= 1) || target > 1e18) {
                fprintf(stderr, "nh-clean: --target must be a number >= 1\n");
                return 2;
            }
            break;
        case 'b':
            if (!strcmp(optarg, "tokens"))
                by = BY_TOKENS;
            else if (!strcmp(optarg, "docs"))
                by = BY_DOCS;
            else if (!strcmp(optarg, "bytes"))
                by = BY_BYTES;
            else {
                fprintf(stderr,
                        "nh-clean: --by must be tokens, docs or bytes\n");
                return 2;
            }
            break;
        case 'S':
            errno = 0;
            seed = strtoull(optarg, &end, 10);
            if (*end || end == optarg || errno || *optarg == '-') {
                fprintf(stderr, "nh-clean: --seed must be 0..2^64-1\n");
                return 2;
            }
            break;
        case 'o':
            out = optarg;
            break;
        case 'p':
            json = !strcmp(optarg, "json");
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (!n || !out || target <= 0 || optind != argc) {
        fprintf(stderr, "nh-clean: mix needs --source, --target and -o\n");
        fputs(usage_text, stderr);
        return 2;
    }
    for (size_t i = 0; i < n; i++) {
        char *p = (char *)src[i].path;

        if (input_scan(&src[i].in, &p, 1, &err) < 0) {
            fprintf(stderr, "nh-clean: %s\n", err.msg);
            rc = 2;
            goto out;
        }
        src[i].scanned = true;
    }
    w.out = out;
    w.err = &err;
    snprintf(path, sizeof(path), "%s/data", out);
    if ((mkdir(out, 0755) < 0 && errno != EEXIST) ||
        (mkdir(path, 0755) < 0 && errno != EEXIST)) {
        nh_error_errno(&err, "cannot create '%s'", path);
        rc = -1;
        goto out;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = pass(&src[i], by, NULL, &err);
        plan[i].name = src[i].label;
        plan[i].weight = src[i].weight;
        plan[i].ndocs = src[i].ndocs;
        plan[i].m = src[i].m;
        plan[i].total = 0;
        plan[i].count = NULL;
        for (uint64_t d = 0; d < src[i].ndocs; d++)
            plan[i].total += src[i].m[d];
        if (json) {
            printf("{\"event\":\"progress\",\"phase\":\"measure\","
                   "\"segment\":0,\"bytes_done\":0,\"bytes_total\":0,"
                   "\"docs\":%llu,\"units_done\":%zu,\"units_total\":%zu,"
                   "\"seconds\":%.2f}\n",
                   (unsigned long long)src[i].ndocs, i + 1, 2 * n,
                   nh_now() - t0);
            fflush(stdout);
        }
    }
    if (rc == 0)
        rc = mix_plan(plan, n, target, seed, &err);
    for (size_t i = 0; i < n; i++)
        src[i].plan = plan[i];
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = pass(&src[i], by, &w, &err);
        if (json) {
            printf("{\"event\":\"progress\",\"phase\":\"write\","
                   "\"segment\":1,\"bytes_done\":%llu,\"bytes_total\":0,"
                   "\"docs\":%llu,\"units_done\":%zu,\"units_total\":%zu,"
                   "\"seconds\":%.2f}\n",
                   (unsigned long long)w.bytes, (unsigned long long)w.docs,
                   n + i + 1, 2 * n, nh_now() - t0);
            fflush(stdout);
        }
    }
    if (rc == 0 && !w.w) {
        snprintf(path, sizeof(path), "%s/data/part-%05u.jsonl", out, w.part++);
        rc = nh_writer_open(&w.w, path, 0, &err);
    }
    if (rc == 0) {
        rc = nh_writer_commit(w.w, &err);
        w.w = NULL;
    }
    if (rc == 0)
        rc = write_report(out, src, n, by, target, seed, nh_now() - t0, &err);
    if (rc == 0 && json)
        printf("{\"event\":\"done\"}\n");
    else if (rc == 0)
        printf("%llu documents, %llu bytes written\n",
               (unsigned long long)w.docs, (unsigned long long)w.bytes);
out:
    if (w.w)
        nh_writer_abort(w.w);
    if (rc < 0)
        fprintf(stderr, "nh-clean: %s\n", err.msg);
    for (size_t i = 0; i < n; i++) {
        if (src[i].scanned)
            input_set_release(&src[i].in);
        free(src[i].m);
        free(src[i].tok);
        free(src[i].bytes);
        free(src[i].plan.count);
    }
    return rc == 2 ? 2 : rc == NH_EINVAL ? 2 : rc < 0 ? 1 : 0;
}
