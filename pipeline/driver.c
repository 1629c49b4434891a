/* driver.c - run a pipeline config over sharded input, resumably
 *
 * The heart of nh-clean: config parsing, the segment plan, the worker
 * threads, the global (dedup) passes, resume, the final merge into
 * shards, and stats.json. See driver.h for the model; the file layout
 * under OUT/.work is:
 *   plan.json                 config hash and input fingerprint
 *   uNNNNNN.sK.jsonl          documents surviving segment K of unit N
 *   uNNNNNN.sK.rm.jsonl       documents removed in segment K
 *   uNNNNNN.sK.keys           keys for the global stage ending segment K
 *   uNNNNNN.sK.stats.json     counters; its presence marks (K, N) done
 *   uNNNNNN.gK                decisions of global stage K, one per key
 *   gK.stats.json             counters of global stage K; marks it done
 */
#include "driver.h"

#include "arena.h"
#include "clock.h"
#include "config.h"
#include "dist.h"
#include "hash.h"
#include "join.h"
#include "jsonl.h"
#include "log.h"
#include "stats.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TOOL_VERSION "0.1.0"

const char pipeline_default_json[] = "{\n"
                                     "  \"text_field\": \"text\",\n"
                                     "  \"stages\": [\n"
                                     "    {\"op\": \"extract\"},\n"
                                     "    {\"op\": \"normalize\"},\n"
                                     "    {\"op\": \"repetition\"},\n"
                                     "    {\"op\": \"filter.rules\"},\n"
                                     "    {\"op\": \"pii\"},\n"
                                     "    {\"op\": \"dedup.exact\"}\n"
                                     "  ]\n"
                                     "}\n";

/* ---- config ---------------------------------------------------------- */

void
pipeline_release(struct pipeline *p)
{
    size_t i;

    for (i = 0; i < p->nstages; i++) {
        if (p->stages[i].ops && p->stages[i].ops->free)
            p->stages[i].ops->free(p->stages[i].conf);
        free(p->stages[i].name);
    }
    free(p->stages);
    free(p->segs);
    free(p->text_field);
    memset(p, 0, sizeof(*p));
}

static int
plan_segments(struct pipeline *p, struct nh_error *err)
{
    size_t i;
    struct segment *s;

    p->segs = calloc(p->nstages + 1, sizeof(*p->segs));
    if (!p->segs)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    s = &p->segs[0];
    s->global = -1;
    p->nsegs = 1;
    for (i = 0; i < p->nstages; i++) {
        if (p->stages[i].ops->apply) {
            if (s->count == 0)
                s->first = i;
            s->count++;
            continue;
        }
        s->global = (long)i;
        s = &p->segs[p->nsegs++];
        s->first = i + 1;
        s->count = 0;
        s->global = -1;
    }
    return 0;
}

int
pipeline_parse(struct pipeline *p, const char *json, size_t len,
               const char *origin, struct nh_error *err)
{
    static const char *const keys[] = {
        "text_field",    "shard_size", "compression", "zstd_level",
        "max_doc_bytes", "stages",     NULL};
    static const char *const comps[] = {"none", "zstd", NULL};
    const char *text_field, *comp;
    cJSON *root, *stages, *st;
    double shard;
    long level, maxdoc;
    char *canon;
    int rc;

    memset(p, 0, sizeof(*p));
    root = cJSON_ParseWithLength(json, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        size_t line = 1;
        const char *q;

        for (q = json; at && q < at && q < json + len; q++)
            line += *q == '\n';
        return nh_errorf(err, NH_EINVAL, "%s: invalid JSON near line %zu",
                         origin, line);
    }
    rc = NH_EINVAL;
    if (!cJSON_IsObject(root)) {
        nh_errorf(err, rc, "%s: the config must be a JSON object", origin);
        goto out;
    }
    if ((rc = cfg_check_keys(root, origin, keys, err)) < 0 ||
        (rc = cfg_str(root, origin, "text_field", "text", NULL, &text_field,
                      err)) < 0 ||
        (rc = cfg_num(root, origin, "shard_size", 256.0 * 1024 * 1024, 4096,
                      1e12, &shard, err)) < 0 ||
        (rc = cfg_str(root, origin, "compression", "none", comps, &comp, err)) <
            0 ||
        (rc = cfg_int(root, origin, "zstd_level", 3, 1, 19, &level, err)) < 0 ||
        (rc = cfg_int(root, origin, "max_doc_bytes", 64L << 20, 1024, 1L << 31,
                      &maxdoc, err)) < 0)
        goto out;
    p->text_field = strdup(text_field);
    p->shard_bytes = (uint64_t)shard;
    p->zstd_level = strcmp(comp, "zstd") ? 0 : (int)level;
    p->max_doc_bytes = (size_t)maxdoc;
    stages = cJSON_GetObjectItemCaseSensitive(root, "stages");
    if (!cJSON_IsArray(stages) || cJSON_GetArraySize(stages) == 0) {
        rc = nh_errorf(err, NH_EINVAL,
                       "%s: 'stages' must be a non-empty array of stages",
                       origin);
        goto out;
    }
    p->stages = calloc((size_t)cJSON_GetArraySize(stages), sizeof(*p->stages));
    if (!p->text_field || !p->stages) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    cJSON_ArrayForEach(st, stages)
    {
        struct pstage *ps = &p->stages[p->nstages];
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(st, "op");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(st, "name");
        size_t idx = p->nstages;

        if (!cJSON_IsObject(st) || !cJSON_IsString(op)) {
            rc = nh_errorf(err, NH_EINVAL,
                           "%s: stages[%zu] must be an object with a string "
                           "'op'",
                           origin, idx);
            goto out;
        }
        ps->ops = stage_find(op->valuestring);
        if (!ps->ops) {
            rc = nh_errorf(err, NH_EINVAL,
                           "%s: stages[%zu]: unknown op '%s' (see "
                           "'nh-clean stages')",
                           origin, idx, op->valuestring);
            goto out;
        }
        if (name && !cJSON_IsString(name)) {
            rc = nh_errorf(err, NH_EINVAL,
                           "%s: stages[%zu]: 'name' must be a string", origin,
                           idx);
            goto out;
        }
        snprintf(ps->where, sizeof(ps->where), "%s: stages[%zu] (%s)", origin,
                 idx, ps->ops->name);
        ps->name = strdup(name ? name->valuestring : ps->ops->name);
        if (!ps->name) {
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            goto out;
        }
        p->nstages++;
        if ((rc = ps->ops->init(st, ps->where, &ps->conf, err)) < 0) {
            ps->ops = NULL; /* nothing to free */
            goto out;
        }
        if (!strcmp(ps->ops->name, "normalize")) {
            const cJSON *iu =
                cJSON_GetObjectItemCaseSensitive(st, "invalid_utf8");
            p->repairs_utf8 = p->repairs_utf8 || !cJSON_IsString(iu) ||
                              strcmp(iu->valuestring, "reject");
        }
    }
    if ((rc = plan_segments(p, err)) < 0)
        goto out;
    canon = cJSON_PrintUnformatted(root);
    if (!canon) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    {
        char hex[33];

        nh_h128_hex(nh_hash128(canon, strlen(canon)), hex);
        memcpy(p->config_hash, hex, sizeof(hex));
    }
    free(canon);
    rc = 0;
out:
    cJSON_Delete(root);
    if (rc < 0)
        pipeline_release(p);
    return rc;
}

/* ---- run state ------------------------------------------------------- */

struct run {
    const struct pipeline *p;
    const struct input_set *in;
    const struct run_opts *opts;
    char *work;           /* OUT/.work */
    size_t nstats;        /* 1 + nstages: [0] is "read" */
    size_t lo, hi;        /* this rank's units (all of them without MPI) */
    uint64_t share_bytes; /* their input bytes (progress) */

    /* work distribution for the current segment (atomic: the progress
     * thread reads it, and the phase, while the main thread moves on) */
    _Atomic size_t seg;
    atomic_size_t next_unit;
    atomic_int failed;
    pthread_mutex_t err_lock;
    struct nh_error err;

    /* progress */
    atomic_uint_fast64_t bytes_done, docs_done;
    atomic_size_t units_done;
    const char *_Atomic phase;
    double started;
    atomic_int stop_progress;

    /* fault injection for tests: NH_FAULT=kill-after-units:N (SIGKILL
     * after N units) and NH_FAULT=unit-delay-ms:N (a slow run) */
    long kill_after;
    long unit_delay_ms;
    atomic_long units_run;
};

static void
run_fail(struct run *r, const struct nh_error *e)
{
    pthread_mutex_lock(&r->err_lock);
    if (!atomic_load(&r->failed))
        r->err = *e;
    atomic_store(&r->failed, 1);
    pthread_mutex_unlock(&r->err_lock);
}

/* path of a work file: OUT/.work/uNNNNNN.<kind><k><suffix> */
static void
work_path(const struct run *r, struct strbuf *sb, size_t unit, char kind,
          size_t k, const char *suffix)
{
    strbuf_reset(sb);
    strbuf_addf(sb, "%s/u%06zu.%c%zu%s", r->work, unit, kind, k, suffix);
}

static bool
file_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

static int
write_file_atomic(const char *path, const char *data, size_t len,
                  struct nh_error *err)
{
    struct nh_writer *w;
    int rc;

    if ((rc = nh_writer_open(&w, path, 0, err)) < 0)
        return rc;
    if ((rc = nh_writer_write(w, data, len, err)) < 0) {
        nh_writer_abort(w);
        return rc;
    }
    return nh_writer_commit(w, err);
}

static int
write_json_atomic(const char *path, const cJSON *o, struct nh_error *err)
{
    char *s = cJSON_Print(o);
    struct strbuf sb = STRBUF_INIT;
    int rc;

    if (!s || strbuf_addstr(&sb, s) < 0 || strbuf_addch(&sb, '\n') < 0) {
        free(s);
        strbuf_release(&sb);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    rc = write_file_atomic(path, sb.buf, sb.len, err);
    free(s);
    strbuf_release(&sb);
    return rc;
}

static cJSON *
read_json_file(const char *path, struct nh_error *err)
{
    struct nh_reader *rd;
    struct strbuf sb = STRBUF_INIT;
    cJSON *o = NULL;

    if (nh_reader_open(&rd, path, err) < 0)
        return NULL;
    if (nh_reader_all(rd, &sb, (size_t)64 << 20, err) == 0) {
        o = cJSON_ParseWithLength(strbuf_str(&sb), sb.len);
        if (!o)
            nh_errorf(err, NH_ECORRUPT, "'%s' is not valid JSON", path);
    }
    nh_reader_close(rd);
    strbuf_release(&sb);
    return o;
}

/* ---- one (segment, unit) --------------------------------------------- */

struct worker {
    struct run *r;
    struct stage_ctx *ctx; /* one per stage */
    struct strbuf line, path, keybuf;
};

/* Append obj as compact JSON. String members (above all the text) are
 * escaped here in one pass; other values go through cJSON. */
static int
add_record(struct strbuf *sb, const cJSON *obj)
{
    const cJSON *c;
    int rc = strbuf_addch(sb, '{');

    cJSON_ArrayForEach(c, obj)
    {
        if (rc == 0 && c != obj->child)
            rc = strbuf_addch(sb, ',');
        if (rc == 0)
            rc = strbuf_add_json_str(sb, c->string, strlen(c->string));
        if (rc == 0)
            rc = strbuf_addch(sb, ':');
        if (rc < 0)
            return rc;
        if (cJSON_IsString(c) && c->valuestring) {
            rc =
                strbuf_add_json_str(sb, c->valuestring, strlen(c->valuestring));
        } else {
            char *v = cJSON_PrintUnformatted(c);

            rc = v ? strbuf_addstr(sb, v) : NH_ENOMEM;
            free(v);
        }
        if (rc < 0)
            return rc;
    }
    return strbuf_addch(sb, '}');
}

/* Serialize a record as one JSONL line into w->line. */
static int
record_line(struct worker *w, const cJSON *obj, size_t hint)
{
    int rc;

    strbuf_reset(&w->line);
    if ((rc = strbuf_grow(&w->line, hint + hint / 8 + 256)) < 0 ||
        (rc = add_record(&w->line, obj)) < 0)
        return rc;
    return strbuf_addch(&w->line, '\n');
}

struct unit_out {
    struct nh_writer *docs, *removed, *keys;
    struct stage_stats *st; /* r->nstats */
};

/* The removed/ line for rec (in w->line): rec with removed_by and reason. */
static int
removed_line(struct worker *w, cJSON *rec, const char *by, const char *reason,
             size_t hint, struct nh_error *err)
{
    int rc;

    cJSON_DeleteItemFromObjectCaseSensitive(rec, "removed_by");
    cJSON_DeleteItemFromObjectCaseSensitive(rec, "reason");
    if (!cJSON_AddStringToObject(rec, "removed_by", by) ||
        !cJSON_AddStringToObject(rec, "reason", reason))
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    if ((rc = record_line(w, rec, hint)) < 0)
        return nh_errorf(err, rc, "out of memory");
    return 0;
}

static int
write_removed(struct worker *w, struct unit_out *o, cJSON *rec, const char *by,
              const char *reason, size_t hint, struct nh_error *err)
{
    int rc = removed_line(w, rec, by, reason, hint, err);

    if (rc < 0)
        return rc;
    return nh_writer_write(o->removed, w->line.buf, w->line.len, err);
}

/* A work-file line that global stage gs dropped, with its decision dl (a
 * JSON array [reason, kept id]): its removed/ line into w->line. */
static int
global_removed_line(struct worker *w, const struct pstage *gs, const char *line,
                    size_t len, const char *dl, size_t dlen,
                    struct nh_error *err)
{
    cJSON *obj = cJSON_ParseWithLength(line, len);
    cJSON *verdict = cJSON_ParseWithLength(dl, dlen);
    const cJSON *why = cJSON_GetArrayItem(verdict, 0);
    const cJSON *of = cJSON_GetArrayItem(verdict, 1);
    const cJSON *cl = cJSON_GetArrayItem(verdict, 2);
    int rc;

    if (!obj || !cJSON_IsString(why)) {
        rc = nh_errorf(err, NH_ECORRUPT, "corrupt work file in '%s'",
                       w->r->work);
    } else {
        if (cJSON_IsString(of))
            cJSON_AddStringToObject(obj, "duplicate_of", of->valuestring);
        if (cJSON_IsNumber(cl))
            cJSON_AddNumberToObject(obj, "cluster", cl->valuedouble);
        rc = removed_line(w, obj, gs->name, why->valuestring, len, err);
    }
    cJSON_Delete(obj);
    cJSON_Delete(verdict);
    return rc;
}

/* Run the local stages of segment k on d, then write it out. */
static int
process_doc(struct worker *w, struct unit_out *o, struct doc *d,
            struct nh_error *err)
{
    struct run *r = w->r;
    const struct pipeline *p = r->p;
    const struct segment *sg = &p->segs[r->seg];
    size_t i;
    int rc;

    for (i = sg->first; i < sg->first + sg->count; i++) {
        const struct pstage *ps = &p->stages[i];
        struct stage_stats *s = &o->st[i + 1];
        const char *reason = NULL;
        double t0 = nh_now();

        s->docs_in++;
        s->bytes_in += d->text.len;
        rc = ps->ops->apply(ps->conf, &w->ctx[i], d, &reason);
        s->seconds += nh_now() - t0;
        if (rc < 0)
            return nh_errorf(err, rc, "%s: %s", ps->where, nh_strerror(rc));
        if (rc == STAGE_DROP) {
            size_t hint = d->text.len;
            cJSON *rec;

            if (!reason)
                reason = "dropped";
            if ((rc = stats_removed(s, reason, 1)) < 0)
                return nh_errorf(err, rc, "out of memory");
            rec = doc_to_record(d, p->text_field);
            rc = write_removed(w, o, rec, ps->name, reason, hint, err);
            cJSON_Delete(rec);
            return rc;
        }
        s->docs_out++;
        s->bytes_out += d->text.len;
    }
    if (sg->global >= 0) {
        const struct pstage *ps = &p->stages[sg->global];
        size_t ksz = stage_key_size(ps->ops, ps->conf);
        uint64_t nbytes = d->text.len, off = nh_writer_bytes(o->docs);
        uint32_t idlen = (uint32_t)strlen(d->id);
        uint64_t family = join_family(d->obj, d->id);
        double t0 = nh_now();

        strbuf_reset(&w->keybuf);
        if ((rc = strbuf_grow(&w->keybuf, ksz + JOIN_TRAILER + idlen)) < 0)
            return nh_errorf(err, rc, "out of memory");
        rc = ps->ops->key(ps->conf, &w->ctx[sg->global], d, w->keybuf.buf);
        o->st[sg->global + 1].seconds += nh_now() - t0;
        if (rc < 0)
            return nh_errorf(err, rc, "%s: %s", ps->where, nh_strerror(rc));
        w->keybuf.len = ksz;
        strbuf_add(&w->keybuf, &nbytes, 8);
        strbuf_add(&w->keybuf, &off, 8);
        strbuf_add(&w->keybuf, &family, 8);
        strbuf_add(&w->keybuf, &idlen, 4);
        strbuf_add(&w->keybuf, d->id, idlen);
        if ((rc = nh_writer_write(o->keys, w->keybuf.buf, w->keybuf.len, err)) <
            0)
            return rc;
    }
    {
        size_t hint = d->text.len;
        cJSON *rec = doc_to_record(d, p->text_field);

        rc = record_line(w, rec, hint);
        cJSON_Delete(rec);
        if (rc < 0)
            return nh_errorf(err, rc, "out of memory");
    }
    return nh_writer_write(o->docs, w->line.buf, w->line.len, err);
}

/* Segment 0: documents come from the input files. */
static int
unit_from_input(struct worker *w, struct unit_out *o, size_t u,
                struct nh_error *err)
{
    struct run *r = w->r;
    struct input_opts io = {r->p->text_field, r->p->max_doc_bytes,
                            r->p->repairs_utf8};
    struct input_cursor *c;
    uint64_t last = 0;
    int rc;

    if ((rc = input_open(&c, r->in, u, &io, err)) < 0)
        return rc;
    for (;;) {
        struct doc d;
        struct input_reject rej;
        uint64_t now;

        rc = input_next(c, &d, &rej, err);
        now = input_bytes_read(c);
        atomic_fetch_add(&r->bytes_done, now - last);
        last = now;
        if (rc <= 0)
            break;
        atomic_fetch_add(&r->docs_done, 1);
        if (rc == 2) {
            struct stage_stats *s = &o->st[0];

            rc = rej.record ? stats_removed(s, rej.reason, 1) : NH_ENOMEM;
            if (rc == 0)
                rc = write_removed(w, o, rej.record, "read", rej.reason, 256,
                                   err);
            cJSON_Delete(rej.record);
            if (rc < 0)
                break;
            continue;
        }
        o->st[0].docs_out++;
        o->st[0].bytes_out += d.text.len;
        rc = process_doc(w, o, &d, err);
        doc_release(&d);
        if (rc < 0)
            break;
    }
    input_close(c);
    return rc;
}

/* Segment k > 0: documents come from segment k-1's output, filtered by
 * the decisions of the global stage between them. */
static int
unit_from_work(struct worker *w, struct unit_out *o, size_t u,
               struct nh_error *err)
{
    struct run *r = w->r;
    const struct pipeline *p = r->p;
    long g = p->segs[r->seg - 1].global;
    const struct pstage *gs = &p->stages[g];
    struct nh_reader *docs = NULL, *dec = NULL;
    struct strbuf path = STRBUF_INIT;
    bool has_stages = p->segs[r->seg].count > 0;
    bool has_global = p->segs[r->seg].global >= 0;
    int rc;

    work_path(r, &path, u, 's', r->seg - 1, ".jsonl");
    if ((rc = nh_reader_open(&docs, path.buf, err)) < 0)
        goto out;
    nh_reader_set_max_line(docs, SIZE_MAX);
    work_path(r, &path, u, 'g', r->seg - 1, "");
    if ((rc = nh_reader_open(&dec, path.buf, err)) < 0)
        goto out;
    for (;;) {
        const char *line, *dl;
        size_t len, dlen;
        cJSON *obj;
        struct doc d;

        if ((rc = nh_reader_line(docs, &line, &len, err)) <= 0)
            break;
        atomic_fetch_add(&r->docs_done, 1);
        if ((rc = nh_reader_line(dec, &dl, &dlen, err)) <= 0) {
            rc = nh_errorf(err, NH_ECORRUPT,
                           "'%s': fewer decisions than documents", path.buf);
            break;
        }
        if (!(dlen == 1 && dl[0] == '0')) {
            if ((rc = global_removed_line(w, gs, line, len, dl, dlen, err)) <
                    0 ||
                (rc = nh_writer_write(o->removed, w->line.buf, w->line.len,
                                      err)) < 0)
                break;
            continue;
        }
        if (!has_stages && !has_global) {
            /* kept, and nothing more to do to it: copy the line as is */
            if ((rc = nh_writer_write(o->docs, line, len, err)) < 0 ||
                (rc = nh_writer_write(o->docs, "\n", 1, err)) < 0)
                break;
            continue;
        }
        obj = cJSON_ParseWithLength(line, len);
        if (!obj) {
            rc =
                nh_errorf(err, NH_ECORRUPT, "corrupt work file of unit %zu", u);
            break;
        }
        if (doc_from_record(&d, obj, p->text_field)) {
            doc_release(&d);
            rc =
                nh_errorf(err, NH_ECORRUPT, "corrupt work file of unit %zu", u);
            break;
        }
        rc = process_doc(w, o, &d, err);
        doc_release(&d);
        if (rc < 0)
            break;
    }
out:
    nh_reader_close(docs);
    nh_reader_close(dec);
    strbuf_release(&path);
    return rc;
}

static int
open_out(struct run *r, struct strbuf *path, size_t u, const char *suffix,
         struct nh_writer **w, struct nh_error *err)
{
    work_path(r, path, u, 's', r->seg, suffix);
    return nh_writer_open(w, path->buf, 0, err);
}

static int
run_unit(struct worker *w, size_t u, struct nh_error *err)
{
    struct run *r = w->r;
    const struct segment *sg = &r->p->segs[r->seg];
    struct unit_out o = {0};
    cJSON *js = NULL, *arr, *sizes;
    size_t i;
    int rc;

    o.st = calloc(r->nstats, sizeof(*o.st));
    if (!o.st)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    if ((rc = open_out(r, &w->path, u, ".jsonl", &o.docs, err)) < 0 ||
        (rc = open_out(r, &w->path, u, ".rm.jsonl", &o.removed, err)) < 0 ||
        (sg->global >= 0 &&
         (rc = open_out(r, &w->path, u, ".keys", &o.keys, err)) < 0))
        goto out;
    rc = r->seg == 0 ? unit_from_input(w, &o, u, err)
                     : unit_from_work(w, &o, u, err);
    if (rc < 0)
        goto out;
    /* the work files are not fsync'd (see nh_writer_commit_nosync): the
     * stats file, written last and synced, records their sizes, and a
     * resumed run checks them (check_work) */
    js = cJSON_CreateObject();
    sizes = cJSON_AddObjectToObject(js, "files");
    if (!sizes) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < 3; i++) {
        struct nh_writer **wp = i == 0   ? &o.docs
                                : i == 1 ? &o.removed
                                         : &o.keys;
        static const char *const names[] = {".jsonl", ".rm.jsonl", ".keys"};

        if (!*wp)
            continue;
        cJSON_AddNumberToObject(sizes, names[i], (double)nh_writer_bytes(*wp));
        rc = nh_writer_commit_nosync(*wp, err);
        *wp = NULL;
        if (rc < 0)
            goto out;
    }
    arr = cJSON_AddArrayToObject(js, "stats");
    for (i = 0; arr && i < r->nstats; i++)
        cJSON_AddItemToArray(arr, stats_to_json(&o.st[i]));
    work_path(r, &w->path, u, 's', r->seg, ".stats.json");
    rc = write_json_atomic(w->path.buf, js, err);
out:
    nh_writer_abort(o.docs);
    nh_writer_abort(o.removed);
    nh_writer_abort(o.keys);
    cJSON_Delete(js);
    for (i = 0; i < r->nstats; i++)
        stats_release(&o.st[i]);
    free(o.st);
    return rc;
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->r;
    const struct pipeline *p = r->p;
    size_t i;

    w->ctx = calloc(p->nstages, sizeof(*w->ctx));
    if (!w->ctx) {
        struct nh_error e;

        nh_errorf(&e, NH_ENOMEM, "out of memory");
        run_fail(r, &e);
        return NULL;
    }
    for (i = 0; i < p->nstages; i++)
        if (p->stages[i].ops->thread_init)
            w->ctx[i].tstate = p->stages[i].ops->thread_init(p->stages[i].conf);
    while (!atomic_load(&r->failed)) {
        size_t u = atomic_fetch_add(&r->next_unit, 1);
        struct nh_error e;

        if (u >= r->hi)
            break;
        work_path(r, &w->path, u, 's', r->seg, ".stats.json");
        if (!file_exists(w->path.buf)) {
            if (run_unit(w, u, &e) < 0) {
                run_fail(r, &e);
                break;
            }
            if (r->kill_after > 0 &&
                atomic_fetch_add(&r->units_run, 1) + 1 >= r->kill_after)
                raise(SIGKILL);
            if (r->unit_delay_ms > 0) {
                struct timespec ts = {r->unit_delay_ms / 1000,
                                      r->unit_delay_ms % 1000 * 1000000};
                nanosleep(&ts, NULL);
            }
        }
        atomic_fetch_add(&r->units_done, 1);
    }
    for (i = 0; i < p->nstages; i++) {
        if (p->stages[i].ops->thread_free)
            p->stages[i].ops->thread_free(w->ctx[i].tstate);
        strbuf_release(&w->ctx[i].scratch);
        strbuf_release(&w->ctx[i].scratch2);
    }
    free(w->ctx);
    strbuf_release(&w->line);
    strbuf_release(&w->path);
    strbuf_release(&w->keybuf);
    return NULL;
}

/* ---- global passes ----------------------------------------------------- */

static void
global_stats_path(const struct run *r, struct strbuf *sb, size_t k)
{
    strbuf_reset(sb);
    strbuf_addf(sb, "%s/g%zu.stats.json", r->work, k);
}

struct join_files {
    const struct run *r;
    size_t k;
};

static void
join_path(void *arg, size_t u, enum join_file kind, struct strbuf *sb)
{
    const struct join_files *f = arg;

    if (kind == JOIN_DECISIONS)
        work_path(f->r, sb, u, 'g', f->k, "");
    else
        work_path(f->r, sb, u, 's', f->k,
                  kind == JOIN_KEYS ? ".keys" : ".jsonl");
}

/* Decide the global stage ending segment k over all units' keys
 * (pipeline/join.c) and write each unit's decisions and gK.stats.json. */
static int
global_pass(struct run *r, size_t k, struct nh_error *err)
{
    const struct pipeline *p = r->p;
    long g = p->segs[k].global;
    const struct pstage *ps = &p->stages[g];
    struct join_files f = {r, k};
    struct join_job j = {
        .ops = ps->ops,
        .conf = ps->conf,
        .where = ps->where,
        .text_field = p->text_field,
        .nunits = r->in->nunits,
        .path = join_path,
        .arg = &f,
        .memory = r->opts->memory,
        .tmpdir = r->work,
        .dist = r->opts->dist,
        .unit_lo = r->lo,
        .unit_hi = r->hi,
    };
    struct strbuf path = STRBUF_INIT;
    cJSON *js = NULL, *arr;
    double t0 = nh_now();
    int rc;

    rc = join_run(&j, err);
    if (rc == 0 && (!j.dist || j.dist->rank == 0)) {
        j.st.seconds = nh_now() - t0;
        js = cJSON_CreateObject();
        arr = stats_to_json(&j.st);
        if (!js || !arr || !cJSON_AddNumberToObject(js, "stage", (double)g) ||
            !cJSON_AddItemToObject(js, "stats", arr)) {
            cJSON_Delete(arr);
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        } else {
            global_stats_path(r, &path, k);
            rc = write_json_atomic(path.buf, js, err);
        }
    }
    cJSON_Delete(js);
    stats_release(&j.st);
    strbuf_release(&path);
    return rc;
}

/* ---- merge into shards -------------------------------------------------- */

struct shard_out {
    const char *dir;
    char prefix[16]; /* "part-", or "part-rNNN-" for rank NNN under MPI */
    int zstd_level;
    uint64_t cap;
    size_t idx;
    struct nh_writer *w;
    uint64_t docs, bytes; /* totals over all shards */
};

static int
shard_write(struct shard_out *s, const char *line, size_t len,
            struct nh_error *err)
{
    int rc;

    if (s->w && nh_writer_bytes(s->w) > 0 &&
        nh_writer_bytes(s->w) + len + 1 > s->cap) {
        rc = nh_writer_commit(s->w, err);
        s->w = NULL;
        if (rc < 0)
            return rc;
    }
    if (!s->w) {
        char path[4096];

        snprintf(path, sizeof(path), "%s/%s%05zu.jsonl%s", s->dir, s->prefix,
                 s->idx++, s->zstd_level ? ".zst" : "");
        if ((rc = nh_writer_open(&s->w, path, s->zstd_level, err)) < 0)
            return rc;
        nh_writer_write_behind(s->w);
    }
    s->docs++;
    s->bytes += len + 1;
    if ((rc = nh_writer_write(s->w, line, len, err)) < 0)
        return rc;
    return nh_writer_write(s->w, "\n", 1, err);
}

static int
shard_copy(struct shard_out *s, const char *path, struct nh_error *err)
{
    struct nh_reader *rd;
    const char *line;
    size_t len;
    int rc;

    if ((rc = nh_reader_open(&rd, path, err)) < 0)
        return rc;
    nh_reader_set_max_line(rd, SIZE_MAX);
    while ((rc = nh_reader_line(rd, &line, &len, err)) > 0)
        if ((rc = shard_write(s, line, len, err)) < 0)
            break;
    nh_reader_close(rd);
    return rc;
}

static int
shard_close(struct shard_out *s, struct nh_error *err)
{
    int rc = 0;

    if (s->w)
        rc = nh_writer_commit(s->w, err);
    s->w = NULL;
    return rc;
}

/* When the stage list ends with a global stage, its decisions are
 * applied while merging instead of in a segment of their own, which
 * would only copy every kept document once more. */
static bool
fused_tail(const struct pipeline *p)
{
    return p->nsegs > 1 && p->segs[p->nsegs - 1].count == 0;
}

/* The last segment that runs over the units. */
static size_t
last_run_segment(const struct pipeline *p)
{
    return p->nsegs - 1 - (fused_tail(p) ? 1 : 0);
}

/* Merge unit u's output of the segment before a fused global stage,
 * applying that stage's decisions: kept lines go to data as they are,
 * dropped ones to removed. */
static int
merge_decided(struct worker *w, size_t u, struct shard_out *data,
              struct shard_out *removed, struct nh_error *err)
{
    struct run *r = w->r;
    size_t k = last_run_segment(r->p);
    const struct pstage *gs = &r->p->stages[r->p->segs[k].global];
    struct nh_reader *docs = NULL, *dec = NULL;
    struct strbuf path = STRBUF_INIT;
    const char *line, *dl;
    size_t len, dlen;
    int rc;

    work_path(r, &path, u, 's', k, ".jsonl");
    if ((rc = nh_reader_open(&docs, path.buf, err)) < 0)
        goto out;
    nh_reader_set_max_line(docs, SIZE_MAX);
    work_path(r, &path, u, 'g', k, "");
    if ((rc = nh_reader_open(&dec, path.buf, err)) < 0)
        goto out;
    while ((rc = nh_reader_line(docs, &line, &len, err)) > 0) {
        if ((rc = nh_reader_line(dec, &dl, &dlen, err)) <= 0) {
            rc = nh_errorf(err, NH_ECORRUPT,
                           "'%s': fewer decisions than documents", path.buf);
            break;
        }
        if (dlen == 1 && dl[0] == '0')
            rc = shard_write(data, line, len, err);
        else if ((rc = global_removed_line(w, gs, line, len, dl, dlen, err)) ==
                 0)
            rc = shard_write(removed, w->line.buf, w->line.len - 1, err);
        if (rc < 0)
            break;
    }
out:
    nh_reader_close(docs);
    nh_reader_close(dec);
    strbuf_release(&path);
    return rc;
}

/* Make dir exist and hold no part files (left by an interrupted merge). */
static int
clean_dir(const char *dir, struct nh_error *err)
{
    DIR *d;
    struct dirent *e;

    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return nh_error_errno(err, "cannot create '%s'", dir);
    if (!(d = opendir(dir)))
        return nh_error_errno(err, "cannot open '%s'", dir);
    while ((e = readdir(d))) {
        char path[4096];

        if (strncmp(e->d_name, "part-", 5))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    return 0;
}

static void
remove_work(const char *work)
{
    DIR *d = opendir(work);
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d))) {
        char path[4096];

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", work, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(work);
}

/* ---- stats.json -----------------------------------------------------------
 */

static int
sum_stats(struct run *r, struct stage_stats *tot, struct nh_error *err)
{
    struct strbuf path = STRBUF_INIT;
    size_t k, u, i;
    int rc = 0;

    for (k = 0; k < r->p->nsegs && rc == 0; k++) {
        for (u = 0; k <= last_run_segment(r->p) && u < r->in->nunits && rc == 0;
             u++) {
            cJSON *js, *arr;

            work_path(r, &path, u, 's', k, ".stats.json");
            if (!(js = read_json_file(path.buf, err))) {
                rc = NH_ECORRUPT;
                break;
            }
            arr = cJSON_GetObjectItemCaseSensitive(js, "stats");
            for (i = 0; i < r->nstats && rc == 0; i++)
                rc = stats_add_json(&tot[i], cJSON_GetArrayItem(arr, (int)i));
            cJSON_Delete(js);
        }
        if (rc == 0 && r->p->segs[k].global >= 0) {
            cJSON *js;

            global_stats_path(r, &path, k);
            if (!(js = read_json_file(path.buf, err))) {
                rc = NH_ECORRUPT;
                break;
            }
            rc = stats_add_json(&tot[r->p->segs[k].global + 1],
                                cJSON_GetObjectItemCaseSensitive(js, "stats"));
            cJSON_Delete(js);
        }
    }
    strbuf_release(&path);
    if (rc == NH_ENOMEM)
        nh_errorf(err, rc, "out of memory");
    return rc;
}

static cJSON *
run_json(struct run *r, struct stage_stats *tot, const struct shard_out *data,
         const struct shard_out *removed, double seconds)
{
    const struct pipeline *p = r->p;
    cJSON *js = cJSON_CreateObject(), *o, *arr;
    char fp[33];
    size_t i;

    if (!js)
        return NULL;
    input_set_fingerprint(r->in, fp);
    cJSON_AddStringToObject(js, "tool", "nh-clean");
    cJSON_AddStringToObject(js, "version", TOOL_VERSION);
    cJSON_AddStringToObject(js, "config_hash", p->config_hash);
    cJSON_AddStringToObject(js, "inputs_fingerprint", fp);
    o = cJSON_AddObjectToObject(js, "inputs");
    cJSON_AddNumberToObject(o, "files", (double)r->in->nfiles);
    cJSON_AddNumberToObject(o, "units", (double)r->in->nunits);
    cJSON_AddNumberToObject(o, "bytes", (double)r->in->total_bytes);
    cJSON_AddNumberToObject(js, "threads", r->opts->threads);
    cJSON_AddNumberToObject(js, "seconds", seconds);
    tot[0].docs_in = tot[0].docs_out + stats_removed_total(&tot[0]);
    tot[0].bytes_in = r->in->total_bytes;
    o = stats_to_json(&tot[0]);
    cJSON_AddItemToObject(js, "read", o);
    arr = cJSON_AddArrayToObject(js, "stages");
    for (i = 0; arr && i < p->nstages; i++) {
        cJSON *s = cJSON_CreateObject();

        if (!s)
            continue;
        cJSON_AddStringToObject(s, "op", p->stages[i].ops->name);
        cJSON_AddStringToObject(s, "name", p->stages[i].name);
        stats_fill_json(s, &tot[i + 1]);
        cJSON_AddItemToArray(arr, s);
    }
    o = cJSON_AddObjectToObject(js, "output");
    cJSON_AddNumberToObject(o, "docs", (double)data->docs);
    cJSON_AddNumberToObject(o, "bytes", (double)data->bytes);
    cJSON_AddNumberToObject(o, "shards", (double)data->idx);
    cJSON_AddNumberToObject(o, "removed_docs", (double)removed->docs);
    cJSON_AddNumberToObject(o, "removed_shards", (double)removed->idx);
    cJSON_AddStringToObject(o, "compression", p->zstd_level ? "zstd" : "none");
    return js;
}

/* ---- progress --------------------------------------------------------- */

static void
progress_emit(struct run *r, bool final)
{
    double t = nh_now() - r->started;
    uint64_t done = atomic_load(&r->bytes_done);
    uint64_t total = r->share_bytes;
    uint64_t docs = atomic_load(&r->docs_done);
    size_t units = atomic_load(&r->units_done);

    if (r->opts->progress == PROGRESS_JSON) {
        printf("{\"event\":\"progress\",\"phase\":\"%s\",\"segment\":%zu,"
               "\"bytes_done\":%llu,\"bytes_total\":%llu,\"docs\":%llu,"
               "\"units_done\":%zu,\"units_total\":%zu,\"seconds\":%.2f}\n",
               r->phase, r->seg, (unsigned long long)done,
               (unsigned long long)total, (unsigned long long)docs, units,
               r->hi - r->lo, t);
        fflush(stdout);
    } else if (r->opts->progress == PROGRESS_BAR) {
        double frac = total ? (double)done / (double)total : 1.0;
        char bar[31];
        int i, fill;

        if (frac > 1)
            frac = 1;
        fill = (int)(frac * 30);
        for (i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r%-12s [%s] %3.0f%% %7.1f MB/s %9llu docs %5.0fs%s",
                r->phase, bar, frac * 100, t > 0 ? done / t / 1e6 : 0.0,
                (unsigned long long)docs, t, final ? "\n" : "");
    }
}

static void *
progress_main(void *arg)
{
    struct run *r = arg;

    while (!atomic_load(&r->stop_progress)) {
        struct timespec ts = {0, 250 * 1000 * 1000};

        progress_emit(r, false);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* ---- the run ------------------------------------------------------------ */

/* A resumed run first checks that every work file a finished unit
 * recorded still has its recorded size (the files are not fsync'd, so a
 * power loss can shorten them). A damaged unit is done again, and so is
 * every global pass from its segment on. */
static int
check_work(struct run *r, struct nh_error *err)
{
    struct strbuf path = STRBUF_INIT, f = STRBUF_INIT;
    size_t k, u, damaged = SIZE_MAX, redo = 0;

    for (k = 0; k <= last_run_segment(r->p); k++) {
        for (u = 0; u < r->in->nunits; u++) {
            const cJSON *it;
            cJSON *js;
            bool ok = true;

            work_path(r, &path, u, 's', k, ".stats.json");
            if (!file_exists(path.buf))
                continue;
            js = read_json_file(path.buf, err);
            cJSON_ArrayForEach(it,
                               cJSON_GetObjectItemCaseSensitive(js, "files"))
            {
                struct stat st;

                work_path(r, &f, u, 's', k, it->string);
                ok = ok && cJSON_IsNumber(it) && stat(f.buf, &st) == 0 &&
                     (double)st.st_size == it->valuedouble;
            }
            if (!js || !cJSON_GetObjectItemCaseSensitive(js, "files"))
                ok = false;
            cJSON_Delete(js);
            if (!ok) {
                unlink(path.buf);
                redo++;
                if (k < damaged)
                    damaged = k;
            }
        }
    }
    for (k = damaged; k < r->p->nsegs; k++) {
        global_stats_path(r, &path, k);
        unlink(path.buf);
    }
    if (redo)
        nh_warn("%zu work unit(s) damaged (a crash?); doing them again", redo);
    strbuf_release(&path);
    strbuf_release(&f);
    return 0;
}

/* 1: out holds a finished run of this config and these inputs; 0: start or
 * resume; negative: out holds something else. */
static int
prepare_out(struct run *r, struct nh_error *err)
{
    const char *out = r->opts->out;
    struct strbuf path = STRBUF_INIT;
    char fp[33];
    cJSON *js;
    int rc = 0;

    input_set_fingerprint(r->in, fp);
    if (mkdir(out, 0755) < 0 && errno != EEXIST)
        return nh_error_errno(err, "cannot create '%s'", out);
    strbuf_addf(&path, "%s/stats.json", out);
    if (file_exists(path.buf)) {
        js = read_json_file(path.buf, err);
        if (js) {
            const cJSON *ch =
                cJSON_GetObjectItemCaseSensitive(js, "config_hash");
            const cJSON *ih =
                cJSON_GetObjectItemCaseSensitive(js, "inputs_fingerprint");

            rc = cJSON_IsString(ch) && cJSON_IsString(ih) &&
                         !strcmp(ch->valuestring, r->p->config_hash) &&
                         !strcmp(ih->valuestring, fp)
                     ? 1
                     : nh_errorf(err, NH_EEXIST,
                                 "'%s' holds a finished run of another config "
                                 "or other inputs; choose another --output",
                                 out);
            cJSON_Delete(js);
        } else {
            rc = NH_ECORRUPT;
        }
        if (rc == 1)
            remove_work(r->work);
        goto out;
    }
    strbuf_reset(&path);
    strbuf_addf(&path, "%s/plan.json", r->work);
    if (file_exists(path.buf)) {
        js = read_json_file(path.buf, err);
        if (!js) {
            rc = NH_ECORRUPT;
            goto out;
        }
        {
            const cJSON *ch =
                cJSON_GetObjectItemCaseSensitive(js, "config_hash");
            const cJSON *ih =
                cJSON_GetObjectItemCaseSensitive(js, "inputs_fingerprint");

            if (!cJSON_IsString(ch) || !cJSON_IsString(ih) ||
                strcmp(ch->valuestring, r->p->config_hash) ||
                strcmp(ih->valuestring, fp))
                rc = nh_errorf(err, NH_EEXIST,
                               "'%s' holds an unfinished run of another config "
                               "or other inputs; remove it or choose another "
                               "--output",
                               out);
        }
        cJSON_Delete(js);
        if (rc == 0) {
            nh_info("resuming the run in '%s'", out);
            rc = check_work(r, err);
        }
        goto out;
    }
    {
        DIR *d = opendir(out);
        struct dirent *e;
        bool empty = true;

        /* a .work without plan.json is a run killed before it began */
        while (d && (e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
                strcmp(e->d_name, ".work"))
                empty = false;
        if (d)
            closedir(d);
        if (!empty) {
            rc = nh_errorf(err, NH_EEXIST,
                           "'%s' is not empty and holds no nh-clean run; "
                           "choose another --output",
                           out);
            goto out;
        }
    }
    if (mkdir(r->work, 0755) < 0 && errno != EEXIST) {
        rc = nh_error_errno(err, "cannot create '%s'", r->work);
        goto out;
    }
    js = cJSON_CreateObject();
    cJSON_AddStringToObject(js, "config_hash", r->p->config_hash);
    cJSON_AddStringToObject(js, "inputs_fingerprint", fp);
    cJSON_AddNumberToObject(js, "units", (double)r->in->nunits);
    rc = write_json_atomic(path.buf, js, err);
    cJSON_Delete(js);
out:
    strbuf_release(&path);
    return rc;
}

static int
run_segment(struct run *r, size_t k, struct nh_error *err)
{
    int n = r->opts->threads, i;
    pthread_t *tids;
    struct worker *ws;
    size_t u;

    r->seg = k;
    r->phase = "stages";
    atomic_store(&r->next_unit, r->lo);
    atomic_store(&r->units_done, 0);
    if (k == 0) {
        /* units finished by an earlier, interrupted run */
        struct strbuf path = STRBUF_INIT;

        for (u = r->lo; u < r->hi; u++) {
            work_path(r, &path, u, 's', 0, ".stats.json");
            if (file_exists(path.buf))
                atomic_fetch_add(&r->bytes_done, r->in->units[u].bytes);
        }
        strbuf_release(&path);
    }
    if ((size_t)n > r->hi - r->lo)
        n = r->hi > r->lo ? (int)(r->hi - r->lo) : 1;
    tids = calloc((size_t)n, sizeof(*tids));
    ws = calloc((size_t)n, sizeof(*ws));
    if (!tids || !ws) {
        free(tids);
        free(ws);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    for (i = 0; i < n; i++) {
        ws[i].r = r;
        if (pthread_create(&tids[i], NULL, worker_main, &ws[i]) != 0) {
            struct nh_error e;

            nh_errorf(&e, NH_EIO, "cannot start a worker thread");
            run_fail(r, &e);
            n = i;
            break;
        }
    }
    for (i = 0; i < n; i++)
        pthread_join(tids[i], NULL);
    free(tids);
    free(ws);
    if (atomic_load(&r->failed)) {
        *err = r->err;
        return err->code ? err->code : NH_EIO;
    }
    return 0;
}

/* ---- ranks (MPI) --------------------------------------------------------- */

static bool
is_rank0(const struct run *r)
{
    return !r->opts->dist || r->opts->dist->rank == 0;
}

/* The lowest rc of all ranks; a rank that did not fail itself says so. */
static int
agree(struct run *r, int rc, struct nh_error *err)
{
    int all = dist_agree(r->opts->dist, rc);

    if (all < 0 && rc >= 0)
        nh_errorf(err, all, "another rank failed (see its message)");
    return all < 0 ? all : rc;
}

/* Rank 0's rc, on every rank. */
static int
from_rank0(struct run *r, int rc, struct nh_error *err)
{
    const struct dist *d = r->opts->dist;
    int r0 = rc;

    if (!d)
        return rc;
    if (d->bcast(d, &r0, sizeof(r0)) < 0)
        return nh_errorf(err, NH_EIO, "MPI broadcast failed");
    if (r0 < 0 && d->rank != 0)
        nh_errorf(err, r0, "rank 0 failed (see its message)");
    return r0;
}

static int
finish(struct run *r, double t0, struct nh_error *err)
{
    const struct pipeline *p = r->p;
    struct strbuf dir = STRBUF_INIT, rdir = STRBUF_INIT, path = STRBUF_INIT;
    struct shard_out data = {0}, removed = {0};
    struct worker w = {0};
    struct stage_stats *tot;
    size_t u, k, done = last_run_segment(p), i;
    cJSON *js = NULL;
    int rc = 0;

    r->phase = "merge";
    tot = calloc(r->nstats, sizeof(*tot));
    if (!tot)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    strbuf_addf(&dir, "%s/data", r->opts->out);
    strbuf_addf(&rdir, "%s/removed", r->opts->out);
    if (is_rank0(r)) {
        rc = sum_stats(r, tot, err);
        if (rc == 0)
            rc = clean_dir(dir.buf, err);
        if (rc == 0)
            rc = clean_dir(rdir.buf, err);
    }
    if ((rc = agree(r, rc, err)) < 0) /* nobody writes before the clean */
        goto out;
    data.dir = dir.buf;
    removed.dir = rdir.buf;
    if (r->opts->dist)
        snprintf(data.prefix, sizeof(data.prefix), "part-r%03d-",
                 r->opts->dist->rank);
    else
        snprintf(data.prefix, sizeof(data.prefix), "part-");
    memcpy(removed.prefix, data.prefix, sizeof(data.prefix));
    data.zstd_level = removed.zstd_level = p->zstd_level;
    data.cap = removed.cap = p->shard_bytes;
    w.r = r;
    for (u = r->lo; u < r->hi && rc == 0; u++) {
        for (k = 0; k <= done && rc == 0; k++) {
            work_path(r, &path, u, 's', k, ".rm.jsonl");
            rc = shard_copy(&removed, path.buf, err);
        }
        work_path(r, &path, u, 's', done, ".jsonl");
        if (rc == 0)
            rc = fused_tail(p) ? merge_decided(&w, u, &data, &removed, err)
                               : shard_copy(&data, path.buf, err);
    }
    if (rc == 0 && (rc = shard_close(&data, err)) == 0)
        rc = shard_close(&removed, err);
    if ((rc = agree(r, rc, err)) < 0)
        goto out;
    if (r->opts->dist) {
        uint64_t v[5] = {data.docs, data.bytes, data.idx, removed.docs,
                         removed.idx};

        if (r->opts->dist->sum(r->opts->dist, v, 5) < 0) {
            rc = nh_errorf(err, NH_EIO, "MPI reduction failed");
            goto out;
        }
        data.docs = v[0], data.bytes = v[1], data.idx = v[2];
        removed.docs = v[3], removed.idx = v[4];
    }
    if (!is_rank0(r))
        goto out;
    js = run_json(r, tot, &data, &removed, nh_now() - t0);
    if (!js) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    if (r->opts->dist)
        cJSON_AddNumberToObject(js, "ranks", r->opts->dist->size);
    strbuf_reset(&path);
    strbuf_addf(&path, "%s/stats.json", r->opts->out);
    if ((rc = write_json_atomic(path.buf, js, err)) < 0)
        goto out;
    remove_work(r->work);
out:
    nh_writer_abort(data.w);
    nh_writer_abort(removed.w);
    cJSON_Delete(js);
    for (i = 0; i < r->nstats; i++)
        stats_release(&tot[i]);
    free(tot);
    strbuf_release(&dir);
    strbuf_release(&rdir);
    strbuf_release(&path);
    strbuf_release(&w.line);
    return rc;
}

int
driver_run(const struct pipeline *p, const struct input_set *in,
           const struct run_opts *opts, struct nh_error *err)
{
    struct run r;
    struct strbuf work = STRBUF_INIT;
    pthread_t prog;
    bool prog_started = false;
    double t0 = nh_now();
    size_t k;
    int rc;

    memset(&r, 0, sizeof(r));
    r.p = p;
    r.in = in;
    r.opts = opts;
    r.nstats = p->nstages + 1;
    r.lo = 0;
    r.hi = in->nunits;
    if (opts->dist) {
        uint64_t *ub = calloc(in->nunits + 1, sizeof(*ub));
        size_t u;

        if (!ub)
            return nh_errorf(err, NH_ENOMEM, "out of memory");
        for (u = 0; u < in->nunits; u++)
            ub[u] = in->units[u].bytes;
        dist_share(opts->dist, ub, in->nunits, &r.lo, &r.hi);
        free(ub);
    }
    for (k = r.lo; k < r.hi; k++)
        r.share_bytes += in->units[k].bytes;
    r.phase = "stages";
    r.started = t0;
    {
        const char *f = getenv("NH_FAULT");

        if (f && !strncmp(f, "kill-after-units:", 17))
            r.kill_after = atol(f + 17);
        if (f && !strncmp(f, "unit-delay-ms:", 14))
            r.unit_delay_ms = atol(f + 14);
    }
    pthread_mutex_init(&r.err_lock, NULL);
    if (strbuf_addf(&work, "%s/.work", opts->out) < 0)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    r.work = work.buf;
    rc = is_rank0(&r) ? prepare_out(&r, err) : 0;
    rc = from_rank0(&r, rc, err);
    if (rc == 1) {
        nh_info("'%s' already holds this finished run; nothing to do",
                opts->out);
        rc = 0;
        goto out;
    }
    if (rc < 0)
        goto out;
    if (opts->progress != PROGRESS_NONE &&
        pthread_create(&prog, NULL, progress_main, &r) == 0)
        prog_started = true;
    for (k = 0; k <= last_run_segment(p); k++) {
        struct strbuf gpath = STRBUF_INIT;

        double ts = nh_now();

        rc = run_segment(&r, k, err);
        if ((rc = agree(&r, rc, err)) < 0)
            break;
        nh_debug("segment %zu: %.2f s", k, nh_now() - ts);
        if (p->segs[k].global < 0)
            continue;
        global_stats_path(&r, &gpath, k);
        if (from_rank0(&r, !file_exists(gpath.buf), err) == 1) {
            r.phase = p->stages[p->segs[k].global].ops->name;
            ts = nh_now();
            rc = global_pass(&r, k, err);
            rc = agree(&r, rc, err);
            nh_debug("%s: %.2f s", r.phase, nh_now() - ts);
        }
        strbuf_release(&gpath);
        if (rc < 0)
            break;
    }
    if (rc == 0) {
        double ts = nh_now();

        rc = finish(&r, t0, err);
        nh_debug("merge: %.2f s", nh_now() - ts);
    }
    if (prog_started) {
        atomic_store(&r.stop_progress, 1);
        pthread_join(prog, NULL);
        if (rc == 0) {
            atomic_store(&r.bytes_done, r.share_bytes);
            progress_emit(&r, true);
        }
    }
out:
    pthread_mutex_destroy(&r.err_lock);
    strbuf_release(&work);
    return rc;
}

static uint64_t
jnum(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsNumber(it) ? (uint64_t)it->valuedouble : 0;
}

static void
summary_row(FILE *fp, const char *name, const cJSON *s)
{
    const cJSON *rm = cJSON_GetObjectItemCaseSensitive(s, "removed"), *it;
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(s, "seconds");
    uint64_t in = jnum(s, "docs_in"), outd = jnum(s, "docs_out");

    fprintf(fp, "%-14s %10llu %10llu %9llu %10.1f %10.1f %8.2f\n", name,
            (unsigned long long)in, (unsigned long long)outd,
            (unsigned long long)(in > outd ? in - outd : 0),
            (double)jnum(s, "bytes_in") / 1e6,
            (double)jnum(s, "bytes_out") / 1e6,
            cJSON_IsNumber(sec) ? sec->valuedouble : 0.0);
    cJSON_ArrayForEach(it, rm)
    {
        fprintf(fp, "%-14s   %-30s %10llu\n", "", it->string,
                (unsigned long long)it->valuedouble);
    }
}

int
driver_print_summary(const char *out_dir, FILE *fp, struct nh_error *err)
{
    struct strbuf path = STRBUF_INIT;
    const cJSON *st, *o;
    cJSON *js;

    strbuf_addf(&path, "%s/stats.json", out_dir);
    js = read_json_file(path.buf, err);
    strbuf_release(&path);
    if (!js)
        return err->code ? err->code : NH_EIO;
    fprintf(fp, "%-14s %10s %10s %9s %10s %10s %8s\n", "stage", "docs in",
            "docs out", "removed", "MB in", "MB out", "seconds");
    summary_row(fp, "read", cJSON_GetObjectItemCaseSensitive(js, "read"));
    cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(js, "stages"))
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(st, "name");

        summary_row(fp, cJSON_IsString(name) ? name->valuestring : "?", st);
    }
    o = cJSON_GetObjectItemCaseSensitive(js, "output");
    fprintf(fp,
            "output: %llu documents, %.1f MB in %llu shard(s) under "
            "'%s/data'; %llu removed under '%s/removed'\n",
            (unsigned long long)jnum(o, "docs"), (double)jnum(o, "bytes") / 1e6,
            (unsigned long long)jnum(o, "shards"), out_dir,
            (unsigned long long)jnum(o, "removed_docs"), out_dir);
    o = cJSON_GetObjectItemCaseSensitive(js, "seconds");
    if (cJSON_IsNumber(o) && o->valuedouble > 0)
        fprintf(fp, "time: %.2f s, %.1f MB/s of input\n", o->valuedouble,
                (double)jnum(cJSON_GetObjectItemCaseSensitive(js, "inputs"),
                             "bytes") /
                    1e6 / o->valuedouble);
    cJSON_Delete(js);
    return 0;
}
