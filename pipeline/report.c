/* report.c - `nh-clean dedup-report DIR` (see report.h)
 *
 * Two passes over the run's output: removed/ gives each cluster's size,
 * kept id and its first members (id and the start of the text); data/ is
 * then read only for the kept documents of the clusters printed. Shards
 * are read in name order, which is input order, so the members shown are
 * the first removed ones and the output is the same for any -j.
 */
#include "report.h"

#include "jsonl.h"
#include "strbuf.h"
#include "utf8.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <utf8proc.h>

#define SNIPPET_COLS 60

struct member {
    char *id, *text; /* text: the snippet */
};

struct cluster {
    long long num;    /* "cluster" */
    char *kept;       /* "duplicate_of" */
    char *kept_text;  /* snippet, from data/, or NULL */
    size_t size;      /* removed members */
    struct member *m; /* the first `members` of them */
    size_t nm;
};

/* The first SNIPPET_COLS display columns of s, white space runs as one
 * space, "…" when cut, into a new string (NULL on no memory). */
static char *
snippet(const char *s, size_t len)
{
    struct strbuf sb = STRBUF_INIT;
    size_t i = 0;
    int cols = 0;
    bool space = false;
    char *out;

    while (i < len) {
        uint32_t cp;
        size_t k = utf8_decode(s + i, len - i, &cp, NULL);
        int w;

        i += k;
        if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' ||
            cp == 0x3000) {
            space = cols > 0;
            continue;
        }
        if (cp < 0x20 || cp == 0x7F)
            continue;
        w = utf8proc_charwidth((utf8proc_int32_t)cp);
        if (w < 0)
            w = 1;
        if (cols + (space ? 1 : 0) + w > SNIPPET_COLS) {
            strbuf_addstr(&sb, "…");
            break;
        }
        if (space) {
            strbuf_addch(&sb, ' ');
            cols++;
            space = false;
        }
        {
            char enc[4];
            size_t n = utf8_encode(cp, enc);

            strbuf_add(&sb, enc, n);
        }
        cols += w;
    }
    out = strdup(strbuf_str(&sb));
    strbuf_release(&sb);
    return out;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The shard files of dir/sub in name order ("*.jsonl*"), NULL-terminated. */
static int
list_shards(const char *dir, const char *sub, char ***out, struct nh_error *err)
{
    struct strbuf path = STRBUF_INIT;
    char **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    DIR *d;
    int rc = 0;

    strbuf_addf(&path, "%s/%s", dir, sub);
    if (!(d = opendir(path.buf))) {
        rc = nh_errorf(err, NH_EIO, "cannot open '%s': %s", path.buf,
                       strerror(errno));
        goto out;
    }
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strstr(e->d_name, ".jsonl"))
            continue;
        if (n + 2 > cap) {
            void *p = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));

            if (!p)
                goto nomem;
            v = p;
        }
        if (!(v[n] = malloc(path.len + strlen(e->d_name) + 2)))
            goto nomem;
        snprintf(v[n], path.len + strlen(e->d_name) + 2, "%s/%s", path.buf,
                 e->d_name);
        n++;
    }
    if (!v && !(v = calloc(1, sizeof(*v))))
        goto nomem;
    v[n] = NULL;
    qsort(v, n, sizeof(*v), name_cmp);
    goto out;
nomem:
    rc = nh_errorf(err, NH_ENOMEM, "out of memory");
    if (v)
        v[n] = NULL;
out:
    if (d)
        closedir(d);
    if (rc < 0 && v) {
        for (n = 0; v[n]; n++)
            free(v[n]);
        free(v);
        v = NULL;
    }
    *out = v;
    strbuf_release(&path);
    return rc;
}

static void
free_list(char **v)
{
    size_t i;

    for (i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static int
size_cmp(const void *a, const void *b)
{
    const struct cluster *x = *(struct cluster *const *)a;
    const struct cluster *y = *(struct cluster *const *)b;

    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->num < y->num ? -1 : x->num > y->num;
}

/* Read every record of the shards in files, calling fn on each object. */
static int
each_record(char **files, int (*fn)(void *arg, const cJSON *obj), void *arg,
            struct nh_error *err)
{
    size_t f;
    int rc = 0;

    for (f = 0; files[f] && rc == 0; f++) {
        struct nh_reader *rd;
        const char *line;
        size_t len;

        if ((rc = nh_reader_open(&rd, files[f], err)) < 0)
            break;
        while ((rc = nh_reader_line(rd, &line, &len, err)) == 1) {
            cJSON *obj = cJSON_ParseWithLength(line, len);

            if (!obj) {
                rc = nh_errorf(err, NH_EFORMAT, "'%s' line %llu: not JSON",
                               files[f],
                               (unsigned long long)nh_reader_lineno(rd));
                break;
            }
            rc = fn(arg, obj);
            cJSON_Delete(obj);
            if (rc < 0) {
                nh_errorf(err, rc, "out of memory");
                break;
            }
        }
        nh_reader_close(rd);
    }
    return rc;
}

struct state {
    struct cluster *c; /* indexed by cluster number - 1 */
    size_t nc;
    size_t members;
    uint64_t removed;
    struct cluster **top;
    size_t ntop;
};

static const char *
text_of(const cJSON *obj, size_t *len)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "text");

    if (!cJSON_IsString(t)) {
        *len = 0;
        return "";
    }
    *len = strlen(t->valuestring);
    return t->valuestring;
}

static int
on_removed(void *arg, const cJSON *obj)
{
    struct state *s = arg;
    const cJSON *num = cJSON_GetObjectItemCaseSensitive(obj, "cluster");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(obj, "duplicate_of");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    const cJSON *why = cJSON_GetObjectItemCaseSensitive(obj, "reason");
    struct cluster *c;
    size_t k, len;
    const char *text;

    /* dedup.exact numbers its clusters too, from 1: only near duplicates */
    if (!cJSON_IsNumber(num) || !cJSON_IsString(of) || num->valuedouble < 1 ||
        num->valuedouble > 1e12 || !cJSON_IsString(why) ||
        strcmp(why->valuestring, "near_duplicate"))
        return 0;
    k = (size_t)num->valuedouble;
    if (k > s->nc) {
        size_t nc = s->nc ? s->nc : 64;
        void *p;

        while (nc < k)
            nc *= 2;
        if (!(p = realloc(s->c, nc * sizeof(*s->c))))
            return NH_ENOMEM;
        s->c = p;
        memset(s->c + s->nc, 0, (nc - s->nc) * sizeof(*s->c));
        s->nc = nc;
    }
    c = &s->c[k - 1];
    s->removed++;
    if (!c->kept) {
        c->num = (long long)k;
        if (!(c->kept = strdup(of->valuestring)) ||
            !(c->m = calloc(s->members ? s->members : 1, sizeof(*c->m))))
            return NH_ENOMEM;
    }
    c->size++;
    if (c->nm < s->members) {
        text = text_of(obj, &len);
        c->m[c->nm].id = strdup(cJSON_IsString(id) ? id->valuestring : "?");
        c->m[c->nm].text = snippet(text, len);
        if (!c->m[c->nm++].id || !c->m[c->nm - 1].text)
            return NH_ENOMEM;
    }
    return 0;
}

static int
on_data(void *arg, const cJSON *obj)
{
    struct state *s = arg;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    size_t i, len;

    if (!cJSON_IsString(id))
        return 0;
    for (i = 0; i < s->ntop; i++) {
        struct cluster *c = s->top[i];

        if (!c->kept_text && !strcmp(c->kept, id->valuestring)) {
            const char *text = text_of(obj, &len);

            if (!(c->kept_text = snippet(text, len)))
                return NH_ENOMEM;
        }
    }
    return 0;
}

int
dedup_report(const char *dir, long top, long members, FILE *out,
             struct nh_error *err)
{
    struct state s = {0};
    char **removed = NULL, **data = NULL;
    size_t i, j, nclusters = 0;
    int rc;

    s.members = (size_t)members;
    if ((rc = list_shards(dir, "removed", &removed, err)) < 0 ||
        (rc = list_shards(dir, "data", &data, err)) < 0 ||
        (rc = each_record(removed, on_removed, &s, err)) < 0)
        goto out;
    if (!(s.top = malloc((s.nc ? s.nc : 1) * sizeof(*s.top)))) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < s.nc; i++)
        if (s.c[i].kept)
            s.top[nclusters++] = &s.c[i];
    qsort(s.top, nclusters, sizeof(*s.top), size_cmp);
    s.ntop = nclusters < (size_t)top ? nclusters : (size_t)top;
    if (s.ntop && (rc = each_record(data, on_data, &s, err)) < 0)
        goto out;
    fprintf(out, "%zu cluster(s), %llu document(s) removed as near duplicates",
            nclusters, (unsigned long long)s.removed);
    if (s.ntop < nclusters)
        fprintf(out, "; the %zu largest:", s.ntop);
    fputc('\n', out);
    for (i = 0; i < s.ntop; i++) {
        struct cluster *c = s.top[i];

        fprintf(out, "\ncluster %lld: %zu documents\n", c->num, c->size + 1);
        fprintf(out, "  kept     %s  %s\n", c->kept,
                c->kept_text ? c->kept_text : "(not in data/)");
        for (j = 0; j < c->nm; j++)
            fprintf(out, "  removed  %s  %s\n", c->m[j].id, c->m[j].text);
        if (c->size > c->nm)
            fprintf(out, "  ... and %zu more\n", c->size - c->nm);
    }
    rc = 0;
out:
    for (i = 0; i < s.nc; i++) {
        free(s.c[i].kept);
        free(s.c[i].kept_text);
        for (j = 0; j < s.c[i].nm; j++) {
            free(s.c[i].m[j].id);
            free(s.c[i].m[j].text);
        }
        free(s.c[i].m);
    }
    free(s.c);
    free(s.top);
    free_list(removed);
    free_list(data);
    return rc;
}
