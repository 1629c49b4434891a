/* dist.h - the ranks of a run under MPI, as the driver sees them
 *
 * nh-clean started by mpirun runs as size ranks; each processes a
 * contiguous share of the work units (in input order) and writes its own
 * output shards, and the global passes exchange keys between ranks. The
 * driver and the join (pipeline/join.c) call the collectives below
 * through function pointers, so that libnhpipe (linked into nhd too)
 * does not depend on MPI; pipeline/mpi.c, linked into nh-clean only,
 * provides them with Open MPI. A run without mpirun has no struct dist
 * (NULL) and calls none of these.
 *
 * Every call is collective: all ranks make it, in the same order.
 */
#ifndef NH_DIST_H
#define NH_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

struct dist {
    int rank, size;

    /* The lowest rc over all ranks (0 when all succeeded): every rank
     * learns that one failed and stops at the same point. */
    int (*agree)(const struct dist *d, int rc);
    /* v[0..n) summed over all ranks, in place. */
    int (*sum)(const struct dist *d, uint64_t *v, size_t n);
    /* Broadcast len bytes from rank 0. */
    int (*bcast)(const struct dist *d, void *buf, size_t len);
    /* All to all: send[r] goes to rank r; recv gets what every rank sent
     * to this one, concatenated in rank order. */
    int (*exchange)(const struct dist *d, const struct strbuf *send,
                    struct strbuf *recv);
    /* Rank 0's recv gets every rank's buf, concatenated in rank order. */
    int (*gather)(const struct dist *d, const void *buf, size_t len,
                  struct strbuf *recv);
};

/* The lowest rc over all ranks, or rc alone without MPI. */
static inline int
dist_agree(const struct dist *d, int rc)
{
    return d && d->size > 1 ? d->agree(d, rc) : rc;
}

/* Units [*lo, *hi) of n, with per-unit bytes, for rank of size: a
 * contiguous share cut at the rank's fraction of the total bytes. */
void dist_share(const struct dist *d, const uint64_t *bytes, size_t n,
                size_t *lo, size_t *hi);

#endif
