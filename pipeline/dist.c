/* dist.c - how the work units are shared between MPI ranks (dist.h) */
#include "dist.h"

#include <stdbool.h>

void
dist_share(const struct dist *d, const uint64_t *bytes, size_t n, size_t *lo,
           size_t *hi)
{
    uint64_t total = 0, at = 0;
    size_t u;
    bool lo_set = false;

    for (u = 0; u < n; u++)
        total += bytes[u];
    *lo = *hi = n;
    /* unit u belongs to the rank whose share of the bytes holds its
     * middle byte: contiguous, in input order, about equal in bytes */
    for (u = 0; u < n; u++) {
        uint64_t mid = at + bytes[u] / 2;
        int owner = total ? (int)((long double)mid * d->size / total) : 0;

        if (!total)
            owner = (int)((uint64_t)u * (uint64_t)d->size / n);
        if (owner >= d->size)
            owner = d->size - 1;
        if (owner == d->rank && !lo_set) {
            *lo = u;
            lo_set = true;
        }
        if (owner > d->rank) {
            if (!lo_set)
                *lo = u;
            *hi = u;
            return;
        }
        at += bytes[u];
    }
    if (!lo_set)
        *lo = n;
}
