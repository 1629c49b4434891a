/* fault.c - parsing NH_FAULT and firing the injected faults
 *
 * run.c calls fault_init once and the hooks after each step and each
 * checkpoint; the syntax and meaning are in fault.h. A killed rank dies
 * by SIGKILL (no cleanup, as a crashed node would); a hung rank sleeps
 * without end, so that the others block in their next collective.
 */
#include "fault.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strbuf.h"

/* "key=N" -> N into *out; false when the key differs or N is bad. */
static bool
field(const char *s, size_t len, const char *key, long *out)
{
    size_t k = strlen(key);
    char buf[32], *end;

    if (len <= k + 1 || len - k - 1 >= sizeof(buf) || strncmp(s, key, k) ||
        s[k] != '=')
        return false;
    memcpy(buf, s + k + 1, len - k - 1);
    buf[len - k - 1] = 0;
    errno = 0;
    *out = strtol(buf, &end, 10);
    return !errno && *end == 0 && *out >= 0;
}

/* One fault: kind, then :key=N fields. */
static int
parse_one(struct fault *f, const char *s, size_t len, struct nh_error *err)
{
    const char *colon = memchr(s, ':', len), *p, *end = s + len;
    size_t klen = colon ? (size_t)(colon - s) : len;
    long rank = 0, step = -1, v;

    for (p = colon; p && p < end;) {
        const char *q = memchr(p + 1, ':', (size_t)(end - p - 1));
        size_t flen = (size_t)((q ? q : end) - p - 1);

        if (field(p + 1, flen, "rank", &v))
            rank = v;
        else if (field(p + 1, flen, "step", &v))
            step = v;
        else
            return nh_errorf(err, NH_EINVAL,
                             "bad NH_FAULT '%.*s': unknown field '%.*s'",
                             (int)len, s, (int)flen, p + 1);
        p = q;
    }
    if (klen == 4 && !strncmp(s, "kill", 4) && step >= 0) {
        f->kill = true;
        f->kill_rank = rank;
        f->kill_step = step;
    } else if (klen == 4 && !strncmp(s, "hang", 4) && step >= 0) {
        f->hang = true;
        f->hang_rank = rank;
        f->hang_step = step;
    } else if (klen == 12 && !strncmp(s, "corrupt-ckpt", 12)) {
        f->corrupt = true;
        f->corrupt_step = step < 0 ? 0 : step;
    } else
        return nh_errorf(err, NH_EINVAL,
                         "bad NH_FAULT '%.*s': expected kill:rank=R:step=S, "
                         "hang:rank=R:step=S or corrupt-ckpt[:step=S]",
                         (int)len, s);
    return 0;
}

int
fault_init(struct fault *f, struct nh_error *err)
{
    const char *s = getenv("NH_FAULT"), *c;
    int rc;

    memset(f, 0, sizeof(*f));
    if (!s)
        return 0;
    while (*s) {
        c = strchr(s, ',');
        if ((rc = parse_one(f, s, c ? (size_t)(c - s) : strlen(s), err)) < 0)
            return rc;
        if (!c)
            break;
        s = c + 1;
    }
    return 0;
}

void
fault_after_step(const struct fault *f, int rank, long step)
{
    if (f->kill && f->kill_rank == rank && f->kill_step == step) {
        fprintf(stderr,
                "nh-train: run: rank %d: NH_FAULT: SIGKILL after "
                "step %ld\n",
                rank, step);
        raise(SIGKILL);
    }
    if (f->hang && f->hang_rank == rank && f->hang_step == step) {
        fprintf(stderr,
                "nh-train: run: rank %d: NH_FAULT: hanging after "
                "step %ld\n",
                rank, step);
        for (;;)
            pause();
    }
}

int
fault_after_ckpt(struct fault *f, int rank, const char *run_dir, long step,
                 struct nh_error *err)
{
    struct strbuf path = STRBUF_INIT;
    struct stat st;
    unsigned char b;
    off_t at;
    int fd = -1, rc = 0;

    if (!f->corrupt || rank != 0 || step < f->corrupt_step)
        return 0;
    f->corrupt = false;
    if (strbuf_addf(&path, "%s/ckpt/step-%08ld/state.bin", run_dir, step) < 0)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    fd = open(strbuf_str(&path), O_RDWR | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        rc = nh_error_errno(err, "cannot open '%s'", strbuf_str(&path));
        goto out;
    }
    at = st.st_size / 2;
    if (pread(fd, &b, 1, at) != 1) {
        rc = nh_error_errno(err, "cannot read '%s'", strbuf_str(&path));
        goto out;
    }
    b ^= 0x10;
    if (pwrite(fd, &b, 1, at) != 1) {
        rc = nh_error_errno(err, "cannot write '%s'", strbuf_str(&path));
        goto out;
    }
    fprintf(stderr,
            "nh-train: run: NH_FAULT: flipped a byte of checkpoint "
            "'step-%08ld'\n",
            step);
out:
    if (fd >= 0)
        close(fd);
    strbuf_release(&path);
    return rc;
}
