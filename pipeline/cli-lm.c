/* cli-lm.c - `nh-clean lm train|score`: the n-gram language model tools
 *
 * The command-line face of lm.c: train a model from text or JSONL files
 * (binary model, optionally an ARPA file too), and score documents with
 * it (per-document perplexity, or the 30th and 60th percentiles that the
 * perplexity stage uses as head/middle/tail cut-offs). main.c dispatches
 * here. Exit status: 0 success, 1 failure, 2 bad usage.
 */
#include "clock.h"
#include "lm.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char lm_usage_text[] =
    "usage: nh-clean lm train --order N --input FILE [--input FILE...]\n"
    "                         --output MODEL [--arpa FILE] [--threads N]\n"
    "                         [--text-field NAME] [--quiet]\n"
    "       nh-clean lm score MODEL [--percentiles] [--text-field NAME] "
    "[FILE...]\n"
    "\n"
    "An interpolated modified Kneser-Ney n-gram model (the estimator of\n"
    "KenLM's lmplz): characters are tokens in CJK documents, words\n"
    "otherwise. FILE is plain text (a document a line) or JSONL (a \"text\"\n"
    "field). score prints a perplexity per document (JSONL: ID TAB PPL),\n"
    "from standard input when no FILE is given; --percentiles prints the\n"
    "30th and 60th percentiles instead. --threads is accepted; training\n"
    "is single-threaded for now. See docs/LM.md.\n";

static int
lm_usage(int status)
{
    fputs(lm_usage_text, status ? stderr : stdout);
    return status;
}

static int
cmd_train(int argc, char **argv)
{
    static const struct option opts[] = {
        {"order", required_argument, NULL, 'n'},
        {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"arpa", required_argument, NULL, 'a'},
        {"threads", required_argument, NULL, 'j'},
        {"text-field", required_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct lm_opts o = {.order = 5, .threads = 1};
    struct nh_error err = {0};
    struct lm_model *m = NULL;
    char **inputs = NULL;
    const char *output = NULL, *arpa = NULL;
    size_t ninputs = 0;
    bool quiet = false;
    uint64_t docs, tokens;
    struct rusage ru;
    double t0 = nh_now();
    char *end;
    long v;
    int c, n, rc = 1;

    if (!(inputs = calloc((size_t)argc, sizeof(*inputs))))
        return 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:i:o:a:j:f:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
        case 'j':
            v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 1 ||
                v > (c == 'n' ? LM_MAX_ORDER : 1024)) {
                fprintf(stderr, "nh-clean: '--%s' must be a number 1..%d\n",
                        c == 'n' ? "order" : "threads",
                        c == 'n' ? LM_MAX_ORDER : 1024);
                rc = 2;
                goto out;
            }
            if (c == 'n')
                o.order = (int)v;
            else
                o.threads = (int)v;
            break;
        case 'i':
            inputs[ninputs++] = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'a':
            arpa = optarg;
            break;
        case 'f':
            o.text_field = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            rc = lm_usage(0);
            goto out;
        default:
            rc = lm_usage(2);
            goto out;
        }
    }
    if (optind < argc || !ninputs || !output) {
        fprintf(stderr, "nh-clean: lm train needs --input and --output\n");
        rc = lm_usage(2);
        goto out;
    }
    o.progress = !quiet && isatty(2);
    if (lm_train(&o, inputs, ninputs, &m, &err) < 0 ||
        lm_save(m, output, &err) < 0 ||
        (arpa && lm_write_arpa(m, arpa, &err) < 0)) {
        fprintf(stderr, "nh-clean: %s\n", err.msg);
        goto out;
    }
    if (!quiet) {
        uint64_t total = 0;

        lm_train_stats(m, &docs, &tokens);
        getrusage(RUSAGE_SELF, &ru);
        printf("documents  %llu\ntokens     %llu\nvocabulary %zu\n",
               (unsigned long long)docs, (unsigned long long)tokens,
               lm_vocab_size(m));
        for (n = 1; n <= lm_order(m); n++) {
            double d[3];

            lm_discounts(m, n, d);
            total += lm_ngrams(m, n);
            printf("%d-grams    %llu (D1 %.4f D2 %.4f D3+ %.4f)\n", n,
                   (unsigned long long)lm_ngrams(m, n), d[0], d[1], d[2]);
        }
        printf("memory     %.1f MiB model (%.1f bytes per n-gram), %.1f MiB "
               "peak RSS\n",
               (double)lm_memory(m) / 1048576.0,
               total ? (double)lm_memory(m) / (double)total : 0.0,
               (double)ru.ru_maxrss / 1024.0);
        printf("seconds    %.2f\n", nh_now() - t0);
    }
    rc = 0;
out:
    lm_free(m);
    free(inputs);
    return rc;
}

struct score_ctx {
    const struct lm_model *m;
    struct lm_scratch *s;
    FILE *out;
};

static int
score_doc(void *arg, const char *id, const char *text, size_t len)
{
    struct score_ctx *c = arg;
    double lp;
    size_t n;
    int rc;

    if ((rc = lm_score(c->m, c->s, text, len, &lp, &n)) < 0)
        return rc;
    if (id)
        fprintf(c->out, "%s\t%.10g\n", id, lm_perplexity(lp, n));
    else
        fprintf(c->out, "%.10g\n", lm_perplexity(lp, n));
    return 0;
}

static int
cmd_score(int argc, char **argv)
{
    static const struct option opts[] = {
        {"percentiles", no_argument, NULL, 'p'},
        {"text-field", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static char dash[] = "-";
    char *stdin_path[] = {dash};
    struct nh_error err = {0};
    struct lm_model *m = NULL;
    struct score_ctx sc = {NULL, NULL, stdout};
    const char *field = NULL;
    bool percentiles = false;
    char *const *files;
    size_t nfiles, i;
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "pf:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            percentiles = true;
            break;
        case 'f':
            field = optarg;
            break;
        case 'h':
            return lm_usage(0);
        default:
            return lm_usage(2);
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "nh-clean: lm score needs a MODEL\n");
        return lm_usage(2);
    }
    files = optind + 1 < argc ? argv + optind + 1 : stdin_path;
    nfiles = optind + 1 < argc ? (size_t)(argc - optind - 1) : 1;
    if (lm_load(&m, argv[optind], &err) < 0) {
        fprintf(stderr, "nh-clean: %s\n", err.msg);
        return 1;
    }
    if (percentiles) {
        double p[2];

        if (field) {
            fprintf(stderr, "nh-clean: --percentiles reads the \"text\" "
                            "field only\n");
            rc = 2;
            goto out;
        }
        if (lm_percentiles(m, files, nfiles, p, &err) < 0) {
            fprintf(stderr, "nh-clean: %s\n", err.msg);
            goto out;
        }
        printf("p30\t%.10g\np60\t%.10g\n", p[0], p[1]);
        rc = 0;
        goto out;
    }
    sc.m = m;
    if (!(sc.s = lm_scratch_new(m))) {
        fprintf(stderr, "nh-clean: out of memory\n");
        goto out;
    }
    for (i = 0; i < nfiles; i++) {
        if (lm_read_docs(files[i], field, score_doc, &sc, &err) < 0) {
            fprintf(stderr, "nh-clean: %s\n",
                    err.msg[0] ? err.msg : "out of memory");
            goto out;
        }
    }
    if (fflush(stdout) != 0) {
        perror("nh-clean: standard output");
        goto out;
    }
    rc = 0;
out:
    lm_scratch_free(sc.s);
    lm_free(m);
    return rc;
}

int
lm_main(int argc, char **argv)
{
    if (argc < 2)
        return lm_usage(2);
    if (!strcmp(argv[1], "train"))
        return cmd_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "score"))
        return cmd_score(argc - 1, argv + 1);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help"))
        return lm_usage(0);
    fprintf(stderr, "nh-clean: unknown lm command '%s'\n", argv[1]);
    return lm_usage(2);
}
