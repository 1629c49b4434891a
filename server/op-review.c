/* op-review.c - review and labeling campaigns (docs/REVIEW.md)
 *
 * review.create draws the sample (sample.h) and stores the campaign and
 * its items in one transaction. review.next leases an item in one
 * BEGIN IMMEDIATE transaction, so two reviewers never get the same
 * single-rater item. review.submit is idempotent on (user, request_id)
 * and supersedes the reviewer's earlier judgment of the item (history is
 * kept). Statistics (rstats.h) are computed from the current judgments;
 * after a judgment the op asks net.c for a refresh (res->refresh), which
 * coalesces refreshes per campaign and pushes them as "review.stats"
 * events on "review/ID".
 */
#include "ops.h"
#include "review.h"

#include "hash.h"
#include "jobs.h"
#include "log.h"
#include "ref.h"
#include "rstats.h"
#include "sample.h"
#include "sql.h"
#include "strbuf.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LABELS_MAX 26
#define LABEL_LEN_MAX 32
#define NOTE_MAX 4096
#define ITEMS_PAGE_MAX 1000

static const char *const default_labels[] = {
    "spam",     "ad",        "sensitive", "low_quality",
    "pii_leak", "duplicate", "garbled"};

/* ---- arguments -------------------------------------------------------- */

static int
arg_num(const cJSON *args, const char *key, double lo, double hi, double def,
        double *out, struct nh_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);

    if (!v) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return nh_errorf(err, NH_EINVAL,
                         "'args.%s' must be a number in "
                         "[%g, %g]",
                         key, lo, hi);
    *out = v->valuedouble;
    return 0;
}

static const char *
arg_str(const cJSON *args, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(args, key));
}

/* ---- campaigns -------------------------------------------------------- */

struct campaign {
    int64_t id;
    char kind[8], design[12]; /* whether it is open: still_open() */
    double threshold;
    int64_t lease_seconds;
    cJSON *labels; /* array of strings */
    cJSON *strata; /* [{"stratum","N","n"}] */
};

static void
campaign_release(struct campaign *c)
{
    cJSON_Delete(c->labels);
    cJSON_Delete(c->strata);
    memset(c, 0, sizeof(*c));
}

static int
campaign_load(struct store *s, int64_t id, struct campaign *c,
              struct nh_error *err)
{
    sqlite3 *db = store_db(s);
    sqlite3_stmt *st = NULL;
    int rc, src;

    memset(c, 0, sizeof(*c));
    rc = store_stmt(s,
                    "SELECT kind, design, threshold, lease_seconds,"
                    " labels, strata FROM campaigns WHERE id = ?1",
                    &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        c->id = id;
        snprintf(c->kind, sizeof(c->kind), "%s", sqlite3_column_text(st, 0));
        snprintf(c->design, sizeof(c->design), "%s",
                 sqlite3_column_text(st, 1));
        c->threshold = sqlite3_column_double(st, 2);
        c->lease_seconds = sqlite3_column_int64(st, 3);
        c->labels = cJSON_Parse((const char *)sqlite3_column_text(st, 4));
        c->strata = cJSON_Parse((const char *)sqlite3_column_text(st, 5));
        if (!cJSON_IsArray(c->labels) || !cJSON_IsArray(c->strata))
            rc = nh_errorf(err, NH_ECORRUPT, "campaign %lld is damaged",
                           (long long)id);
    } else if (src == SQLITE_DONE) {
        rc = nh_errorf(err, NH_ENOENT, "no campaign %lld", (long long)id);
    } else {
        rc = sql_fail(db, err, "cannot read campaign");
    }
    store_stmt_done(st);
    if (rc < 0)
        campaign_release(c);
    return rc;
}

static int stats_compute(sqlite3 *db, const struct campaign *c, cJSON **out,
                         struct nh_error *err);

int
review_of_version(sqlite3 *db, const char *version, cJSON **out,
                  struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    struct campaign c = {0};
    cJSON *o = NULL, *stats = NULL;
    int rc, src;

    *out = NULL;
    rc = sql_prepare(db,
                     "SELECT c.id, c.kind, c.design, c.threshold,"
                     " c.lease_seconds, c.labels, c.strata, c.state"
                     " FROM versions v JOIN jobs j ON j.id = v.job_id"
                     " JOIN campaigns c ON c.id = j.campaign"
                     " WHERE v.id = ?1",
                     &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, version, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_DONE)
        goto out;
    if (src != SQLITE_ROW) {
        rc = sql_fail(db, err, "cannot read campaign");
        goto out;
    }
    c.id = sqlite3_column_int64(st, 0);
    snprintf(c.kind, sizeof(c.kind), "%s", sqlite3_column_text(st, 1));
    snprintf(c.design, sizeof(c.design), "%s", sqlite3_column_text(st, 2));
    c.threshold = sqlite3_column_double(st, 3);
    c.lease_seconds = sqlite3_column_int64(st, 4);
    c.labels = cJSON_Parse((const char *)sqlite3_column_text(st, 5));
    c.strata = cJSON_Parse((const char *)sqlite3_column_text(st, 6));
    if (!cJSON_IsArray(c.labels) || !cJSON_IsArray(c.strata)) {
        rc = nh_errorf(err, NH_ECORRUPT, "campaign %lld is damaged",
                       (long long)c.id);
        goto out;
    }
    if (!(o = cJSON_CreateObject()) ||
        !cJSON_AddNumberToObject(o, "campaign", (double)c.id) ||
        !sql_add_column(o, "state", st, 7)) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = stats_compute(db, &c, &stats, err)) < 0)
        goto out;
    if (!cJSON_AddItemToObject(o, "stats", stats)) {
        cJSON_Delete(stats);
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    *out = o;
    o = NULL;
out:
    sqlite3_finalize(st);
    campaign_release(&c);
    cJSON_Delete(o);
    return rc;
}

/* Inside a write transaction: is campaign id still open? (A close may
 * have come after campaign_load.) NH_ECONFLICT when it is not. */
static int
still_open(struct store *s, int64_t id, struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc =
        store_stmt(s, "SELECT state FROM campaigns WHERE id = ?1", &st, err);

    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW ||
        strcmp((const char *)sqlite3_column_text(st, 0), "open"))
        rc = nh_errorf(err, NH_ECONFLICT, "campaign %lld is closed",
                       (long long)id);
    store_stmt_done(st);
    return rc;
}

/* The campaign summary of docs/REVIEW.md. */
static int
campaign_summary(sqlite3 *db, int64_t id, cJSON **out, struct nh_error *err)
{
    static const char sql[] =
        "SELECT id, kind, name, dataset, version, design, strata_field,"
        " allocation, size, population, seed, overlap, raters, labels,"
        " threshold, lease_seconds, state, created, user,"
        " (SELECT count(*) FROM review_items i WHERE i.campaign_id = c.id"
        "  AND i.judged >= i.need), audit_job, audit_stage, audit_reason"
        " FROM campaigns c WHERE id = ?1";
    static const char *const keys[] = {
        "campaign",      "kind",    "name",       "dataset", "version",
        "design",        "strata",  "allocation", "size",    "population",
        "seed",          "overlap", "raters",     NULL,      "threshold",
        "lease_seconds", "state",   "created",    "user",    "complete"};
    sqlite3_stmt *st = NULL;
    cJSON *o = NULL;
    int rc, src;
    bool ok = true;

    rc = sql_prepare(db, sql, &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        rc = src == SQLITE_DONE
                 ? nh_errorf(err, NH_ENOENT, "no campaign %lld", (long long)id)
                 : sql_fail(db, err, "cannot read campaign");
        goto out;
    }
    o = cJSON_CreateObject();
    for (int i = 0; o && ok && i < (int)(sizeof(keys) / sizeof(keys[0])); i++)
        ok = keys[i] ? sql_add_column(o, keys[i], st, i)
                     : sql_add_json_column(o, "labels", st, i);
    if (o && ok && sqlite3_column_type(st, 20) != SQLITE_NULL) {
        cJSON *audit = cJSON_AddObjectToObject(o, "audit");

        ok = audit && sql_add_column(audit, "job", st, 20) &&
             sql_add_column(audit, "stage", st, 21) &&
             sql_add_column(audit, "reason", st, 22);
    } else if (o && ok) {
        ok = cJSON_AddNullToObject(o, "audit") != NULL;
    }
    if (!o || !ok) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    *out = o;
    o = NULL;
out:
    cJSON_Delete(o);
    sqlite3_finalize(st);
    return rc;
}

/* ---- statistics ------------------------------------------------------- */

struct item_tally {
    int64_t seq;
    const char *stratum;
    unsigned acc, rej, raters; /* non-skip current verdicts */
    int first, second;         /* slot A and B verdicts: 0 acc, 1 rej, -1 */
    unsigned *label;           /* per label: raters who gave it */
    unsigned labelled;         /* raters (label campaigns: every judgment) */
};

struct reviewer {
    char *user;
    uint64_t n;
    double first, last;
};

static int
label_index(const cJSON *labels, const char *name)
{
    int i = 0;
    const cJSON *l;

    cJSON_ArrayForEach(l, labels)
    {
        if (cJSON_IsString(l) && !strcmp(l->valuestring, name))
            return i;
        i++;
    }
    return -1;
}

static bool
add_num_or_null(cJSON *o, const char *key, double v)
{
    return isfinite(v) ? cJSON_AddNumberToObject(o, key, v) != NULL
                       : cJSON_AddNullToObject(o, key) != NULL;
}

/* kappa over items with >= 2 ratings: Cohen when every such item has
 * exactly two (slot A = the earlier judgment), else Fleiss. present[i]
 * and total[i] give, per item, ratings in category 1 and all ratings;
 * for Cohen, a[i]/b[i] are the two slots. */
static int
kappa_of(const struct item_tally *t, size_t n, int label, cJSON *o,
         struct nh_error *err)
{
    uint64_t *counts = calloc(2 * n + 2, sizeof(*counts));
    unsigned *a = calloc(n + 1, sizeof(*a)), *b = calloc(n + 1, sizeof(*b));
    size_t m = 0, pairs = 0;
    bool all_two = true;
    double kappa = NAN;
    const char *method = "fleiss";
    int rc = 0;

    if (!counts || !a || !b) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned tot = label < 0 ? t[i].raters : t[i].labelled;
        unsigned yes = label < 0 ? t[i].rej : t[i].label[label];

        if (tot < 2)
            continue;
        counts[2 * m] = tot - yes;
        counts[2 * m + 1] = yes;
        m++;
        if (tot != 2)
            all_two = false;
        if (label < 0 && t[i].first >= 0 && t[i].second >= 0) {
            a[pairs] = (unsigned)t[i].first;
            b[pairs] = (unsigned)t[i].second;
            pairs++;
        }
    }
    if (m >= 2) {
        if (label < 0 && all_two && pairs == m) {
            method = "cohen";
            rc = rstats_cohen(a, b, pairs, 2, &kappa);
        } else {
            rc = rstats_fleiss(counts, m, 2, &kappa);
        }
        if (rc < 0) {
            rc = nh_errorf(err, rc, "cannot compute kappa");
            goto out;
        }
    }
    if (!cJSON_AddStringToObject(o, "method", method) ||
        !add_num_or_null(o, "value", kappa) ||
        !cJSON_AddNumberToObject(o, "items", (double)m))
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
out:
    free(counts);
    free(a);
    free(b);
    return rc;
}

/* The statistics object of campaign c, from its current judgments. */
static int
stats_compute(sqlite3 *db, const struct campaign *c, cJSON **out,
              struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    struct item_tally *t = NULL;
    struct reviewer *rv = NULL;
    size_t nt = 0, capt = 0, nrv = 0,
           nl = (size_t)cJSON_GetArraySize(c->labels);
    uint64_t judgments = 0, skipped = 0, acc = 0, rej = 0, items = 0,
             complete = 0;
    cJSON *o = NULL, *arr, *k;
    double lo, hi, z = rstats_z(0.95);
    int rc = 0, src;
    char **strings = NULL;
    size_t nstrings = 0;

    rc = sql_prepare(db,
                     "SELECT count(*), count(*) FILTER (WHERE judged >= need)"
                     " FROM review_items WHERE campaign_id = ?1",
                     &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, c->id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        items = (uint64_t)sqlite3_column_int64(st, 0);
        complete = (uint64_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    st = NULL;
    rc = sql_prepare(db,
                     "SELECT j.seq, j.user, j.verdict, j.labels, j.created,"
                     " i.stratum FROM judgments j JOIN review_items i"
                     " ON i.campaign_id = j.campaign_id AND i.seq = j.seq"
                     " WHERE j.campaign_id = ?1 AND j.superseded IS NULL"
                     " ORDER BY j.seq, j.id",
                     &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, c->id);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0);
        const char *user = (const char *)sqlite3_column_text(st, 1);
        const char *verdict = (const char *)sqlite3_column_text(st, 2);
        const char *labels = (const char *)sqlite3_column_text(st, 3);
        const char *stratum = (const char *)sqlite3_column_text(st, 5);
        double when = sqlite3_column_double(st, 4);
        struct item_tally *it;
        size_t r;

        judgments++;
        for (r = 0; r < nrv && strcmp(rv[r].user, user); r++)
            ;
        if (r == nrv) {
            struct reviewer *g = realloc(rv, (nrv + 1) * sizeof(*g));

            if (!g || !(g[nrv].user = strdup(user))) {
                rv = g ? g : rv;
                rc = nh_errorf(err, NH_ENOMEM, "out of memory");
                goto out;
            }
            rv = g;
            rv[nrv].n = 0;
            rv[nrv].first = rv[nrv].last = when;
            nrv++;
        }
        rv[r].n++;
        if (when < rv[r].first)
            rv[r].first = when;
        if (when > rv[r].last)
            rv[r].last = when;
        if (verdict && !strcmp(verdict, "skip")) {
            skipped++;
            continue;
        }
        if (!nt || t[nt - 1].seq != seq) {
            if (nt == capt) {
                size_t nc = capt ? 2 * capt : 256;
                struct item_tally *g = realloc(t, nc * sizeof(*g));

                if (!g) {
                    rc = nh_errorf(err, NH_ENOMEM, "out of memory");
                    goto out;
                }
                t = g;
                capt = nc;
            }
            it = &t[nt++];
            memset(it, 0, sizeof(*it));
            it->seq = seq;
            it->first = it->second = -1;
            it->label = calloc(nl + 1, sizeof(*it->label));
            if (stratum) {
                char **g = realloc(strings, (nstrings + 1) * sizeof(*g));

                if (g)
                    strings = g;
                if (!g || !(strings[nstrings] = strdup(stratum))) {
                    free(it->label);
                    nt--;
                    rc = nh_errorf(err, NH_ENOMEM, "out of memory");
                    goto out;
                }
                it->stratum = strings[nstrings++];
            }
            if (!it->label) {
                nt--;
                rc = nh_errorf(err, NH_ENOMEM, "out of memory");
                goto out;
            }
        }
        it = &t[nt - 1];
        if (verdict) {
            int v = !strcmp(verdict, "accept") ? 0 : 1;

            if (v == 0)
                it->acc++;
            else
                it->rej++;
            it->raters++;
            if (it->first < 0)
                it->first = v;
            else if (it->second < 0)
                it->second = v;
        }
        it->labelled++;
        {
            cJSON *ls = cJSON_Parse(labels ? labels : "[]");
            const cJSON *l;

            cJSON_ArrayForEach(l, ls)
            {
                int li = cJSON_IsString(l)
                             ? label_index(c->labels, l->valuestring)
                             : -1;

                if (li >= 0)
                    it->label[li]++;
            }
            cJSON_Delete(ls);
        }
    }
    if (src != SQLITE_DONE) {
        rc = sql_fail(db, err, "cannot read judgments");
        goto out;
    }
    o = cJSON_CreateObject();
    if (!o) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nt; i++) {
        enum rstats_verdict v = rstats_majority(t[i].acc, t[i].rej);

        acc += v == RSTATS_ACCEPT;
        rej += v == RSTATS_REJECT;
    }
    rstats_wilson(acc, acc + rej, z, &lo, &hi);
    if (!cJSON_AddNumberToObject(o, "campaign", (double)c->id) ||
        !cJSON_AddNumberToObject(o, "items", (double)items) ||
        !cJSON_AddNumberToObject(o, "complete", (double)complete) ||
        !cJSON_AddNumberToObject(o, "judgments", (double)judgments) ||
        !cJSON_AddNumberToObject(o, "skipped", (double)skipped) ||
        !cJSON_AddNumberToObject(o, "accepted", (double)acc) ||
        !cJSON_AddNumberToObject(o, "rejected", (double)rej) ||
        !add_num_or_null(o, "pass_rate",
                         acc + rej ? (double)acc / (double)(acc + rej) : NAN) ||
        !add_num_or_null(o, "ci_low", acc + rej ? lo : NAN) ||
        !add_num_or_null(o, "ci_high", acc + rej ? hi : NAN) ||
        !add_num_or_null(o, "upper_3n",
                         acc && !rej ? rstats_rule_of_three(acc) : NAN) ||
        !cJSON_AddNumberToObject(o, "threshold", c->threshold)) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    /* stratified estimate */
    if (cJSON_GetArraySize(c->strata) > 1 || !strcmp(c->design, "stratified")) {
        size_t ks = (size_t)cJSON_GetArraySize(c->strata), h = 0;
        struct rstats_stratum *ss = calloc(ks + 1, sizeof(*ss));
        struct rstats_estimate est;
        cJSON *so = cJSON_AddObjectToObject(o, "stratified");
        cJSON *sa = cJSON_AddArrayToObject(so, "strata");
        const cJSON *s;

        if (!ss || !sa) {
            free(ss);
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            goto out;
        }
        cJSON_ArrayForEach(s, c->strata)
        {
            const char *name = arg_str(s, "stratum");
            cJSON *e = cJSON_CreateObject();

            ss[h].N = (uint64_t)cJSON_GetNumberValue(
                cJSON_GetObjectItemCaseSensitive(s, "N"));
            for (size_t i = 0; i < nt; i++) {
                enum rstats_verdict v;

                if (!name || !t[i].stratum || strcmp(name, t[i].stratum))
                    continue;
                v = rstats_majority(t[i].acc, t[i].rej);
                ss[h].n += v != RSTATS_NONE;
                ss[h].accepted += v == RSTATS_ACCEPT;
            }
            if (!e ||
                !cJSON_AddStringToObject(e, "stratum", name ? name : "") ||
                !cJSON_AddNumberToObject(e, "N", (double)ss[h].N) ||
                !cJSON_AddItemToObject(
                    e, "n",
                    cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(s, "n"),
                                    1)) ||
                !cJSON_AddNumberToObject(e, "judged", (double)ss[h].n) ||
                !cJSON_AddNumberToObject(e, "accepted",
                                         (double)ss[h].accepted) ||
                !add_num_or_null(
                    e, "pass_rate",
                    ss[h].n ? (double)ss[h].accepted / (double)ss[h].n : NAN) ||
                !cJSON_AddItemToArray(sa, e)) {
                cJSON_Delete(e);
                free(ss);
                rc = nh_errorf(err, NH_ENOMEM, "out of memory");
                goto out;
            }
            h++;
        }
        memset(&est, 0, sizeof(est));
        rc = rstats_stratified(ss, h, z, &est);
        free(ss);
        if (rc < 0) {
            rc = nh_errorf(err, rc, "cannot compute the stratified estimate");
            goto out;
        }
        if (!add_num_or_null(so, "estimate", est.p) ||
            !add_num_or_null(so, "ci_low", isfinite(est.p) ? est.lo : NAN) ||
            !add_num_or_null(so, "ci_high", isfinite(est.p) ? est.hi : NAN)) {
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            goto out;
        }
    } else if (!cJSON_AddNullToObject(o, "stratified")) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    /* labels */
    arr = cJSON_AddArrayToObject(o, "labels");
    for (size_t li = 0; arr && li < nl; li++) {
        cJSON *e = cJSON_CreateObject(), *kk;
        uint64_t carrying = 0, judged = 0;

        for (size_t i = 0; i < nt; i++) {
            if (!t[i].labelled)
                continue;
            judged++;
            /* carried when at least half its raters gave it */
            carrying += 2 * t[i].label[li] >= t[i].labelled;
        }
        rstats_wilson(carrying, judged, z, &lo, &hi);
        kk = cJSON_CreateObject();
        if (!e || !kk ||
            !cJSON_AddStringToObject(
                e, "label",
                cJSON_GetArrayItem(c->labels, (int)li)->valuestring) ||
            !cJSON_AddNumberToObject(e, "items", (double)carrying) ||
            !add_num_or_null(
                e, "rate", judged ? (double)carrying / (double)judged : NAN) ||
            !add_num_or_null(e, "ci_low", judged ? lo : NAN) ||
            !add_num_or_null(e, "ci_high", judged ? hi : NAN) ||
            kappa_of(t, nt, (int)li, kk, err) < 0 ||
            !cJSON_AddItemToObject(e, "kappa", kk) ||
            !cJSON_AddItemToArray(arr, e)) {
            cJSON_Delete(e);
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            goto out;
        }
    }
    k = cJSON_AddObjectToObject(o, "kappa");
    if (!arr || !k || (rc = kappa_of(t, nt, -1, k, err)) < 0) {
        rc = rc < 0 ? rc : nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    arr = cJSON_AddArrayToObject(o, "reviewers");
    for (size_t r = 0; arr && r < nrv; r++) {
        cJSON *e = cJSON_CreateObject();
        double span = rv[r].last - rv[r].first;

        if (!e || !cJSON_AddStringToObject(e, "user", rv[r].user) ||
            !cJSON_AddNumberToObject(e, "judgments", (double)rv[r].n) ||
            !add_num_or_null(e, "per_hour",
                             rv[r].n > 1 && span > 0
                                 ? (double)(rv[r].n - 1) * 3600.0 / span
                                 : NAN) ||
            !cJSON_AddItemToArray(arr, e)) {
            cJSON_Delete(e);
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (!arr ||
        !cJSON_AddStringToObject(
            o, "decision",
            strcmp(c->kind, "review") || !(acc + rej)
                ? "continue"
                : rstats_decision(
                      cJSON_GetNumberValue(
                          cJSON_GetObjectItemCaseSensitive(o, "ci_low")),
                      cJSON_GetNumberValue(
                          cJSON_GetObjectItemCaseSensitive(o, "ci_high")),
                      c->threshold))) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    *out = o;
    o = NULL;
out:
    sqlite3_finalize(st);
    cJSON_Delete(o);
    for (size_t i = 0; i < nt; i++)
        free(t[i].label);
    free(t);
    for (size_t r = 0; r < nrv; r++)
        free(rv[r].user);
    free(rv);
    for (size_t i = 0; i < nstrings; i++)
        free(strings[i]);
    free(strings);
    return rc;
}

/* ---- create ----------------------------------------------------------- */

struct prior_table {
    char **name;
    double *p;
    size_t n;
};

static double
prior_lookup(const char *stratum, void *arg)
{
    const struct prior_table *pt = arg;

    for (size_t i = 0; i < pt->n; i++)
        if (!strcmp(pt->name[i], stratum))
            return pt->p[i];
    return 0.5;
}

/* Per-stratum pass rates of the newest closed campaign on dataset with
 * the same strata field: Neyman's prior. */
static void
prior_load(sqlite3 *db, const char *dataset, const char *field,
           struct prior_table *pt)
{
    sqlite3_stmt *st = NULL;

    memset(pt, 0, sizeof(*pt));
    if (sqlite3_prepare_v2(
            db,
            "SELECT i.stratum, count(*) FILTER (WHERE j.verdict = 'accept'),"
            " count(*) FILTER (WHERE j.verdict = 'reject')"
            " FROM judgments j JOIN review_items i ON i.campaign_id ="
            " j.campaign_id AND i.seq = j.seq WHERE j.superseded IS NULL"
            " AND j.campaign_id = (SELECT max(id) FROM campaigns WHERE"
            " dataset = ?1 AND strata_field = ?2 AND state = 'closed')"
            " GROUP BY i.stratum",
            -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(st, 1, dataset, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, field, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        double a = (double)sqlite3_column_int64(st, 1);
        double r = (double)sqlite3_column_int64(st, 2);
        char **gn = realloc(pt->name, (pt->n + 1) * sizeof(*gn));
        double *gp = realloc(pt->p, (pt->n + 1) * sizeof(*gp));

        if (gn)
            pt->name = gn;
        if (gp)
            pt->p = gp;
        if (!gn || !gp || !sqlite3_column_text(st, 0) ||
            !(pt->name[pt->n] =
                  strdup((const char *)sqlite3_column_text(st, 0))))
            break;
        /* a little smoothing keeps S_h above 0 for a clean stratum */
        pt->p[pt->n++] = (a + 1) / (a + r + 2);
    }
    sqlite3_finalize(st);
}

static void
prior_release(struct prior_table *pt)
{
    for (size_t i = 0; i < pt->n; i++)
        free(pt->name[i]);
    free(pt->name);
    free(pt->p);
}

/* The objects to sample: a version's shards, or a job's removed ones. */
static int
load_objects(sqlite3 *db, const char *version, const char *removed, char ***out,
             size_t *nout, struct nh_error *err)
{
    char **v = NULL;
    size_t n = 0;
    int rc = 0;

    if (removed) {
        cJSON *arr = cJSON_Parse(removed);
        const cJSON *e;

        v = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*v));
        if (!v)
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        cJSON_ArrayForEach(e, arr)
        {
            const char *h = arg_str(e, "object");

            if (rc == 0 && h && !(v[n++] = strdup(h)))
                rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        }
        cJSON_Delete(arr);
    } else {
        sqlite3_stmt *st = NULL;

        rc = sql_prepare(db,
                         "SELECT object FROM version_shards"
                         " WHERE version_id = ?1 ORDER BY seq",
                         &st, err);
        if (rc == 0)
            sqlite3_bind_text(st, 1, version, -1, SQLITE_STATIC);
        while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
            char **g = realloc(v, (n + 2) * sizeof(*g));

            if (!g ||
                !(g[n] = strdup((const char *)sqlite3_column_text(st, 0)))) {
                v = g ? g : v;
                rc = nh_errorf(err, NH_ENOMEM, "out of memory");
                break;
            }
            v = g;
            v[++n] = NULL;
        }
        sqlite3_finalize(st);
    }
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            free(v[i]);
        free(v);
        return rc;
    }
    *out = v;
    *nout = n;
    return 0;
}

static cJSON *
labels_arg(const cJSON *args, struct nh_error *err)
{
    const cJSON *ls = cJSON_GetObjectItemCaseSensitive(args, "labels"), *l;
    cJSON *out;

    if (!ls) {
        out = cJSON_CreateStringArray(
            default_labels,
            (int)(sizeof(default_labels) / sizeof(default_labels[0])));
        if (!out)
            nh_errorf(err, NH_ENOMEM, "out of memory");
        return out;
    }
    if (!cJSON_IsArray(ls) || cJSON_GetArraySize(ls) > LABELS_MAX) {
        nh_errorf(err, NH_EINVAL, "'args.labels' must be a list of at most %d",
                  LABELS_MAX);
        return NULL;
    }
    cJSON_ArrayForEach(l, ls)
    {
        const char *s = cJSON_GetStringValue(l);
        size_t len = s ? strlen(s) : 0;
        bool ok = len >= 1 && len <= LABEL_LEN_MAX;

        for (size_t i = 0; ok && i < len; i++)
            ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
                 s[i] == '_' || s[i] == '-';
        if (!ok) {
            nh_errorf(err, NH_EINVAL,
                      "bad label in 'args.labels': 1-%d of [a-z0-9_-]",
                      LABEL_LEN_MAX);
            return NULL;
        }
    }
    out = cJSON_Duplicate(ls, 1);
    if (!out)
        nh_errorf(err, NH_ENOMEM, "out of memory");
    return out;
}

struct create_args {
    const char *kind, *name, *strata;
    int64_t seed, raters, lease, size, audit_job;
    double margin, confidence, overlap, threshold;
    bool neyman;
    const char *stage, *reason;
    cJSON *labels;
};

static int
create_args(const cJSON *a, struct create_args *c, struct nh_error *err)
{
    const cJSON *audit = cJSON_GetObjectItemCaseSensitive(a, "audit");
    const char *alloc = arg_str(a, "allocation");
    int rc;

    memset(c, 0, sizeof(*c));
    c->kind = arg_str(a, "kind") ? arg_str(a, "kind") : "review";
    c->name = arg_str(a, "name");
    c->strata = arg_str(a, "strata");
    if (strcmp(c->kind, "review") && strcmp(c->kind, "label"))
        return nh_errorf(err, NH_EINVAL,
                         "'args.kind' must be 'review' or 'label'");
    if (alloc && strcmp(alloc, "proportional") && strcmp(alloc, "neyman"))
        return nh_errorf(err, NH_EINVAL,
                         "'args.allocation' must be "
                         "'proportional' or 'neyman'");
    c->neyman = alloc && !strcmp(alloc, "neyman");
    if ((rc = ops_arg_int(a, "seed", 0, 9007199254740992.0, 0, &c->seed, err)) <
            0 ||
        (rc = ops_arg_int(a, "raters", 2, 10, 2, &c->raters, err)) < 0 ||
        (rc = ops_arg_int(a, "lease_seconds", 1, 86400, 600, &c->lease, err)) <
            0 ||
        (rc = ops_arg_int(a, "size", 1, SAMPLE_MAX_ITEMS, 0, &c->size, err)) <
            0 ||
        (rc = arg_num(a, "margin", 0.001, 0.5, 0.05, &c->margin, err)) < 0 ||
        (rc = arg_num(a, "confidence", 0.5, 0.9999, 0.95, &c->confidence,
                      err)) < 0 ||
        (rc = arg_num(a, "overlap", 0, 1, 0, &c->overlap, err)) < 0 ||
        (rc = arg_num(a, "threshold", 0, 1, 0.9, &c->threshold, err)) < 0)
        return rc;
    if (cJSON_GetObjectItemCaseSensitive(a, "size") &&
        cJSON_GetObjectItemCaseSensitive(a, "margin"))
        return nh_errorf(err, NH_EINVAL,
                         "give 'args.size' or 'args.margin', not both");
    if (c->name && (!*c->name || strlen(c->name) > 128))
        return nh_errorf(err, NH_EINVAL, "'args.name' must be 1-128 bytes");
    if (c->strata && (!*c->strata || strlen(c->strata) > 64))
        return nh_errorf(err, NH_EINVAL, "'args.strata' must name a field");
    if (audit) {
        if ((rc = ops_arg_id(audit, "job", &c->audit_job, err)) < 0)
            return nh_errorf(err, rc, "'args.audit.job' must be a job id");
        c->stage = arg_str(audit, "stage");
        c->reason = arg_str(audit, "reason");
        if (!c->stage || !*c->stage)
            return nh_errorf(err, NH_EINVAL,
                             "'args.audit.stage' must name a stage");
    }
    c->labels = labels_arg(a, err);
    return c->labels ? 0 : err->code;
}

/* Whether doc's "id" (a string, or a number as sample.c writes it) is id. */
static bool
doc_id_is(const cJSON *doc, const char *id)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "id");
    char num[32];

    if (cJSON_IsString(v))
        return !strcmp(v->valuestring, id);
    if (!cJSON_IsNumber(v))
        return false;
    snprintf(num, sizeof(num), "%.17g", v->valuedouble);
    return !strcmp(num, id);
}

/* Find the documents that audit items duplicate: a pass over the job's
 * output version looking for their ids. */
static int
find_duplicates(sqlite3 *db, const char *data_dir, const char *version,
                struct sample *s, char (*dup_obj)[OBJSTORE_HASH_LEN + 1],
                uint64_t *dup_off, uint64_t *dup_len, struct nh_error *err)
{
    char **objs = NULL;
    size_t nobj = 0, want = 0;
    int rc;

    for (size_t i = 0; i < s->nitems; i++)
        want += s->items[i].duplicate_of != NULL;
    if (!want || !version)
        return 0;
    if ((rc = load_objects(db, version, NULL, &objs, &nobj, err)) < 0)
        return rc;
    for (size_t o = 0; o < nobj && want; o++) {
        struct strbuf path;
        FILE *f;
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        uint64_t off = 0;

        strbuf_init(&path, 0);
        if (objstore_path(data_dir, objs[o], &path) < 0 ||
            !(f = fopen(strbuf_str(&path), "re"))) {
            strbuf_release(&path);
            continue;
        }
        while (want && (len = getline(&line, &cap, f)) > 0) {
            cJSON *doc = NULL;

            for (size_t i = 0; i < s->nitems; i++) {
                const char *id = s->items[i].duplicate_of;

                if (!id || dup_obj[i][0] || !strstr(line, id))
                    continue;
                if (!doc)
                    doc = cJSON_Parse(line);
                if (doc && doc_id_is(doc, id)) {
                    snprintf(dup_obj[i], OBJSTORE_HASH_LEN + 1, "%s", objs[o]);
                    dup_off[i] = off;
                    dup_len[i] = (uint64_t)len - (line[len - 1] == '\n');
                    want--;
                }
            }
            cJSON_Delete(doc);
            off += (uint64_t)len;
        }
        free(line);
        fclose(f);
        strbuf_release(&path);
    }
    for (size_t o = 0; o < nobj; o++)
        free(objs[o]);
    free(objs);
    return 0;
}

static int
insert_items(sqlite3 *db, int64_t cid, const struct sample *s,
             char *const *objects, const struct create_args *a,
             char (*dup_obj)[OBJSTORE_HASH_LEN + 1], const uint64_t *dup_off,
             const uint64_t *dup_len, struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sql_prepare(
        db,
        "INSERT INTO review_items (campaign_id, seq, doc_id, stratum, object,"
        " offset, length, need, removed_by, reason, duplicate_of, dup_object,"
        " dup_offset, dup_length) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
        " ?10, ?11, ?12, ?13, ?14)",
        &st, err);

    for (size_t i = 0; rc == 0 && i < s->nitems; i++) {
        const struct sample_item *it = &s->items[i];
        /* overlap: reproducibly from the key, but not from its value:
         * the sample is the smallest keys, so their top bits are all
         * near 0; a second hash of the key is uniform again */
        uint64_t u = nh_hash64_seed(&it->key, sizeof(it->key),
                                    0x6f7665726c6170ULL); /* "overlap" */
        bool over = (double)(u >> 11) / 9007199254740992.0 < a->overlap;

        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        sqlite3_bind_int64(st, 1, cid);
        sqlite3_bind_int64(st, 2, (int64_t)i);
        sqlite3_bind_text(st, 3, it->doc_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, it->stratum, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, objects[it->shard], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, (int64_t)it->offset);
        sqlite3_bind_int64(st, 7, (int64_t)it->length);
        sqlite3_bind_int64(st, 8, over ? a->raters : 1);
        sqlite3_bind_text(st, 9, it->removed_by, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 10, it->reason, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 11, it->duplicate_of, -1, SQLITE_STATIC);
        if (dup_obj && dup_obj[i][0]) {
            sqlite3_bind_text(st, 12, dup_obj[i], -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 13, (int64_t)dup_off[i]);
            sqlite3_bind_int64(st, 14, (int64_t)dup_len[i]);
        }
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sql_fail(db, err, "cannot store the sample");
    }
    sqlite3_finalize(st);
    return rc;
}

int
review_create(sqlite3 *db, const char *data_dir, const cJSON *args,
              const char *user, bool augmented_only, int64_t *out_cid,
              cJSON **out, struct nh_error *errp)
{
    struct create_args a;
    struct ref_version rv;
    struct sample_spec spec;
    struct sample smp;
    struct prior_table prior = {0};
    char **objects = NULL, *removed = NULL, *strata_text = NULL;
    char version[OBJSTORE_HASH_LEN + 1] = "", dataset[REF_DATASET_NAME_MAX + 1];
    char(*dup_obj)[OBJSTORE_HASH_LEN + 1] = NULL;
    uint64_t *dup_off = NULL, *dup_len = NULL;
    size_t nobj = 0;
    cJSON *result = NULL, *strata = NULL;
    char *labels_text = NULL;
    int64_t cid = 0;
    int rc;

    memset(&smp, 0, sizeof(smp));
    rc = create_args(args, &a, errp);
    if (rc < 0)
        goto out;
    if (a.audit_job) {
        sqlite3_stmt *st = NULL;

        rc = sql_prepare(db,
                         "SELECT state, removed, output, dataset FROM jobs"
                         " WHERE id = ?1",
                         &st, errp);
        if (rc == 0) {
            sqlite3_bind_int64(st, 1, a.audit_job);
            if (sqlite3_step(st) != SQLITE_ROW)
                rc = nh_errorf(errp, NH_ENOENT, "no job %lld",
                               (long long)a.audit_job);
            else if (strcmp((const char *)sqlite3_column_text(st, 0),
                            "succeeded") ||
                     !sqlite3_column_text(st, 1) || !sqlite3_column_text(st, 2))
                rc = nh_errorf(errp, NH_ECONFLICT,
                               "job %lld has not finished with an output",
                               (long long)a.audit_job);
            else {
                removed = strdup((const char *)sqlite3_column_text(st, 1));
                snprintf(version, sizeof(version), "%s",
                         sqlite3_column_text(st, 2));
                snprintf(dataset, sizeof(dataset), "%s",
                         sqlite3_column_text(st, 3));
                if (!removed)
                    rc = nh_errorf(errp, NH_ENOMEM, "out of memory");
            }
        }
        sqlite3_finalize(st);
    } else {
        const char *ref = arg_str(args, "ref");

        if (!ref)
            rc = nh_errorf(errp, NH_EINVAL, "'args.ref' must be a string");
        else if ((rc = ref_resolve(db, ref, &rv, errp)) == 0) {
            memcpy(version, rv.version, sizeof(version));
            snprintf(dataset, sizeof(dataset), "%s", rv.dataset);
        }
    }
    if (rc < 0 ||
        (rc = load_objects(db, version, removed, &objects, &nobj, errp)) < 0)
        goto out;
    if (a.neyman && a.strata)
        prior_load(db, dataset, a.strata, &prior);
    memset(&spec, 0, sizeof(spec));
    spec.seed = (uint64_t)a.seed;
    spec.n = (uint64_t)a.size;
    spec.margin = a.margin;
    spec.confidence = a.confidence;
    spec.strata = a.strata;
    spec.neyman = a.neyman;
    spec.prior = prior_lookup;
    spec.prior_arg = &prior;
    spec.removed_by = a.audit_job ? a.stage : NULL;
    spec.reason = a.audit_job ? a.reason : NULL;
    spec.augmented_only = augmented_only;
    rc = sample_draw(data_dir, (const char *const *)objects, nobj, &spec, &smp,
                     errp);
    if (rc < 0)
        goto out;
    if (smp.nitems == 0) {
        rc = nh_errorf(errp, NH_EINVAL,
                       "nothing to sample: the population "
                       "is empty");
        goto out;
    }
    if (a.audit_job) {
        dup_obj = calloc(smp.nitems, sizeof(*dup_obj));
        dup_off = calloc(smp.nitems, sizeof(*dup_off));
        dup_len = calloc(smp.nitems, sizeof(*dup_len));
        if (!dup_obj || !dup_off || !dup_len) {
            rc = nh_errorf(errp, NH_ENOMEM, "out of memory");
            goto out;
        }
        if ((rc = find_duplicates(db, data_dir, version, &smp, dup_obj, dup_off,
                                  dup_len, errp)) < 0)
            goto out;
    }
    strata = cJSON_CreateArray();
    for (size_t i = 0; strata && i < smp.nstrata; i++) {
        cJSON *e = cJSON_CreateObject();

        if (!e || !cJSON_AddStringToObject(e, "stratum", smp.strata[i].name) ||
            !cJSON_AddNumberToObject(e, "N", (double)smp.strata[i].N) ||
            !cJSON_AddNumberToObject(e, "n", (double)smp.strata[i].n) ||
            !cJSON_AddItemToArray(strata, e)) {
            cJSON_Delete(e);
            rc = nh_errorf(errp, NH_ENOMEM, "out of memory");
            goto out;
        }
    }
    strata_text = strata ? cJSON_PrintUnformatted(strata) : NULL;
    labels_text = cJSON_PrintUnformatted(a.labels);
    if (!strata_text || !labels_text) {
        rc = nh_errorf(errp, NH_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = sql_exec(db, "BEGIN IMMEDIATE", errp)) < 0)
        goto out;
    {
        sqlite3_stmt *st = NULL;
        char name[160];

        snprintf(name, sizeof(name), "%s", a.name ? a.name : dataset);
        rc = sql_prepare(
            db,
            "INSERT INTO campaigns (kind, name, dataset, version, design,"
            " strata_field, allocation, audit_job, audit_stage, audit_reason,"
            " seed, size, population, overlap, raters, labels, threshold,"
            " lease_seconds, strata, user) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
            " ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,"
            " ?20)",
            &st, errp);
        if (rc == 0) {
            sqlite3_bind_text(st, 1, a.kind, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, dataset, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, version, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 5,
                              a.audit_job ? "audit"
                              : a.strata  ? "stratified"
                                          : "random",
                              -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 6, a.strata, -1, SQLITE_STATIC);
            if (a.strata)
                sqlite3_bind_text(st, 7, a.neyman ? "neyman" : "proportional",
                                  -1, SQLITE_STATIC);
            if (a.audit_job) {
                sqlite3_bind_int64(st, 8, a.audit_job);
                sqlite3_bind_text(st, 9, a.stage, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 10, a.reason, -1, SQLITE_STATIC);
            }
            sqlite3_bind_int64(st, 11, a.seed);
            sqlite3_bind_int64(st, 12, (int64_t)smp.nitems);
            sqlite3_bind_int64(st, 13, (int64_t)smp.population);
            sqlite3_bind_double(st, 14, a.overlap);
            sqlite3_bind_int64(st, 15, a.raters);
            sqlite3_bind_text(st, 16, labels_text, -1, SQLITE_STATIC);
            sqlite3_bind_double(st, 17, a.threshold);
            sqlite3_bind_int64(st, 18, a.lease);
            sqlite3_bind_text(st, 19, strata_text, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 20, user, -1, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE)
                rc = sql_fail(db, errp, "cannot store the campaign");
            cid = sqlite3_last_insert_rowid(db);
        }
        sqlite3_finalize(st);
    }
    if (rc == 0)
        rc = insert_items(db, cid, &smp, objects, &a, dup_obj, dup_off, dup_len,
                          errp);
    if (rc == 0)
        rc = sql_exec(db, "COMMIT", errp);
    if (rc < 0) {
        sql_rollback(db);
        goto out;
    }
    rc = campaign_summary(db, cid, &result, errp);
    if (rc == 0) {
        *out_cid = cid;
        *out = result;
        result = NULL;
    }
out:
    sample_release(&smp);
    prior_release(&prior);
    for (size_t i = 0; i < nobj; i++)
        free(objects[i]);
    free(objects);
    free(removed);
    free(dup_obj);
    free(dup_off);
    free(dup_len);
    free(strata_text);
    free(labels_text);
    cJSON_Delete(strata);
    cJSON_Delete(a.labels);
    cJSON_Delete(result);
    return rc;
}

void
op_review_create(struct store *s, const struct dbq_job *job,
                 struct dbq_result *res)
{
    struct nh_error err = {0};
    cJSON *result = NULL;
    int64_t cid = 0;
    int rc = review_create(store_db(s), job->data_dir, job->args, job->user,
                           false, &cid, &result, &err);

    ops_reply(job, res, rc, result, &err);
}

/* ---- list, get, close ------------------------------------------------- */

void
op_review_list(struct store *s, const struct dbq_job *job,
               struct dbq_result *res)
{
    sqlite3 *db = store_db(s);
    const char *kind = arg_str(job->args, "kind");
    struct nh_error err = {0};
    sqlite3_stmt *st = NULL;
    cJSON *result = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(result, "campaigns");
    int rc = arr ? 0 : nh_errorf(&err, NH_ENOMEM, "out of memory");

    if (rc == 0)
        rc = sql_prepare(db,
                         "SELECT id FROM campaigns WHERE ?1 IS NULL OR kind ="
                         " ?1 ORDER BY id DESC",
                         &st, &err);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
            cJSON *one = NULL;

            rc = campaign_summary(db, sqlite3_column_int64(st, 0), &one, &err);
            if (rc == 0)
                cJSON_AddItemToArray(arr, one);
        }
    }
    sqlite3_finalize(st);
    ops_reply(job, res, rc, result, &err);
}

void
op_review_get(struct store *s, const struct dbq_job *job,
              struct dbq_result *res)
{
    sqlite3 *db = store_db(s);
    struct nh_error err = {0};
    struct campaign c = {0};
    cJSON *result = NULL, *stats = NULL;
    int64_t id;
    int rc;

    if ((rc = ops_arg_id(job->args, "campaign", &id, &err)) == 0 &&
        (rc = campaign_load(s, id, &c, &err)) == 0 &&
        (rc = campaign_summary(db, id, &result, &err)) == 0 &&
        (rc = stats_compute(db, &c, &stats, &err)) == 0 &&
        !cJSON_AddItemToObject(result, "stats", stats)) {
        cJSON_Delete(stats);
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
    }
    campaign_release(&c);
    ops_reply(job, res, rc, result, &err);
}

void
op_review_stats(struct store *s, const struct dbq_job *job,
                struct dbq_result *res)
{
    sqlite3 *db = store_db(s);
    struct nh_error err = {0};
    struct campaign c = {0};
    cJSON *stats = NULL;
    int64_t id;
    int rc;

    if ((rc = ops_arg_id(job->args, "campaign", &id, &err)) == 0 &&
        (rc = campaign_load(s, id, &c, &err)) == 0)
        rc = stats_compute(db, &c, &stats, &err);
    campaign_release(&c);
    ops_reply(job, res, rc, stats, &err);
}

void
op_review_close(struct store *s, const struct dbq_job *job,
                struct dbq_result *res)
{
    sqlite3 *db = store_db(s);
    struct nh_error err = {0};
    sqlite3_stmt *st = NULL;
    cJSON *result = NULL;
    int64_t id;
    int rc;

    if ((rc = ops_arg_id(job->args, "campaign", &id, &err)) < 0 ||
        (rc = sql_prepare(db,
                          "UPDATE campaigns SET state = 'closed' WHERE id"
                          " = ?1",
                          &st, &err)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = sql_fail(db, &err, "cannot close the campaign");
    else if (sqlite3_changes(db) == 0)
        rc = nh_errorf(&err, NH_ENOENT, "no campaign %lld", (long long)id);
    else
        rc = campaign_summary(db, id, &result, &err);
out:
    sqlite3_finalize(st);
    ops_reply(job, res, rc, result, &err);
}

/* ---- items ------------------------------------------------------------ */

/* The item JSON for a reviewer: the document, stratum, lease, audit
 * details and the reviewer's own current judgment (never others'). */
static int
item_json(struct store *s, const char *data_dir, int64_t cid, int64_t seq,
          const char *user, int64_t expires, cJSON **out, struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    cJSON *o = NULL, *doc = NULL, *dupdoc = NULL;
    char *line = NULL, *dup = NULL;
    int rc;

    rc = store_stmt(s,
                    "SELECT object, offset, length, stratum, removed_by,"
                    " reason, duplicate_of, dup_object, dup_offset,"
                    " dup_length, doc_id FROM review_items WHERE"
                    " campaign_id = ?1 AND seq = ?2",
                    &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, cid);
    sqlite3_bind_int64(st, 2, seq);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = nh_errorf(err, NH_ENOENT, "no item %lld", (long long)seq);
        goto out;
    }
    rc = sample_read_line(data_dir, (const char *)sqlite3_column_text(st, 0),
                          (uint64_t)sqlite3_column_int64(st, 1),
                          (uint64_t)sqlite3_column_int64(st, 2), &line, err);
    if (rc < 0)
        goto out;
    doc = cJSON_Parse(line);
    o = cJSON_CreateObject();
    if (!o || !cJSON_AddNumberToObject(o, "item", (double)seq) ||
        !cJSON_AddItemToObject(o, "doc", doc ? doc : cJSON_CreateObject()) ||
        !sql_add_column(o, "doc_id", st, 10) ||
        !sql_add_column(o, "stratum", st, 3) ||
        !cJSON_AddNumberToObject(o, "lease_expires", (double)expires)) {
        if (!o)
            cJSON_Delete(doc);
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
        cJSON *audit = cJSON_AddObjectToObject(o, "audit");

        if (sqlite3_column_type(st, 7) != SQLITE_NULL &&
            sample_read_line(data_dir, (const char *)sqlite3_column_text(st, 7),
                             (uint64_t)sqlite3_column_int64(st, 8),
                             (uint64_t)sqlite3_column_int64(st, 9), &dup,
                             err) < 0)
            dup = NULL;
        if (!audit || !sql_add_column(audit, "removed_by", st, 4) ||
            !sql_add_column(audit, "reason", st, 5) ||
            !sql_add_column(audit, "duplicate_of", st, 6) ||
            !cJSON_AddItemToObject(audit, "duplicate",
                                   dup && (dupdoc = cJSON_Parse(dup))
                                       ? dupdoc
                                       : cJSON_CreateNull())) {
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            goto out;
        }
    } else if (!cJSON_AddNullToObject(o, "audit")) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    store_stmt_done(st);
    st = NULL;
    rc = store_stmt(s,
                    "SELECT request_id, verdict, labels, score, note FROM"
                    " judgments WHERE campaign_id = ?1 AND seq = ?2 AND"
                    " user = ?3 AND superseded IS NULL",
                    &st, err);
    if (rc < 0)
        goto out;
    sqlite3_bind_int64(st, 1, cid);
    sqlite3_bind_int64(st, 2, seq);
    sqlite3_bind_text(st, 3, user, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *m = cJSON_AddObjectToObject(o, "mine");

        if (!m || !sql_add_column(m, "request_id", st, 0) ||
            !sql_add_column(m, "verdict", st, 1) ||
            !sql_add_json_column(m, "labels", st, 2) ||
            !sql_add_column(m, "score", st, 3) ||
            !sql_add_column(m, "note", st, 4))
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
    } else if (!cJSON_AddNullToObject(o, "mine")) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        *out = o;
        o = NULL;
    }
out:
    store_stmt_done(st);
    cJSON_Delete(o);
    free(line);
    free(dup);
    return rc;
}

static int64_t
now_s(void)
{
    return (int64_t)time(NULL);
}

/* In a transaction: the item user should judge next (resume first), or
 * -1 when none is left for them; leases it. */
static int
lease_next(struct store *s, const struct campaign *c, const char *user,
           int64_t *seq_out, int64_t *expires, struct nh_error *err)
{
    sqlite3 *db = store_db(s);
    static const char resume[] =
        "SELECT l.seq FROM review_leases l WHERE l.campaign_id = ?1 AND"
        " l.user = ?2 AND l.expires > ?3 AND NOT EXISTS (SELECT 1 FROM"
        " judgments j WHERE j.campaign_id = ?1 AND j.seq = l.seq AND"
        " j.user = ?2 AND j.superseded IS NULL) ORDER BY l.seq LIMIT 1";
    static const char pick[] =
        "SELECT i.seq FROM review_items i INDEXED BY review_items_open"
        " WHERE i.campaign_id = ?1 AND"
        " i.judged < i.need AND NOT EXISTS (SELECT 1 FROM judgments j"
        " WHERE j.campaign_id = ?1 AND j.seq = i.seq AND j.user = ?2 AND"
        " j.superseded IS NULL) AND"
        " i.judged + (SELECT count(*) FROM review_leases l WHERE"
        " l.campaign_id = ?1 AND l.seq = i.seq AND l.expires > ?3) < i.need"
        " ORDER BY i.seq LIMIT 1";
    const char *const sqls[] = {resume, pick};
    int64_t seq = -1;
    int rc = 0;

    for (int q = 0; q < 2 && seq < 0; q++) {
        sqlite3_stmt *st = NULL;

        if ((rc = store_stmt(s, sqls[q], &st, err)) < 0)
            return rc;
        sqlite3_bind_int64(st, 1, c->id);
        sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, now_s());
        if (sqlite3_step(st) == SQLITE_ROW)
            seq = sqlite3_column_int64(st, 0);
        store_stmt_done(st);
    }
    *seq_out = seq;
    if (seq < 0)
        return 0;
    *expires = now_s() + c->lease_seconds;
    {
        sqlite3_stmt *st = NULL;

        if ((rc = store_stmt(s,
                             "INSERT OR REPLACE INTO review_leases"
                             " (campaign_id, seq, user, expires) VALUES"
                             " (?1, ?2, ?3, ?4)",
                             &st, err)) < 0)
            return rc;
        sqlite3_bind_int64(st, 1, c->id);
        sqlite3_bind_int64(st, 2, seq);
        sqlite3_bind_text(st, 3, user, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, *expires);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sql_fail(db, err, "cannot lease the item");
        store_stmt_done(st);
    }
    return rc;
}

static int64_t
remaining(struct store *s, int64_t cid)
{
    sqlite3_stmt *st = NULL;
    int64_t n = 0;

    /* kept by triggers (schemas/db/0005-review.sql) */
    if (store_stmt(s, "SELECT open_items FROM campaigns WHERE id = ?1", &st,
                   NULL) == 0) {
        sqlite3_bind_int64(st, 1, cid);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
    }
    store_stmt_done(st);
    return n;
}

/* result {"item": ..., "remaining"} for (cid, seq) or a null item. */
static int
next_result(struct store *s, const struct dbq_job *job, int64_t cid,
            int64_t seq, int64_t expires, cJSON **out, struct nh_error *err)
{
    cJSON *o = cJSON_CreateObject(), *item = NULL;
    int rc = o ? 0 : nh_errorf(err, NH_ENOMEM, "out of memory");

    if (rc == 0 && seq >= 0)
        rc = item_json(s, job->data_dir, cid, seq, job->user, expires, &item,
                       err);
    if (rc == 0 &&
        (!cJSON_AddItemToObject(o, "item", item ? item : cJSON_CreateNull()) ||
         !cJSON_AddNumberToObject(o, "remaining", (double)remaining(s, cid))))
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
    if (rc < 0) {
        cJSON_Delete(o);
        return rc;
    }
    *out = o;
    return 0;
}

void
op_review_next(struct store *s, const struct dbq_job *job,
               struct dbq_result *res)
{
    sqlite3 *db = store_db(s);
    struct nh_error err = {0};
    struct campaign c = {0};
    cJSON *result = NULL;
    int64_t id, seq = -1, expires = 0;
    int rc;

    if ((rc = ops_arg_id(job->args, "campaign", &id, &err)) < 0 ||
        (rc = campaign_load(s, id, &c, &err)) < 0)
        goto out;
    if ((rc = sql_exec(db, "BEGIN IMMEDIATE", &err)) < 0)
        goto out;
    rc = still_open(s, id, &err);
    if (rc == 0)
        rc = lease_next(s, &c, job->user, &seq, &expires, &err);
    if (rc == 0)
        rc = sql_exec(db, "COMMIT", &err);
    else
        sql_rollback(db);
    if (rc == 0)
        rc = next_result(s, job, id, seq, expires, &result, &err);
out:
    campaign_release(&c);
    ops_reply(job, res, rc, result, &err);
}

void
op_review_renew(struct store *s, const struct dbq_job *job,
                struct dbq_result *res)
{
    sqlite3 *db = store_db(s);
    struct nh_error err = {0};
    struct campaign c = {0};
    sqlite3_stmt *st = NULL;
    cJSON *result = NULL;
    int64_t id, seq, expires = 0;
    int rc;

    if ((rc = ops_arg_id(job->args, "campaign", &id, &err)) < 0 ||
        (rc = ops_arg_int(job->args, "item", 0, 1e15, -1, &seq, &err)) < 0 ||
        (rc = campaign_load(s, id, &c, &err)) < 0 ||
        (rc = store_stmt(s,
                         "UPDATE review_leases SET expires = ?4 WHERE"
                         " campaign_id = ?1 AND seq = ?2 AND user = ?3",
                         &st, &err)) < 0)
        goto out;
    expires = now_s() + c.lease_seconds;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, seq);
    sqlite3_bind_text(st, 3, job->user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, expires);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = sql_fail(db, &err, "cannot renew the lease");
    else if (sqlite3_changes(db) == 0)
        rc =
            nh_errorf(&err, NH_ENOENT, "no lease on item %lld", (long long)seq);
    result = rc == 0 ? cJSON_CreateObject() : NULL;
    if (result &&
        !cJSON_AddNumberToObject(result, "lease_expires", (double)expires))
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
out:
    store_stmt_done(st);
    campaign_release(&c);
    ops_reply(job, res, rc, result, &err);
}

/* ---- judgments -------------------------------------------------------- */

static int
judgment_json(struct store *s, int64_t jid, cJSON **out, struct nh_error *err)
{
    static const char *const keys[] = {
        "judgment", "item",  "user", "request_id", "verdict",
        NULL,       "score", "note", "created",    "superseded"};
    sqlite3_stmt *st = NULL;
    cJSON *o = NULL;
    bool ok = true;
    int rc = store_stmt(s,
                        "SELECT id, seq, user, request_id, verdict, labels,"
                        " score, note, created, superseded FROM judgments"
                        " WHERE id = ?1",
                        &st, err);

    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, jid);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = nh_errorf(err, NH_ENOENT, "no judgment %lld", (long long)jid);
        goto out;
    }
    o = cJSON_CreateObject();
    for (int i = 0; o && ok && i < (int)(sizeof(keys) / sizeof(keys[0])); i++)
        ok = keys[i] ? sql_add_column(o, keys[i], st, i)
                     : sql_add_json_column(o, "labels", st, i);
    if (!o || !ok) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    *out = o;
    o = NULL;
out:
    cJSON_Delete(o);
    store_stmt_done(st);
    return rc;
}

/* review_items.judged of (cid, seq) from its current judgments. */
static int
recount(struct store *s, int64_t cid, int64_t seq, struct nh_error *err)
{
    sqlite3 *db = store_db(s);
    sqlite3_stmt *st = NULL;
    int rc = store_stmt(
        s,
        "UPDATE review_items SET judged = (SELECT count(*) FROM judgments j"
        " WHERE j.campaign_id = ?1 AND j.seq = ?2 AND j.superseded IS NULL"
        " AND (j.verdict IS NULL OR j.verdict <> 'skip')) WHERE"
        " campaign_id = ?1 AND seq = ?2",
        &st, err);

    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, cid);
    sqlite3_bind_int64(st, 2, seq);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = sql_fail(db, err, "cannot count judgments");
    store_stmt_done(st);
    return rc;
}

struct judgment_args {
    int64_t item, score;
    const char *request_id, *verdict, *note;
    char *labels; /* JSON text */
};

static int
judgment_args(const cJSON *a, const struct campaign *c, struct judgment_args *j,
              struct nh_error *err)
{
    const cJSON *ls = cJSON_GetObjectItemCaseSensitive(a, "labels"), *l;
    int rc;

    memset(j, 0, sizeof(*j));
    j->request_id = arg_str(a, "request_id");
    j->verdict = arg_str(a, "verdict");
    j->note = arg_str(a, "note");
    if ((rc = ops_arg_int(a, "item", 0, 1e15, -1, &j->item, err)) < 0 ||
        (rc = ops_arg_int(a, "score", 1, 5, 0, &j->score, err)) < 0)
        return rc;
    if (j->item < 0)
        return nh_errorf(err, NH_EINVAL, "'args.item' is required");
    if (!j->request_id || !*j->request_id || strlen(j->request_id) > 64)
        return nh_errorf(err, NH_EINVAL,
                         "'args.request_id' must be 1-64 bytes");
    if (!strcmp(c->kind, "review")) {
        if (!j->verdict ||
            (strcmp(j->verdict, "accept") && strcmp(j->verdict, "reject") &&
             strcmp(j->verdict, "skip")))
            return nh_errorf(err, NH_EINVAL,
                             "'args.verdict' must be accept, "
                             "reject or skip");
    } else if (j->verdict && strcmp(j->verdict, "skip")) {
        /* a labeler may pass an item on (skip), nothing else */
        return nh_errorf(err, NH_EINVAL,
                         "a label campaign takes labels and no verdict but "
                         "'skip'");
    }
    if (j->note && strlen(j->note) > NOTE_MAX)
        return nh_errorf(err, NH_EINVAL, "'args.note' is over %d bytes",
                         NOTE_MAX);
    if (ls && !cJSON_IsArray(ls))
        return nh_errorf(err, NH_EINVAL, "'args.labels' must be a list");
    cJSON_ArrayForEach(l, ls)
    {
        if (!cJSON_IsString(l) || label_index(c->labels, l->valuestring) < 0)
            return nh_errorf(err, NH_EINVAL,
                             "label '%s' is not one of the campaign's",
                             cJSON_IsString(l) ? l->valuestring : "?");
    }
    j->labels = ls ? cJSON_PrintUnformatted(ls) : strdup("[]");
    if (!j->labels)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    return 0;
}

void
op_review_submit(struct store *s, const struct dbq_job *job,
                 struct dbq_result *res)
{
    sqlite3 *db = store_db(s);
    struct nh_error err = {0};
    struct campaign c = {0};
    struct judgment_args ja = {0};
    sqlite3_stmt *st = NULL;
    cJSON *result = NULL, *j = NULL;
    int64_t id, jid = 0;
    bool duplicate = false, began = false;
    int rc;

    if ((rc = ops_arg_id(job->args, "campaign", &id, &err)) < 0 ||
        (rc = campaign_load(s, id, &c, &err)) < 0 ||
        (rc = judgment_args(job->args, &c, &ja, &err)) < 0)
        goto out;
    if ((rc = sql_exec(db, "BEGIN IMMEDIATE", &err)) < 0)
        goto out;
    began = true;
    /* the same request again: the judgment it made */
    if ((rc = store_stmt(s,
                         "SELECT id FROM judgments WHERE campaign_id = ?1"
                         " AND user = ?2 AND request_id = ?3",
                         &st, &err)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, job->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, ja.request_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        jid = sqlite3_column_int64(st, 0);
        duplicate = true;
    }
    store_stmt_done(st);
    st = NULL;
    if (!duplicate) {
        if ((rc = still_open(s, id, &err)) < 0)
            goto out;
        if ((rc = store_stmt(s,
                             "SELECT 1 FROM review_items WHERE campaign_id"
                             " = ?1 AND seq = ?2",
                             &st, &err)) < 0)
            goto out;
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, ja.item);
        if (sqlite3_step(st) != SQLITE_ROW)
            rc = nh_errorf(&err, NH_ENOENT, "no item %lld in campaign %lld",
                           (long long)ja.item, (long long)id);
        store_stmt_done(st);
        st = NULL;
        if (rc < 0)
            goto out;
        if ((rc = store_stmt(s,
                             "UPDATE judgments SET superseded ="
                             " (julianday('now') - 2440587.5) * 86400.0 WHERE"
                             " campaign_id = ?1 AND seq = ?2 AND user = ?3 AND"
                             " superseded IS NULL",
                             &st, &err)) < 0)
            goto out;
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, ja.item);
        sqlite3_bind_text(st, 3, job->user, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sql_fail(db, &err, "cannot store the judgment");
        store_stmt_done(st);
        st = NULL;
        if (rc < 0 ||
            (rc = store_stmt(s,
                             "INSERT INTO judgments (campaign_id, seq, user,"
                             " request_id, verdict, labels, score, note)"
                             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                             &st, &err)) < 0)
            goto out;
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, ja.item);
        sqlite3_bind_text(st, 3, job->user, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, ja.request_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, ja.verdict, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, ja.labels, -1, SQLITE_STATIC);
        if (ja.score)
            sqlite3_bind_int64(st, 7, ja.score);
        sqlite3_bind_text(st, 8, ja.note, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sql_fail(db, &err, "cannot store the judgment");
        jid = sqlite3_last_insert_rowid(db);
        store_stmt_done(st);
        st = NULL;
        if (rc < 0 || (rc = recount(s, id, ja.item, &err)) < 0 ||
            (rc = store_stmt(s,
                             "DELETE FROM review_leases WHERE campaign_id ="
                             " ?1 AND seq = ?2 AND user = ?3",
                             &st, &err)) < 0)
            goto out;
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, ja.item);
        sqlite3_bind_text(st, 3, job->user, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sql_fail(db, &err, "cannot release the lease");
        store_stmt_done(st);
        st = NULL;
        if (rc < 0)
            goto out;
    }
    if ((rc = sql_exec(db, "COMMIT", &err)) < 0)
        goto out;
    began = false;
    if (!duplicate)
        res->refresh = id;
    if ((rc = judgment_json(s, jid, &j, &err)) < 0)
        goto out;
    result = cJSON_CreateObject();
    if (!result || !cJSON_AddItemToObject(result, "judgment", j) ||
        !cJSON_AddBoolToObject(result, "duplicate", duplicate)) {
        if (!result)
            cJSON_Delete(j);
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
    }
out:
    store_stmt_done(st);
    if (began)
        sql_rollback(db);
    campaign_release(&c);
    free(ja.labels);
    ops_reply(job, res, rc, result, &err);
}

void
op_review_undo(struct store *s, const struct dbq_job *job,
               struct dbq_result *res)
{
    sqlite3 *db = store_db(s);
    struct nh_error err = {0};
    struct campaign c = {0};
    sqlite3_stmt *st = NULL;
    cJSON *result = NULL;
    int64_t id, jid = -1, seq = -1, expires = 0;
    bool began = false;
    int rc;

    if ((rc = ops_arg_id(job->args, "campaign", &id, &err)) < 0 ||
        (rc = campaign_load(s, id, &c, &err)) < 0)
        goto out;
    if ((rc = sql_exec(db, "BEGIN IMMEDIATE", &err)) < 0)
        goto out;
    began = true;
    if ((rc = still_open(s, id, &err)) < 0)
        goto out;
    if ((rc = store_stmt(s,
                         "SELECT id, seq FROM judgments WHERE campaign_id ="
                         " ?1 AND user = ?2 AND superseded IS NULL ORDER BY"
                         " id DESC LIMIT 1",
                         &st, &err)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, job->user, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        jid = sqlite3_column_int64(st, 0);
        seq = sqlite3_column_int64(st, 1);
    }
    store_stmt_done(st);
    st = NULL;
    if (jid >= 0) {
        expires = now_s() + c.lease_seconds;
        if ((rc = store_stmt(
                 s,
                 "UPDATE judgments SET superseded ="
                 " (julianday('now') - 2440587.5) * 86400.0 WHERE id = ?1",
                 &st, &err)) < 0)
            goto out;
        sqlite3_bind_int64(st, 1, jid);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sql_fail(db, &err, "cannot undo");
        store_stmt_done(st);
        st = NULL;
        if (rc < 0 || (rc = recount(s, id, seq, &err)) < 0 ||
            (rc = store_stmt(s,
                             "INSERT OR REPLACE INTO review_leases"
                             " (campaign_id, seq, user, expires) VALUES"
                             " (?1, ?2, ?3, ?4)",
                             &st, &err)) < 0)
            goto out;
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, seq);
        sqlite3_bind_text(st, 3, job->user, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, expires);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sql_fail(db, &err, "cannot lease the item");
        store_stmt_done(st);
        st = NULL;
        if (rc < 0)
            goto out;
    }
    if ((rc = sql_exec(db, "COMMIT", &err)) < 0)
        goto out;
    began = false;
    if (jid >= 0)
        res->refresh = id;
    rc = next_result(s, job, id, seq, expires, &result, &err);
out:
    store_stmt_done(st);
    if (began)
        sql_rollback(db);
    campaign_release(&c);
    ops_reply(job, res, rc, result, &err);
}

/* "text": the document's text field (its whole line when it has none),
 * read from the item's place in the object store. */
static int
add_text(sqlite3 *db, const char *data_dir, sqlite3_stmt *st, cJSON *o,
         struct nh_error *err)
{
    char *line = NULL;
    cJSON *doc;
    const char *text;
    int rc;

    (void)db;
    rc = sample_read_line(data_dir, (const char *)sqlite3_column_text(st, 6),
                          (uint64_t)sqlite3_column_int64(st, 7),
                          (uint64_t)sqlite3_column_int64(st, 8), &line, err);
    if (rc < 0)
        return rc;
    doc = cJSON_Parse(line);
    text = arg_str(doc, "text");
    if (!cJSON_AddStringToObject(o, "text", text ? text : line))
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
    cJSON_Delete(doc);
    free(line);
    return rc;
}

void
op_review_items(struct store *s, const struct dbq_job *job,
                struct dbq_result *res)
{
    sqlite3 *db = store_db(s);
    struct nh_error err = {0};
    struct campaign c = {0};
    sqlite3_stmt *st = NULL, *js = NULL;
    cJSON *result = NULL, *arr;
    int64_t id, after, limit, next;
    bool with_text;
    int rc;

    if ((rc = ops_arg_id(job->args, "campaign", &id, &err)) < 0 ||
        (rc = ops_arg_int(job->args, "after", -1, 1e15, -1, &after, &err)) <
            0 ||
        (rc = ops_arg_int(job->args, "limit", 1, ITEMS_PAGE_MAX, ITEMS_PAGE_MAX,
                          &limit, &err)) < 0 ||
        (rc = campaign_load(s, id, &c, &err)) < 0)
        goto out;
    result = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(result, "items");
    if (!arr) {
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
        goto out;
    }
    with_text =
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(job->args, "with_text"));
    if ((rc = sql_prepare(db,
                          "SELECT seq, doc_id, stratum, need, removed_by,"
                          " reason, object, offset, length FROM review_items"
                          " WHERE campaign_id = ?1 AND seq > ?2 ORDER BY seq"
                          " LIMIT ?3",
                          &st, &err)) < 0 ||
        (rc = sql_prepare(db,
                          "SELECT id FROM judgments WHERE campaign_id = ?1"
                          " AND seq = ?2 ORDER BY id",
                          &js, &err)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int64(st, 3, limit);
    next = after;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject(), *ja;

        next = sqlite3_column_int64(st, 0);
        if (!o || !cJSON_AddItemToArray(arr, o) ||
            !sql_add_column(o, "item", st, 0) ||
            !sql_add_column(o, "doc_id", st, 1) ||
            !sql_add_column(o, "stratum", st, 2) ||
            !sql_add_column(o, "need", st, 3) ||
            !sql_add_column(o, "removed_by", st, 4) ||
            !sql_add_column(o, "reason", st, 5) ||
            !(ja = cJSON_AddArrayToObject(o, "judgments"))) {
            rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
            break;
        }
        if (with_text && (rc = add_text(db, job->data_dir, st, o, &err)) < 0)
            break;
        sqlite3_reset(js);
        sqlite3_bind_int64(js, 1, id);
        sqlite3_bind_int64(js, 2, next);
        while (rc == 0 && sqlite3_step(js) == SQLITE_ROW) {
            cJSON *jo = NULL;

            rc = judgment_json(s, sqlite3_column_int64(js, 0), &jo, &err);
            if (rc == 0)
                cJSON_AddItemToArray(ja, jo);
        }
    }
    if (rc == 0 && !cJSON_AddNumberToObject(result, "next", (double)next))
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
out:
    sqlite3_finalize(st);
    sqlite3_finalize(js);
    campaign_release(&c);
    ops_reply(job, res, rc, result, &err);
}

/* ---- events ----------------------------------------------------------- */

/* A refresh net.c asked for (args {"campaign"}): the stats as a
 * "review.stats" event on "review/ID" in res->event. */
void
op_review_refresh(struct store *s, const struct dbq_job *job,
                  struct dbq_result *res)
{
    sqlite3 *db = store_db(s);
    struct nh_error err = {0};
    struct campaign c = {0};
    cJSON *stats = NULL, *data = NULL;
    int64_t id;

    if (ops_arg_id(job->args, "campaign", &id, &err) < 0)
        return;
    res->refreshed = id;
    snprintf(res->topic, sizeof(res->topic), "review/%lld", (long long)id);
    if (campaign_load(s, id, &c, &err) == 0 &&
        stats_compute(db, &c, &stats, &err) == 0 &&
        (data = cJSON_CreateObject()) &&
        cJSON_AddNumberToObject(data, "campaign", (double)id) &&
        cJSON_AddItemToObject(data, "stats", stats)) {
        stats = NULL;
        res->event =
            jobs_event_text("review.stats", res->topic, data, &res->event_len);
    } else if (err.msg[0]) {
        nh_error("campaign %lld: %s", (long long)id, err.msg);
    }
    cJSON_Delete(stats);
    cJSON_Delete(data);
    campaign_release(&c);
}

/* subscribe {"topic": "review/ID"}: like op_subscribe_job. */
void
op_subscribe_review(struct store *s, const struct dbq_job *job,
                    struct dbq_result *res)
{
    const char *topic = arg_str(job->args, "topic");
    struct nh_error err = {0};
    struct campaign c = {0};
    cJSON *stats = NULL, *data = NULL, *result = NULL;
    int64_t id = 0;
    int rc;

    if (topic)
        snprintf(res->topic, sizeof(res->topic), "%s", topic);
    if (!topic || strncmp(topic, "review/", 7) ||
        !(id = jobs_parse_id(topic + 7))) {
        rc = nh_errorf(&err, NH_EINVAL, "'args.topic' must be 'review/ID'");
        goto out;
    }
    if ((rc = campaign_load(s, id, &c, &err)) < 0 ||
        (rc = stats_compute(store_db(s), &c, &stats, &err)) < 0)
        goto out;
    data = cJSON_CreateObject();
    result = cJSON_CreateObject();
    if (!data || !result ||
        !cJSON_AddNumberToObject(data, "campaign", (double)id) ||
        !cJSON_AddItemToObject(data, "stats", stats) ||
        !cJSON_AddStringToObject(result, "topic", topic)) {
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
        goto out;
    }
    stats = NULL;
    res->event = jobs_event_text("review.stats", topic, data, &res->event_len);
out:
    if (rc < 0) {
        res->unsubscribe = true;
        cJSON_Delete(result);
        result = NULL;
    }
    cJSON_Delete(stats);
    cJSON_Delete(data);
    campaign_release(&c);
    ops_reply(job, res, rc, result, &err);
}
