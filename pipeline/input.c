/* input.c - input files: enumeration into work units, and documents out
 *
 * The front of the pipeline. input_scan() fixes the order of the run (and
 * so the "first" document that exact deduplication keeps); input_next()
 * reads one unit's files with the streaming reader of common/jsonl.c and
 * turns every line or file into either a document or a reject, so that a
 * bad line never stops a run and never passes unnoticed.
 */
#include "input.h"

#include "hash.h"
#include "jsonl.h"
#include "utf8.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define UNIT_MAX_FILES 256
#define UNIT_MAX_BYTES ((uint64_t)32 << 20)

static bool
has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && !strcasecmp(s + n - m, suffix);
}

/* -1 for a file that is not an input */
static int
kind_of(const char *path)
{
    if (has_suffix(path, ".jsonl") || has_suffix(path, ".jsonl.gz") ||
        has_suffix(path, ".jsonl.zst") || has_suffix(path, ".json.gz") ||
        has_suffix(path, ".jsonl.zstd"))
        return INPUT_JSONL;
    if (has_suffix(path, ".txt") || has_suffix(path, ".txt.gz") ||
        has_suffix(path, ".txt.zst"))
        return INPUT_TEXT;
    if (has_suffix(path, ".html") || has_suffix(path, ".htm") ||
        has_suffix(path, ".html.gz") || has_suffix(path, ".html.zst"))
        return INPUT_HTML;
    return -1;
}

/* "dir/zh-web.jsonl.zst" -> "zh-web"; "corpus/web/" -> "web" */
static char *
stem_of(const char *arg)
{
    size_t n = strlen(arg);
    const char *base, *dot;

    while (n > 1 && arg[n - 1] == '/')
        n--;
    base = arg + n;
    while (base > arg && base[-1] != '/')
        base--;
    dot = memchr(base, '.', (size_t)(arg + n - base));
    if (dot && dot > base)
        n = (size_t)(dot - arg);
    return strndup(base, (size_t)(arg + n - base));
}

static int
add_file(struct input_set *set, const char *path, const char *source, int kind,
         const struct stat *st, struct nh_error *err)
{
    struct input_file *f;

    if ((set->nfiles & (set->nfiles - 1)) == 0) {
        size_t cap = set->nfiles ? set->nfiles * 2 : 16;
        void *p = realloc(set->files, cap * sizeof(*set->files));

        if (!p)
            return nh_errorf(err, NH_ENOMEM, "out of memory");
        set->files = p;
    }
    f = &set->files[set->nfiles];
    f->path = strdup(path);
    f->source = strdup(source);
    if (!f->path || !f->source) {
        free(f->path);
        free(f->source);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    f->kind = (enum input_kind)kind;
    f->size = (uint64_t)st->st_size;
    f->mtime_ns = (uint64_t)st->st_mtim.tv_sec * 1000000000u +
                  (uint64_t)st->st_mtim.tv_nsec;
    set->nfiles++;
    set->total_bytes += f->size;
    return 0;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
scan_dir(struct input_set *set, const char *dir, const char *source, int depth,
         struct nh_error *err)
{
    DIR *d;
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    int rc = 0;

    if (depth > 64)
        return nh_errorf(err, NH_EINVAL, "'%s': directories nested too deep",
                         dir);
    d = opendir(dir);
    if (!d)
        return nh_error_errno(err, "cannot open directory '%s'", dir);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            void *p;

            cap = cap ? cap * 2 : 64;
            p = realloc(names, cap * sizeof(*names));
            if (!p) {
                rc = nh_errorf(err, NH_ENOMEM, "out of memory");
                goto out;
            }
            names = p;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            goto out;
        }
        n++;
    }
    if (n)
        qsort(names, n, sizeof(*names), name_cmp);
    for (i = 0; i < n && rc == 0; i++) {
        struct strbuf path = STRBUF_INIT;
        struct stat st;
        int kind;

        if (strbuf_addf(&path, "%s%s%s", dir, has_suffix(dir, "/") ? "" : "/",
                        names[i]) < 0) {
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            break;
        }
        /* the default source of what lies under a directory argument is
         * the name of its top-level entry: corpus/zh-web.jsonl gives
         * "zh-web", corpus/web/a/b.html gives "web" */
        char *top = depth == 0 ? stem_of(names[i]) : NULL;
        const char *src = depth == 0 ? top : source;

        if (depth == 0 && !top) {
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        } else if (stat(path.buf, &st) < 0) {
            rc = nh_error_errno(err, "cannot stat '%s'", path.buf);
        } else if (S_ISDIR(st.st_mode)) {
            rc = scan_dir(set, path.buf, src, depth + 1, err);
        } else if (S_ISREG(st.st_mode) && (kind = kind_of(path.buf)) >= 0) {
            rc = add_file(set, path.buf, src, kind, &st, err);
        } else {
            set->skipped++;
        }
        free(top);
        strbuf_release(&path);
    }
out:
    closedir(d);
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static int
make_units(struct input_set *set, struct nh_error *err)
{
    size_t i;

    set->units = calloc(set->nfiles ? set->nfiles : 1, sizeof(*set->units));
    if (!set->units)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    for (i = 0; i < set->nfiles; i++) {
        struct input_file *f = &set->files[i];
        struct input_unit *u =
            set->nunits ? &set->units[set->nunits - 1] : NULL;

        /* one-document files join the previous batch while it has room */
        if (f->kind != INPUT_JSONL && u &&
            set->files[u->first].kind != INPUT_JSONL &&
            u->count < UNIT_MAX_FILES && u->bytes + f->size <= UNIT_MAX_BYTES) {
            u->count++;
            u->bytes += f->size;
            continue;
        }
        u = &set->units[set->nunits++];
        u->first = i;
        u->count = 1;
        u->bytes = f->size;
    }
    return 0;
}

int
input_scan(struct input_set *set, char *const *args, size_t nargs,
           struct nh_error *err)
{
    size_t i;
    int rc = 0;

    memset(set, 0, sizeof(*set));
    for (i = 0; i < nargs && rc == 0; i++) {
        struct stat st;
        char *source;
        int kind;

        if (stat(args[i], &st) < 0) {
            rc = nh_error_errno(err, "cannot read input '%s'", args[i]);
            break;
        }
        if (!(source = stem_of(args[i]))) {
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            rc = scan_dir(set, args[i], source, 0, err);
        } else if ((kind = kind_of(args[i])) < 0) {
            rc = nh_errorf(err, NH_EINVAL,
                           "'%s': unknown input type (expected .jsonl, "
                           ".jsonl.gz, .jsonl.zst, .txt or .html)",
                           args[i]);
        } else {
            rc = add_file(set, args[i], source, kind, &st, err);
        }
        free(source);
    }
    if (rc == 0)
        rc = make_units(set, err);
    if (rc < 0)
        input_set_release(set);
    return rc;
}

void
input_set_release(struct input_set *set)
{
    size_t i;

    for (i = 0; i < set->nfiles; i++) {
        free(set->files[i].path);
        free(set->files[i].source);
    }
    free(set->files);
    free(set->units);
    memset(set, 0, sizeof(*set));
}

void
input_set_fingerprint(const struct input_set *set, char hex[33])
{
    struct nh_hash_state *st = nh_hash128_begin();
    size_t i;

    for (i = 0; i < set->nfiles; i++) {
        const struct input_file *f = &set->files[i];

        nh_hash128_update(st, f->path, strlen(f->path) + 1);
        nh_hash128_update(st, &f->size, sizeof(f->size));
        nh_hash128_update(st, &f->mtime_ns, sizeof(f->mtime_ns));
    }
    nh_h128_hex(nh_hash128_end(st), hex);
}

struct input_cursor {
    const struct input_set *set;
    const struct input_unit *unit;
    struct input_opts opts;
    size_t next_file; /* index within the unit */
    struct nh_reader *r;
    const struct input_file *cur;
    uint64_t done_bytes; /* raw bytes of finished files */
    struct strbuf buf;
};

int
input_open(struct input_cursor **out, const struct input_set *set, size_t u,
           const struct input_opts *opts, struct nh_error *err)
{
    struct input_cursor *c = calloc(1, sizeof(*c));

    if (!c)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    c->set = set;
    c->unit = &set->units[u];
    c->opts = *opts;
    *out = c;
    return 0;
}

uint64_t
input_bytes_read(const struct input_cursor *c)
{
    return c->done_bytes + (c->r ? nh_reader_raw_bytes(c->r) : 0);
}

static void
close_file(struct input_cursor *c)
{
    if (c->r) {
        c->done_bytes += nh_reader_raw_bytes(c->r);
        nh_reader_close(c->r);
    }
    c->r = NULL;
    c->cur = NULL;
}

void
input_close(struct input_cursor *c)
{
    if (!c)
        return;
    close_file(c);
    strbuf_release(&c->buf);
    free(c);
}

void
doc_release(struct doc *d)
{
    cJSON_Delete(d->obj);
    strbuf_release(&d->text);
    memset(d, 0, sizeof(*d));
}

const char *
doc_from_record(struct doc *d, cJSON *obj, const char *text_field)
{
    cJSON *text = cJSON_GetObjectItemCaseSensitive(obj, text_field);
    cJSON *id, *src;
    size_t len;

    memset(d, 0, sizeof(*d));
    d->obj = obj;
    if (!cJSON_IsString(text) || !text->valuestring)
        return "missing_text";
    /* take the decoded string over without copying it */
    len = strlen(text->valuestring);
    d->text.buf = text->valuestring;
    d->text.len = len;
    d->text.alloc = len + 1;
    text->valuestring = NULL;
    d->in_bytes = len;
    id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    if (cJSON_IsNumber(id)) {
        char num[32];

        snprintf(num, sizeof(num), "%.17g", id->valuedouble);
        cJSON_ReplaceItemInObjectCaseSensitive(obj, "id",
                                               cJSON_CreateString(num));
        id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    }
    d->id = cJSON_IsString(id) ? id->valuestring : NULL;
    src = cJSON_GetObjectItemCaseSensitive(obj, "source");
    d->source = cJSON_IsString(src) ? src->valuestring : "";
    return NULL;
}

cJSON *
doc_to_record(struct doc *d, const char *text_field)
{
    cJSON *obj = d->obj, *text;

    text = cJSON_GetObjectItemCaseSensitive(obj, text_field);
    if (cJSON_IsString(text) && !text->valuestring) {
        text->valuestring = strbuf_detach(&d->text, NULL);
    } else {
        cJSON *t = cJSON_CreateString(strbuf_str(&d->text));

        if (t && text)
            cJSON_ReplaceItemInObjectCaseSensitive(obj, text_field, t);
        else if (t)
            cJSON_AddItemToObject(obj, text_field, t);
    }
    strbuf_release(&d->text);
    d->obj = NULL;
    return obj;
}

/* A reject record describing a raw line: file, line, the raw bytes
 * (repaired to valid UTF-8 so that removed/ stays valid JSONL). */
static cJSON *
raw_record(struct input_cursor *c, const char *line, size_t len, bool truncated)
{
    cJSON *o = cJSON_CreateObject();

    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "file", c->cur->path);
    cJSON_AddNumberToObject(o, "line", (double)nh_reader_lineno(c->r));
    if (line) {
        strbuf_reset(&c->buf);
        if (utf8_repair(&c->buf, line, len) >= 0)
            cJSON_AddStringToObject(o, "raw", strbuf_str(&c->buf));
    }
    if (truncated)
        cJSON_AddTrueToObject(o, "truncated");
    return o;
}

static void
set_defaults(struct input_cursor *c, struct doc *d, const char *idfmt_path,
             uint64_t lineno)
{
    if (!d->id) {
        char *id;
        struct strbuf sb = STRBUF_INIT;

        if (lineno)
            strbuf_addf(&sb, "%s:%llu", idfmt_path, (unsigned long long)lineno);
        else
            strbuf_addstr(&sb, idfmt_path);
        id = strbuf_detach(&sb, NULL);
        cJSON_DeleteItemFromObjectCaseSensitive(d->obj, "id");
        cJSON_AddStringToObject(d->obj, "id", id ? id : "");
        free(id);
        d->id = cJSON_GetObjectItemCaseSensitive(d->obj, "id")->valuestring;
    }
    if (!cJSON_GetObjectItemCaseSensitive(d->obj, "source")) {
        cJSON_AddStringToObject(d->obj, "source", c->cur->source);
        d->source =
            cJSON_GetObjectItemCaseSensitive(d->obj, "source")->valuestring;
    }
}

/* Does the JSON text hold the escape \u0000 (not an escaped backslash
 * followed by "u0000")? */
static bool
has_nul_escape(const char *line, size_t len)
{
    const char *p = line, *end = line + len, *q;

    while ((q = memmem(p, (size_t)(end - p), "\\u0000", 6))) {
        size_t pos = (size_t)(q - line), slashes = 1;

        while (slashes <= pos && line[pos - slashes] == '\\')
            slashes++;
        if (slashes % 2)
            return true;
        p = q + 1;
    }
    return false;
}

static int
next_jsonl(struct input_cursor *c, struct doc *d, struct input_reject *rej,
           struct nh_error *err)
{
    const char *line, *end = NULL, *why;
    size_t len;
    cJSON *obj;
    bool valid;
    int rc;

    for (;;) {
        rc = nh_reader_line(c->r, &line, &len, err);
        if (rc == 0)
            return 0;
        if (rc == NH_ETOOBIG) {
            rej->reason = "line_too_long";
            rej->record = raw_record(c, line, len, true);
            return 2;
        }
        if (rc < 0) {
            rej->reason = "unreadable_file";
            rej->record = cJSON_CreateObject();
            cJSON_AddStringToObject(rej->record, "file", c->cur->path);
            cJSON_AddStringToObject(rej->record, "error", err->msg);
            close_file(c);
            return 2;
        }
        while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' ||
                       line[len - 1] == '\t'))
            len--;
        if (len)
            break;
    }
    if (memchr(line, '\0', len)) {
        /* NUL bytes: a binary file, not JSONL; skip the rest of it */
        rej->reason = "binary_file";
        rej->record = cJSON_CreateObject();
        cJSON_AddStringToObject(rej->record, "file", c->cur->path);
        close_file(c);
        return 2;
    }
    if (has_nul_escape(line, len)) {
        /* cJSON strings end at NUL: the text after it would be lost */
        rej->reason = "nul_character";
        rej->record = raw_record(c, line, len, false);
        return 2;
    }
    valid = utf8_valid(line, len);
    obj = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (obj && end) {
        while (end < line + len && (*end == ' ' || *end == '\t'))
            end++;
    }
    if (!obj || end != line + len || !cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        rej->reason = "invalid_json";
        rej->record = raw_record(c, line, len, false);
        return 2;
    }
    why = doc_from_record(d, obj, c->opts.text_field);
    if (why) {
        rej->reason = why;
        rej->record = obj;
        d->obj = NULL;
        doc_release(d);
        return 2;
    }
    if (!valid) {
        d->bad_utf8 = !utf8_valid(d->text.buf, d->text.len);
        if (!d->bad_utf8 || !c->opts.repair_utf8) {
            /* bad bytes outside the text, or nothing to repair them */
            doc_release(d);
            rej->reason = "invalid_utf8";
            rej->record = raw_record(c, line, len, false);
            return 2;
        }
    }
    set_defaults(c, d, c->cur->path, nh_reader_lineno(c->r));
    return 1;
}

static int
next_whole(struct input_cursor *c, struct doc *d, struct input_reject *rej,
           struct nh_error *err)
{
    const struct input_file *f = c->cur;
    struct nh_error e2;
    cJSON *obj;
    int rc;

    strbuf_reset(&c->buf);
    rc = nh_reader_all(c->r, &c->buf, c->opts.max_doc_bytes, &e2);
    close_file(c);
    if (rc == NH_ENOMEM)
        return nh_errorf(err, rc, "out of memory");
    rej->record = cJSON_CreateObject();
    cJSON_AddStringToObject(rej->record, "file", f->path);
    if (rc < 0) {
        rej->reason = rc == NH_ETOOBIG ? "file_too_large" : "unreadable_file";
        cJSON_AddStringToObject(rej->record, "error", e2.msg);
        return 2;
    }
    if (memchr(c->buf.buf ? c->buf.buf : "", '\0', c->buf.len)) {
        rej->reason = "binary_file";
        return 2;
    }
    if (!utf8_valid(strbuf_str(&c->buf), c->buf.len) && !c->opts.repair_utf8) {
        struct strbuf fixed = STRBUF_INIT;

        rej->reason = "invalid_utf8";
        if (utf8_repair(&fixed, strbuf_str(&c->buf), c->buf.len) >= 0)
            cJSON_AddStringToObject(rej->record, "raw", strbuf_str(&fixed));
        strbuf_release(&fixed);
        return 2;
    }
    cJSON_Delete(rej->record);
    rej->record = NULL;
    obj = cJSON_CreateObject();
    if (!obj)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    cJSON_AddStringToObject(obj, "id", f->path);
    cJSON_AddStringToObject(obj, "source", f->source);
    if (f->kind == INPUT_HTML)
        cJSON_AddStringToObject(obj, "format", "html");
    memset(d, 0, sizeof(*d));
    d->obj = obj;
    strbuf_swap(&d->text, &c->buf);
    d->in_bytes = d->text.len;
    d->bad_utf8 = !utf8_valid(strbuf_str(&d->text), d->text.len);
    d->id = cJSON_GetObjectItemCaseSensitive(obj, "id")->valuestring;
    d->source = cJSON_GetObjectItemCaseSensitive(obj, "source")->valuestring;
    if (!d->text.buf)
        strbuf_addstr(&d->text, "");
    return 1;
}

int
input_next(struct input_cursor *c, struct doc *d, struct input_reject *rej,
           struct nh_error *err)
{
    int rc;

    rej->reason = NULL;
    rej->record = NULL;
    for (;;) {
        if (!c->r) {
            struct nh_error e2;

            if (c->next_file >= c->unit->count)
                return 0;
            c->cur = &c->set->files[c->unit->first + c->next_file++];
            if (nh_reader_open(&c->r, c->cur->path, &e2) < 0) {
                rej->reason = "unreadable_file";
                rej->record = cJSON_CreateObject();
                cJSON_AddStringToObject(rej->record, "file", c->cur->path);
                cJSON_AddStringToObject(rej->record, "error", e2.msg);
                c->r = NULL;
                return 2;
            }
            nh_reader_set_max_line(c->r, c->opts.max_doc_bytes);
        }
        if (c->cur->kind != INPUT_JSONL)
            return next_whole(c, d, rej, err);
        rc = next_jsonl(c, d, rej, err);
        if (rc != 0)
            return rc;
        close_file(c);
    }
}
