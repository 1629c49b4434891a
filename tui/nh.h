/* nh.h - the scriptable nh client: its command table and shared helpers
 *
 * `nh WORD [WORD] ARGS... [--OPTION[=VALUE]]...` is looked up in the
 * command table (nh.c): each struct cmd_entry names its words, usage,
 * options and argument counts, and the function that runs it. nh.c parses
 * the arguments into a struct cmd_ctx before calling it, so a command
 * only reads ctx->argv and cmd_opt()/cmd_flag().
 *
 * Adding a command: write its cmd_fn in a cmd-*.c file (declared below),
 * add one line to the table in nh.c, add one test in tests/cli/t011*.sh,
 * and a paragraph in docs/CLIENT.md.
 *
 * Exit status: NH_EXIT_OK, NH_EXIT_ERROR (the server reported an error,
 * or the connection failed), NH_EXIT_USAGE (bad command line). With
 * --json a command prints exactly one JSON document on stdout.
 */
#ifndef NH_NH_H
#define NH_NH_H

#include "client.h"
#include "err.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define NH_VERSION "0.1.0"
#define NH_DEFAULT_SERVER "ws://127.0.0.1:7420"

#define NH_EXIT_OK 0
#define NH_EXIT_ERROR 1
#define NH_EXIT_USAGE 2

#define CMD_MAX_OPTS 16

struct cmd_entry;

struct cmd_ctx {
    const struct cmd_entry *entry;
    int argc;    /* positional arguments after the command words */
    char **argv; /* (not owned) */
    bool json;   /* --json: one JSON document on stdout */
    const char *opt_val[CMD_MAX_OPTS]; /* by index in entry->opts */
    bool opt_set[CMD_MAX_OPTS];
    char *joined[CMD_MAX_OPTS]; /* values of a repeated "name=..." option */
};

/* Runs a command; returns its exit status. */
typedef int cmd_fn(struct cmd_ctx *ctx);

struct cmd_entry {
    const char *name;    /* "dataset import" */
    const char *usage;   /* "NAME PATH... [--server-paths]" */
    const char *summary; /* one line for `nh --help` */
    const char *help;    /* more lines for `nh help CMD`, or NULL */
    /* options without the dashes; "name=" takes a value, "name=..."
     * takes one and may be repeated (the values joined with commas):
     * NULL-ended */
    const char *opts[CMD_MAX_OPTS + 1];
    int min_args, max_args; /* max_args < 0: no limit */
    cmd_fn *fn;
};

/* The value of option name ("config" for "config="), or NULL. */
const char *cmd_opt(const struct cmd_ctx *ctx, const char *name);
/* Was the flag given? */
bool cmd_flag(const struct cmd_ctx *ctx, const char *name);
/* Print the command's usage on stderr; returns NH_EXIT_USAGE. */
int cmd_usage(const struct cmd_ctx *ctx, const char *why);

/* ---- session.c: connecting -------------------------------------------- */

/* Server URL and token from NH_SERVER / NH_TOKEN, else the config file,
 * else NH_DEFAULT_SERVER and no token. Strings are malloc'd; the caller
 * frees them. */
int nh_config_load(char **server, char **token, struct nh_error *err);
/* Write the config file (mode 0600, directory created). */
int nh_config_save(const char *server, const char *token, struct nh_error *err);
/* The config file's path (malloc'd). */
char *nh_config_path(void);

/* Connect to url and authenticate with token; *user_out (may be NULL)
 * gets the auth result. */
int nh_connect_to(const char *url, const char *token, struct client **out,
                  cJSON **user_out, struct nh_error *err);
/* Connect with the configured server and token. */
int nh_connect(struct client **out, struct nh_error *err);

/* Print "nh: error: MESSAGE" on stderr; returns NH_EXIT_ERROR. */
int nh_fail(const struct nh_error *err);
/* Print "nh: error: FORMAT..." on stderr; returns NH_EXIT_ERROR. */
int nh_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Connect, call op with args, and hand back the result: the common
 * shape of a one-op command. Returns 0 or an exit status (after printing
 * the error). */
int nh_call1(const char *op, const cJSON *args, cJSON **result);

/* ---- out.c: human and JSON output -------------------------------------- */

/* Print j on stdout as JSON (indented) and a newline. */
void out_json(const cJSON *j);
/* "1.2 MB" (powers of 1000) into buf. */
const char *fmt_size(double bytes, char *buf, size_t bufsz);
/* "2024-05-01 12:34" in local time, "-" for a non-number. */
const char *fmt_time(const cJSON *t, char *buf, size_t bufsz);
/* Number j as an integer, or def when j is not a number. */
int64_t json_int(const cJSON *j, int64_t def);
/* String member name of obj, or def. */
const char *json_str(const cJSON *obj, const char *name, const char *def);
/* The first n characters of id ("-" for NULL). */
const char *short_id(const char *id, char *buf, size_t n);
/* Columns in a terminal that s takes (UTF-8; wide CJK count 2). */
int display_width(const char *s);

/* An aligned table: add rows of cells (copied), then print them under
 * the header with each column as wide as its widest cell. */
struct table;
struct table *table_new(int ncols, const char *const *headers);
/* Mark column col as right-aligned (numbers). */
void table_right(struct table *t, int col);
/* Add a row of ncols cells; returns 0 or NH_ENOMEM. */
int table_add(struct table *t, const char *const *cells);
void table_print(const struct table *t, FILE *f);
void table_free(struct table *t);

/* ---- commands ---------------------------------------------------------- */

cmd_fn cmd_login;
cmd_fn cmd_dataset_import;
cmd_fn cmd_dataset_ls;
cmd_fn cmd_dataset_versions;
cmd_fn cmd_dataset_show;
cmd_fn cmd_dataset_lineage;
cmd_fn cmd_dataset_diff;
cmd_fn cmd_dataset_tag;
cmd_fn cmd_dataset_cat;
cmd_fn cmd_dataset_export;
cmd_fn cmd_pipeline_run;
cmd_fn cmd_augment_run;
cmd_fn cmd_mix_create;
cmd_fn cmd_mix_show;
/* A JSON object from file path (at most 1 MiB) in *out (cmd-pipeline.c). */
int read_json_object(const char *path, cJSON **out, struct nh_error *err);
cmd_fn cmd_train_launch; /* cmd-train.c */
cmd_fn cmd_train_ls;
cmd_fn cmd_train_show;
cmd_fn cmd_train_watch;
cmd_fn cmd_train_stop;
cmd_fn cmd_train_resume;
cmd_fn cmd_job_ls;
cmd_fn cmd_job_show;
cmd_fn cmd_job_watch;
cmd_fn cmd_job_cancel;
cmd_fn cmd_job_resume;
cmd_fn cmd_job_logs;
cmd_fn cmd_user_add;
cmd_fn cmd_user_revoke;
cmd_fn cmd_review_create; /* cmd-review.c: `nh review` and `nh label` */
cmd_fn cmd_review_ls;
cmd_fn cmd_review_next;
cmd_fn cmd_review_submit;
cmd_fn cmd_review_stats;
cmd_fn cmd_review_export;
cmd_fn cmd_review_close;

/* Subscribe to job/ID on c and follow it until a terminal job.state,
 * with a progress bar on stderr (a TTY) or progress lines. *final gets
 * the last job summary (caller frees). Returns the exit status:
 * NH_EXIT_OK when the job succeeded. */
int job_follow(struct client *c, int64_t job, bool json, cJSON **final);

#endif
