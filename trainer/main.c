/* main.c - the nh-train command line
 *
 * One binary for the trainer's commands, dispatched through commands[]
 * (to add one: a cmd_x function, a line in the table, a line in the
 * usage text, a test). Today: the tokenizer (train, encode, decode,
 * info), `tokenize`, which turns JSONL shards into token shards for
 * training, `tokens`, which checks and reads them, `run` (run.c),
 * which trains a model on them, `plan` (plan.c), which predicts how
 * to split a model over many devices, and `launch` (launch.c), which
 * runs `run` under mpirun and restarts it after faults. Exit status: 0 success,
 * 1 failure, 2 bad usage.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bpe.h"
#include "clock.h"
#include "hash.h"
#include "jsonl.h"
#include "launch.h"
#include "log.h"
#include "plan.h"
#include "run.h"
#include "strbuf.h"
#include "tokshard.h"

#define VERSION "0.1.0"
#define MAX_TEXT_INPUT ((size_t)1 << 31) /* one encode/decode input */

static const char usage_text[] =
    "usage: nh-train tokenizer train --vocab N --output TOK [--special NAME]"
    "\n                           [--input] PATH...\n"
    "       nh-train tokenizer encode [--special] [--stats] [--lines] TOK "
    "[FILE]\n"
    "       nh-train tokenizer decode TOK [FILE]\n"
    "       nh-train tokenizer info TOK\n"
    "       nh-train tokenize --tokenizer TOK --output DIR [-q] INPUT...\n"
    "       nh-train tokens check DIR\n"
    "       nh-train tokens read DIR START COUNT\n"
    "       nh-train run --config MODEL.json --data DIR --out RUN_DIR "
    "[options]\n"
    "       nh-train plan --model MODEL.json --cluster CLUSTER.json "
    "[options]\n"
    "       nh-train launch (--np N | --plan PLAN.json) [options] -- run "
    "ARGS...\n"
    "\n"
    "The trainer of naohai. The tokenizer is a byte-level BPE: any bytes\n"
    "encode and decode back exactly; Chinese needs no spaces.\n"
    "\n"
    "tokenizer train   learn N ids (256 bytes, <|endoftext|>, the --special\n"
    "                  names, then merges) from PATHs: .jsonl[.gz|.zst]\n"
    "                  (each line's \"text\") or plain text files\n"
    "tokenizer encode  ids of FILE (default: stdin, all of it) on stdout,\n"
    "                  separated by spaces; --special: the names of special\n"
    "                  tokens in the text encode as those tokens; --stats:\n"
    "                  bytes and tokens on stderr; --lines: each line\n"
    "                  alone, newline not encoded, one line of ids each\n"
    "                  (as spm_encode does)\n"
    "tokenizer decode  bytes of the ids (whitespace-separated) in FILE\n"
    "tokenizer info    vocabulary, specials, merges and hash of TOK\n"
    "tokenize          one token shard per JSONL INPUT (files or\n"
    "                  directories of .jsonl[.gz|.zst]) in DIR, plus\n"
    "                  DIR/manifest.json\n"
    "tokens check      the manifest against every shard (headers, counts,\n"
    "                  checksums); prints the totals\n"
    "tokens read       COUNT tokens from START, across shards, as ids\n"
    "run               train the model of MODEL.json on the tokens of DIR\n"
    "                  (one process); metrics as JSON lines on stdout and\n"
    "                  in RUN_DIR/metrics.jsonl; `nh-train run --help`\n"
    "plan              the fastest data x tensor x pipeline splits of a\n"
    "                  model over a cluster that fit in memory, predicted;\n"
    "                  `nh-train plan --help`\n"
    "launch            run ARGS under mpirun, supervised: restarts from the\n"
    "                  newest checkpoint after a fault; `nh-train launch\n"
    "                  --help`\n"
    "\n"
    "See docs/TRAINER.md.\n";

static int
usage(int status)
{
    fputs(usage_text, status ? stderr : stdout);
    return status;
}

static bool
is_jsonl(const char *path)
{
    return strstr(path, ".jsonl") != NULL;
}

/* Whole file (or stdin for NULL or "-") into sb. */
static int
slurp(const char *path, struct strbuf *sb, struct nh_error *err)
{
    char buf[65536];
    size_t n;
    FILE *f = stdin;
    int rc = 0;

    if (path && strcmp(path, "-")) {
        f = fopen(path, "rb");
        if (!f)
            return nh_error_errno(err, "cannot open '%s'", path);
    }
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        if ((rc = strbuf_add(sb, buf, n)) < 0) {
            nh_errorf(err, rc, "'%s': too big", path ? path : "-");
            break;
        }
    if (rc == 0 && ferror(f))
        rc = nh_error_errno(err, "cannot read '%s'", path ? path : "-");
    if (f != stdin)
        fclose(f);
    return rc;
}

/* Call fn on the text of each document of path: JSONL lines' "text", or
 * each line (with its newline) of a plain text file. */
typedef int doc_fn(const char *text, size_t len, void *arg,
                   struct nh_error *err);

static int
each_doc(const char *path, doc_fn *fn, void *arg, struct nh_error *err)
{
    struct nh_reader *rd;
    const char *line;
    size_t len;
    bool jsonl = is_jsonl(path);
    struct strbuf tmp = STRBUF_INIT;
    int rc;

    if ((rc = nh_reader_open(&rd, path, err)) < 0)
        return rc;
    while ((rc = nh_reader_line(rd, &line, &len, err)) > 0) {
        if (jsonl) {
            cJSON *j;
            const cJSON *t;

            if (len == 0)
                continue;
            j = cJSON_ParseWithLength(line, len);
            t = j ? cJSON_GetObjectItemCaseSensitive(j, "text") : NULL;
            if (!cJSON_IsString(t)) {
                cJSON_Delete(j);
                rc = nh_errorf(err, NH_EFORMAT,
                               "'%s' line %llu: not a JSON object with a "
                               "\"text\" string",
                               path, (unsigned long long)nh_reader_lineno(rd));
                break;
            }
            rc = fn(t->valuestring, strlen(t->valuestring), arg, err);
            cJSON_Delete(j);
        } else {
            strbuf_reset(&tmp);
            if ((rc = strbuf_add(&tmp, line, len)) < 0 ||
                (rc = strbuf_addch(&tmp, '\n')) < 0) {
                nh_errorf(err, rc, "out of memory");
                break;
            }
            rc = fn(tmp.buf, tmp.len, arg, err);
        }
        if (rc < 0)
            break;
    }
    if (rc == NH_ETOOBIG)
        nh_errorf(err, rc, "'%s' line %llu: line too long", path,
                  (unsigned long long)nh_reader_lineno(rd) + 1);
    nh_reader_close(rd);
    strbuf_release(&tmp);
    return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------- */

static int
train_doc(const char *text, size_t len, void *arg, struct nh_error *err)
{
    int rc = bpe_trainer_add(arg, text, len);

    return rc < 0 ? nh_errorf(err, rc, "out of memory") : 0;
}

static void
train_progress(uint32_t merges, uint32_t total, void *arg)
{
    if (*(int *)arg)
        fprintf(stderr, "\rnh-train: %u/%u merges", merges, total);
}

static int
cmd_tokenizer_train(int argc, char **argv)
{
    static const struct option opts[] = {
        {"vocab", required_argument, NULL, 'V'},
        {"output", required_argument, NULL, 'o'},
        {"input", required_argument, NULL, 'i'},
        {"special", required_argument, NULL, 's'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct bpe_train_opts to;
    struct bpe_trainer *t = NULL;
    struct bpe *b = NULL;
    struct nh_error err = {0};
    const char *output = NULL, **inputs = NULL, **specials = NULL;
    size_t ninputs = 0, nspecials = 0, i;
    unsigned long vocab = 0;
    char *end;
    int c, rc = 2, verbose = isatty(2);
    double t0 = nh_now(), t1;

    memset(&to, 0, sizeof(to));
    inputs = calloc((size_t)argc, sizeof(*inputs));
    specials = calloc((size_t)argc, sizeof(*specials));
    if (!inputs || !specials)
        nh_die(1, "out of memory");
    optind = 0;
    while ((c = getopt_long(argc, argv, "V:o:i:s:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'V':
            errno = 0;
            vocab = strtoul(optarg, &end, 10);
            if (errno || *end || !*optarg || vocab > BPE_MAX_VOCAB) {
                fprintf(stderr, "nh-train: bad --vocab '%s'\n", optarg);
                goto out;
            }
            break;
        case 'o':
            output = optarg;
            break;
        case 'i':
            inputs[ninputs++] = optarg;
            break;
        case 's':
            specials[nspecials++] = optarg;
            break;
        case 'q':
            verbose = 0;
            break;
        case 'h':
            rc = usage(0);
            goto out;
        default:
            rc = usage(2);
            goto out;
        }
    }
    while (optind < argc)
        inputs[ninputs++] = argv[optind++];
    if (!vocab || !output || !ninputs) {
        fprintf(stderr, "nh-train: tokenizer train needs --vocab, --output "
                        "and inputs\n");
        rc = usage(2);
        goto out;
    }
    to.vocab = (uint32_t)vocab;
    to.specials = specials;
    to.nspecials = nspecials;
    to.progress = train_progress;
    to.progress_arg = &verbose;
    rc = 1;
    if (bpe_trainer_new(&t) < 0)
        nh_die(1, "out of memory");
    for (i = 0; i < ninputs; i++)
        if (each_doc(inputs[i], train_doc, t, &err) < 0) {
            fprintf(stderr, "nh-train: %s\n", err.msg);
            goto out;
        }
    t1 = nh_now();
    if (bpe_trainer_finish(t, &to, &b, &err) < 0) {
        fprintf(stderr, "nh-train: %s\n", err.msg);
        rc = err.code == NH_EINVAL ? 2 : 1;
        goto out;
    }
    if (verbose)
        fputc('\n', stderr);
    if (bpe_save(b, output, &err) < 0) {
        fprintf(stderr, "nh-train: %s\n", err.msg);
        goto out;
    }
    if (bpe_vocab(b) < vocab)
        fprintf(stderr,
                "nh-train: warning: only %u ids: no pair occurs twice more\n",
                bpe_vocab(b));
    fprintf(stderr,
            "nh-train: %llu bytes, %llu distinct pieces, %u merges, "
            "vocabulary %u; counting %.1fs, merging %.1fs\n",
            (unsigned long long)bpe_trainer_bytes(t),
            (unsigned long long)bpe_trainer_pieces(t), bpe_nmerges(b),
            bpe_vocab(b), t1 - t0, nh_now() - t1);
    rc = 0;
out:
    bpe_free(b);
    bpe_trainer_free(t);
    free(inputs);
    free(specials);
    return rc;
}

static int
load_tok(struct bpe **b, const char *path)
{
    struct nh_error err = {0};

    if (bpe_load(b, path, &err) < 0) {
        fprintf(stderr, "nh-train: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int
cmd_tokenizer_encode(int argc, char **argv)
{
    static const struct option opts[] = {
        {"special", no_argument, NULL, 's'},
        {"stats", no_argument, NULL, 'S'},
        {"lines", no_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    struct bpe *b = NULL;
    struct bpe_ids ids = BPE_IDS_INIT;
    struct strbuf in = STRBUF_INIT, out = STRBUF_INIT;
    struct nh_error err = {0};
    int c, flags = 0, stats = 0, lines = 0, rc = 1;
    size_t i, nbytes = 0, ntok = 0, nlines = 0;
    double t0;

    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 's')
            flags |= BPE_ALLOW_SPECIAL;
        else if (c == 'S')
            stats = 1;
        else if (c == 'l')
            lines = 1;
        else
            return usage(2);
    }
    if (argc - optind < 1 || argc - optind > 2)
        return usage(2);
    if (load_tok(&b, argv[optind]) < 0)
        return 1;
    strbuf_init(&in, MAX_TEXT_INPUT);
    if (slurp(argv[optind + 1], &in, &err) < 0) {
        fprintf(stderr, "nh-train: %s\n", err.msg);
        goto out;
    }
    t0 = nh_now();
    if (lines) { /* each line alone, without its newline; a line per line */
        const char *p = in.buf ? in.buf : "", *end = p + in.len, *nl;

        for (; p < end; p = nl + 1) {
            nl = memchr(p, '\n', (size_t)(end - p));
            if (!nl)
                nl = end;
            nbytes += (size_t)(nl - p);
            if (bpe_encode(b, p, (size_t)(nl - p), flags, &ids) < 0 ||
                bpe_ids_push(&ids, UINT32_MAX) < 0) {
                fprintf(stderr, "nh-train: out of memory\n");
                goto out;
            }
            ntok = ids.n - ++nlines;
        }
    } else {
        if (bpe_encode(b, in.buf ? in.buf : "", in.len, flags, &ids) < 0) {
            fprintf(stderr, "nh-train: out of memory\n");
            goto out;
        }
        if (bpe_ids_push(&ids, UINT32_MAX) < 0)
            nh_die(1, "out of memory");
        nbytes = in.len;
        ntok = ids.n - 1;
    }
    for (i = 0; i < ids.n; i++) {
        char num[12];
        int k = 11;
        uint32_t v = ids.v[i];

        if (v == UINT32_MAX) { /* end of a line of output */
            if (out.len && out.buf[out.len - 1] == ' ')
                out.len--;
            if (strbuf_addch(&out, '\n') < 0)
                nh_die(1, "out of memory");
            continue;
        }
        num[k] = ' ';
        do
            num[--k] = (char)('0' + v % 10);
        while ((v /= 10) > 0);
        if (strbuf_add(&out, num + k, (size_t)(12 - k)) < 0) {
            fprintf(stderr, "nh-train: out of memory\n");
            goto out;
        }
        if (out.len > 65536) {
            fwrite(out.buf, 1, out.len, stdout);
            strbuf_reset(&out);
        }
    }
    fwrite(out.buf, 1, out.len, stdout);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "nh-train: cannot write: %s\n", strerror(errno));
        goto out;
    }
    if (stats)
        fprintf(stderr, "bytes %zu tokens %zu bytes/token %.4f seconds %.3f\n",
                nbytes, ntok, ntok ? (double)nbytes / (double)ntok : 0.0,
                nh_now() - t0);
    rc = 0;
out:
    bpe_free(b);
    bpe_ids_release(&ids);
    strbuf_release(&in);
    strbuf_release(&out);
    return rc;
}

static int
cmd_tokenizer_decode(int argc, char **argv)
{
    struct bpe *b = NULL;
    struct bpe_ids ids = BPE_IDS_INIT;
    struct strbuf in = STRBUF_INIT, out = STRBUF_INIT;
    struct nh_error err = {0};
    const char *p, *end;
    uint64_t v;
    int rc = 1;

    if (argc < 2 || argc > 3)
        return usage(2);
    if (load_tok(&b, argv[1]) < 0)
        return 1;
    strbuf_init(&in, MAX_TEXT_INPUT);
    if (slurp(argc > 2 ? argv[2] : NULL, &in, &err) < 0) {
        fprintf(stderr, "nh-train: %s\n", err.msg);
        goto out;
    }
    p = in.buf ? in.buf : "";
    end = p + in.len;
    while (p < end) {
        if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') {
            p++;
            continue;
        }
        if (*p < '0' || *p > '9') {
            fprintf(stderr, "nh-train: bad token id at byte %zu\n",
                    (size_t)(p - in.buf));
            goto out;
        }
        for (v = 0; p < end && *p >= '0' && *p <= '9'; p++) {
            v = v * 10 + (uint64_t)(*p - '0');
            if (v > UINT32_MAX) {
                fprintf(stderr, "nh-train: token id out of range\n");
                goto out;
            }
        }
        if (bpe_ids_push(&ids, (uint32_t)v) < 0)
            nh_die(1, "out of memory");
    }
    if (bpe_decode(b, ids.v, ids.n, &out, &err) < 0) {
        fprintf(stderr, "nh-train: %s\n", err.msg);
        goto out;
    }
    if (fwrite(out.buf ? out.buf : "", 1, out.len, stdout) != out.len ||
        fflush(stdout) != 0) {
        fprintf(stderr, "nh-train: cannot write: %s\n", strerror(errno));
        goto out;
    }
    rc = 0;
out:
    bpe_free(b);
    bpe_ids_release(&ids);
    strbuf_release(&in);
    strbuf_release(&out);
    return rc;
}

static int
cmd_tokenizer_info(int argc, char **argv)
{
    struct bpe *b = NULL;
    char hex[33];
    uint32_t i;
    size_t len;
    const char *name;

    if (argc != 2)
        return usage(2);
    if (load_tok(&b, argv[1]) < 0)
        return 1;
    nh_h128_hex(bpe_hash(b), hex);
    printf("vocab %u\nmerges %u\nhash %s\n", bpe_vocab(b), bpe_nmerges(b), hex);
    for (i = 0; i < bpe_nspecials(b); i++) {
        name = bpe_token_bytes(b, 256 + i, &len);
        printf("special %u %.*s\n", 256 + i, (int)len, name);
    }
    bpe_free(b);
    return 0;
}

static int
cmd_tokenizer(int argc, char **argv)
{
    if (argc < 2)
        return usage(2);
    if (!strcmp(argv[1], "train"))
        return cmd_tokenizer_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "encode"))
        return cmd_tokenizer_encode(argc - 1, argv + 1);
    if (!strcmp(argv[1], "decode"))
        return cmd_tokenizer_decode(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info"))
        return cmd_tokenizer_info(argc - 1, argv + 1);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return usage(0);
    fprintf(stderr, "nh-train: unknown tokenizer command '%s'\n", argv[1]);
    return usage(2);
}

/* ---------------------------------------------------------------- */
/* tokenize                                                          */

struct shard_job {
    const char *source;
    char file[32];
    uint64_t source_bytes;
    struct nh_h128 source_hash;
    struct tokshard_info info;
};

struct tok_ctx {
    struct bpe *b;
    struct tokshard_writer *w;
    struct bpe_ids ids;
    uint64_t bytes;
};

static int
tokenize_doc(const char *text, size_t len, void *arg, struct nh_error *err)
{
    struct tok_ctx *x = arg;

    x->ids.n = 0;
    x->bytes += len;
    if (bpe_encode(x->b, text, len, 0, &x->ids) < 0)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    return tokshard_writer_doc(x->w, x->ids.v, x->ids.n, err);
}

static int
hash_file(const char *path, uint64_t *size, struct nh_h128 *h,
          struct nh_error *err)
{
    char buf[1 << 16];
    struct nh_hash_state *st;
    FILE *f = fopen(path, "rb");
    size_t n;

    if (!f)
        return nh_error_errno(err, "cannot open '%s'", path);
    st = nh_hash128_begin();
    if (!st) {
        fclose(f);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    *size = 0;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        nh_hash128_update(st, buf, n);
        *size += n;
    }
    *h = nh_hash128_end(st);
    if (ferror(f)) {
        fclose(f);
        return nh_error_errno(err, "cannot read '%s'", path);
    }
    fclose(f);
    return 0;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The JSONL files of a directory, sorted, appended to *list. */
static int
list_dir(const char *dir, char ***list, size_t *n, struct nh_error *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    struct strbuf sb = STRBUF_INIT;
    size_t start = *n;
    char **nl;

    if (!d)
        return nh_error_errno(err, "cannot open '%s'", dir);
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !is_jsonl(de->d_name) ||
            strstr(de->d_name, ".tmp"))
            continue;
        strbuf_reset(&sb);
        nl = realloc(*list, (*n + 1) * sizeof(**list));
        if (!nl || strbuf_addf(&sb, "%s/%s", dir, de->d_name) < 0) {
            free(nl ? nl : NULL);
            closedir(d);
            strbuf_release(&sb);
            return nh_errorf(err, NH_ENOMEM, "out of memory");
        }
        *list = nl;
        (*list)[(*n)++] = strbuf_detach(&sb, NULL);
    }
    closedir(d);
    strbuf_release(&sb);
    qsort(*list + start, *n - start, sizeof(**list), cmp_str);
    return 0;
}

static int
write_manifest(const char *dir, const char *tokpath, const struct bpe *b,
               const struct shard_job *jobs, size_t n, struct nh_error *err)
{
    struct strbuf sb = STRBUF_INIT, path = STRBUF_INIT;
    struct nh_writer *w = NULL;
    char hex[33];
    uint64_t tokens = 0, docs = 0;
    size_t i;
    int rc = 0;

    nh_h128_hex(bpe_hash(b), hex);
    rc |= strbuf_addf(&sb,
                      "{\n  \"format\": \"naohai-tokens-%d\",\n"
                      "  \"tokenizer\": {\"path\": ",
                      TOKSHARD_VERSION);
    rc |= strbuf_add_json_str(&sb, tokpath, strlen(tokpath));
    rc |= strbuf_addf(&sb,
                      ", \"xxh3\": \"%s\", \"vocab\": %u, \"eot\": %u},\n"
                      "  \"token_width\": %u,\n  \"shards\": [",
                      hex, bpe_vocab(b), BPE_EOT_ID,
                      tokshard_width(bpe_vocab(b)));
    for (i = 0; i < n; i++) {
        nh_h128_hex(jobs[i].source_hash, hex);
        rc |= strbuf_addf(&sb, "%s\n    {\"file\": \"%s\", \"source\": ",
                          i ? "," : "", jobs[i].file);
        rc |= strbuf_add_json_str(&sb, jobs[i].source, strlen(jobs[i].source));
        rc |= strbuf_addf(&sb,
                          ", \"source_bytes\": %llu, \"source_xxh3\": \"%s\",\n"
                          "     \"documents\": %llu, \"tokens\": %llu, "
                          "\"payload_xxh3\": \"%016llx\"}",
                          (unsigned long long)jobs[i].source_bytes, hex,
                          (unsigned long long)jobs[i].info.documents,
                          (unsigned long long)jobs[i].info.tokens,
                          (unsigned long long)jobs[i].info.payload_hash);
        tokens += jobs[i].info.tokens;
        docs += jobs[i].info.documents;
    }
    rc |= strbuf_addf(&sb,
                      "\n  ],\n  \"documents\": %llu,\n"
                      "  \"tokens\": %llu\n}\n",
                      (unsigned long long)docs, (unsigned long long)tokens);
    rc |= strbuf_addf(&path, "%s/manifest.json", dir);
    if (rc) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = nh_writer_open(&w, path.buf, 0, err)) < 0)
        goto out;
    if ((rc = nh_writer_write(w, sb.buf, sb.len, err)) < 0) {
        nh_writer_abort(w);
        goto out;
    }
    rc = nh_writer_commit(w, err);
out:
    strbuf_release(&sb);
    strbuf_release(&path);
    return rc;
}

static int
cmd_tokenize(int argc, char **argv)
{
    static const struct option opts[] = {
        {"tokenizer", required_argument, NULL, 't'},
        {"output", required_argument, NULL, 'o'},
        {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    const char *tokpath = NULL, *dir = NULL;
    char **inputs = NULL;
    size_t ninputs = 0, i;
    struct shard_job *jobs = NULL;
    struct tok_ctx x;
    struct nh_error err = {0};
    struct strbuf path = STRBUF_INIT;
    struct stat st;
    int c, quiet = 0, rc = 2;
    uint64_t docs = 0, tokens = 0;
    double t0 = nh_now();

    memset(&x, 0, sizeof(x));
    optind = 0;
    while ((c = getopt_long(argc, argv, "t:o:q", opts, NULL)) != -1) {
        if (c == 't')
            tokpath = optarg;
        else if (c == 'o')
            dir = optarg;
        else if (c == 'q')
            quiet = 1;
        else
            return usage(2);
    }
    if (!tokpath || !dir || optind >= argc) {
        fprintf(stderr, "nh-train: tokenize needs --tokenizer, --output and "
                        "inputs\n");
        return usage(2);
    }
    for (; optind < argc; optind++) {
        if (stat(argv[optind], &st) < 0) {
            fprintf(stderr, "nh-train: cannot open '%s': %s\n", argv[optind],
                    strerror(errno));
            goto out;
        }
        if (S_ISDIR(st.st_mode)) {
            if (list_dir(argv[optind], &inputs, &ninputs, &err) < 0) {
                fprintf(stderr, "nh-train: %s\n", err.msg);
                goto out;
            }
            continue;
        }
        if (!is_jsonl(argv[optind])) {
            fprintf(stderr, "nh-train: '%s': not a .jsonl file\n",
                    argv[optind]);
            goto out;
        }
        char **nl = realloc(inputs, (ninputs + 1) * sizeof(*inputs));
        if (!nl || !(nl[ninputs] = strdup(argv[optind])))
            nh_die(1, "out of memory");
        inputs = nl;
        ninputs++;
    }
    if (ninputs == 0) {
        fprintf(stderr, "nh-train: no .jsonl inputs\n");
        goto out;
    }
    if (load_tok(&x.b, tokpath) < 0)
        goto out;
    rc = 1;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "nh-train: cannot create '%s': %s\n", dir,
                strerror(errno));
        goto out;
    }
    jobs = calloc(ninputs, sizeof(*jobs));
    if (!jobs)
        nh_die(1, "out of memory");
    for (i = 0; i < ninputs; i++) {
        struct shard_job *j = &jobs[i];

        j->source = inputs[i];
        snprintf(j->file, sizeof(j->file), "shard-%05zu.tok", i);
        strbuf_reset(&path);
        if (strbuf_addf(&path, "%s/%s", dir, j->file) < 0)
            nh_die(1, "out of memory");
        if (hash_file(j->source, &j->source_bytes, &j->source_hash, &err) < 0 ||
            tokshard_writer_open(&x.w, path.buf, bpe_vocab(x.b), BPE_EOT_ID,
                                 bpe_hash(x.b).lo, &err) < 0)
            goto fail;
        if (each_doc(j->source, tokenize_doc, &x, &err) < 0) {
            tokshard_writer_abort(x.w);
            x.w = NULL;
            goto fail;
        }
        if (tokshard_writer_commit(x.w, &j->info, &err) < 0) {
            x.w = NULL;
            goto fail;
        }
        x.w = NULL;
        docs += j->info.documents;
        tokens += j->info.tokens;
    }
    if (write_manifest(dir, tokpath, x.b, jobs, ninputs, &err) < 0)
        goto fail;
    if (!quiet)
        fprintf(stderr,
                "nh-train: %zu shards, %llu documents, %llu tokens "
                "(%.3f bytes/token) in %.1fs\n",
                ninputs, (unsigned long long)docs, (unsigned long long)tokens,
                tokens ? (double)x.bytes / (double)tokens : 0.0, nh_now() - t0);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "nh-train: %s\n", err.msg);
out:
    for (i = 0; i < ninputs; i++)
        free(inputs[i]);
    free(inputs);
    free(jobs);
    bpe_free(x.b);
    bpe_ids_release(&x.ids);
    strbuf_release(&path);
    return rc;
}

/* ---------------------------------------------------------------- */
/* tokens: reading a tokenized directory                             */

static int
cmd_tokens(int argc, char **argv)
{
    struct tokdir *d = NULL;
    struct nh_error err = {0};
    uint32_t *buf = NULL;
    unsigned long long start, n;
    char *end;
    size_t i;
    int rc = 1;

    if (argc == 3 && !strcmp(argv[1], "check")) {
        if (tokdir_open(&d, argv[2], 1, &err) < 0) {
            fprintf(stderr, "nh-train: %s\n", err.msg);
            return 1;
        }
        printf("shards %zu\ndocuments %llu\ntokens %llu\nvocab %u\n",
               tokdir_nshards(d), (unsigned long long)tokdir_documents(d),
               (unsigned long long)tokdir_tokens(d), tokdir_vocab(d));
        tokdir_close(d);
        return 0;
    }
    if (argc != 5 || strcmp(argv[1], "read"))
        return usage(2);
    errno = 0;
    start = strtoull(argv[3], &end, 10);
    if (errno || *end || !*argv[3])
        return usage(2);
    n = strtoull(argv[4], &end, 10);
    if (errno || *end || !*argv[4] || n > ((size_t)1 << 28))
        return usage(2);
    if (tokdir_open(&d, argv[2], 0, &err) < 0) {
        fprintf(stderr, "nh-train: %s\n", err.msg);
        return 1;
    }
    buf = malloc((n ? n : 1) * sizeof(*buf));
    if (!buf)
        nh_die(1, "out of memory");
    if (tokdir_read(d, start, (size_t)n, buf) < 0) {
        fprintf(stderr, "nh-train: tokens %llu..%llu past the end (%llu)\n",
                start, start + n, (unsigned long long)tokdir_tokens(d));
        goto out;
    }
    for (i = 0; i < n; i++)
        printf("%u%c", buf[i], i + 1 < n ? ' ' : '\n');
    rc = 0;
out:
    free(buf);
    tokdir_close(d);
    return rc;
}

/* ---------------------------------------------------------------- */

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
    {"tokenizer", cmd_tokenizer}, {"tokenize", cmd_tokenize},
    {"tokens", cmd_tokens},       {"run", run_command},
    {"plan", plan_command},       {"launch", launch_command},
};

/* `run` puts OpenMP's idle threads to sleep at once (OMP_WAIT_POLICY=
 * PASSIVE) unless the environment chose a policy: libgomp reads it only at
 * load time, so the process executes itself again with it set. With the
 * default policy idle workers spin for a while after every parallel
 * region, which on a machine with as many cores as threads, shared with
 * other work, took a quarter of nh-train run's CPU time (docs/TRAINER.md,
 * "Speed"). A failed exec carries on with the default. */
static void
omp_passive(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") ||
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1) < 0)
        return;
    execv("/proc/self/exe", argv);
}

int
main(int argc, char **argv)
{
    size_t i;

    nh_log_init("nh-train", NH_LOG_INFO);
    if (argc < 2)
        return usage(2);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help"))
        return usage(0);
    if (!strcmp(argv[1], "--version")) {
        printf("nh-train %s\n", VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "run"))
        omp_passive(argv);
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "nh-train: unknown command '%s'\n", argv[1]);
    return usage(2);
}
