/* model-parity.c - the C half of the PyTorch parity test
 *
 * Usage: model-parity CONFIG.json OUTDIR B T SEED
 * Initialises the model from CONFIG with SEED, draws one batch (B rows of
 * T tokens; targets are the next tokens of one random stream), and writes
 * into OUTDIR:
 *   tensors.txt   one line per tensor: name rows cols offset ndim
 *   params.bin    the initial parameters, float32 little-endian
 *   batch.bin     B*T int32 tokens then B*T int32 targets
 *   grads.bin     the gradients of the first forward's loss
 *   losses.txt    line 1 "B T", then the loss before each of 10 AdamW steps
 *                 and the loss after the 10th (11 lines), "%.9g"
 *   optim.txt     the AdamW settings, "key value" lines
 * tests/cli/model_parity.py recomputes all of it in PyTorch and compares
 * (tests/cli/t0220-train-parity.sh).
 */
#include <stdio.h>
#include <stdlib.h>

#include "model.h"
#include "optim.h"

static const struct adamw_config parity_adamw = {
    .lr = 3e-3,
    .min_lr = 3e-4,
    .warmup_steps = 3,
    .total_steps = 10,
    .beta1 = 0.9,
    .beta2 = 0.95,
    .eps = 1e-8,
    .weight_decay = 0.1,
    .grad_clip = 1.0,
};

static int
write_file(const char *dir, const char *name, const void *p, size_t size,
           size_t n)
{
    char path[4096];
    FILE *f;
    int ok;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return -1;
    }
    ok = fwrite(p, size, n, f) == n;
    ok &= fclose(f) == 0;
    if (!ok)
        fprintf(stderr, "model-parity: cannot write '%s'\n", path);
    return ok ? 0 : -1;
}

static FILE *
open_text(const char *dir, const char *name)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "w");
    if (!f)
        perror(path);
    return f;
}

int
main(int argc, char **argv)
{
    struct model_config cfg;
    struct model m;
    struct adamw o;
    struct nh_error err = {0};
    int32_t *tok = NULL, *tgt = NULL;
    uint64_t s;
    FILE *f = NULL;
    float loss;
    int B, T, i, step, rc = 1;

    if (argc != 6) {
        fprintf(stderr, "usage: model-parity CONFIG.json OUTDIR B T SEED\n");
        return 2;
    }
    B = atoi(argv[3]), T = atoi(argv[4]);
    s = strtoull(argv[5], NULL, 10);
    if (model_config_load(argv[1], &cfg, &err) ||
        model_init(&m, &cfg, s, &err)) {
        fprintf(stderr, "model-parity: %s\n", err.msg);
        return 1;
    }
    if (adamw_init(&o, &parity_adamw, m.nparams, &err)) {
        fprintf(stderr, "model-parity: %s\n", err.msg);
        goto out;
    }
    if (B < 1 || T < 1 || T > cfg.seq) {
        fprintf(stderr, "model-parity: bad B or T\n");
        goto out;
    }
    tok = malloc((size_t)B * T * sizeof *tok);
    tgt = malloc((size_t)B * T * sizeof *tgt);
    if (!tok || !tgt)
        goto out;
    for (i = 0; i < B * T + 1; i++) {
        int32_t x;

        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x = (int32_t)((s >> 33) % (uint64_t)cfg.vocab);
        if (i < B * T)
            tok[i] = x;
        if (i > 0)
            tgt[i - 1] = x;
    }

    if (!(f = open_text(argv[2], "tensors.txt")))
        goto out;
    for (i = 0; i < m.ntensors; i++)
        fprintf(f, "%s %d %d %zu %d\n", m.tensors[i].name, m.tensors[i].rows,
                m.tensors[i].cols, m.tensors[i].off, m.tensors[i].ndim);
    if (fclose(f))
        goto out;
    if (!(f = open_text(argv[2], "optim.txt")))
        goto out;
    fprintf(f,
            "lr %.17g\nmin_lr %.17g\nwarmup_steps %ld\ntotal_steps %ld\n"
            "beta1 %.17g\nbeta2 %.17g\neps %.17g\nweight_decay %.17g\n"
            "grad_clip %.17g\n",
            o.cfg.lr, o.cfg.min_lr, o.cfg.warmup_steps, o.cfg.total_steps,
            o.cfg.beta1, o.cfg.beta2, o.cfg.eps, o.cfg.weight_decay,
            o.cfg.grad_clip);
    if (fclose(f))
        goto out;
    f = NULL;
    if (write_file(argv[2], "params.bin", m.params, sizeof(float), m.nparams) ||
        write_file(argv[2], "batch.bin", tok, sizeof *tok, (size_t)B * T) ||
        write_file(argv[2], "targets.bin", tgt, sizeof *tgt, (size_t)B * T))
        goto out;

    if (!(f = open_text(argv[2], "losses.txt")))
        goto out;
    fprintf(f, "%d %d\n", B, T);
    for (step = 0; step <= 10; step++) {
        model_zero_grad(&m);
        if (model_forward(&m, tok, tgt, B, T, &loss, &err))
            goto fail;
        fprintf(f, "%.9g\n", loss);
        if (step == 10)
            break;
        if (model_backward(&m, &err))
            goto fail;
        if (step == 0 &&
            write_file(argv[2], "grads.bin", m.grads, sizeof(float), m.nparams))
            goto out;
        grad_clip(m.grads, m.nparams, o.cfg.grad_clip);
        if (adamw_step(&o, &m, adamw_lr(&o.cfg, step), &err))
            goto fail;
    }
    if (fclose(f)) {
        f = NULL;
        goto out;
    }
    f = NULL;
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "model-parity: %s\n", err.msg);
out:
    if (f)
        fclose(f);
    free(tok);
    free(tgt);
    adamw_free(&o);
    model_free(&m);
    return rc;
}
