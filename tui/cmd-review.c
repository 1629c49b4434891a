/* cmd-review.c - `nh review ...` and `nh label ...`: review campaigns
 *
 * The same functions serve both groups; the group word of the command
 * ("review" or "label") is the campaign kind. create, ls, next, submit,
 * stats and close are one op each (review.create, review.list,
 * review.next, review.submit, review.stats, review.close; docs/REVIEW.md
 * has the shapes). export pages through review.items into a temporary
 * file next to FILE and renames it into place: `nh review export` writes
 * every item with all its judgments as JSONL, `nh label export` writes
 * the labeled documents as classifier training data (fastText or JSONL),
 * which needs the documents' text: it asks review.items for
 * "with_text": true.
 */
#include "nh.h"
#include "strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ITEMS_PAGE 1000
#define IBAR_WIDTH 40 /* columns of the interval bar */
#define REQUEST_ID_BYTES 16

/* "review" or "label": the command's group word. */
static const char *
kind_of(const struct cmd_ctx *ctx)
{
    return strncmp(ctx->entry->name, "label", 5) ? "review" : "label";
}

static bool
parse_id(const char *s, int64_t *id)
{
    char *e;
    long long v;

    errno = 0;
    v = strtoll(s, &e, 10);
    if (e == s || *e || errno || v < 0)
        return false;
    *id = v;
    return true;
}

static bool
parse_num(const char *s, double *d)
{
    char *e;

    errno = 0;
    *d = strtod(s, &e);
    return e != s && !*e && !errno && isfinite(*d);
}

/* {"campaign": id} */
static cJSON *
campaign_args(int64_t id)
{
    cJSON *a = cJSON_CreateObject();

    if (a && !cJSON_AddNumberToObject(a, "campaign", (double)id)) {
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}

/* Add the comma-separated words of list to arr; false on out of memory
 * or an empty word. */
static bool
add_list(cJSON *arr, const char *list)
{
    const char *p = list;

    for (;;) {
        size_t n = strcspn(p, ",");
        char word[256];
        cJSON *s;

        if (n == 0 || n >= sizeof(word))
            return false;
        memcpy(word, p, n);
        word[n] = '\0';
        s = cJSON_CreateString(word);
        if (!s || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            return false;
        }
        if (!p[n])
            return true;
        p += n + 1;
    }
}

static const char *
fmt_pct(const cJSON *j, char *buf, size_t n)
{
    if (cJSON_IsNumber(j))
        snprintf(buf, n, "%.1f%%", j->valuedouble * 100);
    else
        snprintf(buf, n, "-");
    return buf;
}

static const char *
fmt_num(const cJSON *j, int decimals, char *buf, size_t n)
{
    if (cJSON_IsNumber(j))
        snprintf(buf, n, "%.*f", decimals, j->valuedouble);
    else
        snprintf(buf, n, "-");
    return buf;
}

static const cJSON *
get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static void
print_summary(const cJSON *s)
{
    char ver[16];

    printf("%s campaign %lld", json_str(s, "kind", "?"),
           (long long)json_int(get(s, "campaign"), 0));
    if (cJSON_IsString(get(s, "name")))
        printf(" '%s'", json_str(s, "name", ""));
    printf(" on %s@%s: %s, %lld of %lld documents, seed %lld, %s\n",
           json_str(s, "dataset", "?"),
           short_id(json_str(s, "version", NULL), ver, 12),
           json_str(s, "design", "?"), (long long)json_int(get(s, "size"), 0),
           (long long)json_int(get(s, "population"), 0),
           (long long)json_int(get(s, "seed"), 0), json_str(s, "state", "?"));
}

/* ---- create ------------------------------------------------------------ */

/* Add option name's number as key (when given); false: not a number. */
static bool
num_opt(const struct cmd_ctx *ctx, cJSON *a, const char *name, const char *key,
        bool *oom)
{
    const char *v = cmd_opt(ctx, name);
    double d;

    if (!v)
        return true;
    if (!parse_num(v, &d))
        return false;
    if (!cJSON_AddNumberToObject(a, key, d))
        *oom = true;
    return true;
}

/* {"job", "stage", "reason"?} from JOB:STAGE[:REASON]; NULL when bad. */
static cJSON *
audit_arg(const char *v, bool *oom)
{
    const char *c1 = strchr(v, ':'), *c2;
    char job[32], stage[128];
    int64_t jid;
    cJSON *o;

    if (!c1 || (size_t)(c1 - v) >= sizeof(job))
        return NULL;
    memcpy(job, v, (size_t)(c1 - v));
    job[c1 - v] = '\0';
    c2 = strchr(c1 + 1, ':');
    if (!parse_id(job, &jid) || jid < 1)
        return NULL;
    snprintf(stage, sizeof(stage), "%.*s",
             (int)(c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1)), c1 + 1);
    if (!stage[0])
        return NULL;
    o = cJSON_CreateObject();
    if (!o || !cJSON_AddNumberToObject(o, "job", (double)jid) ||
        !cJSON_AddStringToObject(o, "stage", stage) ||
        (c2 && c2[1] && !cJSON_AddStringToObject(o, "reason", c2 + 1))) {
        cJSON_Delete(o);
        *oom = true;
        return NULL;
    }
    return o;
}

int
cmd_review_create(struct cmd_ctx *ctx)
{
    static const char *const nums[][2] = {{"size", "size"},
                                          {"margin", "margin"},
                                          {"confidence", "confidence"},
                                          {"seed", "seed"},
                                          {"overlap", "overlap"},
                                          {"raters", "raters"},
                                          {"threshold", "threshold"},
                                          {"lease", "lease_seconds"}};
    const char *alloc = cmd_opt(ctx, "allocation"), *v;
    const char *kind = kind_of(ctx);
    cJSON *a, *res = NULL;
    bool oom = false;
    size_t i;
    int rc;

    if (cmd_flag(ctx, "size") == cmd_flag(ctx, "margin"))
        return cmd_usage(ctx, "give either --size N or --margin E");
    if (cmd_flag(ctx, "confidence") && !cmd_flag(ctx, "margin"))
        return cmd_usage(ctx, "--confidence goes with --margin");
    if (alloc && strcmp(alloc, "proportional") && strcmp(alloc, "neyman"))
        return cmd_usage(ctx, "ALLOCATION is proportional or neyman");
    if (!strcmp(kind, "label") && !cmd_flag(ctx, "labels"))
        return cmd_usage(ctx, "a label campaign needs --labels L,...");
    a = cJSON_CreateObject();
    if (!a || !cJSON_AddStringToObject(a, "ref", ctx->argv[0]) ||
        !cJSON_AddStringToObject(a, "kind", kind)) {
        cJSON_Delete(a);
        return nh_failf("out of memory");
    }
    for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        if (!num_opt(ctx, a, nums[i][0], nums[i][1], &oom)) {
            cJSON_Delete(a);
            fprintf(stderr, "nh: --%s needs a number\n", nums[i][0]);
            return cmd_usage(ctx, NULL);
        }
    if ((v = cmd_opt(ctx, "strata")) &&
        !cJSON_AddStringToObject(a, "strata", v))
        oom = true;
    if (alloc && !cJSON_AddStringToObject(a, "allocation", alloc))
        oom = true;
    if ((v = cmd_opt(ctx, "name")) && !cJSON_AddStringToObject(a, "name", v))
        oom = true;
    if ((v = cmd_opt(ctx, "labels"))) {
        cJSON *arr = cJSON_AddArrayToObject(a, "labels");
        if (!arr || !add_list(arr, v)) {
            cJSON_Delete(a);
            return cmd_usage(ctx, "--labels is a comma-separated list");
        }
    }
    if ((v = cmd_opt(ctx, "audit"))) {
        cJSON *au = audit_arg(v, &oom);
        if (!au && !oom) {
            cJSON_Delete(a);
            return cmd_usage(ctx, "--audit is JOB:STAGE[:REASON]");
        }
        if (au && !cJSON_AddItemToObject(a, "audit", au))
            oom = true;
    }
    if (oom) {
        cJSON_Delete(a);
        return nh_failf("out of memory");
    }
    rc = nh_call1("review.create", a, &res);
    if (rc == NH_EXIT_OK) {
        if (ctx->json)
            out_json(res);
        else
            print_summary(res);
    }
    cJSON_Delete(a);
    cJSON_Delete(res);
    return rc;
}

/* ---- ls, close ------------------------------------------------------------
 */

int
cmd_review_ls(struct cmd_ctx *ctx)
{
    static const char *const hdr[] = {"ID",   "NAME",   "DATASET", "DESIGN",
                                      "SIZE", "JUDGED", "STATE",   "DECISION"};
    struct table *t = NULL;
    cJSON *a, *res = NULL;
    const cJSON *c;
    int rc;

    a = cJSON_CreateObject();
    if (!a || !cJSON_AddStringToObject(a, "kind", kind_of(ctx))) {
        cJSON_Delete(a);
        return nh_failf("out of memory");
    }
    rc = nh_call1("review.list", a, &res);
    cJSON_Delete(a);
    if (rc != NH_EXIT_OK)
        return rc;
    if (ctx->json) {
        out_json(res);
        goto out;
    }
    t = table_new(8, hdr);
    if (!t) {
        rc = nh_failf("out of memory");
        goto out;
    }
    table_right(t, 0);
    table_right(t, 4);
    table_right(t, 5);
    cJSON_ArrayForEach(c, get(res, "campaigns"))
    {
        char id[24], size[24], judged[24], ver[16], ds[160];
        const char *cells[8];

        snprintf(id, sizeof(id), "%lld",
                 (long long)json_int(get(c, "campaign"), 0));
        snprintf(size, sizeof(size), "%lld",
                 (long long)json_int(get(c, "size"), 0));
        snprintf(judged, sizeof(judged), "%lld",
                 (long long)json_int(get(c, "judged"), 0));
        snprintf(ds, sizeof(ds), "%s@%s", json_str(c, "dataset", "?"),
                 short_id(json_str(c, "version", NULL), ver, 8));
        cells[0] = id;
        cells[1] = json_str(c, "name", "-");
        cells[2] = ds;
        cells[3] = json_str(c, "design", "?");
        cells[4] = size;
        cells[5] = judged;
        cells[6] = json_str(c, "state", "?");
        cells[7] = json_str(c, "decision", "-");
        if (table_add(t, cells) < 0) {
            rc = nh_failf("out of memory");
            goto out;
        }
    }
    table_print(t, stdout);
out:
    table_free(t);
    cJSON_Delete(res);
    return rc;
}

int
cmd_review_close(struct cmd_ctx *ctx)
{
    cJSON *a, *res = NULL;
    int64_t id;
    int rc;

    if (!parse_id(ctx->argv[0], &id))
        return cmd_usage(ctx, "ID is a campaign number");
    if (!(a = campaign_args(id)))
        return nh_failf("out of memory");
    rc = nh_call1("review.close", a, &res);
    cJSON_Delete(a);
    if (rc == NH_EXIT_OK) {
        if (ctx->json)
            out_json(res);
        else
            print_summary(res);
    }
    cJSON_Delete(res);
    return rc;
}

/* ---- next, submit -------------------------------------------------------- */

int
cmd_review_next(struct cmd_ctx *ctx)
{
    cJSON *a, *res = NULL;
    const cJSON *it, *audit, *mine;
    char when[32];
    int64_t id;
    int rc;

    if (!parse_id(ctx->argv[0], &id))
        return cmd_usage(ctx, "ID is a campaign number");
    if (!(a = campaign_args(id)))
        return nh_failf("out of memory");
    rc = nh_call1("review.next", a, &res);
    cJSON_Delete(a);
    if (rc != NH_EXIT_OK)
        return rc;
    if (ctx->json) {
        out_json(res);
        goto out;
    }
    it = get(res, "item");
    if (!cJSON_IsObject(it)) {
        printf("nothing left for you in campaign %lld (%lld items still "
               "open)\n",
               (long long)id, (long long)json_int(get(res, "remaining"), 0));
        goto out;
    }
    printf("item %lld  doc %s  stratum %s  lease until %s  (%lld remaining)\n",
           (long long)json_int(get(it, "item"), 0), json_str(it, "doc_id", "-"),
           json_str(it, "stratum", "-"),
           fmt_time(get(it, "lease_expires"), when, sizeof(when)),
           (long long)json_int(get(res, "remaining"), 0));
    audit = get(it, "audit");
    if (cJSON_IsObject(audit)) {
        printf("removed by %s", json_str(audit, "removed_by", "?"));
        if (cJSON_IsString(get(audit, "reason")))
            printf(" (%s)", json_str(audit, "reason", ""));
        if (cJSON_IsString(get(audit, "duplicate_of")))
            printf(", duplicate of %s", json_str(audit, "duplicate_of", ""));
        putchar('\n');
        if (cJSON_IsObject(get(audit, "duplicate")))
            printf("kept document:\n%s\n",
                   json_str(get(audit, "duplicate"), "text", ""));
    }
    mine = get(it, "mine");
    if (cJSON_IsObject(mine))
        printf("your judgment: %s\n", json_str(mine, "verdict", "labels"));
    printf("---\n%s\n", json_str(get(it, "doc"), "text", ""));
out:
    cJSON_Delete(res);
    return rc;
}

/* 32 hex digits from /dev/urandom. */
static int
random_hex(char *buf, size_t n)
{
    unsigned char b[REQUEST_ID_BYTES];
    size_t i;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, b, sizeof(b)) : -1;

    if (fd >= 0)
        close(fd);
    if (got != (ssize_t)sizeof(b) || n < 2 * sizeof(b) + 1)
        return -1;
    for (i = 0; i < sizeof(b); i++)
        snprintf(buf + 2 * i, 3, "%02x", b[i]);
    return 0;
}

int
cmd_review_submit(struct cmd_ctx *ctx)
{
    const char *verdict = cmd_opt(ctx, "verdict");
    const char *label = cmd_opt(ctx, "label");
    const char *rid = cmd_opt(ctx, "request-id"), *note = cmd_opt(ctx, "note");
    const char *score = cmd_opt(ctx, "score");
    bool is_label = !strcmp(kind_of(ctx), "label");
    char hex[2 * REQUEST_ID_BYTES + 1];
    const cJSON *j, *l;
    cJSON *a = NULL, *res = NULL;
    int64_t id, item, sc = 0;
    int rc;

    if (!parse_id(ctx->argv[0], &id))
        return cmd_usage(ctx, "ID is a campaign number");
    if (!parse_id(ctx->argv[1], &item))
        return cmd_usage(ctx, "ITEM is an item number");
    if (!is_label && !verdict)
        return cmd_usage(ctx, "give --verdict accept|reject|skip");
    if (verdict && strcmp(verdict, "accept") && strcmp(verdict, "reject") &&
        strcmp(verdict, "skip"))
        return cmd_usage(ctx, "VERDICT is accept, reject or skip");
    if (score && (!parse_id(score, &sc) || sc < 1 || sc > 5))
        return cmd_usage(ctx, "SCORE is 1 to 5");
    if (!rid) {
        if (random_hex(hex, sizeof(hex)) < 0)
            return nh_failf("cannot read '/dev/urandom'");
        rid = hex;
    }
    a = campaign_args(id);
    if (!a || !cJSON_AddNumberToObject(a, "item", (double)item) ||
        !cJSON_AddStringToObject(a, "request_id", rid) ||
        (verdict && !cJSON_AddStringToObject(a, "verdict", verdict)) ||
        (note && !cJSON_AddStringToObject(a, "note", note)) ||
        (score && !cJSON_AddNumberToObject(a, "score", (double)sc))) {
        cJSON_Delete(a);
        return nh_failf("out of memory");
    }
    if (label) {
        cJSON *arr = cJSON_AddArrayToObject(a, "labels");
        if (!arr || !add_list(arr, label)) {
            cJSON_Delete(a);
            return cmd_usage(ctx, "--label is L or a list L1,L2");
        }
    } else if (is_label && !cJSON_AddArrayToObject(a, "labels")) {
        cJSON_Delete(a);
        return nh_failf("out of memory");
    }
    rc = nh_call1("review.submit", a, &res);
    cJSON_Delete(a);
    if (rc != NH_EXIT_OK)
        return rc;
    if (ctx->json) {
        out_json(res);
        goto out;
    }
    j = get(res, "judgment");
    printf("judgment %lld on item %lld:",
           (long long)json_int(get(j, "judgment"), 0),
           (long long)json_int(get(j, "item"), 0));
    if (cJSON_IsString(get(j, "verdict")))
        printf(" %s", json_str(j, "verdict", ""));
    cJSON_ArrayForEach(l, get(j, "labels"))
    {
        if (cJSON_IsString(l))
            printf(" [%s]", l->valuestring);
    }
    if (cJSON_IsNumber(get(j, "score")))
        printf(" score %lld", (long long)json_int(get(j, "score"), 0));
    printf(" (request %s)%s\n", json_str(j, "request_id", "?"),
           cJSON_IsTrue(get(res, "duplicate"))
               ? "; duplicate: already recorded, counted once"
               : "");
out:
    cJSON_Delete(res);
    return rc;
}

/* ---- stats ------------------------------------------------------------- */

/* [....|====#====|....] over [0, 1]: the interval, the point estimate
 * and the threshold (':'). */
static void
interval_bar(double lo, double p, double hi, double thr)
{
    char bar[IBAR_WIDTH + 1];
    int i, il = (int)(lo * IBAR_WIDTH), ih = (int)(hi * IBAR_WIDTH);
    int ip = (int)(p * IBAR_WIDTH), it = (int)(thr * IBAR_WIDTH);

    for (i = 0; i < IBAR_WIDTH; i++)
        bar[i] = i >= il && i <= ih ? '=' : '.';
    if (it >= 0 && it < IBAR_WIDTH)
        bar[it] = ':';
    if (ip >= IBAR_WIDTH)
        ip = IBAR_WIDTH - 1;
    if (ip >= 0)
        bar[ip] = '#';
    bar[IBAR_WIDTH] = '\0';
    printf("  0 [%s] 1   (= interval, # estimate, : threshold)\n", bar);
}

static void
print_kappa(const char *what, const cJSON *k)
{
    char v[32];

    printf("%s: %s kappa %s over %lld items\n", what,
           json_str(k, "method", "?"),
           fmt_num(get(k, "value"), 3, v, sizeof(v)),
           (long long)json_int(get(k, "items"), 0));
}

static int
print_stats(const cJSON *s)
{
    const cJSON *st = get(s, "stratified"), *e;
    char p[32], lo[32], hi[32];
    struct table *t = NULL;
    int rc = NH_EXIT_OK;

    printf("items %lld, complete %lld, judgments %lld (%lld skipped)\n",
           (long long)json_int(get(s, "items"), 0),
           (long long)json_int(get(s, "complete"), 0),
           (long long)json_int(get(s, "judgments"), 0),
           (long long)json_int(get(s, "skipped"), 0));
    printf("pass rate %s (%lld accepted, %lld rejected), 95%% interval "
           "[%s, %s]\n",
           fmt_pct(get(s, "pass_rate"), p, sizeof(p)),
           (long long)json_int(get(s, "accepted"), 0),
           (long long)json_int(get(s, "rejected"), 0),
           fmt_pct(get(s, "ci_low"), lo, sizeof(lo)),
           fmt_pct(get(s, "ci_high"), hi, sizeof(hi)));
    if (cJSON_IsNumber(get(s, "pass_rate")))
        interval_bar(cJSON_GetNumberValue(get(s, "ci_low")),
                     cJSON_GetNumberValue(get(s, "pass_rate")),
                     cJSON_GetNumberValue(get(s, "ci_high")),
                     cJSON_GetNumberValue(get(s, "threshold")));
    if (cJSON_IsNumber(get(s, "upper_3n")))
        printf("no rejects: reject rate below %s (rule of three)\n",
               fmt_pct(get(s, "upper_3n"), p, sizeof(p)));
    if (cJSON_IsObject(st)) {
        static const char *const hdr[] = {"STRATUM", "N",        "n",
                                          "JUDGED",  "ACCEPTED", "PASS"};
        printf("stratified estimate %s, interval [%s, %s]\n",
               fmt_pct(get(st, "estimate"), p, sizeof(p)),
               fmt_pct(get(st, "ci_low"), lo, sizeof(lo)),
               fmt_pct(get(st, "ci_high"), hi, sizeof(hi)));
        if (!(t = table_new(6, hdr)))
            return nh_failf("out of memory");
        for (int c = 1; c < 6; c++)
            table_right(t, c);
        cJSON_ArrayForEach(e, get(st, "strata"))
        {
            char n1[24], n2[24], n3[24], n4[24];
            const char *cells[6] = {
                json_str(e, "stratum", "-"),
                fmt_num(get(e, "N"), 0, n1, sizeof(n1)),
                fmt_num(get(e, "n"), 0, n2, sizeof(n2)),
                fmt_num(get(e, "judged"), 0, n3, sizeof(n3)),
                fmt_num(get(e, "accepted"), 0, n4, sizeof(n4)),
                fmt_pct(get(e, "pass_rate"), p, sizeof(p))};
            if (table_add(t, cells) < 0) {
                rc = nh_failf("out of memory");
                goto out;
            }
        }
        table_print(t, stdout);
        table_free(t);
        t = NULL;
    }
    if (cJSON_GetArraySize(get(s, "labels")) > 0) {
        static const char *const hdr[] = {"LABEL", "ITEMS", "RATE", "INTERVAL",
                                          "KAPPA"};
        if (!(t = table_new(5, hdr)))
            return nh_failf("out of memory");
        table_right(t, 1);
        table_right(t, 2);
        table_right(t, 4);
        cJSON_ArrayForEach(e, get(s, "labels"))
        {
            char n1[24], iv[80], k[24];
            const char *cells[5];

            snprintf(iv, sizeof(iv), "[%s, %s]",
                     fmt_pct(get(e, "ci_low"), lo, sizeof(lo)),
                     fmt_pct(get(e, "ci_high"), hi, sizeof(hi)));
            cells[0] = json_str(e, "label", "?");
            cells[1] = fmt_num(get(e, "items"), 0, n1, sizeof(n1));
            cells[2] = fmt_pct(get(e, "rate"), p, sizeof(p));
            cells[3] = iv;
            cells[4] = fmt_num(get(get(e, "kappa"), "value"), 3, k, sizeof(k));
            if (table_add(t, cells) < 0) {
                rc = nh_failf("out of memory");
                goto out;
            }
        }
        table_print(t, stdout);
        table_free(t);
        t = NULL;
    }
    print_kappa("agreement", get(s, "kappa"));
    cJSON_ArrayForEach(e, get(s, "reviewers"))
    {
        printf("reviewer %s: %lld judgments, %s per hour\n",
               json_str(e, "user", "?"),
               (long long)json_int(get(e, "judgments"), 0),
               fmt_num(get(e, "per_hour"), 0, p, sizeof(p)));
    }
    printf("decision: %s (threshold %s)\n", json_str(s, "decision", "?"),
           fmt_pct(get(s, "threshold"), p, sizeof(p)));
out:
    table_free(t);
    return rc;
}

int
cmd_review_stats(struct cmd_ctx *ctx)
{
    cJSON *a, *res = NULL;
    int64_t id;
    int rc;

    if (!parse_id(ctx->argv[0], &id))
        return cmd_usage(ctx, "ID is a campaign number");
    if (!(a = campaign_args(id)))
        return nh_failf("out of memory");
    rc = nh_call1("review.stats", a, &res);
    cJSON_Delete(a);
    if (rc == NH_EXIT_OK)
        rc = ctx->json ? (out_json(res), NH_EXIT_OK) : print_stats(res);
    cJSON_Delete(res);
    return rc;
}

/* ---- export ------------------------------------------------------------- */

enum export_format { EXPORT_ITEMS, EXPORT_FASTTEXT, EXPORT_JSONL };

/* Does judgment j count for labels: current, and not a skip? */
static bool
counts(const cJSON *j)
{
    const char *v = cJSON_GetStringValue(get(j, "verdict"));

    return !cJSON_IsNumber(get(j, "superseded")) && !(v && !strcmp(v, "skip"));
}

/* The labels carried by at least half of an item's current, non-skip
 * judgments (the rule review.stats uses), into arr. */
static int
majority_labels(const cJSON *judgments, cJSON *arr)
{
    const cJSON *j, *l, *k;
    int n = 0;

    cJSON_ArrayForEach(j, judgments)
    {
        if (counts(j))
            n++;
    }
    cJSON_ArrayForEach(j, judgments)
    {
        if (!counts(j))
            continue;
        cJSON_ArrayForEach(l, get(j, "labels"))
        {
            const cJSON *j2;
            bool seen = false;
            int carry = 0;

            if (!cJSON_IsString(l))
                continue;
            cJSON_ArrayForEach(k, arr)
            {
                seen = seen || !strcmp(k->valuestring, l->valuestring);
            }
            if (seen)
                continue;
            cJSON_ArrayForEach(j2, judgments)
            {
                const cJSON *l2;
                if (!counts(j2))
                    continue;
                cJSON_ArrayForEach(l2, get(j2, "labels"))
                {
                    if (cJSON_IsString(l2) &&
                        !strcmp(l2->valuestring, l->valuestring)) {
                        carry++;
                        break;
                    }
                }
            }
            if (2 * carry >= n) { /* at least half, as review.stats counts */
                cJSON *s = cJSON_CreateString(l->valuestring);
                if (!s || !cJSON_AddItemToArray(arr, s)) {
                    cJSON_Delete(s);
                    return NH_ENOMEM;
                }
            }
        }
    }
    return n;
}

/* The document text the server sent with an item (with_text). */
static const char *
item_text(const cJSON *it)
{
    const cJSON *t = get(it, "text");

    if (cJSON_IsString(t))
        return t->valuestring;
    t = get(get(it, "doc"), "text");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

/* text on one line: each run of whitespace one space, none at the ends */
static int
add_one_line(struct strbuf *sb, const char *text)
{
    bool space = false;

    for (const char *p = text; *p; p++) {
        if (strchr(" \t\n\r\v\f", *p)) {
            space = true;
            continue;
        }
        if (space && sb->len > 0 && sb->buf[sb->len - 1] != ' ' &&
            strbuf_addch(sb, ' ') < 0)
            return NH_ENOMEM;
        space = false;
        if (strbuf_addch(sb, *p) < 0)
            return NH_ENOMEM;
    }
    return 0;
}

/* One item as a line of fmt into sb; *written counts lines. */
static int
export_item(const cJSON *it, enum export_format fmt, struct strbuf *sb,
            long long *written, long long *unlabeled)
{
    cJSON *labels = NULL, *o = NULL;
    const cJSON *l;
    const char *text;
    char *s = NULL;
    int rc = 0, n;

    if (fmt == EXPORT_ITEMS) {
        if (!(s = cJSON_PrintUnformatted(it)))
            return NH_ENOMEM;
        rc = strbuf_addstr(sb, s) < 0 || strbuf_addch(sb, '\n') < 0 ? NH_ENOMEM
                                                                    : 0;
        free(s);
        *written += rc == 0;
        return rc;
    }
    if (!(labels = cJSON_CreateArray()))
        return NH_ENOMEM;
    if ((n = majority_labels(get(it, "judgments"), labels)) < 0) {
        rc = n;
        goto out;
    }
    if (n == 0)
        goto out; /* not judged yet */
    if (!(text = item_text(it))) {
        rc = NH_EINVAL;
        goto out;
    }
    if (fmt == EXPORT_FASTTEXT) {
        if (cJSON_GetArraySize(labels) == 0) {
            ++*unlabeled;
            goto out;
        }
        cJSON_ArrayForEach(l, labels)
        {
            if (strbuf_addf(sb, "__label__%s ", l->valuestring) < 0) {
                rc = NH_ENOMEM;
                goto out;
            }
        }
        if ((rc = add_one_line(sb, text)) < 0 || strbuf_addch(sb, '\n') < 0)
            rc = NH_ENOMEM;
    } else {
        o = cJSON_CreateObject();
        if (!o ||
            !cJSON_AddItemToObject(o, "id",
                                   cJSON_Duplicate(get(it, "doc_id"), true)) ||
            !cJSON_AddStringToObject(o, "text", text) ||
            !cJSON_AddItemToObject(o, "labels", labels)) {
            rc = NH_ENOMEM;
            goto out;
        }
        labels = NULL;
        if (!(s = cJSON_PrintUnformatted(o)) || strbuf_addstr(sb, s) < 0 ||
            strbuf_addch(sb, '\n') < 0)
            rc = NH_ENOMEM;
    }
    *written += rc == 0;
out:
    free(s);
    cJSON_Delete(o);
    cJSON_Delete(labels);
    return rc;
}

static int
do_export(const struct cmd_ctx *ctx, int64_t id, const char *file,
          enum export_format fmt)
{
    struct client *c = NULL;
    struct nh_error err;
    struct strbuf tmp, line;
    cJSON *a = NULL, *res = NULL, *out = NULL;
    const cJSON *it;
    long long written = 0, items = 0, unlabeled = 0;
    int64_t after = -1;
    FILE *f = NULL;
    int rc = NH_EXIT_ERROR;

    strbuf_init(&tmp, 0);
    strbuf_init(&line, 0);
    if (strbuf_addf(&tmp, "%s.tmp.%ld", file, (long)getpid()) < 0) {
        rc = nh_failf("out of memory");
        goto out;
    }
    if (nh_connect(&c, &err) < 0) {
        rc = nh_fail(&err);
        goto out;
    }
    if (!(f = fopen(strbuf_str(&tmp), "we"))) {
        rc =
            nh_failf("cannot open '%s': %s", strbuf_str(&tmp), strerror(errno));
        goto out;
    }
    for (;;) {
        int n = 0;

        cJSON_Delete(a);
        cJSON_Delete(res);
        res = NULL;
        a = campaign_args(id);
        if (!a || !cJSON_AddNumberToObject(a, "after", (double)after) ||
            !cJSON_AddNumberToObject(a, "limit", ITEMS_PAGE) ||
            (fmt != EXPORT_ITEMS && !cJSON_AddTrueToObject(a, "with_text"))) {
            rc = nh_failf("out of memory");
            goto out;
        }
        if (client_call(c, "review.items", a, &res, &err) < 0) {
            rc = nh_fail(&err);
            goto out;
        }
        cJSON_ArrayForEach(it, get(res, "items"))
        {
            int r;

            strbuf_reset(&line);
            r = export_item(it, fmt, &line, &written, &unlabeled);
            if (r == NH_EINVAL) {
                rc = nh_failf("the server sent no text for item %lld "
                              "(review.items needs \"with_text\")",
                              (long long)json_int(get(it, "item"), 0));
                goto out;
            }
            if (r < 0) {
                rc = nh_failf("out of memory");
                goto out;
            }
            if (fwrite(line.buf, 1, line.len, f) != line.len) {
                rc = nh_failf("cannot write '%s': %s", strbuf_str(&tmp),
                              strerror(errno));
                goto out;
            }
            n++;
        }
        items += n;
        if (n == 0 || json_int(get(res, "next"), after) <= after)
            break;
        after = json_int(get(res, "next"), after);
    }
    {
        bool bad = fflush(f) != 0 || fsync(fileno(f)) != 0;

        bad = fclose(f) != 0 || bad;
        f = NULL;
        if (bad) {
            rc = nh_failf("cannot write '%s': %s", strbuf_str(&tmp),
                          strerror(errno));
            goto out;
        }
    }
    if (rename(strbuf_str(&tmp), file) < 0) {
        rc = nh_failf("cannot rename '%s' to '%s': %s", strbuf_str(&tmp), file,
                      strerror(errno));
        goto out;
    }
    if (ctx->json) {
        out = cJSON_CreateObject();
        if (!out || !cJSON_AddNumberToObject(out, "campaign", (double)id) ||
            !cJSON_AddStringToObject(out, "file", file) ||
            !cJSON_AddNumberToObject(out, "items", (double)items) ||
            !cJSON_AddNumberToObject(out, "lines", (double)written) ||
            !cJSON_AddNumberToObject(out, "unlabeled", (double)unlabeled)) {
            rc = nh_failf("out of memory");
            goto out;
        }
        out_json(out);
    } else {
        printf("%lld lines from %lld items written to %s", written, items,
               file);
        if (unlabeled)
            printf(" (%lld judged items without labels left out)", unlabeled);
        putchar('\n');
    }
    rc = NH_EXIT_OK;
out:
    if (f) {
        fclose(f);
        unlink(strbuf_str(&tmp));
    } else if (rc != NH_EXIT_OK && tmp.len) {
        unlink(strbuf_str(&tmp));
    }
    cJSON_Delete(out);
    cJSON_Delete(a);
    cJSON_Delete(res);
    client_free(c);
    strbuf_release(&tmp);
    strbuf_release(&line);
    return rc;
}

int
cmd_review_export(struct cmd_ctx *ctx)
{
    const char *format = cmd_opt(ctx, "format");
    enum export_format fmt = EXPORT_ITEMS;
    int64_t id;

    if (!parse_id(ctx->argv[0], &id))
        return cmd_usage(ctx, "ID is a campaign number");
    if (!strcmp(kind_of(ctx), "label")) {
        if (!format || !strcmp(format, "fasttext"))
            fmt = EXPORT_FASTTEXT;
        else if (!strcmp(format, "jsonl"))
            fmt = EXPORT_JSONL;
        else
            return cmd_usage(ctx, "FORMAT is fasttext or jsonl");
    }
    return do_export(ctx, id, ctx->argv[1], fmt);
}
