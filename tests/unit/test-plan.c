/* test-plan.c - the planner's formulas on hand-computed cases
 *
 * Activation bytes against Korthikanti et al. 2022's closed forms and
 * against the floats our own model keeps (model.h), bytes per parameter,
 * the 1F1B bubble, the ring all-reduce, the memory of a one-device plan
 * against the parameter count model_init uses, the layer assignment's
 * lighter ends, and the search's errors.
 */
#include <math.h>
#include <stdlib.h>

#include "plan.h"
#include "test.h"

static int
near(double a, double b)
{
    return fabs(a - b) <= 1e-9 * fmax(1, fabs(b));
}

/* s=4 b=2 h=8 a=2 f=32: sbh 64, sbf 256, as^2b 64 */
TEST(act_korthikanti)
{
    struct plan_act x = {
        .s = 4, .b = 2, .h = 8, .a = 2, .f = 32, .t = 1, .gelu_dropout = true};

    /* 34sbh + 5as^2b */
    CHECK(near(plan_act_layer_bytes(&x), 34 * 64 + 5 * 64));
    /* tensor parallel: sbh (10 + 24/t + 5as/(ht)) */
    x.t = 2;
    CHECK(near(plan_act_layer_bytes(&x), 64 * (10 + 12 + 5.0 * 2 * 4 / 16)));
    /* with sequence parallel: sbh (34/t + 5as/(ht)) */
    x.sp = true;
    CHECK(near(plan_act_layer_bytes(&x), 64 * (17 + 5.0 * 2 * 4 / 16)));
    /* selective drops the as^2 term: 34sbh/t */
    x.rc = PLAN_RC_SELECTIVE;
    CHECK(near(plan_act_layer_bytes(&x), 64 * 17));
    /* full keeps the input: 2sbh, / t with sequence parallel */
    x.rc = PLAN_RC_FULL;
    CHECK(near(plan_act_layer_bytes(&x), 64));
    x.sp = false;
    CHECK(near(plan_act_layer_bytes(&x), 128));
}

TEST(act_swiglu)
{
    struct plan_act x = {.s = 4, .b = 2, .h = 8, .a = 2, .f = 32, .t = 1};

    /* 16sbh + 6sbf + 2as^2b */
    CHECK(near(plan_act_layer_bytes(&x), 16 * 64 + 6 * 256 + 2 * 64));
    /* t = 2: 8sbh kept whole, the rest halved */
    x.t = 2;
    CHECK(
        near(plan_act_layer_bytes(&x), 8 * 64 + (8 * 64 + 6 * 256) / 2.0 + 64));
    x.rc = PLAN_RC_SELECTIVE;
    CHECK(near(plan_act_layer_bytes(&x), 8 * 64 + (8 * 64 + 6 * 256) / 2.0));
}

/* In fp32 the planner's per-layer activations are the floats model.c
 * keeps per layer, less its two 1/rms scalars per token. */
TEST(act_matches_model)
{
    struct model_config c = {.vocab = 512,
                             .dim = 64,
                             .layers = 1,
                             .heads = 4,
                             .ffn_dim = 172,
                             .seq = 64,
                             .tied = true,
                             .norm_eps = 1e-5f,
                             .rope_theta = 10000};
    struct plan_act x = {.s = 32, .b = 1, .h = 64, .a = 4, .f = 172, .t = 1};
    size_t one = model_act_floats_per_token(&c, 32), two;

    c.layers = 2;
    two = model_act_floats_per_token(&c, 32);
    CHECK(near(2 * plan_act_layer_bytes(&x) / 4 / 32, (double)(two - one) - 2));
}

TEST(bytes_bubble_ring)
{
    struct plan_bytes m = plan_bytes_per_param(PLAN_MIXED);
    struct plan_bytes f = plan_bytes_per_param(PLAN_FP32);

    CHECK(m.params == 2 && m.grads == 2 && m.optim == 12);
    CHECK(f.params == 4 && f.grads == 4 && f.optim == 8);
    CHECK(near(plan_bubble(4, 8), 0.375));
    CHECK(plan_bubble(1, 5) == 0);
    CHECK(near(plan_allreduce_s(1000, 4, 100), 15));
    CHECK(plan_allreduce_s(1000, 1, 100) == 0);
}

static const char cluster_json[] =
    "{\"devices\": 4, \"devices_per_node\": 4, \"memory_gib\": 1,"
    " \"peak_tflops\": 1, \"intra_node_gbs\": 100, \"inter_node_gbs\": 10,"
    " \"hbm_gbs\": 1, \"precision\": \"fp32\"}";

/* One device, fp32: memory is 4+4+8 bytes per parameter of model_init's
 * count, and the activations of one micro-batch. */
TEST(memory_one_device)
{
    struct model_config c = {.vocab = 512,
                             .dim = 64,
                             .layers = 2,
                             .heads = 4,
                             .ffn_dim = 172,
                             .seq = 64,
                             .tied = true,
                             .norm_eps = 1e-5f,
                             .rope_theta = 10000};
    struct plan_cluster cl;
    struct plan *p = calloc(1, sizeof *p);
    struct nh_error err = {0};
    double n = 512.0 * 64 + 2 * (2 * 64 + 4 * 64.0 * 64 + 3 * 64.0 * 172) + 64;
    struct plan_act x = {.s = 64, .b = 2, .h = 64, .a = 4, .f = 172, .t = 1};

    CHECK(plan_cluster_parse(cluster_json, &cl, &err) == 0);
    p->dp = p->tp = p->pp = 1;
    p->micro_batch = 2, p->micro_batches = 3;
    CHECK(plan_evaluate(&c, &cl, 64, p, &err) == 0);
    CHECK(near(p->mem.params, 4 * n) && near(p->mem.grads, 4 * n));
    CHECK(near(p->mem.optim, 8 * n));
    /* two layers, then the final norm and head inputs (4sbh) and the
     * fp32 logits (4sbV) */
    CHECK(near(p->mem.acts, 2 * (2 * plan_act_layer_bytes(&x)) +
                                2 * 4 * 64 * 2 * 64 + 4.0 * 64 * 2 * 512));
    CHECK(p->layers[0] == 2 && p->recompute[0] == PLAN_RC_NONE);
    CHECK(p->bubble == 0 && p->mfu > 0 && p->step_s > 0);
    /* fp32 workspace: the backward scratch model.c allocates */
    CHECK(near(p->mem.work,
               4.0 * 2 * 64 * model_scratch_floats_per_token(&c, 64)));
    CHECK(near(p->mem.total, p->mem.params + p->mem.grads + p->mem.optim +
                                 p->mem.acts + p->mem.work));
    /* ZeRO-1 over 4 devices: a quarter of the optimizer states, and one
     * gradient-sized set of MPI buffers */
    p->dp = 4, p->shard = true, p->micro_batches = 1;
    CHECK(plan_evaluate(&c, &cl, 64, p, &err) == 0);
    CHECK(near(p->mem.optim, 2 * n));
    CHECK(near(p->mem.work,
               4.0 * 2 * 64 * model_scratch_floats_per_token(&c, 64) + 4 * n));
    free(p);
}

/* 10 layers on 4 stages, the embedding and the head costly (slow device
 * memory): the ends get 2 layers, the middle 3. */
TEST(assignment_ends_lighter)
{
    struct model_config c = {.vocab = 64,
                             .dim = 64,
                             .layers = 10,
                             .heads = 4,
                             .ffn_dim = 172,
                             .seq = 64,
                             .tied = true,
                             .norm_eps = 1e-5f,
                             .rope_theta = 10000};
    struct plan_cluster cl;
    struct plan *p = calloc(1, sizeof *p);
    struct nh_error err = {0};

    CHECK(plan_cluster_parse(cluster_json, &cl, &err) == 0);
    /* a layer 22 us of FLOPs; embedding 5 us, head and loss 8 us */
    cl.hbm_bw = 1e10;
    p->dp = p->tp = 1, p->pp = 4;
    p->micro_batch = 1, p->micro_batches = 8;
    CHECK(plan_evaluate(&c, &cl, 64, p, &err) == 0);
    CHECK(p->layers[0] == 2 && p->layers[1] == 3 && p->layers[2] == 3 &&
          p->layers[3] == 2);
    CHECK(near(p->bubble, 3.0 / 8));
    /* without that extra work the first 2-layer stage could be anywhere:
     * still 10 layers, none over 3 */
    cl.hbm_bw = 1e15;
    CHECK(plan_evaluate(&c, &cl, 64, p, &err) == 0);
    CHECK(p->layers[0] + p->layers[1] + p->layers[2] + p->layers[3] == 10);
    CHECK(p->layers[1] <= 3 && p->layers[2] <= 3);
    free(p);
}

TEST(recompute_when_needed)
{
    struct model_config c = {.vocab = 512,
                             .dim = 64,
                             .layers = 4,
                             .heads = 4,
                             .ffn_dim = 172,
                             .seq = 1024,
                             .tied = true,
                             .norm_eps = 1e-5f,
                             .rope_theta = 10000};
    struct plan_cluster cl;
    struct plan *p = calloc(1, sizeof *p);
    struct nh_error err = {0};
    double full;

    CHECK(plan_cluster_parse(cluster_json, &cl, &err) == 0);
    p->dp = p->tp = p->pp = 1;
    p->micro_batch = 4, p->micro_batches = 1;
    CHECK(plan_evaluate(&c, &cl, 1024, p, &err) == 0);
    CHECK(p->recompute[0] == PLAN_RC_NONE);
    full = p->mem.total;
    /* just under what no recompute needs: selective */
    cl.memory_bytes = full - 1;
    CHECK(plan_evaluate(&c, &cl, 1024, p, &err) == 0);
    CHECK(p->recompute[0] == PLAN_RC_SELECTIVE && p->mem.total < full);
    cl.memory_bytes = 1e6;
    CHECK(plan_evaluate(&c, &cl, 1024, p, &err) == NH_EINVAL);
    free(p);
}

TEST(cluster_errors)
{
    struct plan_cluster cl;
    struct nh_error err = {0};

    CHECK(plan_cluster_parse("{\"devices\": 4}", &cl, &err) == NH_EINVAL);
    CHECK_STR(err.msg, "cluster: missing key 'devices_per_node'");
    CHECK(plan_cluster_parse("{\"devices\": 4.5}", &cl, &err) == NH_EINVAL);
    CHECK_STR(err.msg, "cluster: 'devices' must be an integer >= 1 and <= 1e7");
    CHECK(plan_cluster_parse("{\"gpus\": 4}", &cl, &err) == NH_EINVAL);
    CHECK_STR(err.msg, "cluster: unknown key 'gpus'");
    CHECK(plan_cluster_parse("[]", &cl, &err) == NH_EFORMAT);
}

TEST(compress)
{
    unsigned short v[] = {3, 4, 4, 4, 3};
    struct strbuf sb = STRBUF_INIT;

    CHECK(plan_compress(&sb, v, 5) == 0);
    CHECK_STR(sb.buf, "3,4x3,3");
    strbuf_release(&sb);
}

int
main(void)
{
    RUN(act_korthikanti);
    RUN(act_swiglu);
    RUN(act_matches_model);
    RUN(bytes_bubble_ring);
    RUN(memory_one_device);
    RUN(assignment_ends_lighter);
    RUN(recompute_when_needed);
    RUN(cluster_errors);
    RUN(compress);
    return test_summary();
}
