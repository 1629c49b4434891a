/* ckpt.c - writing, pruning and loading checkpoints of `nh-train run`
 *
 * state.bin is a 72-byte header (struct ckpt_header, host byte order)
 * followed by the payload: the key, then params, m and v (n floats each).
 * The checksum is XXH3-64 over the header (checksum field zero), then
 * chained (as seed) over each payload piece. See ckpt.h for the layout of
 * the directory and docs/TRAINER.md ("Checkpoints and resume").
 */
#include "ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "strbuf.h"

#define CKPT_MAGIC "NHCKPT\0\0"
#define CKPT_VERSION 1
#define MAX_CKPTS 100000

struct ckpt_header {
    char magic[8];
    uint32_t version;
    uint32_t header_size;
    uint64_t step;
    uint64_t rng;
    uint64_t adam_t;
    uint64_t nparams;
    uint64_t key_len;
    uint64_t payload_len;
    uint64_t checksum;
};

static uint64_t
checksum(const struct ckpt_header *h, const char *key, const float *p,
         const float *m, const float *v)
{
    struct ckpt_header z = *h;
    size_t fl = sizeof(float) * (size_t)h->nparams;
    uint64_t x;

    z.checksum = 0;
    x = nh_hash64(&z, sizeof(z));
    x = nh_hash64_seed(key, (size_t)h->key_len, x);
    x = nh_hash64_seed(p, fl, x);
    x = nh_hash64_seed(m, fl, x);
    return nh_hash64_seed(v, fl, x);
}

static int
write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t w = write(fd, p, len);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Create path, write the pieces, fsync, close. */
static int
write_file(const char *path, const void *const *bufs, const size_t *lens,
           int npieces, struct nh_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    int i;

    if (fd < 0)
        return nh_error_errno(err, "cannot create '%s'", path);
    for (i = 0; i < npieces; i++)
        if (write_all(fd, bufs[i], lens[i]) < 0)
            goto fail;
    if (fsync(fd) < 0)
        goto fail;
    if (close(fd) < 0)
        return nh_error_errno(err, "cannot write '%s'", path);
    return 0;
fail:
    nh_error_errno(err, "cannot write '%s'", path);
    close(fd);
    return NH_EIO;
}

static int
fsync_dir(const char *path, struct nh_error *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return nh_error_errno(err, "cannot open '%s'", path);
    if (fsync(fd) < 0) {
        nh_error_errno(err, "cannot sync '%s'", path);
        close(fd);
        return NH_EIO;
    }
    close(fd);
    return 0;
}

/* Remove a checkpoint directory (its files, then itself). */
static int
remove_dir(const char *path, struct nh_error *err)
{
    struct strbuf sb = STRBUF_INIT;
    struct dirent *e;
    DIR *d = opendir(path);
    int rc = 0;

    if (!d)
        return errno == ENOENT ? 0
                               : nh_error_errno(err, "cannot open '%s'", path);
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        strbuf_reset(&sb);
        strbuf_addf(&sb, "%s/%s", path, e->d_name);
        if (unlink(strbuf_str(&sb)) < 0 && rc == 0)
            rc = nh_error_errno(err, "cannot remove '%s'", strbuf_str(&sb));
    }
    closedir(d);
    if (rc == 0 && rmdir(path) < 0)
        rc = nh_error_errno(err, "cannot remove '%s'", path);
    strbuf_release(&sb);
    return rc;
}

/* "step-NNNNNNNN" -> N; -1 for anything else. */
static long
parse_name(const char *name)
{
    long v = 0;
    int i;

    if (strncmp(name, "step-", 5) || strlen(name) != 13)
        return -1;
    for (i = 5; i < 13; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        v = v * 10 + (name[i] - '0');
    }
    return v;
}

static int
cmp_desc(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;

    return x < y ? 1 : x > y ? -1 : 0;
}

/* The steps of RUN_DIR/ckpt/step-* directories, newest first. */
static int
list_steps(const char *dir, long **out, size_t *count, struct nh_error *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    long *v = NULL;
    size_t n = 0, cap = 0;

    *out = NULL;
    *count = 0;
    if (!d)
        return errno == ENOENT ? 0
                               : nh_error_errno(err, "cannot open '%s'", dir);
    while ((e = readdir(d))) {
        long s = parse_name(e->d_name);

        if (s < 0)
            continue;
        if (n == cap) {
            long *nv;

            cap = cap ? cap * 2 : 16;
            if (cap > MAX_CKPTS || !(nv = realloc(v, cap * sizeof(*v)))) {
                free(v);
                closedir(d);
                return nh_errorf(err, NH_ENOMEM, "too many checkpoints in '%s'",
                                 dir);
            }
            v = nv;
        }
        v[n++] = s;
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof(*v), cmp_desc);
    *out = v;
    *count = n;
    return 0;
}

int
ckpt_write(const char *run_dir, const struct ckpt_state *st,
           const char *config_json, int keep, struct nh_error *err)
{
    struct strbuf dir = STRBUF_INIT, tmp = STRBUF_INIT, fin = STRBUF_INIT,
                  f = STRBUF_INIT, f2 = STRBUF_INIT;
    struct ckpt_header h = {0};
    size_t fl = sizeof(float) * st->n, klen = strlen(st->key), i, count = 0,
           kept;
    long *steps = NULL;
    char name[32];
    int rc;

    memcpy(h.magic, CKPT_MAGIC, 8);
    h.version = CKPT_VERSION;
    h.header_size = sizeof(h);
    h.step = (uint64_t)st->step;
    h.rng = st->rng;
    h.adam_t = (uint64_t)st->adam_t;
    h.nparams = st->n;
    h.key_len = klen;
    h.payload_len = klen + 3 * fl;
    h.checksum = checksum(&h, st->key, st->params, st->m, st->v);

    snprintf(name, sizeof(name), "step-%08ld", st->step);
    strbuf_addf(&dir, "%s/ckpt", run_dir);
    strbuf_addf(&tmp, "%s/.%s.tmp", strbuf_str(&dir), name);
    strbuf_addf(&fin, "%s/%s", strbuf_str(&dir), name);
    if (mkdir(strbuf_str(&dir), 0777) < 0 && errno != EEXIST) {
        rc = nh_error_errno(err, "cannot create '%s'", strbuf_str(&dir));
        goto out;
    }
    /* leftovers of a crashed write, or a refused checkpoint of this step */
    if ((rc = remove_dir(strbuf_str(&tmp), err)) < 0)
        goto out;
    if (mkdir(strbuf_str(&tmp), 0777) < 0) {
        rc = nh_error_errno(err, "cannot create '%s'", strbuf_str(&tmp));
        goto out;
    }
    {
        const void *bufs[] = {&h, st->key, st->params, st->m, st->v};
        size_t lens[] = {sizeof(h), klen, fl, fl, fl};

        strbuf_addf(&f, "%s/state.bin", strbuf_str(&tmp));
        if ((rc = write_file(strbuf_str(&f), bufs, lens, 5, err)) < 0)
            goto out;
    }
    {
        const void *bufs[] = {config_json};
        size_t lens[] = {strlen(config_json)};

        strbuf_reset(&f);
        strbuf_addf(&f, "%s/config.json", strbuf_str(&tmp));
        if ((rc = write_file(strbuf_str(&f), bufs, lens, 1, err)) < 0)
            goto out;
    }
    if ((rc = fsync_dir(strbuf_str(&tmp), err)) < 0 ||
        (rc = remove_dir(strbuf_str(&fin), err)) < 0)
        goto out;
    if (rename(strbuf_str(&tmp), strbuf_str(&fin)) < 0) {
        rc = nh_error_errno(err, "cannot rename '%s'", strbuf_str(&tmp));
        goto out;
    }
    if ((rc = fsync_dir(strbuf_str(&dir), err)) < 0)
        goto out;

    /* latest: a temporary file, fsync, rename, fsync the directory */
    strbuf_reset(&f);
    strbuf_addf(&f, "%s/.latest.tmp", strbuf_str(&dir));
    strbuf_addf(&f2, "%s/latest", strbuf_str(&dir));
    {
        char line[40];
        const void *bufs[] = {line};
        size_t lens[1];

        lens[0] = (size_t)snprintf(line, sizeof(line), "%s\n", name);
        if ((rc = write_file(strbuf_str(&f), bufs, lens, 1, err)) < 0)
            goto out;
    }
    if (rename(strbuf_str(&f), strbuf_str(&f2)) < 0) {
        rc = nh_error_errno(err, "cannot rename '%s'", strbuf_str(&f));
        goto out;
    }
    if ((rc = fsync_dir(strbuf_str(&dir), err)) < 0)
        goto out;

    /* keep the newest `keep` up to this step; later ones are from an
     * abandoned run (an earlier run in RUN_DIR, or refused on resume) */
    if ((rc = list_steps(strbuf_str(&dir), &steps, &count, err)) < 0)
        goto out;
    for (i = 0, kept = 0; i < count; i++) {
        if (steps[i] <= st->step && kept < (size_t)keep) {
            kept++;
            continue;
        }
        strbuf_reset(&f);
        strbuf_addf(&f, "%s/step-%08ld", strbuf_str(&dir), steps[i]);
        if ((rc = remove_dir(strbuf_str(&f), err)) < 0)
            goto out;
    }
    rc = 0;
out:
    free(steps);
    strbuf_release(&dir);
    strbuf_release(&tmp);
    strbuf_release(&fin);
    strbuf_release(&f);
    strbuf_release(&f2);
    return rc;
}

/* The first name=value pair where keys a (checkpoint) and b (now) differ,
 * as a message into err. */
static int
key_mismatch(const char *a, const char *b, struct nh_error *err)
{
    while (*a || *b) {
        size_t la = strcspn(a, " "), lb = strcspn(b, " ");

        if (la != lb || memcmp(a, b, la))
            return nh_errorf(err, NH_ECONFLICT,
                             "config mismatch: %.*s in the checkpoint, %.*s "
                             "now",
                             (int)la, a, (int)lb, b);
        a += la + (a[la] == ' ');
        b += lb + (b[lb] == ' ');
    }
    return nh_errorf(err, NH_ECONFLICT, "config mismatch");
}

/* Load the checkpoint of step s into st after every check. */
static int
load_one(const char *dir, long s, struct ckpt_state *st, struct nh_error *err)
{
    struct strbuf path = STRBUF_INIT;
    struct ckpt_header h;
    size_t fl = sizeof(float) * st->n, klen = strlen(st->key);
    char *buf = NULL;
    FILE *f;
    long size;
    int rc;

    strbuf_addf(&path, "%s/step-%08ld/state.bin", dir, s);
    if (!(f = fopen(strbuf_str(&path), "rb"))) {
        rc = nh_error_errno(err, "cannot open '%s'", strbuf_str(&path));
        goto out;
    }
    if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) < 0) {
        rc = nh_error_errno(err, "cannot read '%s'", strbuf_str(&path));
        fclose(f);
        goto out;
    }
    if ((size_t)size < sizeof(h) || fread(&h, sizeof(h), 1, f) != 1) {
        rc = nh_errorf(err, NH_ECORRUPT, "truncated header (%ld bytes)", size);
        fclose(f);
        goto out;
    }
    if (memcmp(h.magic, CKPT_MAGIC, 8)) {
        rc = nh_errorf(err, NH_ECORRUPT, "bad magic");
    } else if (h.version != CKPT_VERSION || h.header_size != sizeof(h)) {
        rc = nh_errorf(err, NH_ECORRUPT, "unknown version %u",
                       (unsigned)h.version);
    } else if (h.key_len > (1u << 20) || h.nparams > (uint64_t)size ||
               h.payload_len != h.key_len + 3 * sizeof(float) * h.nparams ||
               (uint64_t)size != sizeof(h) + h.payload_len) {
        rc = nh_errorf(err, NH_ECORRUPT,
                       "truncated (%ld bytes, the header says %llu)", size,
                       (unsigned long long)(sizeof(h) + h.payload_len));
    } else if (!(buf = malloc(h.payload_len + 1))) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
    } else if (fread(buf, 1, h.payload_len, f) != h.payload_len) {
        rc = nh_error_errno(err, "cannot read '%s'", strbuf_str(&path));
    } else {
        rc = 0;
        buf[h.payload_len] = 0;
        if (h.step != (uint64_t)s)
            rc = nh_errorf(err, NH_ECORRUPT, "holds step %llu",
                           (unsigned long long)h.step);
    }
    fclose(f);
    if (rc < 0)
        goto out;
    {
        /* the floats follow the key unaligned: check aligned copies */
        float *al = malloc(3 * sizeof(float) * h.nparams + 1);
        char *key = buf;

        if (!al) {
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            goto out;
        }
        memcpy(al, buf + h.key_len, 3 * sizeof(float) * h.nparams);
        if (checksum(&h, key, al, al + h.nparams, al + 2 * h.nparams) !=
            h.checksum) {
            rc = nh_errorf(err, NH_ECORRUPT, "checksum mismatch");
        } else if (h.nparams != st->n || h.key_len != klen ||
                   memcmp(key, st->key, klen)) {
            key[h.key_len] = 0;
            rc = key_mismatch(key, st->key, err);
        } else {
            memcpy(st->params, al, fl);
            memcpy(st->m, al + st->n, fl);
            memcpy(st->v, al + 2 * st->n, fl);
            st->step = s;
            st->rng = h.rng;
            st->adam_t = (long)h.adam_t;
            rc = 0;
        }
        free(al);
    }
out:
    free(buf);
    strbuf_release(&path);
    return rc;
}

int
ckpt_load(const char *run_dir, struct ckpt_state *st, struct nh_error *err)
{
    struct strbuf dir = STRBUF_INIT, lp = STRBUF_INIT;
    struct nh_error e1 = {0};
    long *steps = NULL, latest = -1;
    size_t count = 0, i;
    bool tried = false;
    FILE *f;
    int rc;

    strbuf_addf(&dir, "%s/ckpt", run_dir);
    strbuf_addf(&lp, "%s/latest", strbuf_str(&dir));
    if ((f = fopen(strbuf_str(&lp), "r"))) {
        char line[64] = "";

        if (fgets(line, sizeof(line), f)) {
            line[strcspn(line, "\n")] = 0;
            latest = parse_name(line);
        }
        fclose(f);
        if (latest < 0)
            fprintf(stderr,
                    "nh-train: run: '%s' does not name a checkpoint: "
                    "trying every checkpoint\n",
                    strbuf_str(&lp));
    } else {
        fprintf(stderr,
                "nh-train: run: cannot open '%s': trying every checkpoint\n",
                strbuf_str(&lp));
    }
    if ((rc = list_steps(strbuf_str(&dir), &steps, &count, err)) < 0)
        goto out;
    if (latest >= 0) {
        /* latest names the newest complete one; it must be among them */
        for (i = 0; i < count && steps[i] != latest; i++)
            ;
        if (i == count)
            fprintf(stderr,
                    "nh-train: run: refusing checkpoint 'step-%08ld': "
                    "missing\n",
                    latest);
    }
    for (i = 0; i < count; i++) {
        if (latest >= 0 && steps[i] > latest)
            continue;
        tried = true;
        if (load_one(strbuf_str(&dir), steps[i], st, &e1) == 0) {
            fprintf(stderr,
                    "nh-train: run: resuming from checkpoint 'step-%08ld'\n",
                    steps[i]);
            rc = 0;
            goto out;
        }
        fprintf(stderr, "nh-train: run: refusing checkpoint 'step-%08ld': %s\n",
                steps[i], e1.msg);
    }
    rc = nh_errorf(err, NH_ENOENT, "no usable checkpoint in '%s'%s",
                   strbuf_str(&dir), tried ? "" : " (there are none)");
out:
    free(steps);
    strbuf_release(&dir);
    strbuf_release(&lp);
    return rc;
}

long
ckpt_young_interval(double delta, double mtbf, double step_s, long max_steps)
{
    double k = sqrt(2.0 * delta * mtbf) / (step_s > 1e-9 ? step_s : 1e-9);

    if (!(k >= 1)) /* NaN too */
        return 1;
    return k >= (double)max_steps ? max_steps : lround(k);
}
