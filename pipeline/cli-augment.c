/* cli-augment.c - `nh-clean augment`: augmented copies of a corpus
 *
 * Reads the inputs in input order (pipeline/input.c: the same files,
 * ids and sources as `nh-clean run`), gives each document to
 * augment_doc() (pipeline/augment.h) and writes the originals (unless
 * --only-new) and their augmented copies to OUT/data/part-NNNNN.jsonl,
 * plus OUT/stats.json. With --progress json it prints progress lines
 * like `nh-clean run`, which is how nhd's augment jobs (server/jobs.c)
 * follow it. The output depends only on the inputs, the operator file
 * and the seed. main.c dispatches here.
 * Exit status: 0 success, 1 failure, 2 bad usage or bad operator file.
 */
#include "augment.h"
#include "input.h"
#include "jsonl.h"
#include "stage.h"

#include "clock.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PART_BYTES ((uint64_t)256 << 20)

static const char usage_text[] =
    "usage: nh-clean augment --ops OPS.json -o OUT [--ratio R] [--seed S]\n"
    "                        [--only-new] [--progress json|none] INPUT...\n"
    "\n"
    "Write each document of INPUT and its augmented copies to OUT/data/\n"
    "(with --only-new, the copies only) and the counts to OUT/stats.json.\n"
    "  --ops FILE      the operators (docs/AUGMENT.md; examples in\n"
    "                  docs/examples/augment-*.json)\n"
    "  --ratio R       copies per document: floor(R), and one more with\n"
    "                  probability frac(R) (default 1, at most 100)\n"
    "  --seed S        the seed (default 0): the same seed, the same output\n";

struct aug_run {
    struct nh_writer *w;
    const char *out;
    unsigned part;
    struct strbuf line;
    uint64_t docs_out, bytes_out, augmented;
    struct nh_error *err;
};

static int
open_part(struct aug_run *r)
{
    char path[4096];

    if (snprintf(path, sizeof(path), "%s/data/part-%05u.jsonl", r->out,
                 r->part) >= (int)sizeof(path))
        return nh_errorf(r->err, NH_ETOOBIG, "output path too long");
    r->part++;
    return nh_writer_open(&r->w, path, 0, r->err);
}

static int
write_record(struct aug_run *r, cJSON *rec)
{
    char *s = cJSON_PrintUnformatted(rec);
    int rc;

    if (!s)
        return nh_errorf(r->err, NH_ENOMEM, "out of memory");
    if (r->w && nh_writer_bytes(r->w) >= PART_BYTES) {
        rc = nh_writer_commit(r->w, r->err);
        r->w = NULL;
        if (rc < 0) {
            free(s);
            return rc;
        }
    }
    strbuf_reset(&r->line);
    if ((!r->w && (rc = open_part(r)) < 0) ||
        (rc = strbuf_addstr(&r->line, s)) < 0 ||
        (rc = strbuf_addch(&r->line, '\n')) < 0 ||
        (rc = nh_writer_write(r->w, r->line.buf, r->line.len, r->err)) < 0) {
        free(s);
        return rc == NH_ENOMEM ? nh_errorf(r->err, rc, "out of memory") : rc;
    }
    free(s);
    r->docs_out++;
    r->bytes_out += r->line.len;
    return 0;
}

static int
emit_augmented(void *arg, cJSON *rec)
{
    struct aug_run *r = arg;
    int rc = write_record(r, rec);

    cJSON_Delete(rec);
    if (rc == 0)
        r->augmented++;
    return rc;
}

static int
mkdirs(const char *out, struct nh_error *err)
{
    char path[4096];

    if (mkdir(out, 0755) < 0 && errno != EEXIST)
        return nh_error_errno(err, "cannot create '%s'", out);
    snprintf(path, sizeof(path), "%s/data", out);
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return nh_error_errno(err, "cannot create '%s'", path);
    return 0;
}

static void
progress(bool json, uint64_t done, uint64_t total, uint64_t docs, size_t u,
         size_t nu, double t0)
{
    if (!json)
        return;
    printf("{\"event\":\"progress\",\"phase\":\"augment\",\"segment\":0,"
           "\"bytes_done\":%llu,\"bytes_total\":%llu,\"docs\":%llu,"
           "\"units_done\":%zu,\"units_total\":%zu,\"seconds\":%.2f}\n",
           (unsigned long long)done, (unsigned long long)total,
           (unsigned long long)docs, u, nu, nh_now() - t0);
    fflush(stdout);
}

static int
write_stats(const struct aug_run *r, const struct augment *a, uint64_t seed,
            double ratio, bool only_new, uint64_t docs_in, uint64_t bytes_in,
            uint64_t rejected, double secs, struct nh_error *err)
{
    cJSON *o = cJSON_CreateObject(), *c = augment_counts(a);
    char path[4096], *s = NULL;
    struct nh_writer *w = NULL;
    int rc = 0;

    snprintf(path, sizeof(path), "%s/stats.json", r->out);
    if (!o || !c || !cJSON_AddStringToObject(o, "tool", "nh-clean augment") ||
        !cJSON_AddNumberToObject(o, "seed", (double)seed) ||
        !cJSON_AddNumberToObject(o, "ratio", ratio) ||
        !cJSON_AddBoolToObject(o, "only_new", only_new) ||
        !cJSON_AddNumberToObject(o, "docs_in", (double)docs_in) ||
        !cJSON_AddNumberToObject(o, "bytes_in", (double)bytes_in) ||
        !cJSON_AddNumberToObject(o, "rejected", (double)rejected) ||
        !cJSON_AddNumberToObject(o, "augmented", (double)r->augmented) ||
        !cJSON_AddNumberToObject(o, "docs_out", (double)r->docs_out) ||
        !cJSON_AddNumberToObject(o, "bytes_out", (double)r->bytes_out) ||
        !cJSON_AddNumberToObject(o, "seconds", secs) ||
        !cJSON_AddItemToObject(o, "ops", c) || !(s = cJSON_Print(o))) {
        if (o && c && !cJSON_GetObjectItemCaseSensitive(o, "ops"))
            cJSON_Delete(c);
        cJSON_Delete(o);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    if ((rc = nh_writer_open(&w, path, 0, err)) == 0 &&
        (rc = nh_writer_write(w, s, strlen(s), err)) == 0 &&
        (rc = nh_writer_write(w, "\n", 1, err)) == 0) {
        rc = nh_writer_commit(w, err);
        w = NULL;
    }
    if (w)
        nh_writer_abort(w);
    free(s);
    cJSON_Delete(o);
    return rc;
}

static int
load_ops(struct augment **a, const char *path, struct nh_error *err)
{
    struct nh_reader *rd;
    struct strbuf sb = STRBUF_INIT;
    int rc;

    if ((rc = nh_reader_open(&rd, path, err)) < 0)
        return rc;
    rc = nh_reader_all(rd, &sb, (size_t)1 << 20, err);
    nh_reader_close(rd);
    if (rc == 0)
        rc = augment_parse(a, strbuf_str(&sb), sb.len, path, err);
    strbuf_release(&sb);
    return rc;
}

int
cmd_augment(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ops", required_argument, NULL, 'O'},
        {"output", required_argument, NULL, 'o'},
        {"ratio", required_argument, NULL, 'r'},
        {"seed", required_argument, NULL, 's'},
        {"only-new", no_argument, NULL, 'n'},
        {"progress", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *ops = NULL;
    struct aug_run r;
    struct augment *a = NULL;
    struct input_set in;
    struct input_opts io = {.text_field = "text",
                            .max_doc_bytes = (size_t)64 << 20};
    struct nh_error err = {0};
    double ratio = 1, t0 = nh_now(), last = 0;
    unsigned long long seed = 0;
    uint64_t docs_in = 0, bytes_in = 0, rejected = 0, done = 0;
    bool only_new = false, json = false, have_in = false;
    char *end;
    int c, rc = 0;

    memset(&r, 0, sizeof(r));
    r.err = &err;
    strbuf_init(&r.line, 0);
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'O':
            ops = optarg;
            break;
        case 'o':
            r.out = optarg;
            break;
        case 'r':
            ratio = strtod(optarg, &end);
            if (*end || end == optarg || !(ratio >= 0 && ratio <= 100)) {
                fprintf(stderr, "nh-clean: --ratio must be 0..100\n");
                return 2;
            }
            break;
        case 's':
            errno = 0;
            seed = strtoull(optarg, &end, 10);
            if (*end || end == optarg || errno || *optarg == '-' ||
                seed > 9007199254740992ULL) {
                fprintf(stderr, "nh-clean: --seed must be 0..2^53\n");
                return 2;
            }
            break;
        case 'n':
            only_new = true;
            break;
        case 'p':
            if (strcmp(optarg, "json") && strcmp(optarg, "none")) {
                fprintf(stderr, "nh-clean: --progress must be json or none\n");
                return 2;
            }
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
    if (!ops || !r.out || optind >= argc) {
        fprintf(stderr, "nh-clean: augment needs --ops, -o and an INPUT\n");
        fputs(usage_text, stderr);
        return 2;
    }
    if (load_ops(&a, ops, &err) < 0) {
        fprintf(stderr, "nh-clean: %s\n", err.msg);
        return 2;
    }
    if (input_scan(&in, argv + optind, (size_t)(argc - optind), &err) < 0) {
        fprintf(stderr, "nh-clean: %s\n", err.msg);
        augment_free(a);
        return 2;
    }
    have_in = true;
    if ((rc = mkdirs(r.out, &err)) < 0)
        goto out;
    for (size_t u = 0; u < in.nunits && rc == 0; u++) {
        struct input_cursor *cur;
        uint64_t base = done;

        if ((rc = input_open(&cur, &in, u, &io, &err)) < 0)
            break;
        for (;;) {
            struct doc d;
            struct input_reject rej;
            int k = input_next(cur, &d, &rej, &err);

            if (k <= 0) {
                rc = k;
                break;
            }
            if (k == 2) {
                rejected++;
                cJSON_Delete(rej.record);
                continue;
            }
            docs_in++;
            bytes_in += d.text.len;
            {
                /* id and source live in the record, which now holds the
                 * text again */
                const char *id = d.id, *src = d.source;
                size_t len = d.text.len;
                cJSON *rec = doc_to_record(&d, io.text_field);
                const cJSON *t =
                    cJSON_GetObjectItemCaseSensitive(rec, io.text_field);

                rc = !cJSON_IsString(t) || !t->valuestring
                         ? nh_errorf(&err, NH_ENOMEM, "out of memory")
                     : only_new ? 0
                                : write_record(&r, rec);
                if (rc == 0)
                    rc = augment_doc(a, seed, ratio, rec, id, src,
                                     t->valuestring, len, emit_augmented, &r,
                                     &err);
                cJSON_Delete(rec);
            }
            if (rc < 0)
                break;
            rc = 0;
            done = base + input_bytes_read(cur);
            if (json && nh_now() - last >= 0.25) {
                progress(json, done, in.total_bytes, docs_in, u, in.nunits, t0);
                last = nh_now();
            }
        }
        input_close(cur);
    }
    if (rc == 0 && !r.w)
        rc = open_part(&r); /* an empty corpus gives one empty part */
    if (rc == 0) {
        rc = nh_writer_commit(r.w, &err);
        r.w = NULL;
    }
    if (rc == 0)
        rc = write_stats(&r, a, seed, ratio, only_new, docs_in, bytes_in,
                         rejected, nh_now() - t0, &err);
    if (rc == 0) {
        progress(json, in.total_bytes, in.total_bytes, docs_in, in.nunits,
                 in.nunits, t0);
        if (json)
            printf("{\"event\":\"done\"}\n");
        else
            printf("%llu documents in, %llu augmented, %llu out\n",
                   (unsigned long long)docs_in, (unsigned long long)r.augmented,
                   (unsigned long long)r.docs_out);
    }
out:
    if (r.w)
        nh_writer_abort(r.w);
    if (rc < 0)
        fprintf(stderr, "nh-clean: %s\n", err.msg);
    if (have_in)
        input_set_release(&in);
    strbuf_release(&r.line);
    augment_free(a);
    return rc < 0 ? 1 : 0;
}
