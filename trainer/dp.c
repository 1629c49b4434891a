/* dp.c - data and optimizer parallel training over MPI (see dp.h)
 *
 * Only the main thread calls MPI (MPI_THREAD_FUNNELED); OpenMP threads
 * do the element-wise work. Bucket collectives are started from the
 * backward hook and progressed with MPI_Testall each time another range
 * is ready, so that the reduction of the top layers overlaps the
 * backward of the lower ones as far as Open MPI progresses them. MPI
 * counts are int: buckets and broadcasts are cut below 2^30 floats.
 */
#include "dp.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "mpienv.h"

#define MAX_PIECE (1u << 30) /* floats in one MPI call */

/* The communicators of the grid: the data group (ranks holding the same
 * slices: same tensor rank) and the tensor group (same data rank). */
struct dp_comms {
    MPI_Comm data, tensor;
};

static MPI_Comm
dcomm(const struct dp *d)
{
    return d->comms ? d->comms->data : MPI_COMM_WORLD;
}

int
dp_init(struct dp *d, int *argc, char ***argv, struct nh_error *err)
{
    const char *ls;
    int provided;

    memset(d, 0, sizeof(*d));
    d->size = d->local_size = d->dsize = d->tp = 1;
    d->scale = 1;
    if (!nh_launched_by_mpi())
        return 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) !=
        MPI_SUCCESS)
        return nh_errorf(err, NH_EIO, "cannot start MPI");
    d->mpi = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    d->drank = d->rank;
    d->dsize = d->size;
    ls = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (ls && atoi(ls) > 0)
        d->local_size = atoi(ls);
    return 0;
}

int
dp_grid(struct dp *d, int tp, struct nh_error *err)
{
    if (tp < 1 || d->size % tp)
        return nh_errorf(err, NH_EINVAL, "--tp %d does not divide the %d ranks",
                         tp, d->size);
    if (tp == 1)
        return 0;
    if (!(d->comms = calloc(1, sizeof(*d->comms))))
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    /* rank = data_rank * tp + tensor_rank: a tensor group is tp
     * neighbouring ranks (one node, when ranks are placed by node) */
    d->tp = tp;
    d->trank = d->rank % tp;
    d->drank = d->rank / tp;
    d->dsize = d->size / tp;
    if (MPI_Comm_split(MPI_COMM_WORLD, d->trank, d->drank, &d->comms->data) !=
            MPI_SUCCESS ||
        MPI_Comm_split(MPI_COMM_WORLD, d->drank, d->trank, &d->comms->tensor) !=
            MPI_SUCCESS)
        return nh_errorf(err, NH_EIO, "cannot split the ranks into groups");
    return 0;
}

void
dp_tp_sum(void *ctx, float *buf, size_t n)
{
    struct dp *d = ctx;

    while (n > 0) {
        size_t k = n < MAX_PIECE ? n : MAX_PIECE;

        MPI_Allreduce(MPI_IN_PLACE, buf, (int)k, MPI_FLOAT, MPI_SUM,
                      d->comms->tensor);
        buf += k;
        n -= k;
    }
}

int
dp_tp_reduce(struct dp *d, float *buf, size_t n)
{
    int r = d->trank;

    while (n > 0) {
        size_t k = n < MAX_PIECE ? n : MAX_PIECE;

        if (MPI_Reduce(r == 0 ? MPI_IN_PLACE : buf, r == 0 ? buf : NULL, (int)k,
                       MPI_FLOAT, MPI_SUM, 0, d->comms->tensor) != MPI_SUCCESS)
            return NH_EIO;
        buf += k;
        n -= k;
    }
    return 0;
}

void
dp_take_pieces(const struct dp *d, const float *full, float *shard)
{
    size_t k;

    for (k = 0; k < d->nbk; k++) {
        const struct dp_bucket *b = &d->bk[k];

        memcpy(shard + b->soff, full + b->off + b->disp[d->drank],
               sizeof(float) * (size_t)b->counts[d->drank]);
    }
}

void
dp_finalize(struct dp *d)
{
    size_t k;

    for (k = 0; k < d->nbk; k++)
        free(d->bk[k].counts);
    free(d->bk);
    free(d->req);
    if (d->comms) {
        MPI_Comm_free(&d->comms->data);
        MPI_Comm_free(&d->comms->tensor);
        free(d->comms);
        d->comms = NULL;
    }
    if (d->mpi) {
        int down = 0;

        MPI_Finalized(&down);
        if (!down)
            MPI_Finalize();
    }
    d->bk = NULL;
    d->req = NULL;
    d->nbk = 0;
    d->mpi = false;
}

/* Buckets over [0, n) from ready-range starts cut[0] > cut[1] > ... > 0
 * (the ranges the backward finishes, top down). */
static int
add_bucket(struct dp *d, size_t off, size_t n)
{
    struct dp_bucket *b;
    int r;

    b = &d->bk[d->nbk++];
    b->off = off;
    b->n = n;
    b->soff = d->shard_n;
    if (!d->zero)
        return 0;
    if (!(b->counts = calloc((size_t)d->dsize * 2, sizeof(int))))
        return NH_ENOMEM;
    b->disp = b->counts + d->dsize;
    for (r = 0; r < d->dsize; r++) {
        size_t lo = n * (size_t)r / (size_t)d->dsize;
        size_t hi = n * (size_t)(r + 1) / (size_t)d->dsize;

        b->disp[r] = (int)lo;
        b->counts[r] = (int)(hi - lo);
    }
    d->shard_n += (size_t)b->counts[d->drank];
    return 0;
}

static void grads_ready(void *ctx, size_t off, size_t n);

int
dp_setup(struct dp *d, struct model *m, size_t bucket_floats, bool zero,
         struct nh_error *err)
{
    int L = m->nl, l;
    size_t top = m->nparams, start, cap;

    d->zero = zero && d->dsize > 1;
    d->grads = m->grads;
    if (d->dsize == 1) {
        d->shard_n = m->nparams;
        return 0;
    }
    if (bucket_floats < 1)
        bucket_floats = 1;
    if (bucket_floats > MAX_PIECE)
        bucket_floats = MAX_PIECE;
    /* at most one bucket per ready range, plus the splits of big ones */
    cap = (size_t)L + 2 + m->nparams / MAX_PIECE + 1;
    d->bk = calloc(cap, sizeof(*d->bk));
    d->req = calloc(cap, sizeof(MPI_Request));
    if (!d->bk || !d->req)
        goto nomem;
    d->shard_n = 0;
    /* the ranges start at the final norm, each layer from the last, 0 */
    for (l = L; l >= -1; l--) {
        size_t off = l >= 0 ? model_layer_off(m, l) : 0;

        if (off == top && l >= 0)
            continue;
        start = off;
        if (top - start < bucket_floats && l >= 0)
            continue; /* keep growing this bucket downwards */
        while (top - start > MAX_PIECE) {
            if (add_bucket(d, top - MAX_PIECE, MAX_PIECE) < 0)
                goto nomem;
            top -= MAX_PIECE;
        }
        if (top > start && add_bucket(d, start, top - start) < 0)
            goto nomem;
        top = start;
    }
    if (!d->zero)
        d->shard_n = m->nparams;
    m->grads_ready = grads_ready;
    m->grads_ready_ctx = d;
    return 0;
nomem:
    return nh_errorf(err, NH_ENOMEM, "out of memory for gradient buckets");
}

void
dp_begin(struct dp *d, double share)
{
    d->scale = (float)share;
    d->next = 0;
}

/* Start bucket k's collective on the scaled gradients. */
static void
start_bucket(struct dp *d, size_t k)
{
    struct dp_bucket *b = &d->bk[k];
    MPI_Request *req = d->req;
    float *g = d->grads + b->off, s = d->scale;
    size_t i;

    if (s != 1.0f) {
#pragma omp parallel for schedule(static)
        for (i = 0; i < b->n; i++)
            g[i] *= s;
    }
    if (d->zero) /* in place: this rank's piece lands at g[0..count) */
        MPI_Ireduce_scatter(MPI_IN_PLACE, g, b->counts, MPI_FLOAT, MPI_SUM,
                            dcomm(d), &req[k]);
    else
        MPI_Iallreduce(MPI_IN_PLACE, g, (int)b->n, MPI_FLOAT, MPI_SUM, dcomm(d),
                       &req[k]);
}

/* model_backward's hook: everything from off up is final; start the
 * buckets that lie wholly in it, and progress those started. */
static void
grads_ready(void *ctx, size_t off, size_t n)
{
    struct dp *d = ctx;
    int done;

    (void)n;
    while (d->next < d->nbk && d->bk[d->next].off >= off)
        start_bucket(d, d->next++);
    if (d->next > 0)
        MPI_Testall((int)d->next, d->req, &done, MPI_STATUSES_IGNORE);
}

int
dp_end(struct dp *d, struct nh_error *err)
{
    size_t i;

    if (d->dsize == 1) { /* no buckets: scale here (micro-batches, run.c) */
        if (d->scale != 1.0f) {
#pragma omp parallel for schedule(static)
            for (i = 0; i < d->shard_n; i++)
                d->grads[i] *= d->scale;
        }
        return 0;
    }
    if (d->next != d->nbk)
        return nh_errorf(err, NH_EINVAL,
                         "data parallel: %zu of %zu gradient buckets were "
                         "ready after the backward",
                         d->next, d->nbk);
    if (MPI_Waitall((int)d->nbk, d->req, MPI_STATUSES_IGNORE) != MPI_SUCCESS)
        return nh_errorf(err, NH_EIO,
                         "data parallel: gradient reduction "
                         "failed");
    return 0;
}

/* Sums of squares of g, the gradients of [lo, lo + n) of m's block, into
 * *whole (tensors every tensor rank holds alike) and *sliced. */
static void
grad_sq(const struct model *m, size_t lo, size_t n, const float *g,
        double *whole, double *sliced)
{
    size_t hi = lo + n, i;
    int ti;

    for (ti = 0; ti < m->ntensors; ti++) {
        const struct model_tensor *t = &m->tensors[ti];
        size_t a = t->off, b = t->off + (size_t)t->rows * t->cols;
        double s = 0;

        a = a < lo ? lo : a;
        b = b > hi ? hi : b;
        for (i = a; i < b; i++)
            s += (double)g[i - lo] * g[i - lo];
        if (t->split == MODEL_SPLIT_NONE)
            *whole += s;
        else
            *sliced += s;
    }
}

int
dp_step(struct dp *d, struct model *m, struct adamw *o, double lr, double clip,
        double *gnorm, struct nh_error *err)
{
    MPI_Request *req = d->req;
    double norm, whole = 0, sliced = 0;
    size_t i, k, np = d->zero ? d->nbk : 1;

    /* this rank's pieces: the whole block, or its piece of each bucket
     * (the reduce-scatter left it at the bucket's start) */
    if (!d->zero)
        grad_sq(m, 0, m->nparams, m->grads, &whole, &sliced);
    for (k = 0; d->zero && k < np; k++) {
        const struct dp_bucket *b = &d->bk[k];

        grad_sq(m, b->off + (size_t)b->disp[d->drank],
                (size_t)b->counts[d->drank], m->grads + b->off, &whole,
                &sliced);
    }
    if (d->zero) {
        whole = dp_sum(d, whole);
        sliced = dp_sum(d, sliced);
    }
    if (d->tp > 1)
        MPI_Allreduce(MPI_IN_PLACE, &sliced, 1, MPI_DOUBLE, MPI_SUM,
                      d->comms->tensor);
    norm = sqrt(whole + sliced);
    *gnorm = norm;
    if (clip > 0 && clip / (norm + 1e-6) < 1) {
        float cf = (float)(clip / (norm + 1e-6));

        for (k = 0; k < np; k++) {
            float *g = d->zero ? m->grads + d->bk[k].off : m->grads;
            size_t n = d->zero ? (size_t)d->bk[k].counts[d->drank] : m->nparams;

#pragma omp parallel for schedule(static)
            for (i = 0; i < n; i++)
                g[i] *= cf;
        }
    }
    if (!d->zero)
        return adamw_step(o, m, lr, err);
    o->t++;
    for (k = 0; k < d->nbk; k++) {
        struct dp_bucket *b = &d->bk[k];
        size_t lo = b->off + (size_t)b->disp[d->drank];

        adamw_update(o, m, lo, (size_t)b->counts[d->drank], m->grads + b->off,
                     o->m + b->soff, o->v + b->soff, lr);
        MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, m->params + b->off,
                        b->counts, b->disp, MPI_FLOAT, dcomm(d), &req[k]);
    }
    if (MPI_Waitall((int)d->nbk, req, MPI_STATUSES_IGNORE) != MPI_SUCCESS)
        return nh_errorf(err, NH_EIO,
                         "data parallel: parameter all-gather "
                         "failed");
    return 0;
}

int
dp_agree(const struct dp *d, int rc)
{
    int all = rc;

    if (!d->mpi || d->size == 1)
        return rc;
    if (MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) !=
        MPI_SUCCESS)
        return NH_EIO;
    return all;
}

static double
reduce1(const struct dp *d, double x, MPI_Op op, MPI_Comm comm)
{
    double y = x;

    if (d->mpi && d->size > 1)
        MPI_Allreduce(&x, &y, 1, MPI_DOUBLE, op, comm);
    return y;
}

double
dp_sum(const struct dp *d, double x)
{
    return reduce1(d, x, MPI_SUM, dcomm(d));
}

double
dp_sum_all(const struct dp *d, double x)
{
    return reduce1(d, x, MPI_SUM, MPI_COMM_WORLD);
}

double
dp_max(const struct dp *d, double x)
{
    return reduce1(d, x, MPI_MAX, MPI_COMM_WORLD);
}

int
dp_bcast(const struct dp *d, void *buf, size_t len)
{
    char *p = buf;

    if (!d->mpi || d->size == 1)
        return 0;
    while (len > 0) {
        size_t n = len < MAX_PIECE ? len : MAX_PIECE;

        if (MPI_Bcast(p, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
            return NH_EIO;
        p += n;
        len -= n;
    }
    return 0;
}

int
dp_gather_moments(struct dp *d, const struct adamw *o, float *m_full,
                  float *v_full, struct nh_error *err)
{
    size_t k;

    if (!d->zero)
        return 0;
    for (k = 0; k < d->nbk; k++) {
        struct dp_bucket *b = &d->bk[k];
        int mine = b->counts[d->drank];

        if (MPI_Gatherv(o->m + b->soff, mine, MPI_FLOAT,
                        m_full ? m_full + b->off : NULL, b->counts, b->disp,
                        MPI_FLOAT, 0, dcomm(d)) != MPI_SUCCESS ||
            MPI_Gatherv(o->v + b->soff, mine, MPI_FLOAT,
                        v_full ? v_full + b->off : NULL, b->counts, b->disp,
                        MPI_FLOAT, 0, dcomm(d)) != MPI_SUCCESS)
            return nh_errorf(err, NH_EIO,
                             "data parallel: cannot gather the "
                             "optimizer state");
    }
    return 0;
}

int
dp_scatter_state(struct dp *d, struct model *m, struct adamw *o,
                 const float *m_full, const float *v_full, struct nh_error *err)
{
    size_t k, fl = sizeof(float) * m->nparams;

    if (!d->mpi || d->size == 1)
        return 0;
    if (dp_bcast(d, m->params, fl) < 0)
        goto fail;
    if (!d->zero) {
        if (dp_bcast(d, o->m, fl) < 0 || dp_bcast(d, o->v, fl) < 0)
            goto fail;
        return 0;
    }
    for (k = 0; k < d->nbk; k++) {
        struct dp_bucket *b = &d->bk[k];
        int mine = b->counts[d->drank];

        if (MPI_Scatterv(m_full ? m_full + b->off : NULL, b->counts, b->disp,
                         MPI_FLOAT, o->m + b->soff, mine, MPI_FLOAT, 0,
                         dcomm(d)) != MPI_SUCCESS ||
            MPI_Scatterv(v_full ? v_full + b->off : NULL, b->counts, b->disp,
                         MPI_FLOAT, o->v + b->soff, mine, MPI_FLOAT, 0,
                         dcomm(d)) != MPI_SUCCESS)
            goto fail;
    }
    return 0;
fail:
    return nh_errorf(err, NH_EIO,
                     "data parallel: cannot send the checkpoint's state");
}
