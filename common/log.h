/* log.h - leveled logging to stderr or a log file, and die() for CLIs
 *
 * Messages go to stderr unless nh_log_open() named a file (the server
 * reopens it on SIGHUP). Each line: "PROG: LEVEL: message" on a terminal
 * style stream; thread-safe (one write per line).
 */
#ifndef NH_LOG_H
#define NH_LOG_H

enum nh_log_level { NH_LOG_DEBUG, NH_LOG_INFO, NH_LOG_WARN, NH_LOG_ERROR };

/* Program name used as the prefix of every line (not copied). */
void nh_log_init(const char *prog, enum nh_log_level min);

/* Send log lines to path (append); 0 or NH_EIO. NULL returns to stderr. */
int nh_log_open(const char *path);

void nh_log(enum nh_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define nh_debug(...) nh_log(NH_LOG_DEBUG, __VA_ARGS__)
#define nh_info(...) nh_log(NH_LOG_INFO, __VA_ARGS__)
#define nh_warn(...) nh_log(NH_LOG_WARN, __VA_ARGS__)
#define nh_error(...) nh_log(NH_LOG_ERROR, __VA_ARGS__)

/* Print "PROG: fatal: message" and exit(status). Only for main() of CLI
 * tools and the trainer; library code returns errors instead. */
_Noreturn void nh_die(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
