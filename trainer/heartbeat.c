/* heartbeat.c - writing and reading the heartbeat files of launch
 *
 * A rank (run.c) writes DIR/rank-NNNNN via DIR/.rank-NNNNN.tmp and
 * rename(2), without fsync: the files only matter while the job lives.
 * The supervisor (launch.c) reads them back with heartbeat_read. The
 * line's format is in heartbeat.h.
 */
#include "heartbeat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "strbuf.h"

static const char *const phase_names[HB_NPHASES] = {
    "start", "ready", "begin", "step", "ckpt", "saved",
};

const char *
heartbeat_phase_name(enum heartbeat_phase phase)
{
    return (unsigned)phase < HB_NPHASES ? phase_names[phase] : "?";
}

int
heartbeat_init(struct heartbeat *hb, int rank, struct nh_error *err)
{
    const char *dir = getenv("NH_HEARTBEAT_DIR");
    struct strbuf p = STRBUF_INIT, t = STRBUF_INIT;

    memset(hb, 0, sizeof(*hb));
    hb->rank = rank;
    hb->pid = (int)getpid();
    if (!dir || !*dir)
        return 0;
    if (gethostname(hb->host, sizeof(hb->host)) < 0)
        snprintf(hb->host, sizeof(hb->host), "?");
    hb->host[sizeof(hb->host) - 1] = 0;
    /* the host name goes into a space-separated line */
    for (char *c = hb->host; *c; c++)
        if (*c == ' ' || *c == '\n')
            *c = '_';
    if (strbuf_addf(&p, "%s/rank-%05d", dir, rank) < 0 ||
        strbuf_addf(&t, "%s/.rank-%05d.tmp", dir, rank) < 0) {
        strbuf_release(&p);
        strbuf_release(&t);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    hb->path = strbuf_detach(&p, NULL);
    hb->tmp = strbuf_detach(&t, NULL);
    return 0;
}

void
heartbeat_beat(struct heartbeat *hb, enum heartbeat_phase phase, long step)
{
    struct timespec ts;
    char line[256];
    int n, fd;

    if (!hb->path)
        return;
    if (phase == HB_READY)
        hb->first = step;
    clock_gettime(CLOCK_REALTIME, &ts);
    n = snprintf(line, sizeof(line),
                 "beat=%ld step=%ld first=%ld phase=%s pid=%d host=%s "
                 "time=%.6f\n",
                 ++hb->beats, step, hb->first, heartbeat_phase_name(phase),
                 hb->pid, hb->host,
                 (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
    if (n <= 0 || (size_t)n >= sizeof(line))
        return;
    fd = open(hb->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    if (write(fd, line, (size_t)n) != n) {
        close(fd);
        return;
    }
    if (close(fd) == 0)
        (void)rename(hb->tmp, hb->path);
}

void
heartbeat_release(struct heartbeat *hb)
{
    free(hb->path);
    free(hb->tmp);
    hb->path = hb->tmp = NULL;
}

int
heartbeat_read(const char *dir, int rank, struct heartbeat_info *hi)
{
    char path[4096], line[256], phase[16];
    FILE *f;
    int i, ok;

    snprintf(path, sizeof(path), "%s/rank-%05d", dir, rank);
    f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : NH_EIO;
    ok = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    memset(hi, 0, sizeof(*hi));
    if (!ok || sscanf(line,
                      "beat=%ld step=%ld first=%ld phase=%15s pid=%d "
                      "host=%63s time=%lf",
                      &hi->beat, &hi->step, &hi->first, phase, &hi->pid,
                      hi->host, &hi->time) != 7)
        return NH_EFORMAT;
    for (i = 0; i < HB_NPHASES; i++)
        if (!strcmp(phase, phase_names[i]))
            break;
    if (i == HB_NPHASES)
        return NH_EFORMAT;
    hi->phase = (enum heartbeat_phase)i;
    return 1;
}

long
heartbeat_done(const struct heartbeat_info *hi)
{
    return hi->phase == HB_BEGIN ? hi->step - 1 : hi->step;
}
