/* mpi.c - the collectives of dist.h over Open MPI, for nh-clean only
 *
 * Linked into nh-clean alone (libnhpipe, which nhd links too, knows the
 * ranks only through struct dist). MPI is started only when the process
 * was launched by mpirun or srun (their environment variables say so), so
 * a plain `nh-clean run` never touches MPI. Byte counts go to MPI as int:
 * one message is limited to 2 GiB, which is reported, not truncated.
 */
#include "nhmpi.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "mpienv.h"

static int
mpi_agree(const struct dist *d, int rc)
{
    int all = rc;

    (void)d;
    if (MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) !=
        MPI_SUCCESS)
        return NH_EIO;
    return all;
}

static int
mpi_sum(const struct dist *d, uint64_t *v, size_t n)
{
    (void)d;
    if (n > INT_MAX)
        return NH_EINVAL;
    return MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_UINT64_T, MPI_SUM,
                         MPI_COMM_WORLD) == MPI_SUCCESS
               ? 0
               : NH_EIO;
}

static int
mpi_bcast(const struct dist *d, void *buf, size_t len)
{
    (void)d;
    if (len > INT_MAX)
        return NH_EINVAL;
    return MPI_Bcast(buf, (int)len, MPI_BYTE, 0, MPI_COMM_WORLD) == MPI_SUCCESS
               ? 0
               : NH_EIO;
}

/* Displacements from counts; NH_EINVAL past 2 GiB in all. */
static int
displs(const int *count, int n, int *displ)
{
    long long at = 0;
    int i;

    for (i = 0; i < n; i++) {
        displ[i] = (int)at;
        at += count[i];
        if (at > INT_MAX)
            return NH_EINVAL;
    }
    return 0;
}

static int
mpi_exchange(const struct dist *d, const struct strbuf *send,
             struct strbuf *recv)
{
    int n = d->size, i, rc = NH_ENOMEM;
    int *sc = calloc((size_t)n * 4, sizeof(int));
    int *sd = sc + n, *rcount = sc + 2 * n, *rd = sc + 3 * n;
    char *sbuf = NULL;
    size_t total = 0;

    if (!sc)
        return NH_ENOMEM;
    for (i = 0; i < n; i++) {
        if (send[i].len > INT_MAX) {
            rc = NH_EINVAL;
            goto out;
        }
        sc[i] = (int)send[i].len;
        total += send[i].len;
    }
    if (total > INT_MAX) {
        rc = NH_EINVAL;
        goto out;
    }
    /* one contiguous send buffer, in rank order */
    if (!(sbuf = malloc(total ? total : 1)))
        goto out;
    for (i = 0, total = 0; i < n; i++) {
        if (send[i].len)
            memcpy(sbuf + total, send[i].buf, send[i].len);
        total += send[i].len;
    }
    if (displs(sc, n, sd) < 0 ||
        MPI_Alltoall(sc, 1, MPI_INT, rcount, 1, MPI_INT, MPI_COMM_WORLD) !=
            MPI_SUCCESS) {
        rc = NH_EIO;
        goto out;
    }
    if (displs(rcount, n, rd) < 0) {
        rc = NH_EINVAL;
        goto out;
    }
    strbuf_reset(recv);
    if (strbuf_grow(recv, (size_t)rd[n - 1] + (size_t)rcount[n - 1] + 1) < 0)
        goto out;
    if (MPI_Alltoallv(sbuf, sc, sd, MPI_BYTE, recv->buf, rcount, rd, MPI_BYTE,
                      MPI_COMM_WORLD) != MPI_SUCCESS) {
        rc = NH_EIO;
        goto out;
    }
    recv->len = (size_t)rd[n - 1] + (size_t)rcount[n - 1];
    rc = 0;
out:
    free(sbuf);
    free(sc);
    return rc;
}

static int
mpi_gather(const struct dist *d, const void *buf, size_t len,
           struct strbuf *recv)
{
    int n = d->size, me = (int)len, rc = NH_ENOMEM;
    int *count = calloc((size_t)n * 2, sizeof(int));
    int *displ = count + n;

    if (!count)
        return NH_ENOMEM;
    if (len > INT_MAX) {
        rc = NH_EINVAL;
        goto out;
    }
    if (MPI_Gather(&me, 1, MPI_INT, count, 1, MPI_INT, 0, MPI_COMM_WORLD) !=
        MPI_SUCCESS) {
        rc = NH_EIO;
        goto out;
    }
    strbuf_reset(recv);
    if (d->rank == 0) {
        if (displs(count, n, displ) < 0) {
            rc = NH_EINVAL;
            goto out;
        }
        if (strbuf_grow(recv, (size_t)displ[n - 1] + (size_t)count[n - 1] + 1) <
            0)
            goto out;
    }
    if (MPI_Gatherv(buf ? buf : "", me, MPI_BYTE, recv->buf, count, displ,
                    MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS) {
        rc = NH_EIO;
        goto out;
    }
    if (d->rank == 0)
        recv->len = (size_t)displ[n - 1] + (size_t)count[n - 1];
    rc = 0;
out:
    free(count);
    return rc;
}

int
nh_mpi_init(struct dist *d, int *argc, char ***argv)
{
    memset(d, 0, sizeof(*d));
    d->size = 1;
    if (!nh_launched_by_mpi())
        return 0;
    if (MPI_Init(argc, argv) != MPI_SUCCESS)
        return NH_EIO;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    d->agree = mpi_agree;
    d->sum = mpi_sum;
    d->bcast = mpi_bcast;
    d->exchange = mpi_exchange;
    d->gather = mpi_gather;
    return 1;
}

void
nh_mpi_finalize(void)
{
    int up = 0, down = 0;

    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down)
        MPI_Finalize();
}
