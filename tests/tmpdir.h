/* tmpdir.h - a scratch directory per test, for unit tests
 *
 *   if (tmp_begin("store") < 0) ...     makes /tmp/nh-store.XXXXXX in tmp
 *   path_join(p, sizeof(p), tmp, "x");  tmp/x (aborts if it does not fit)
 *   tmp_end();                          removes tmp and all below it
 */
#ifndef NH_TMPDIR_H
#define NH_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static char tmp[64];

static inline void
path_join(char *out, size_t size, const char *a, const char *b)
{
    int n = snprintf(out, size, "%s/%s", a, b);

    if (n < 0 || (size_t)n >= size)
        abort(); /* test paths are short */
}

static inline int
tmp_begin(const char *name)
{
    snprintf(tmp, sizeof(tmp), "/tmp/nh-%s.XXXXXX", name);
    return mkdtemp(tmp) ? 0 : -1;
}

static inline int
tmp_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void
tmp_end(void)
{
    nftw(tmp, tmp_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
