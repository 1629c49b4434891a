/* cli-classifier.c - `nh-clean classifier train|test|predict`
 *
 * The command line of the fastText-style classifier (pipeline/ftc.c),
 * with fastText's flag names (given with one dash or two): train writes a
 * model file from a LABELED file, test prints precision and recall at k
 * overall and per label, predict prints the top labels of each line of
 * its input like `fasttext predict-prob`. main.c dispatches here.
 * Exit status: 0 success, 1 failure, 2 bad usage.
 */
#include "ftc.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: nh-clean classifier train --input LABELED --output MODEL "
    "[options]\n"
    "       nh-clean classifier test MODEL LABELED [--k N]\n"
    "       nh-clean classifier predict MODEL [FILE] [--k N] [--prob]\n"
    "\n"
    "LABELED: fastText lines '__label__A [__label__B] text', or JSONL\n"
    "objects with \"label\" (string or array) and \"text\". predict reads\n"
    "text lines from FILE or stdin and prints '__label__X [prob]' per line.\n"
    "\n"
    "train options (fastText's names and defaults):\n"
    "  --epoch N        passes over the data (5)\n"
    "  --lr X           learning rate, decays linearly to 0 (0.1)\n"
    "  --dim N          embedding size (100)\n"
    "  --wordNgrams N   word n-grams up to N; CJK characters are words (1)\n"
    "  --minCount N     words seen fewer times are left out (1)\n"
    "  --bucket N       rows for hashed n-grams (2000000)\n"
    "  --minn N --maxn N  character n-grams of each word (0 0: off)\n"
    "  --loss L         softmax or hs (hierarchical softmax) (softmax)\n"
    "  --thread N       training threads (all cores); also --threads\n"
    "  --seed N         random seed (0); one thread: same model each time\n"
    "  --quiet          no progress line\n"
    "See docs/CLASSIFIER.md.\n";

static int
usage(int status)
{
    fputs(usage_text, status ? stderr : stdout);
    return status;
}

static int
parse_num(const char *name, const char *s, double lo, double hi, double *v)
{
    char *end;

    *v = strtod(s, &end);
    if (end == s || *end || !(*v >= lo && *v <= hi)) {
        fprintf(stderr, "nh-clean: '--%s' must be a number %g..%g\n", name, lo,
                hi);
        return -1;
    }
    return 0;
}

static void
progress(double done, double loss, void *arg)
{
    (void)arg;
    fprintf(stderr, "\rProgress: %5.1f%%  loss: %.4f ", done * 100, loss);
    if (done >= 1.0)
        fputc('\n', stderr);
    fflush(stderr);
}

static int
cmd_train(int argc, char **argv)
{
    static const struct option opts[] = {
        {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"epoch", required_argument, NULL, 'e'},
        {"lr", required_argument, NULL, 'l'},
        {"dim", required_argument, NULL, 'd'},
        {"wordNgrams", required_argument, NULL, 'w'},
        {"minCount", required_argument, NULL, 'm'},
        {"bucket", required_argument, NULL, 'b'},
        {"minn", required_argument, NULL, 'n'},
        {"maxn", required_argument, NULL, 'x'},
        {"loss", required_argument, NULL, 'L'},
        {"thread", required_argument, NULL, 't'},
        {"threads", required_argument, NULL, 't'},
        {"seed", required_argument, NULL, 's'},
        {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    struct ftc_opts o;
    struct ftc_train_info info = {0};
    struct nh_error err = {0};
    struct ftc_model *m = NULL;
    const char *input = NULL, *output = NULL;
    int c, quiet = 0, idx;
    double v;

    ftc_opts_default(&o);
    optind = 1;
    while ((c = getopt_long_only(argc, argv, "", opts, &idx)) != -1) {
        const char *name = c == '?' ? "" : opts[idx].name;

        switch (c) {
        case 'i':
            input = optarg;
            continue;
        case 'o':
            output = optarg;
            continue;
        case 'q':
            quiet = 1;
            continue;
        case 'L':
            if (!strcmp(optarg, "softmax"))
                o.loss = FTC_SOFTMAX;
            else if (!strcmp(optarg, "hs"))
                o.loss = FTC_HS;
            else {
                fprintf(stderr,
                        "nh-clean: '--loss' must be softmax or hs, not '%s'\n",
                        optarg);
                return 2;
            }
            continue;
        case 'l':
            if (parse_num(name, optarg, 1e-9, 100, &o.lr) < 0)
                return 2;
            continue;
        case 's':
            if (parse_num(name, optarg, 0, 1e18, &v) < 0)
                return 2;
            o.seed = (unsigned long long)v;
            continue;
        case '?':
            return usage(2);
        default:
            break;
        }
        if (parse_num(name, optarg, 0, 1e8, &v) < 0)
            return 2;
        if (v != (int)v) {
            fprintf(stderr, "nh-clean: '--%s' must be a whole number\n", name);
            return 2;
        }
        switch (c) {
        case 'e':
            o.epoch = (int)v;
            break;
        case 'd':
            o.dim = (int)v;
            break;
        case 'w':
            o.word_ngrams = (int)v;
            break;
        case 'm':
            o.min_count = (int)v;
            break;
        case 'b':
            o.bucket = (int)v;
            break;
        case 'n':
            o.minn = (int)v;
            break;
        case 'x':
            o.maxn = (int)v;
            break;
        case 't':
            o.threads = (int)v;
            break;
        default:
            break;
        }
    }
    if (optind != argc || !input || !output) {
        fprintf(stderr, "nh-clean: classifier train needs --input LABELED "
                        "and --output MODEL\n");
        return usage(2);
    }
    if (!quiet && isatty(2))
        info.progress = progress;
    if (ftc_train_ex(&o, input, &m, &info, &err) < 0) {
        fprintf(stderr, "nh-clean: %s\n", err.msg);
        return err.code == NH_EINVAL ? 2 : 1;
    }
    if (info.skipped)
        fprintf(stderr,
                "nh-clean: warning: %llu line%s skipped; the first: '%s':%llu: "
                "%s\n",
                (unsigned long long)info.skipped, info.skipped == 1 ? "" : "s",
                input, (unsigned long long)info.first_skipped,
                info.skip_reason);
    if (ftc_save(m, output, &err) < 0) {
        fprintf(stderr, "nh-clean: %s\n", err.msg);
        ftc_free(m);
        return 1;
    }
    printf("examples %llu, tokens %llu, words %d, labels %d, threads %d, "
           "loss %.4f, %.2f s\n",
           (unsigned long long)info.examples, (unsigned long long)info.tokens,
           info.words, info.labels, info.threads, info.loss, info.seconds);
    ftc_free(m);
    return 0;
}

struct label_counts {
    unsigned long long gold, predicted, correct;
};

static double
ratio(unsigned long long a, unsigned long long b)
{
    return b ? (double)a / (double)b : 0.0;
}

/* Precision and recall at k as fastText's test and test-label compute
 * them: precision = correct predictions / predictions made, recall =
 * correct predictions / gold labels. */
static int
cmd_test(int argc, char **argv)
{
    static const struct option opts[] = {
        {"k", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    struct nh_error err = {0};
    struct ftc_model *m = NULL;
    struct ftc_reader *r = NULL;
    struct ftc_scratch *s = NULL;
    struct ftc_pred *pred = NULL;
    struct label_counts *lc = NULL, tot = {0};
    unsigned long long n = 0;
    uint64_t skipped = 0, first = 0;
    const char *const *labs, *text, *why;
    size_t len;
    int c, k = 1, nlab, np, i, j, rc = 1, nl;
    double v;

    optind = 1;
    while ((c = getopt_long_only(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'k' || parse_num("k", optarg, 1, 1e6, &v) < 0)
            return usage(2);
        k = (int)v;
    }
    if (argc - optind != 2)
        return usage(2);
    if (ftc_load(&m, argv[optind], &err) < 0 ||
        ftc_reader_open(&r, argv[optind + 1], &err) < 0) {
        fprintf(stderr, "nh-clean: %s\n", err.msg);
        goto out;
    }
    nl = ftc_nlabels(m);
    s = ftc_scratch_new(m);
    pred = calloc((size_t)k, sizeof(*pred));
    lc = calloc((size_t)nl, sizeof(*lc));
    if (!s || !pred || !lc) {
        fprintf(stderr, "nh-clean: out of memory\n");
        goto out;
    }
    while ((rc = ftc_reader_next(r, &labs, &nlab, &text, &len, &err)) == 1) {
        if (ftc_predict(m, s, text, len, k, pred, &np) < 0) {
            fprintf(stderr, "nh-clean: out of memory\n");
            rc = -1;
            break;
        }
        n++;
        tot.gold += (unsigned long long)nlab;
        tot.predicted += (unsigned long long)np;
        for (j = 0; j < nlab; j++) {
            int l = ftc_label_find(m, labs[j], strlen(labs[j]));

            if (l >= 0)
                lc[l].gold++;
        }
        for (i = 0; i < np; i++) {
            const char *name = ftc_label(m, pred[i].label);

            lc[pred[i].label].predicted++;
            for (j = 0; j < nlab; j++)
                if (!strcmp(labs[j], name))
                    break;
            if (j < nlab) {
                lc[pred[i].label].correct++;
                tot.correct++;
            }
        }
    }
    if (rc < 0) {
        if (err.msg[0])
            fprintf(stderr, "nh-clean: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    ftc_reader_counts(r, NULL, &skipped, &first, &why);
    if (skipped)
        fprintf(stderr,
                "nh-clean: warning: %llu line%s skipped; the first: '%s':%llu: "
                "%s\n",
                (unsigned long long)skipped, skipped == 1 ? "" : "s",
                argv[optind + 1], (unsigned long long)first, why);
    printf("N\t%llu\nP@%d\t%.4f\nR@%d\t%.4f\n", n, k,
           ratio(tot.correct, tot.predicted), k, ratio(tot.correct, tot.gold));
    printf("\n%-24s %8s %9s %8s %9s %9s %9s\n", "label", "gold", "predicted",
           "correct", "precision", "recall", "F1");
    for (i = 0; i < nl; i++) {
        double p = ratio(lc[i].correct, lc[i].predicted);
        double rr = ratio(lc[i].correct, lc[i].gold);

        printf("%-24s %8llu %9llu %8llu %9.4f %9.4f %9.4f\n", ftc_label(m, i),
               lc[i].gold, lc[i].predicted, lc[i].correct, p, rr,
               p + rr > 0 ? 2 * p * rr / (p + rr) : 0.0);
    }
    rc = 0;
out:
    free(pred);
    free(lc);
    ftc_scratch_free(s);
    ftc_reader_close(r);
    ftc_free(m);
    return rc;
}

/* The line without its "__label__" tokens (fastText's predict ignores
 * them too), into buf. */
static size_t
strip_labels(const char *line, size_t len, char *buf)
{
    size_t i = 0, o = 0;

    while (i < len) {
        size_t st = i;

        while (i < len && line[i] != ' ' && line[i] != '\t')
            i++;
        if (!(i - st > 9 && !memcmp(line + st, "__label__", 9))) {
            memcpy(buf + o, line + st, i - st);
            o += i - st;
        }
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            buf[o++] = line[i++];
    }
    return o;
}

static int
cmd_predict(int argc, char **argv)
{
    static const struct option opts[] = {
        {"k", required_argument, NULL, 'k'},
        {"prob", no_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    struct nh_error err = {0};
    struct ftc_model *m = NULL;
    struct ftc_scratch *s = NULL;
    struct ftc_pred *pred = NULL;
    FILE *in = stdin;
    char *line = NULL, *buf = NULL;
    size_t cap = 0, bcap = 0;
    ssize_t len;
    int c, k = 1, prob = 0, np, i, rc = 1;
    double v;

    optind = 1;
    while ((c = getopt_long_only(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'p')
            prob = 1;
        else if (c != 'k' || parse_num("k", optarg, 1, 1e6, &v) < 0)
            return usage(2);
        else
            k = (int)v;
    }
    if (argc - optind < 1 || argc - optind > 2)
        return usage(2);
    if (ftc_load(&m, argv[optind], &err) < 0) {
        fprintf(stderr, "nh-clean: %s\n", err.msg);
        return 1;
    }
    if (argc - optind == 2 && strcmp(argv[optind + 1], "-") &&
        !(in = fopen(argv[optind + 1], "r"))) {
        fprintf(stderr, "nh-clean: cannot open '%s': %s\n", argv[optind + 1],
                strerror(errno));
        goto out;
    }
    s = ftc_scratch_new(m);
    pred = calloc((size_t)k, sizeof(*pred));
    if (!s || !pred)
        goto oom;
    while ((len = getline(&line, &cap, in)) >= 0) {
        size_t n;

        if (len && line[len - 1] == '\n')
            len--;
        if ((size_t)len + 1 > bcap) {
            free(buf);
            bcap = (size_t)len + 1;
            if (!(buf = malloc(bcap)))
                goto oom;
        }
        n = strip_labels(line, (size_t)len, buf);
        if (ftc_predict(m, s, buf, n, k, pred, &np) < 0)
            goto oom;
        for (i = 0; i < np; i++) {
            printf(i ? " __label__%s" : "__label__%s",
                   ftc_label(m, pred[i].label));
            if (prob)
                printf(" %.6g", pred[i].prob);
        }
        putchar('\n');
    }
    if (ferror(in)) {
        fprintf(stderr, "nh-clean: read error: %s\n", strerror(errno));
        goto out;
    }
    rc = fflush(stdout) ? 1 : 0;
    goto out;
oom:
    fprintf(stderr, "nh-clean: out of memory\n");
out:
    if (in && in != stdin)
        fclose(in);
    free(line);
    free(buf);
    free(pred);
    ftc_scratch_free(s);
    ftc_free(m);
    return rc;
}

int
cmd_classifier(int argc, char **argv)
{
    if (argc < 2)
        return usage(2);
    if (!strcmp(argv[1], "train"))
        return cmd_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "test"))
        return cmd_test(argc - 1, argv + 1);
    if (!strcmp(argv[1], "predict"))
        return cmd_predict(argc - 1, argv + 1);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return usage(0);
    fprintf(stderr, "nh-clean: unknown classifier command '%s'\n", argv[1]);
    return usage(2);
}
