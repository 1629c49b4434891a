/* input.h - input files: enumeration into work units, and documents out
 *
 * nh-clean's inputs are files and directories of JSONL (.jsonl, .jsonl.gz,
 * .jsonl.zst), plain text (.txt) and HTML (.html, .htm). input_scan()
 * walks them in a fixed order (arguments as given, directory entries
 * sorted by name) and groups them into work units: each JSONL file is a
 * unit, consecutive one-document files are batched. A unit is what one
 * worker thread processes and what resume counts as done.
 *
 * input_next() turns the files of a unit into documents. Problems with
 * the input (a line that is not JSON, a record without text, invalid
 * UTF-8, a binary file, a line over the size limit) are not errors: they
 * come back as a struct input_reject, which the driver counts and writes
 * to removed/.
 */
#ifndef NH_INPUT_H
#define NH_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stage.h"

enum input_kind { INPUT_JSONL, INPUT_TEXT, INPUT_HTML };

struct input_file {
    char *path;   /* as reached from the argument: "dir/sub/x.jsonl" */
    char *source; /* default "source" for its records: argument's stem */
    enum input_kind kind;
    uint64_t size, mtime_ns;
};

struct input_unit {
    size_t first, count; /* range in input_set.files */
    uint64_t bytes;
};

struct input_set {
    struct input_file *files;
    size_t nfiles;
    struct input_unit *units;
    size_t nunits;
    uint64_t total_bytes;
    size_t skipped; /* files in directories with unknown suffixes */
};

/* Enumerate args into set (owned by the caller: input_set_release). A
 * named file of unknown type, or a path that cannot be read, is an error
 * (NH_EINVAL / NH_EIO with err). */
int input_scan(struct input_set *set, char *const *args, size_t nargs,
               struct nh_error *err);
void input_set_release(struct input_set *set);

/* 128-bit fingerprint of the set (paths, sizes, mtimes) for resume. */
void input_set_fingerprint(const struct input_set *set, char hex[33]);

struct input_opts {
    const char *text_field; /* "text" */
    size_t max_doc_bytes;   /* lines and files over this are rejected */
    bool repair_utf8;       /* a later stage repairs invalid UTF-8 */
};

struct input_reject {
    const char *reason; /* static: "invalid_json", "missing_text", ... */
    cJSON *record;      /* what to write to removed/ (owned by caller) */
};

struct input_cursor;

/* Start reading unit u of set. */
int input_open(struct input_cursor **out, const struct input_set *set, size_t u,
               const struct input_opts *opts, struct nh_error *err);

/* Next document of the unit: 1 with *d filled (the caller owns d->obj and
 * d->text: doc_release), 2 with *rej filled for a rejected input, 0 at the
 * end. Negative on an unrecoverable error (out of memory). A file that
 * cannot be read any further (I/O error, corrupt compression) becomes a
 * reject ("unreadable_file") and reading goes on with the next file. */
int input_next(struct input_cursor *c, struct doc *d, struct input_reject *rej,
               struct nh_error *err);

/* Raw bytes read from disk so far by this cursor (progress). */
uint64_t input_bytes_read(const struct input_cursor *c);
void input_close(struct input_cursor *c);

/* Fill a doc from a parsed record (takes ownership of obj). Returns 0, or
 * a static reject reason when the record has no usable text. Used for
 * intermediate files too. */
const char *doc_from_record(struct doc *d, cJSON *obj, const char *text_field);

/* Put d->text back into d->obj's text field (moving the buffer) and
 * return the record, which the caller now owns; d is emptied. */
cJSON *doc_to_record(struct doc *d, const char *text_field);

void doc_release(struct doc *d);

#endif
