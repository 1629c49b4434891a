/* run.c - `nh-train run`: the training loop of one rank
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
 * usable one and cuts metrics.jsonl back to its step. Under mpirun each
 * rank takes its rows of every global batch and dp.c sums the gradients
 * (and shards AdamW with --zero 1); rank 0 alone writes, and all ranks
 * agree on success after each phase so that they stop together.
 * docs/TRAINER.md ("Training", "Data and optimizer parallel",
 * "Checkpoints and resume").
 */
#include "run.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>
#include <omp.h>

#include "args.h"
#include "ckpt.h"
#include "clock.h"
#include "dp.h"
#include "fault.h"
#include "heartbeat.h"
#include "model.h"
#include "optim.h"
#include "plan.h"
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
    "         [--ckpt-every K|auto] [--mtbf SECONDS] [--keep M] [--resume]\n"
    "         [--zero 0|1] [--bucket-mb X] [--recompute none|selective|full]\n"
    "         [--tp T] [--micro-batches M] [--plan PLAN.json[#K]]\n"
    "under mpirun -np N: data parallel over N ranks (dp.h); --zero 1 shards\n"
    "the AdamW state across them; --plan takes the batch, micro-batches,\n"
    "--zero and --recompute from plan K (default 1) of `nh-train plan "
    "--json`\n";

static const char *const recompute_names[] = {"none", "selective", "full"};

struct run_opts {
    const char *config, *data, *out, *plan;
    long steps, batch, seq, warmup, threads, eval_every, eval_batches;
    long ckpt_every, keep, zero, tp, micro_batches;
    double lr, min_lr, weight_decay, clip, bucket_mb, mtbf;
    enum model_recompute recompute;
    unsigned long long seed;
    bool have_min_lr, have_warmup, resume, ckpt_auto;
    bool have_batch, have_seq, have_zero, have_recompute, have_micro;
};

uint64_t
run_rng_next(struct run_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int
bad_usage(const char *msg, const char *arg)
{
    if (msg)
        fprintf(stderr, "nh-train: run: %s '%s'\n", msg, arg);
    fputs(run_usage, stderr);
    return 2;
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
        double t = nh_now(), g;

        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0f, a,
                    N, a + N * N, N, 0.0f, a + 2 * N * N, N);
        t = nh_now() - t;
        g = 2.0 * N * N * N / (t > 0 ? t : 1e-9) / 1e9;
        if (i > 0 && g > best) /* the first warms up */
            best = g;
    }
    free(a);
    return best;
}

/* The global batch: B windows of T+1 tokens starting in [lo, lo + span).
 * Every rank draws all B starts, so the sampler's state is the same on
 * all, and reads only its rows [b0, b1) into tok/tgt. */
static int
fill_batch(const struct tokdir *d, struct run_rng *rng, uint64_t lo,
           uint64_t span, int B, int b0, int b1, int T, uint32_t *win,
           int32_t *tok, int32_t *tgt)
{
    int b, t;

    for (b = 0; b < B; b++) {
        uint64_t start = lo + run_rng_next(rng) % span;
        size_t row = (size_t)(b - b0) * T;

        if (b < b0 || b >= b1)
            continue;
        if (tokdir_read(d, start, (size_t)T + 1, win) < 0)
            return -1;
        for (t = 0; t < T; t++) {
            tok[row + t] = (int32_t)win[t];
            tgt[row + t] = (int32_t)win[t + 1];
        }
    }
    return 0;
}

/* RUN_DIR/config.json's text (also each checkpoint's) into sb. */
static void
config_text(struct strbuf *sb, const struct model_config *c,
            const struct run_opts *o, const struct adamw_config *ac, int ranks,
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
                "\"ckpt_every\": %ld, \"keep\": %ld, \"ranks\": %d, "
                "\"tp\": %ld, "
                "\"zero\": %ld, \"bucket_mb\": %.9g, \"recompute\": \"%s\", "
                "\"micro_batches\": %ld, \"train_tokens\": %llu, "
                "\"heldout_tokens\": %llu, \"plan\": ",
                o->steps, o->batch, o->seq, ac->lr, ac->min_lr,
                ac->warmup_steps, ac->weight_decay, ac->grad_clip, ac->beta1,
                ac->beta2, ac->eps, o->seed, o->threads, o->eval_every,
                o->eval_batches, o->ckpt_every, o->keep, ranks,
                o->tp ? o->tp : 1, o->zero, o->bucket_mb,
                recompute_names[o->recompute], o->micro_batches,
                (unsigned long long)ntrain, (unsigned long long)nheld);
    if (o->plan)
        strbuf_add_json_str(sb, o->plan, strlen(o->plan));
    else
        strbuf_addstr(sb, "null");
    strbuf_addstr(sb, "}\n}\n");
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
    /* the sums of accumulated micro-batches round differently */
    if (o->micro_batches > 1)
        strbuf_addf(sb, " micro_batches=%ld", o->micro_batches);
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
        {"mtbf", required_argument, NULL, 'F'},
        {"resume", no_argument, NULL, 'R'},
        {"zero", required_argument, NULL, 'Z'},
        {"bucket-mb", required_argument, NULL, 'U'},
        {"recompute", required_argument, NULL, 'X'},
        {"tp", required_argument, NULL, 'Q'},
        {"micro-batches", required_argument, NULL, 'A'},
        {"plan", required_argument, NULL, 'P'},
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
            ok = nh_parse_long(optarg, 1, MAX_STEPS, &o->steps);
            break;
        case 'b':
            ok = nh_parse_long(optarg, 1, MAX_BATCH, &o->batch);
            o->have_batch = true;
            break;
        case 't':
            ok = nh_parse_long(optarg, 1, MODEL_MAX_SEQ, &o->seq);
            o->have_seq = true;
            break;
        case 'l':
            ok = nh_parse_double(optarg, 0, 10, &o->lr);
            break;
        case 'm':
            ok = nh_parse_double(optarg, 0, 10, &o->min_lr);
            o->have_min_lr = true;
            break;
        case 'w':
            ok = nh_parse_long(optarg, 0, MAX_STEPS, &o->warmup);
            o->have_warmup = true;
            break;
        case 'W':
            ok = nh_parse_double(optarg, 0, 10, &o->weight_decay);
            break;
        case 'C':
            ok = nh_parse_double(optarg, 0, 1e9, &o->clip);
            break;
        case 's':
            ok = nh_parse_long(optarg, 0, 0x7fffffffffffffffL, &seed);
            o->seed = (unsigned long long)seed;
            break;
        case 'j':
            ok = nh_parse_long(optarg, 1, 1024, &o->threads);
            break;
        case 'e':
            ok = nh_parse_long(optarg, 0, MAX_STEPS, &o->eval_every);
            break;
        case 'E':
            ok = nh_parse_long(optarg, 1, 1000000, &o->eval_batches);
            break;
        case 'K':
            o->ckpt_auto = !strcmp(optarg, "auto");
            o->ckpt_every = 0;
            ok = o->ckpt_auto ||
                 nh_parse_long(optarg, 0, MAX_STEPS, &o->ckpt_every);
            break;
        case 'F':
            ok = nh_parse_double(optarg, 1e-3, 1e12, &o->mtbf);
            break;
        case 'M':
            ok = nh_parse_long(optarg, 1, 1000000, &o->keep);
            break;
        case 'R':
            o->resume = true;
            break;
        case 'Z':
            ok = nh_parse_long(optarg, 0, 1, &o->zero);
            o->have_zero = true;
            break;
        case 'A':
            ok = nh_parse_long(optarg, 1, MAX_BATCH, &o->micro_batches);
            o->have_micro = true;
            break;
        case 'P':
            o->plan = optarg;
            break;
        case 'U':
            ok = nh_parse_double(optarg, 1e-6, 1e6, &o->bucket_mb);
            break;
        case 'Q':
            ok = nh_parse_long(optarg, 1, 1024, &o->tp);
            break;
        case 'X':
            ok = true;
            o->have_recompute = true;
            if (!strcmp(optarg, "none"))
                o->recompute = MODEL_RECOMPUTE_NONE;
            else if (!strcmp(optarg, "selective"))
                o->recompute = MODEL_RECOMPUTE_SELECTIVE;
            else if (!strcmp(optarg, "full"))
                o->recompute = MODEL_RECOMPUTE_FULL;
            else
                ok = false;
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

/* Peak resident memory of this process, in MiB. */
static double
max_rss_mb(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0;
    return (double)ru.ru_maxrss / 1024.0;
}

/* --plan (plan.h): the global batch dp x micro-batch x micro-batches, the
 * micro-batches, --zero from the optimizer sharding and --recompute from
 * the plan's one mode; an option given that says otherwise is refused. */
static int
apply_plan(struct run_opts *o, const struct model_config *cfg, int ranks,
           struct nh_error *err)
{
    struct plan_run pr;
    long batch;
    enum model_recompute rc;

    if (plan_run_load(o->plan, &pr, err) < 0 ||
        plan_run_check(o->plan, &pr, cfg, ranks, err) < 0)
        return -1;
    batch = (long)pr.dp * pr.micro_batch * pr.micro_batches;
    rc = pr.recompute == PLAN_RC_FULL        ? MODEL_RECOMPUTE_FULL
         : pr.recompute == PLAN_RC_SELECTIVE ? MODEL_RECOMPUTE_SELECTIVE
                                             : MODEL_RECOMPUTE_NONE;
    if (o->have_batch && o->batch != batch)
        return nh_errorf(err, NH_EINVAL,
                         "--batch %ld contradicts plan '%s': global batch %ld "
                         "(dp %d x micro-batch %d x %d micro-batches)",
                         o->batch, o->plan, batch, pr.dp, pr.micro_batch,
                         pr.micro_batches);
    if (o->have_micro && o->micro_batches != pr.micro_batches)
        return nh_errorf(err, NH_EINVAL,
                         "--micro-batches %ld contradicts plan '%s': %d "
                         "micro-batches",
                         o->micro_batches, o->plan, pr.micro_batches);
    if (o->have_zero && (o->zero > 0) != pr.shard)
        return nh_errorf(err, NH_EINVAL,
                         "--zero %ld contradicts plan '%s': optimizer "
                         "sharding %s (--zero %d)",
                         o->zero, o->plan, pr.shard ? "on" : "off",
                         pr.shard ? 1 : 0);
    if (o->have_recompute && o->recompute != rc)
        return nh_errorf(err, NH_EINVAL,
                         "--recompute %s contradicts plan '%s': recompute %s",
                         recompute_names[o->recompute], o->plan,
                         recompute_names[rc]);
    if (o->tp && o->tp != pr.tp)
        return nh_errorf(err, NH_EINVAL,
                         "--tp %ld contradicts plan '%s': tp %d", o->tp,
                         o->plan, pr.tp);
    if (o->have_seq && o->seq != pr.seq)
        return nh_errorf(err, NH_EINVAL,
                         "--seq %ld contradicts plan '%s': sequences of %d",
                         o->seq, o->plan, pr.seq);
    if (batch > MAX_BATCH)
        return nh_errorf(err, NH_EINVAL,
                         "plan '%s': global batch %ld is over %d", o->plan,
                         batch, MAX_BATCH);
    if (pr.seq > cfg->seq)
        return nh_errorf(err, NH_EINVAL,
                         "plan '%s' is for sequences of %d, longer than the "
                         "model's %d",
                         o->plan, pr.seq, cfg->seq);
    o->batch = batch;
    o->tp = pr.tp;
    o->micro_batches = pr.micro_batches;
    o->zero = pr.shard;
    o->recompute = rc;
    o->seq = pr.seq;
    return 0;
}

/* The state every rank holds and the setup all ranks do alike. */
struct run {
    struct run_opts o;
    struct dp dp;
    struct model_config cfg;
    struct adamw_config ac;
    struct model m;
    struct adamw opt;
    struct tokdir *d;
    struct strbuf line, path, conf, key;
    uint32_t *win;
    int32_t *tok, *tgt;
    FILE *mf; /* rank 0 only */
    uint64_t ntrain, nheld;
    int B, T, b0, b1; /* global batch, seq, this rank's rows */
    double share;     /* b1 - b0 over B */
    bool bad_plan;    /* --plan refused: exit status 2 */
};

static int
setup(struct run *r, struct nh_error *err)
{
    struct run_opts *o = &r->o;
    uint64_t ntok;
    int size, rank;

    if (model_config_load(o->config, &r->cfg, err) < 0)
        return -1;
    if (o->plan && apply_plan(o, &r->cfg, r->dp.size, err) < 0) {
        r->bad_plan = true; /* usage: exit 2, launch does not restart */
        return -1;
    }
    if (dp_grid(&r->dp, o->tp ? (int)o->tp : 1, err) < 0)
        return -1;
    size = r->dp.dsize;
    rank = r->dp.drank;
    if (!o->seq)
        o->seq = r->cfg.seq;
    if (o->seq > r->cfg.seq)
        return nh_errorf(err, NH_EINVAL,
                         "--seq %ld is longer than the model's %d", o->seq,
                         r->cfg.seq);
    if (o->batch < size)
        return nh_errorf(err, NH_EINVAL,
                         "--batch %ld is smaller than the %d data-parallel "
                         "ranks: each needs at least one sequence",
                         o->batch, size);
    /* gradient accumulation: every rank's rows cut into equal micro-batches */
    if (o->micro_batches > 1 && o->batch % ((long)size * o->micro_batches))
        return nh_errorf(err, NH_EINVAL,
                         "--batch %ld does not divide into %d x %ld equal "
                         "micro-batches (ranks x --micro-batches)",
                         o->batch, size, o->micro_batches);
    if (!o->have_min_lr)
        o->min_lr = o->lr / 10;
    if (!o->have_warmup)
        o->warmup = o->steps / 10;
    r->B = (int)o->batch;
    r->T = (int)o->seq;
    r->b0 = (int)((long)r->B * rank / size);
    r->b1 = (int)((long)r->B * (rank + 1) / size);
    r->share = (double)(r->b1 - r->b0) / r->B;
    r->ac = (struct adamw_config){
        .lr = o->lr,
        .min_lr = o->min_lr,
        .warmup_steps = o->warmup,
        .total_steps = o->steps,
        .beta1 = 0.9,
        .beta2 = 0.95,
        .eps = 1e-8,
        .weight_decay = o->weight_decay,
        .grad_clip = o->clip,
    };
    if (o->min_lr > o->lr || o->warmup > o->steps)
        return nh_errorf(err, NH_EINVAL, "%s",
                         o->min_lr > o->lr ? "--min-lr is above --lr"
                                           : "--warmup is longer than --steps");

    if (tokdir_open(&r->d, o->data, 0, err) < 0)
        return -1;
    if (tokdir_vocab(r->d) > (uint32_t)r->cfg.vocab)
        return nh_errorf(err, NH_EINVAL,
                         "model vocabulary %d of '%s' is smaller than the "
                         "tokenizer's %u of '%s'",
                         r->cfg.vocab, o->config, tokdir_vocab(r->d), o->data);
    ntok = tokdir_tokens(r->d);
    r->nheld = 0;
    if (o->eval_every > 0) {
        r->nheld = ntok / 100;
        if (r->nheld < (uint64_t)r->T + 1)
            r->nheld = (uint64_t)r->T + 1;
    }
    if (ntok < r->nheld + (uint64_t)r->T + 1)
        return nh_errorf(
            err, NH_EINVAL,
            "'%s' has %llu tokens: too few for windows of %d tokens%s", o->data,
            (unsigned long long)ntok, r->T + 1,
            r->nheld ? " and a held-out range" : "");
    r->ntrain = ntok - r->nheld;

    if (rank == 0 && mkdir(o->out, 0777) < 0 && errno != EEXIST)
        return nh_error_errno(err, "cannot create '%s'", o->out);
    config_text(&r->conf, &r->cfg, o, &r->ac, r->dp.size, r->ntrain, r->nheld);
    math_key(&r->key, &r->cfg, &r->ac, o, r->ntrain);
    omp_set_num_threads((int)o->threads);
    openblas_set_num_threads((int)o->threads);
    if (model_init_tp(&r->m, &r->cfg, o->seed, r->dp.tp, r->dp.trank, err) < 0)
        return -1;
    r->m.tp_sum = dp_tp_sum;
    r->m.tp_ctx = &r->dp;
    r->m.recompute = o->recompute;
    if (dp_setup(&r->dp, &r->m,
                 (size_t)(o->bucket_mb * 1024 * 1024 / sizeof(float)),
                 o->zero > 0, err) < 0 ||
        adamw_init(&r->opt, &r->ac, r->dp.shard_n, err) < 0)
        return -1;
    r->win = malloc(sizeof(*r->win) * ((size_t)r->T + 1));
    r->tok = malloc(sizeof(*r->tok) * (size_t)(r->b1 - r->b0) * (size_t)r->T);
    r->tgt = malloc(sizeof(*r->tgt) * (size_t)(r->b1 - r->b0) * (size_t)r->T);
    if (!r->win || !r->tok || !r->tgt)
        return nh_errorf(err, NH_ENOMEM, "out of memory for a batch of %d x %d",
                         r->B, r->T);
    return 0;
}

/* Rank 0 loads the newest usable checkpoint (the single-process layout,
 * m.gparams floats each); every rank gets its state. Without tensor
 * parallel dp.c sends the parameters and moments (or the moments'
 * pieces); with it every rank gets the whole state and keeps its slices. */
static int
resume(struct run *r, struct ckpt_state *cs, struct run_rng *rng, long *first,
       struct nh_error *err)
{
    struct dp *d = &r->dp;
    size_t n = r->m.nparams, gn = r->m.gparams;
    bool tp = d->tp > 1, whole = tp || d->zero; /* needs full buffers */
    float *g = NULL, *lm = NULL, *lv = NULL;
    uint64_t st[3] = {0};
    int rc = 0;

    if (whole && (d->rank == 0 || tp) &&
        !(g = malloc(sizeof(float) * (tp ? 3 * gn : 2 * n))))
        rc = nh_errorf(err, NH_ENOMEM, "out of memory for the checkpoint");
    if (d->rank == 0 && rc == 0) {
        if (tp) {
            cs->params = g;
            cs->m = g + gn;
            cs->v = g + 2 * gn;
        } else if (d->zero) {
            cs->m = g;
            cs->v = g + n;
        }
        rc = ckpt_load(r->o.out, cs, err);
        st[0] = (uint64_t)cs->step;
        st[1] = cs->rng;
        st[2] = (uint64_t)cs->adam_t;
        cs->params = r->m.params;
        cs->m = r->opt.m;
        cs->v = r->opt.v;
    }
    if ((rc = dp_agree(d, rc)) < 0)
        goto out;
    if (dp_bcast(d, st, sizeof st) < 0)
        goto fail;
    if (!tp) {
        if (dp_scatter_state(d, &r->m, &r->opt, g, g ? g + n : NULL, err) < 0)
            goto fail;
    } else {
        if (dp_bcast(d, g, sizeof(float) * 3 * gn) < 0)
            goto fail;
        model_from_global(&r->m, g, r->m.params);
        if (!d->zero) {
            model_from_global(&r->m, g + gn, r->opt.m);
            model_from_global(&r->m, g + 2 * gn, r->opt.v);
        } else {
            if (!(lm = malloc(sizeof(float) * n)) ||
                !(lv = malloc(sizeof(float) * n))) {
                rc = nh_errorf(err, NH_ENOMEM, "out of memory");
                goto out;
            }
            model_from_global(&r->m, g + gn, lm);
            model_from_global(&r->m, g + 2 * gn, lv);
            dp_take_pieces(d, lm, r->opt.m);
            dp_take_pieces(d, lv, r->opt.v);
        }
    }
    *first = (long)st[0];
    rng->s = st[1];
    r->opt.t = (long)st[2];
    goto out;
fail:
    rc = nh_errorf(err, NH_EIO, "cannot share the checkpoint");
out:
    free(g);
    free(lm);
    free(lv);
    return rc;
}

/* Rank 0 writes a checkpoint of the state after cs->step steps, in the
 * single-process layout: with --zero the data group's rank 0 gathers the
 * moments' pieces; with tensor parallel the tensor group of data rank 0
 * puts its slices together on rank 0. */
static int
checkpoint(struct run *r, struct ckpt_state *cs, struct nh_error *err)
{
    struct dp *d = &r->dp;
    size_t n = r->m.nparams, gn = r->m.gparams;
    bool tp = d->tp > 1, lead = d->drank == 0;
    float *mf = NULL, *vf = NULL, *g = NULL;
    const float *lm = r->opt.m, *lv = r->opt.v;
    int rc = 0;

    if (d->zero && lead) {
        mf = malloc(sizeof(float) * n);
        vf = malloc(sizeof(float) * n);
        if (!mf || !vf)
            rc = nh_errorf(err, NH_ENOMEM,
                           "out of memory for the checkpoint's state");
        lm = mf;
        lv = vf;
    }
    if (tp && lead && rc == 0 && !(g = calloc(3 * gn, sizeof(float))))
        rc = nh_errorf(err, NH_ENOMEM, "out of memory for the checkpoint");
    if ((rc = dp_agree(d, rc)) < 0)
        goto out;
    if ((rc = dp_gather_moments(d, &r->opt, mf, vf, err)) < 0)
        goto out;
    if (tp && lead) {
        /* slices in place, whole tensors from tensor rank 0 only: the
         * sum over the group is then exact */
        model_to_global(&r->m, r->m.params, g, d->trank == 0);
        model_to_global(&r->m, lm, g + gn, d->trank == 0);
        model_to_global(&r->m, lv, g + 2 * gn, d->trank == 0);
        if ((rc = dp_tp_reduce(d, g, 3 * gn)) < 0) {
            nh_errorf(err, NH_EIO, "cannot gather the tensor slices");
            goto out;
        }
    }
    if (d->rank == 0) {
        cs->params = tp ? g : r->m.params;
        cs->m = (float *)(tp ? g + gn : lm);
        cs->v = (float *)(tp ? g + 2 * gn : lv);
        rc =
            ckpt_write(r->o.out, cs, strbuf_str(&r->conf), (int)r->o.keep, err);
        cs->params = r->m.params;
        cs->m = r->opt.m;
        cs->v = r->opt.v;
    }
out:
    free(mf);
    free(vf);
    free(g);
    return rc;
}

/* One metrics line to stdout and the metrics file, on rank 0. */
static int
report(struct run *r, FILE *mf, struct nh_error *err)
{
    if (r->dp.rank != 0)
        return 0;
    return emit(mf, strbuf_str(&r->path), strbuf_str(&r->line), err);
}

/* --ckpt-every auto, after the first checkpoint of step `step`: rank 0's
 * write time delta and step time give every rank the same interval
 * (ckpt_young_interval), reported as a ckpt_interval line. */
static int
auto_interval(struct run *r, double delta, double step_s, long step,
              struct nh_error *err)
{
    double t[2] = {delta, step_s};

    if (dp_bcast(&r->dp, t, sizeof t) < 0)
        return nh_errorf(err, NH_EIO, "cannot share the checkpoint interval");
    r->o.ckpt_every = ckpt_young_interval(t[0], r->o.mtbf, t[1], r->o.steps);
    strbuf_reset(&r->line);
    strbuf_addf(&r->line,
                "{\"event\":\"ckpt_interval\",\"step\":%ld,"
                "\"ckpt_seconds\":%.17g,\"step_seconds\":%.17g,"
                "\"mtbf\":%.17g,\"interval_seconds\":%.6g,\"every\":%ld}",
                step, t[0], t[1], r->o.mtbf, sqrt(2 * t[0] * r->o.mtbf),
                r->o.ckpt_every);
    return report(r, r->mf, err);
}

/* Gradient accumulation over the micro-batches of this rank's rows
 * (--micro-batches M): forward and backward of each but the last, whose
 * forward alone is left for the caller's backward; model_backward adds
 * into the gradients. The earlier backwards run with the model's
 * grads_ready hook unset, so that data parallel reduces only once, after
 * the last; dp_begin's scale, share / M, then weighs the sum of the M
 * micro-batches' mean-loss gradients as one batch's. *loss: this rank's
 * mean over its rows. */
static int
micro_steps(struct run *r, float *loss, struct nh_error *err)
{
    void (*hook)(void *, size_t, size_t) = r->m.grads_ready;
    int M = (int)r->o.micro_batches, mb = (r->b1 - r->b0) / M, k, rc = 0;
    double sum = 0;
    float l;

    for (k = 0; k < M && rc == 0; k++) {
        size_t at = (size_t)k * (size_t)mb * (size_t)r->T;

        if (model_forward(&r->m, r->tok + at, r->tgt + at, mb, r->T, &l, err) <
            0) {
            rc = -1;
            break;
        }
        sum += l;
        if (k + 1 < M) {
            r->m.grads_ready = NULL;
            rc = model_backward(&r->m, err);
            r->m.grads_ready = hook;
        }
    }
    *loss = (float)(sum / M);
    return rc;
}

/* The mean loss over the held-out windows, every rank its share. */
static int
evaluate(struct run *r, double *out, struct nh_error *err)
{
    struct run_rng erng = {EVAL_SEED};
    double sum = 0;
    float loss;
    long i;
    int rc = 0, k, M = (int)r->o.micro_batches, mb = (r->b1 - r->b0) / M;

    for (i = 0; i < r->o.eval_batches && rc == 0; i++) {
        if (fill_batch(r->d, &erng, r->ntrain, r->nheld - (uint64_t)r->T, r->B,
                       r->b0, r->b1, r->T, r->win, r->tok, r->tgt) < 0)
            rc =
                nh_errorf(err, NH_EIO, "cannot read tokens of '%s'", r->o.data);
        else
            for (k = 0; k < M && rc == 0; k++) {
                size_t at = (size_t)k * (size_t)mb * (size_t)r->T;

                if (model_forward(&r->m, r->tok + at, r->tgt + at, mb, r->T,
                                  &loss, err) < 0)
                    rc = -1;
                else
                    sum += r->share / M * loss;
            }
    }
    if ((rc = dp_agree(&r->dp, rc)) < 0)
        return rc;
    *out = dp_sum(&r->dp, sum) / (double)r->o.eval_batches;
    return 0;
}

int
run_command(int argc, char **argv)
{
    struct run r = {
        .o =
            {
                .steps = 100,
                .batch = 8,
                .lr = 3e-4,
                .weight_decay = 0.1,
                .clip = 1.0,
                .seed = 1,
                .eval_batches = 4,
                .keep = 3,
                .bucket_mb = 25,
                .mtbf = 86400,
                .micro_batches = 1,
            },
        .line = STRBUF_INIT,
        .path = STRBUF_INIT,
        .conf = STRBUF_INIT,
        .key = STRBUF_INIT,
    };
    struct run_opts *o = &r.o;
    struct nh_error err = {0};
    struct run_rng rng;
    struct ckpt_state cs;
    struct heartbeat hb = {0};
    struct fault flt;
    double peak, flops_tok;
    bool tty = isatty(2), r0failed;
    int rc;
    long step, first = 0;

    if ((rc = parse_opts(argc, argv, o)) >= 0)
        return rc;
    if (dp_init(&r.dp, NULL, NULL, &err) < 0) {
        fprintf(stderr, "nh-train: run: %s\n", err.msg);
        return 1;
    }
    tty = tty && r.dp.rank == 0;
    /* for nh-train launch: heartbeats and injected faults (NH_FAULT) */
    rc = heartbeat_init(&hb, r.dp.rank, &err);
    if (rc == 0)
        rc = fault_init(&flt, &err);
    if ((rc = dp_agree(&r.dp, rc)) < 0)
        goto fail;
    heartbeat_beat(&hb, HB_START, 0);
    if (!o->threads) /* the cores, shared by this node's ranks */
        o->threads = omp_get_num_procs() / r.dp.local_size;
    if (o->threads < 1)
        o->threads = 1;
    rc = dp_agree(&r.dp, setup(&r, &err));
    if (rc < 0)
        goto fail;
    rng.s = o->seed ^ 0x6a09e667f3bcc909ULL;
    cs = (struct ckpt_state){
        .n = r.m.gparams,
        .params = r.m.params,
        .m = r.opt.m,
        .v = r.opt.v,
        .key = strbuf_str(&r.key),
    };
    if (o->resume && (rc = resume(&r, &cs, &rng, &first, &err)) < 0)
        goto fail;

    if (r.dp.rank == 0) {
        strbuf_addf(&r.path, "%s/config.json", o->out);
        if (write_text(strbuf_str(&r.path), &r.conf, &err) < 0)
            rc = -1;
        strbuf_reset(&r.path);
        strbuf_addf(&r.path, "%s/metrics.jsonl", o->out);
        if (rc == 0 && o->resume &&
            truncate_metrics(strbuf_str(&r.path), first, &err) < 0)
            rc = -1;
        if (rc == 0 &&
            !(r.mf = fopen(strbuf_str(&r.path), o->resume ? "a" : "w")))
            rc =
                nh_error_errno(&err, "cannot create '%s'", strbuf_str(&r.path));
    }
    if ((rc = dp_agree(&r.dp, rc)) < 0)
        goto fail;

    /* every rank measures at once: the sum is the run's peak */
    peak = dp_sum_all(&r.dp, measure_peak());
    strbuf_addf(&r.line,
                "{\"event\":\"peak\",\"gflops\":%.6g,\"threads\":%ld,"
                "\"ranks\":%d,\"params\":%zu}",
                peak, o->threads, r.dp.size, r.m.gparams);
    /* a resumed run's file has its peak line */
    rc = report(&r, o->resume ? NULL : r.mf, &err);
    if ((rc = dp_agree(&r.dp, rc)) < 0)
        goto fail;
    flops_tok = 3.0 * model_flops_per_token(&r.cfg, r.T);
    heartbeat_beat(&hb, HB_READY, first);

    for (step = first; step < o->steps; step++) {
        double t0 = nh_now(), lr, gnorm, sec, tps, gf, gloss, rss;
        float loss = 0;

        heartbeat_beat(&hb, HB_BEGIN, step + 1);
        rc = 0;
        if (fill_batch(r.d, &rng, 0, r.ntrain - (uint64_t)r.T, r.B, r.b0, r.b1,
                       r.T, r.win, r.tok, r.tgt) < 0)
            rc = nh_errorf(&err, NH_EIO, "cannot read tokens of '%s'", o->data);
        model_zero_grad(&r.m);
        if (rc == 0 && micro_steps(&r, &loss, &err) < 0)
            rc = -1;
        if ((rc = dp_agree(&r.dp, rc)) < 0)
            goto fail;
        /* the last micro-batch's backward reduces the sum of all */
        dp_begin(&r.dp, r.share / (double)o->micro_batches);
        if (model_backward(&r.m, &err) < 0 || dp_end(&r.dp, &err) < 0)
            goto fail;
        lr = adamw_lr(&r.ac, step);
        if (dp_step(&r.dp, &r.m, &r.opt, lr, r.ac.grad_clip, &gnorm, &err) < 0)
            goto fail;
        gloss = dp_sum(&r.dp, r.share * loss);
        rss = dp_max(&r.dp, max_rss_mb());
        sec = nh_now() - t0;
        tps = (double)r.B * r.T / (sec > 0 ? sec : 1e-9);
        gf = tps * flops_tok / 1e9;
        if (!isfinite(gloss)) {
            nh_errorf(&err, NH_EINVAL, "loss is %g at step %ld", gloss,
                      step + 1);
            goto fail;
        }
        strbuf_reset(&r.line);
        strbuf_addf(&r.line,
                    "{\"step\":%ld,\"loss\":%.9g,\"lr\":%.9g,"
                    "\"grad_norm\":%.6g,\"tokens_per_s\":%.6g,"
                    "\"gflops\":%.6g,\"mfu\":%.6g,\"seconds\":%.6g,"
                    "\"max_rss_mb\":%.1f}",
                    step + 1, (double)(float)gloss, lr, gnorm, tps, gf,
                    peak > 0 ? gf / peak : 0.0, sec, rss);
        rc = report(&r, r.mf, &err);
        heartbeat_beat(&hb, HB_STEP, step + 1);
        if (tty)
            fprintf(stderr,
                    "step %ld/%ld  loss %.4f  lr %.3g  |g| %.3g  "
                    "%.0f tok/s  %.2f GFLOP/s  mfu %.1f%%\n",
                    step + 1, o->steps, gloss, lr, gnorm, tps, gf,
                    peak > 0 ? 100 * gf / peak : 0.0);

        if (rc == 0 && o->eval_every > 0 &&
            ((step + 1) % o->eval_every == 0 || step + 1 == o->steps)) {
            double el;

            if ((rc = evaluate(&r, &el, &err)) < 0)
                goto fail;
            strbuf_reset(&r.line);
            strbuf_addf(&r.line,
                        "{\"event\":\"eval\",\"step\":%ld,\"loss\":%.9g}",
                        step + 1, el);
            rc = report(&r, r.mf, &err);
            if (tty)
                fprintf(stderr, "eval at step %ld  loss %.4f\n", step + 1, el);
        }
        if ((rc = dp_agree(&r.dp, rc)) < 0)
            goto fail;
        if ((o->ckpt_every > 0 && (step + 1) % o->ckpt_every == 0) ||
            (o->ckpt_auto && step == first)) {
            double tc = nh_now();

            cs.step = step + 1;
            cs.rng = rng.s;
            cs.adam_t = r.opt.t;
            heartbeat_beat(&hb, HB_CKPT, step + 1);
            rc = checkpoint(&r, &cs, &err);
            if (rc == 0)
                rc = fault_after_ckpt(&flt, r.dp.rank, o->out, step + 1, &err);
            if ((rc = dp_agree(&r.dp, rc)) < 0)
                goto fail;
            heartbeat_beat(&hb, HB_SAVED, step + 1);
            if (o->ckpt_auto && step == first &&
                (rc = dp_agree(&r.dp, auto_interval(&r, nh_now() - tc, sec,
                                                    step + 1, &err))) < 0)
                goto fail;
        }
        fault_after_step(&flt, r.dp.rank, step + 1);
    }
    rc = 0;
    goto out;
fail:
    /* every rank is here after the same agreement; rank 0 names the
     * failure, others only their own when rank 0 has none */
    r0failed = err.msg[0] != 0;
    if (dp_bcast(&r.dp, &r0failed, sizeof r0failed) < 0)
        r0failed = false;
    if (r.dp.rank == 0 && err.msg[0])
        fprintf(stderr, "nh-train: run: %s\n", err.msg);
    else if (r.dp.rank > 0 && err.msg[0] && !r0failed)
        fprintf(stderr, "nh-train: run: rank %d: %s\n", r.dp.rank, err.msg);
    rc = r.bad_plan ? 2 : 1;
out:
    if (r.mf && fclose(r.mf) && rc == 0) {
        fprintf(stderr, "nh-train: run: cannot write '%s'\n",
                strbuf_str(&r.path));
        rc = 1;
    }
    free(r.win);
    free(r.tok);
    free(r.tgt);
    adamw_free(&r.opt);
    model_free(&r.m);
    tokdir_close(r.d);
    strbuf_release(&r.line);
    strbuf_release(&r.path);
    strbuf_release(&r.conf);
    strbuf_release(&r.key);
    heartbeat_release(&hb);
    dp_finalize(&r.dp);
    return rc;
}
