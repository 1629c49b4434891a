/* err.c - error codes and error messages
 *
 * The one table of error descriptions, and the helpers that format a
 * user-facing message into a struct nh_error. Every component reports
 * failures through these, so messages read alike everywhere.
 */
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *
nh_strerror(int code)
{
    switch (code) {
    case NH_OK:
        return "success";
    case NH_ENOMEM:
        return "out of memory";
    case NH_EIO:
        return "input/output error";
    case NH_EFORMAT:
        return "bad format";
    case NH_ETOOBIG:
        return "over the size limit";
    case NH_EINVAL:
        return "invalid argument";
    case NH_ENOENT:
        return "not found";
    case NH_EEXIST:
        return "already exists";
    case NH_ECORRUPT:
        return "corrupt data";
    case NH_ECONFLICT:
        return "wrong state";
    }
    return "unknown error";
}

int
nh_errorf(struct nh_error *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return code;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

int
nh_error_errno(struct nh_error *err, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    size_t n;

    if (!err)
        return NH_EIO;
    err->code = NH_EIO;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    n = strlen(err->msg);
    snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(saved));
    return NH_EIO;
}
