/* run.c - `nh-train run`: the training loop of one process
 *
 * Reads a model config (model.h) and a token directory (tokshard.h), then
 * steps: B random windows of T+1 tokens from the training range, forward,
 * backward, global clipping and AdamW at the schedule's learning rate
 * (optim.h). Each step prints one JSON line of metrics on stdout and
 * appends it to RUN_DIR/metrics.jsonl; RUN_DIR/config.json records the
 * model and the run's options. The last 1% of the tokens (at least T+1)
 * are held out for --eval-every. MFU is the model's FLOP/s against a peak
 * measured at start-up with a large sgemm. With --ckpt-every, ckpt.c
 * writes checkpoints after the step's lines; --resume loads the newest
 * usable one and cuts metrics.jsonl back to its step. docs/TRAINER.md
 * ("Training", "Checkpoints and resume").
 */
#include "run.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>
#include <omp.h>

#include "ckpt.h"
#include "model.h"
#include "optim.h"
#include "strbuf.h"
#include "tokshard.h"

#define MAX_STEPS 1000000000L
#define MAX_BATCH 65536
#define EVAL_SEED 0x5eed5eedULL /* eval windows: the same every eval */

static const char run_usage[] =
    "usage: nh-train run --config MODEL.json --data DIR --out RUN_DIR\n"
    "         [--steps N] [--batch B] [--seq T] [--lr X] [--min-lr X]\n"
    "         [--warmup N] [--weight-decay X] [--clip X] [--seed S]\n"
    "         [--threads N] [--eval-every K] [--eval-batches N]\n"
    "         [--ckpt-every K] [--keep M] [--resume]\n";

struct run_opts {
    const char *config, *data, *out;
    long steps, batch, seq, warmup, threads, eval_every, eval_batches;
    long ckpt_every, keep;
    double lr, min_lr, weight_decay, clip;
    unsigned long long seed;
    bool have_min_lr, have_warmup, resume;
};

uint64_t
run_rng_next(struct run_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
bad_usage(const char *msg, const char *arg)
{
    if (msg)
        fprintf(stderr, "nh-train: run: %s '%s'\n", msg, arg);
    fputs(run_usage, stderr);
    return 2;
}

static bool
parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool
parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Best of a few 1024^3 sgemms, in GFLOP/s, with the run's threads. */
static double
measure_peak(void)
{
    enum { N = 1024 };
    float *a = malloc(sizeof(float) * N * N * 3);
    double best = 0;
    int i;

    if (!a)
        return 0;
    for (i = 0; i < N * N * 3; i++)
        a[i] = (float)(i % 7) * 0.01f;
    for (i = 0; i < 4; i++) {
        double t = now_s(), g;

        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0f, a,
                    N, a + N * N, N, 0.0f, a + 2 * N * N, N);
        t = now_s() - t;
        g = 2.0 * N * N * N / (t > 0 ? t : 1e-9) / 1e9;
        if (i > 0 && g > best) /* the first warms up */
            best = g;
    }
    free(a);
    return best;
}

/* B windows of T+1 tokens starting in [lo, lo + span) into tok/tgt. */
static int
fill_batch(const struct tokdir *d, struct run_rng *rng, uint64_t lo,
           uint64_t span, int B, int T, uint32_t *win, int32_t *tok,
           int32_t *tgt)
{
    int b, t;

    for (b = 0; b < B; b++) {
        uint64_t start = lo + run_rng_next(rng) % span;

        if (tokdir_read(d, start, (size_t)T + 1, win) < 0)
            return -1;
        for (t = 0; t < T; t++) {
            tok[(size_t)b * T + t] = (int32_t)win[t];
            tgt[(size_t)b * T + t] = (int32_t)win[t + 1];
        }
    }
    return 0;
}

/* RUN_DIR/config.json's text (also each checkpoint's) into sb. */
static void
config_text(struct strbuf *sb, const struct model_config *c,
            const struct run_opts *o, const struct adamw_config *ac,
            uint64_t ntrain, uint64_t nheld)
{
    strbuf_addf(sb,
                "{\n  \"model\": {\"vocab\": %d, \"dim\": %d, \"layers\": %d, "
                "\"heads\": %d, \"ffn_dim\": %d, \"seq\": %d, \"tied\": %s, "
                "\"norm_eps\": %.7g, \"rope_theta\": %.7g},\n",
                c->vocab, c->dim, c->layers, c->heads, c->ffn_dim, c->seq,
                c->tied ? "true" : "false", (double)c->norm_eps,
                (double)c->rope_theta);
    strbuf_addstr(sb, "  \"run\": {\"config\": ");
    strbuf_add_json_str(sb, o->config, strlen(o->config));
    strbuf_addstr(sb, ", \"data\": ");
    strbuf_add_json_str(sb, o->data, strlen(o->data));
    strbuf_addf(sb,
                ", \"steps\": %ld, \"batch\": %ld, \"seq\": %ld, "
                "\"lr\": %.9g, \"min_lr\": %.9g, \"warmup\": %ld, "
                "\"weight_decay\": %.9g, \"clip\": %.9g, \"beta1\": %.9g, "
                "\"beta2\": %.9g, \"eps\": %.9g, \"seed\": %llu, "
                "\"threads\": %ld, \"eval_every\": %ld, \"eval_batches\": %ld, "
                "\"ckpt_every\": %ld, \"keep\": %ld, "
                "\"train_tokens\": %llu, \"heldout_tokens\": %llu}\n}\n",
                o->steps, o->batch, o->seq, ac->lr, ac->min_lr,
                ac->warmup_steps, ac->weight_decay, ac->grad_clip, ac->beta1,
                ac->beta2, ac->eps, o->seed, o->threads, o->eval_every,
                o->eval_batches, o->ckpt_every, o->keep,
                (unsigned long long)ntrain, (unsigned long long)nheld);
}

/* Everything that affects the math, as checkpoints record it (ckpt.h). */
static void
math_key(struct strbuf *sb, const struct model_config *c,
         const struct adamw_config *ac, const struct run_opts *o,
         uint64_t ntrain)
{
    strbuf_addf(sb,
                "vocab=%d dim=%d layers=%d heads=%d ffn_dim=%d model_seq=%d "
                "tied=%d norm_eps=%.9g rope_theta=%.9g batch=%ld seq=%ld "
                "lr=%.17g min_lr=%.17g warmup=%ld steps=%ld "
                "weight_decay=%.17g clip=%.17g beta1=%.17g beta2=%.17g "
                "eps=%.17g seed=%llu train_tokens=%llu",
                c->vocab, c->dim, c->layers, c->heads, c->ffn_dim, c->seq,
                c->tied, (double)c->norm_eps, (double)c->rope_theta, o->batch,
                o->seq, ac->lr, ac->min_lr, ac->warmup_steps, ac->total_steps,
                ac->weight_decay, ac->grad_clip, ac->beta1, ac->beta2, ac->eps,
                o->seed, (unsigned long long)ntrain);
}

static int
write_text(const char *path, const struct strbuf *sb, struct nh_error *err)
{
    FILE *f;
    int rc = 0;

    f = fopen(path, "w");
    if (!f)
        rc = nh_error_errno(err, "cannot create '%s'", path);
    else {
        if (fwrite(strbuf_str(sb), 1, sb->len, f) != sb->len)
            rc = nh_error_errno(err, "cannot write '%s'", path);
        if (fclose(f) && rc == 0)
            rc = nh_error_errno(err, "cannot write '%s'", path);
    }
    return rc;
}

/* Cut RUN_DIR/metrics.jsonl after the lines of step `upto` (its step line
 * and eval): drop the first line of a later step and all after it, and an
 * unfinished last line, so that a resumed run appends what an
 * uninterrupted one would have written. */
static int
truncate_metrics(const char *path, long upto, struct nh_error *err)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long keep = 0;
    int rc = 0;

    if (!f)
        return errno == ENOENT ? 0
                               : nh_error_errno(err, "cannot open '%s'", path);
    while ((n = getline(&line, &cap, f)) > 0) {
        const char *p = strstr(line, "\"step\":");

        if (line[n - 1] != '\n' || (p && strtol(p + 7, NULL, 10) > upto))
            break;
        keep += n;
    }
    if (ferror(f))
        rc = nh_error_errno(err, "cannot read '%s'", path);
    fclose(f);
    free(line);
    if (rc == 0 && truncate(path, keep) < 0)
        rc = nh_error_errno(err, "cannot truncate '%s'", path);
    return rc;
}

/* One metrics line to stdout and the metrics file. */
static int
emit(FILE *mf, const char *path, const char *line, struct nh_error *err)
{
    fputs(line, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    if (!mf)
        return 0;
    if (fputs(line, mf) < 0 || fputc('\n', mf) < 0 || fflush(mf))
        return nh_error_errno(err, "cannot write '%s'", path);
    return 0;
}

static int
parse_opts(int argc, char **argv, struct run_opts *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"data", required_argument, NULL, 'd'},
        {"out", required_argument, NULL, 'o'},
        {"steps", required_argument, NULL, 'n'},
        {"batch", required_argument, NULL, 'b'},
        {"seq", required_argument, NULL, 't'},
        {"lr", required_argument, NULL, 'l'},
        {"min-lr", required_argument, NULL, 'm'},
        {"warmup", required_argument, NULL, 'w'},
        {"weight-decay", required_argument, NULL, 'W'},
        {"clip", required_argument, NULL, 'C'},
        {"seed", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 'j'},
        {"eval-every", required_argument, NULL, 'e'},
        {"eval-batches", required_argument, NULL, 'E'},
        {"ckpt-every", required_argument, NULL, 'K'},
        {"keep", required_argument, NULL, 'M'},
        {"resume", no_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long seed;
    int c, li = -1;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, &li)) != -1) {
        bool ok = true;

        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'd':
            o->data = optarg;
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'n':
            ok = parse_long(optarg, 1, MAX_STEPS, &o->steps);
            break;
        case 'b':
            ok = parse_long(optarg, 1, MAX_BATCH, &o->batch);
            break;
        case 't':
            ok = parse_long(optarg, 1, MODEL_MAX_SEQ, &o->seq);
            break;
        case 'l':
            ok = parse_double(optarg, 0, 10, &o->lr);
            break;
        case 'm':
            ok = parse_double(optarg, 0, 10, &o->min_lr);
            o->have_min_lr = true;
            break;
        case 'w':
            ok = parse_long(optarg, 0, MAX_STEPS, &o->warmup);
            o->have_warmup = true;
            break;
        case 'W':
            ok = parse_double(optarg, 0, 10, &o->weight_decay);
            break;
        case 'C':
            ok = parse_double(optarg, 0, 1e9, &o->clip);
            break;
        case 's':
            ok = parse_long(optarg, 0, 0x7fffffffffffffffL, &seed);
            o->seed = (unsigned long long)seed;
            break;
        case 'j':
            ok = parse_long(optarg, 1, 1024, &o->threads);
            break;
        case 'e':
            ok = parse_long(optarg, 0, MAX_STEPS, &o->eval_every);
            break;
        case 'E':
            ok = parse_long(optarg, 1, 1000000, &o->eval_batches);
            break;
        case 'K':
            ok = parse_long(optarg, 0, MAX_STEPS, &o->ckpt_every);
            break;
        case 'M':
            ok = parse_long(optarg, 1, 1000000, &o->keep);
            break;
        case 'R':
            o->resume = true;
            break;
        case 'h':
            fputs(run_usage, stdout);
            return 0;
        case ':':
            return bad_usage("missing value for", argv[optind - 1]);
        default:
            return bad_usage("unknown option", argv[optind - 1]);
        }
        if (!ok) {
            fprintf(stderr, "nh-train: run: bad value '%s' for --%s\n", optarg,
                    li >= 0 ? longopts[li].name : "?");
            return bad_usage(NULL, NULL);
        }
        li = -1;
    }
    if (optind < argc)
        return bad_usage("unexpected argument", argv[optind]);
    if (!o->config || !o->data || !o->out)
        return bad_usage("missing", !o->config ? "--config"
                                    : !o->data ? "--data"
                                               : "--out");
    return -1;
}

int
run_command(int argc, char **argv)
{
    struct run_opts o = {
        .steps = 100,
        .batch = 8,
        .lr = 3e-4,
        .weight_decay = 0.1,
        .clip = 1.0,
        .seed = 1,
        .eval_batches = 4,
        .keep = 3,
    };
    struct model_config cfg;
    struct adamw_config ac;
    struct model m = {0};
    struct adamw opt = {0};
    struct tokdir *d = NULL;
    struct nh_error err = {0};
    struct run_rng rng, erng;
    struct strbuf line = STRBUF_INIT, path = STRBUF_INIT, conf = STRBUF_INIT,
                  key = STRBUF_INIT;
    struct ckpt_state cs;
    uint32_t *win = NULL;
    int32_t *tok = NULL, *tgt = NULL;
    FILE *mf = NULL;
    uint64_t ntok, nheld, ntrain;
    double peak, flops_tok;
    bool tty = isatty(2);
    int B, T, rc;
    long step, first = 0;

    o.threads = omp_get_num_procs();
    if ((rc = parse_opts(argc, argv, &o)) >= 0)
        return rc;
    rc = 1;
    if (model_config_load(o.config, &cfg, &err) < 0)
        goto fail;
    if (!o.seq)
        o.seq = cfg.seq;
    if (o.seq > cfg.seq) {
        nh_errorf(&err, NH_EINVAL, "--seq %ld is longer than the model's %d",
                  o.seq, cfg.seq);
        goto fail;
    }
    if (!o.have_min_lr)
        o.min_lr = o.lr / 10;
    if (!o.have_warmup)
        o.warmup = o.steps / 10;
    B = (int)o.batch;
    T = (int)o.seq;
    ac = (struct adamw_config){
        .lr = o.lr,
        .min_lr = o.min_lr,
        .warmup_steps = o.warmup,
        .total_steps = o.steps,
        .beta1 = 0.9,
        .beta2 = 0.95,
        .eps = 1e-8,
        .weight_decay = o.weight_decay,
        .grad_clip = o.clip,
    };
    if (o.min_lr > o.lr || o.warmup > o.steps) {
        nh_errorf(&err, NH_EINVAL, "%s",
                  o.min_lr > o.lr ? "--min-lr is above --lr"
                                  : "--warmup is longer than --steps");
        goto fail;
    }

    if (tokdir_open(&d, o.data, 0, &err) < 0)
        goto fail;
    if (tokdir_vocab(d) > (uint32_t)cfg.vocab) {
        nh_errorf(&err, NH_EINVAL,
                  "model vocabulary %d of '%s' is smaller than the "
                  "tokenizer's %u of '%s'",
                  cfg.vocab, o.config, tokdir_vocab(d), o.data);
        goto fail;
    }
    ntok = tokdir_tokens(d);
    nheld = 0;
    if (o.eval_every > 0) {
        nheld = ntok / 100;
        if (nheld < (uint64_t)T + 1)
            nheld = (uint64_t)T + 1;
    }
    if (ntok < nheld + (uint64_t)T + 1) {
        nh_errorf(&err, NH_EINVAL,
                  "'%s' has %llu tokens: too few for windows of %d tokens%s",
                  o.data, (unsigned long long)ntok, T + 1,
                  nheld ? " and a held-out range" : "");
        goto fail;
    }
    ntrain = ntok - nheld;

    if (mkdir(o.out, 0777) < 0 && errno != EEXIST) {
        nh_error_errno(&err, "cannot create '%s'", o.out);
        goto fail;
    }
    config_text(&conf, &cfg, &o, &ac, ntrain, nheld);
    math_key(&key, &cfg, &ac, &o, ntrain);
    omp_set_num_threads((int)o.threads);
    openblas_set_num_threads((int)o.threads);
    if (model_init(&m, &cfg, o.seed, &err) < 0 ||
        adamw_init(&opt, &ac, m.nparams, &err) < 0)
        goto fail;
    rng.s = o.seed ^ 0x6a09e667f3bcc909ULL;
    cs = (struct ckpt_state){
        .n = m.nparams,
        .params = m.params,
        .m = opt.m,
        .v = opt.v,
        .key = strbuf_str(&key),
    };
    if (o.resume) {
        if (ckpt_load(o.out, &cs, &err) < 0)
            goto fail;
        first = cs.step;
        rng.s = cs.rng;
        opt.t = cs.adam_t;
    }

    strbuf_addf(&path, "%s/config.json", o.out);
    if (write_text(strbuf_str(&path), &conf, &err) < 0)
        goto fail;
    strbuf_reset(&path);
    strbuf_addf(&path, "%s/metrics.jsonl", o.out);
    if (o.resume && truncate_metrics(strbuf_str(&path), first, &err) < 0)
        goto fail;
    if (!(mf = fopen(strbuf_str(&path), o.resume ? "a" : "w"))) {
        nh_error_errno(&err, "cannot create '%s'", strbuf_str(&path));
        goto fail;
    }
    win = malloc(sizeof(*win) * ((size_t)T + 1));
    tok = malloc(sizeof(*tok) * (size_t)B * (size_t)T);
    tgt = malloc(sizeof(*tgt) * (size_t)B * (size_t)T);
    if (!win || !tok || !tgt) {
        nh_errorf(&err, NH_ENOMEM, "out of memory for a batch of %d x %d", B,
                  T);
        goto fail;
    }

    peak = measure_peak();
    strbuf_addf(&line,
                "{\"event\":\"peak\",\"gflops\":%.6g,\"threads\":%ld,"
                "\"params\":%zu}",
                peak, o.threads, m.nparams);
    if (emit(o.resume ? NULL : mf, strbuf_str(&path), strbuf_str(&line), &err) <
        0) /* a resumed run's file has its peak line */
        goto fail;
    flops_tok = 3.0 * model_flops_per_token(&cfg, T);

    for (step = first; step < o.steps; step++) {
        double t0 = now_s(), lr, gnorm, sec, tps, gf;
        float loss;

        if (fill_batch(d, &rng, 0, ntrain - (uint64_t)T, B, T, win, tok, tgt) <
            0) {
            nh_errorf(&err, NH_EIO, "cannot read tokens of '%s'", o.data);
            goto fail;
        }
        model_zero_grad(&m);
        if (model_forward(&m, tok, tgt, B, T, &loss, &err) < 0 ||
            model_backward(&m, &err) < 0)
            goto fail;
        gnorm = grad_clip(m.grads, m.nparams, ac.grad_clip);
        lr = adamw_lr(&ac, step);
        if (adamw_step(&opt, &m, lr, &err) < 0)
            goto fail;
        sec = now_s() - t0;
        tps = (double)B * T / (sec > 0 ? sec : 1e-9);
        gf = tps * flops_tok / 1e9;
        if (!isfinite(loss)) {
            nh_errorf(&err, NH_EINVAL, "loss is %g at step %ld", (double)loss,
                      step + 1);
            goto fail;
        }
        strbuf_reset(&line);
        strbuf_addf(&line,
                    "{\"step\":%ld,\"loss\":%.9g,\"lr\":%.9g,"
                    "\"grad_norm\":%.6g,\"tokens_per_s\":%.6g,"
                    "\"gflops\":%.6g,\"mfu\":%.6g,\"seconds\":%.6g}",
                    step + 1, (double)loss, lr, gnorm, tps, gf,
                    peak > 0 ? gf / peak : 0.0, sec);
        if (emit(mf, strbuf_str(&path), strbuf_str(&line), &err) < 0)
            goto fail;
        if (tty)
            fprintf(stderr,
                    "step %ld/%ld  loss %.4f  lr %.3g  |g| %.3g  "
                    "%.0f tok/s  %.2f GFLOP/s  mfu %.1f%%\n",
                    step + 1, o.steps, (double)loss, lr, gnorm, tps, gf,
                    peak > 0 ? 100 * gf / peak : 0.0);

        if (o.eval_every > 0 &&
            ((step + 1) % o.eval_every == 0 || step + 1 == o.steps)) {
            double sum = 0;
            long i;

            erng.s = EVAL_SEED;
            for (i = 0; i < o.eval_batches; i++) {
                if (fill_batch(d, &erng, ntrain, nheld - (uint64_t)T, B, T, win,
                               tok, tgt) < 0) {
                    nh_errorf(&err, NH_EIO, "cannot read tokens of '%s'",
                              o.data);
                    goto fail;
                }
                if (model_forward(&m, tok, tgt, B, T, &loss, &err) < 0)
                    goto fail;
                sum += loss;
            }
            strbuf_reset(&line);
            strbuf_addf(&line,
                        "{\"event\":\"eval\",\"step\":%ld,\"loss\":%.9g}",
                        step + 1, sum / (double)o.eval_batches);
            if (emit(mf, strbuf_str(&path), strbuf_str(&line), &err) < 0)
                goto fail;
            if (tty)
                fprintf(stderr, "eval at step %ld  loss %.4f\n", step + 1,
                        sum / (double)o.eval_batches);
        }
        if (o.ckpt_every > 0 && (step + 1) % o.ckpt_every == 0) {
            cs.step = step + 1;
            cs.rng = rng.s;
            cs.adam_t = opt.t;
            if (ckpt_write(o.out, &cs, strbuf_str(&conf), (int)o.keep, &err) <
                0)
                goto fail;
        }
    }
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "nh-train: run: %s\n", err.msg);
out:
    if (mf && fclose(mf) && rc == 0) {
        fprintf(stderr, "nh-train: run: cannot write '%s'\n",
                strbuf_str(&path));
        rc = 1;
    }
    free(win);
    free(tok);
    free(tgt);
    adamw_free(&opt);
    model_free(&m);
    tokdir_close(d);
    strbuf_release(&line);
    strbuf_release(&path);
    strbuf_release(&conf);
    strbuf_release(&key);
    return rc;
}
