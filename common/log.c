/* log.c - leveled logging to stderr or a log file, and die() for CLIs
 *
 * Formats each line into a local buffer and emits it with one write(2),
 * so lines from several threads never interleave.
 */
#include "log.h"

#include "err.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *log_prog = "naohai";
static enum nh_log_level log_min = NH_LOG_INFO;
static int log_fd = 2;

void
nh_log_init(const char *prog, enum nh_log_level min)
{
    log_prog = prog;
    log_min = min;
}

int
nh_log_open(const char *path)
{
    int fd;

    if (!path) {
        if (log_fd != 2)
            close(log_fd);
        log_fd = 2;
        return 0;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return NH_EIO;
    if (log_fd != 2)
        close(log_fd);
    log_fd = fd;
    return 0;
}

static void log_emit(const char *level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
log_emit(const char *level, const char *fmt, va_list ap)
{
    char line[2048];
    int n, m;

    n = snprintf(line, sizeof(line), "%s: %s: ", log_prog, level);
    if (n < 0)
        return;
    m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    if (m < 0)
        return;
    n += m;
    if ((size_t)n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    if (write(log_fd, line, (size_t)n) < 0)
        return;
}

void
nh_log(enum nh_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warning", "error"};
    va_list ap;

    if (level < log_min)
        return;
    va_start(ap, fmt);
    log_emit(names[level], fmt, ap);
    va_end(ap);
}

void
nh_die(int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_emit("fatal", fmt, ap);
    va_end(ap);
    exit(status);
}
