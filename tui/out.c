/* out.c - how nh prints: JSON documents, sizes, times and aligned tables
 *
 * Commands print human output through these helpers, so every table
 * lines up the same way (display width from utf8proc, so Chinese dataset
 * names take two columns per character) and every size reads "1.2 MB".
 */
#include "nh.h"

#include "strbuf.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

void
out_json(const cJSON *j)
{
    char *text = cJSON_Print(j);

    if (!text) {
        fputs("nh: error: out of memory\n", stderr);
        return;
    }
    fputs(text, stdout);
    fputc('\n', stdout);
    free(text);
}

const char *
fmt_size(double bytes, char *buf, size_t bufsz)
{
    static const char *const units[] = {"kB", "MB", "GB", "TB", "PB"};
    int u = -1;

    if (bytes < 1000) {
        snprintf(buf, bufsz, "%.0f B", bytes);
        return buf;
    }
    while (bytes >= 1000 && u < 4) {
        bytes /= 1000;
        u++;
    }
    snprintf(buf, bufsz, bytes < 10 ? "%.1f %s" : "%.0f %s", bytes, units[u]);
    return buf;
}

const char *
fmt_time(const cJSON *t, char *buf, size_t bufsz)
{
    time_t s;
    struct tm tm;

    if (!cJSON_IsNumber(t)) {
        snprintf(buf, bufsz, "-");
        return buf;
    }
    s = (time_t)t->valuedouble;
    if (!localtime_r(&s, &tm) || !strftime(buf, bufsz, "%Y-%m-%d %H:%M", &tm))
        snprintf(buf, bufsz, "%lld", (long long)s);
    return buf;
}

int64_t
json_int(const cJSON *j, int64_t def)
{
    return cJSON_IsNumber(j) ? (int64_t)j->valuedouble : def;
}

const char *
json_str(const cJSON *obj, const char *name, const char *def)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, name);

    return cJSON_IsString(j) ? j->valuestring : def;
}

const char *
short_id(const char *id, char *buf, size_t n)
{
    if (!id)
        id = "-";
    snprintf(buf, n + 1, "%s", id);
    return buf;
}

int
display_width(const char *s)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    utf8proc_ssize_t left = (utf8proc_ssize_t)strlen(s), n;
    utf8proc_int32_t cp;
    int w = 0;

    while (left > 0) {
        n = utf8proc_iterate(p, left, &cp);
        if (n <= 0) {
            /* not UTF-8: count the byte as one column */
            p++;
            left--;
            w++;
            continue;
        }
        w += utf8proc_charwidth(cp);
        p += n;
        left -= n;
    }
    return w;
}

struct table {
    int ncols;
    int nrows; /* header included */
    int alloc;
    char **cells; /* nrows * ncols, row-major */
    bool right[16];
};

struct table *
table_new(int ncols, const char *const *headers)
{
    struct table *t;

    if (ncols < 1 || ncols > 16)
        return NULL;
    t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->ncols = ncols;
    if (table_add(t, headers) < 0) {
        table_free(t);
        return NULL;
    }
    return t;
}

void
table_right(struct table *t, int col)
{
    if (t && col >= 0 && col < t->ncols)
        t->right[col] = true;
}

int
table_add(struct table *t, const char *const *cells)
{
    int i;

    if (t->nrows == t->alloc) {
        int na = t->alloc ? t->alloc * 2 : 16;
        char **nc =
            realloc(t->cells, sizeof(char *) * (size_t)na * (size_t)t->ncols);
        if (!nc)
            return NH_ENOMEM;
        t->cells = nc;
        t->alloc = na;
    }
    for (i = 0; i < t->ncols; i++) {
        char *s = strdup(cells[i] ? cells[i] : "");
        if (!s) {
            while (i-- > 0)
                free(t->cells[t->nrows * t->ncols + i]);
            return NH_ENOMEM;
        }
        t->cells[t->nrows * t->ncols + i] = s;
    }
    t->nrows++;
    return 0;
}

void
table_print(const struct table *t, FILE *f)
{
    int width[16] = {0};
    int r, c;

    for (r = 0; r < t->nrows; r++)
        for (c = 0; c < t->ncols; c++) {
            int w = display_width(t->cells[r * t->ncols + c]);
            if (w > width[c])
                width[c] = w;
        }
    for (r = 0; r < t->nrows; r++) {
        struct strbuf line = STRBUF_INIT;
        for (c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            int pad = width[c] - display_width(s);
            if (c > 0)
                strbuf_addstr(&line, "  ");
            if (t->right[c])
                strbuf_addf(&line, "%*s%s", pad, "", s);
            else
                strbuf_addf(&line, "%s%*s", s, pad, "");
        }
        while (line.len > 0 && line.buf[line.len - 1] == ' ')
            line.len--;
        fprintf(f, "%.*s\n", (int)line.len, strbuf_str(&line));
        strbuf_release(&line);
    }
}

void
table_free(struct table *t)
{
    int i;

    if (!t)
        return;
    for (i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}
