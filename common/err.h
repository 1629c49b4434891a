/* err.h - error codes and error messages shared by every component
 *
 * A function that can fail returns int: 0 on success, a negative NH_E*
 * code on failure. Where the caller needs to show the user why, the
 * function also takes a struct nh_error and fills its message; the message
 * is lowercase, without a full stop, with names in quotes:
 *   cannot open 'x.jsonl': No such file or directory
 */
#ifndef NH_ERR_H
#define NH_ERR_H

enum nh_errcode {
    NH_OK = 0,
    NH_ENOMEM = -1,    /* allocation failed */
    NH_EIO = -2,       /* a system call failed; errno-derived message */
    NH_EFORMAT = -3,   /* input is not in the expected format */
    NH_ETOOBIG = -4,   /* input over a configured size limit */
    NH_EINVAL = -5,    /* bad argument or configuration value */
    NH_ENOENT = -6,    /* a named thing does not exist */
    NH_EEXIST = -7,    /* a named thing already exists */
    NH_ECORRUPT = -8,  /* stored data failed a check (magic, checksum) */
    NH_ECONFLICT = -9, /* the thing is in the wrong state for this */
};

struct nh_error {
    int code;
    char msg[512];
};

/* Static description of a code ("out of memory"); never NULL. */
const char *nh_strerror(int code);

/* Fill err (if non-NULL) with code and a formatted message; returns code,
 * so that `return nh_errorf(err, NH_EINVAL, "...")` reads naturally. */
int nh_errorf(struct nh_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like nh_errorf, appending ": strerror(errno)"; code is NH_EIO. */
int nh_error_errno(struct nh_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
