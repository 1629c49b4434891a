/* stats.c - per-stage counters of a run, and their JSON form
 *
 * The counters behind stats.json and the per-stage table: documents and
 * bytes in and out, removals by reason, seconds. Reasons are kept in a
 * small array in first-seen order; a stage has a handful of them.
 */
#include "stats.h"

#include "err.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int
stats_removed(struct stage_stats *s, const char *reason, uint64_t n)
{
    size_t i;

    for (i = 0; i < s->nremoved; i++) {
        if (!strcmp(s->removed[i].reason, reason)) {
            s->removed[i].n += n;
            return 0;
        }
    }
    if (s->nremoved == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        void *p = realloc(s->removed, cap * sizeof(*s->removed));

        if (!p)
            return NH_ENOMEM;
        s->removed = p;
        s->cap = cap;
    }
    if (!(s->removed[s->nremoved].reason = strdup(reason)))
        return NH_ENOMEM;
    s->removed[s->nremoved++].n = n;
    return 0;
}

uint64_t
stats_removed_total(const struct stage_stats *s)
{
    uint64_t t = 0;
    size_t i;

    for (i = 0; i < s->nremoved; i++)
        t += s->removed[i].n;
    return t;
}

cJSON *
stats_to_json(const struct stage_stats *s)
{
    cJSON *o = cJSON_CreateObject();

    if (o && stats_fill_json(o, s) < 0) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int
stats_fill_json(cJSON *o, const struct stage_stats *s)
{
    cJSON *r;
    size_t i;

    cJSON_AddNumberToObject(o, "docs_in", (double)s->docs_in);
    cJSON_AddNumberToObject(o, "docs_out", (double)s->docs_out);
    cJSON_AddNumberToObject(o, "bytes_in", (double)s->bytes_in);
    cJSON_AddNumberToObject(o, "bytes_out", (double)s->bytes_out);
    cJSON_AddNumberToObject(o, "seconds", s->seconds);
    r = cJSON_AddObjectToObject(o, "removed");
    if (!r)
        return NH_ENOMEM;
    for (i = 0; i < s->nremoved; i++)
        if (!cJSON_AddNumberToObject(r, s->removed[i].reason,
                                     (double)s->removed[i].n))
            return NH_ENOMEM;
    cJSON_ArrayForEach(r, s->extra)
    {
        cJSON *dup = cJSON_Duplicate(r, true);

        if (!dup || !cJSON_AddItemToObject(o, r->string, dup)) {
            cJSON_Delete(dup);
            return NH_ENOMEM;
        }
    }
    return 0;
}

/* Members of a counters object that are not a stage's own. */
static bool
is_counter(const char *key)
{
    static const char *const names[] = {"docs_in",   "docs_out", "bytes_in",
                                        "bytes_out", "seconds",  "removed",
                                        NULL};
    size_t i;

    for (i = 0; names[i]; i++)
        if (!strcmp(key, names[i]))
            return true;
    return false;
}

static uint64_t
num(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsNumber(it) && it->valuedouble > 0 ? (uint64_t)it->valuedouble
                                                     : 0;
}

int
stats_add_json(struct stage_stats *s, const cJSON *o)
{
    const cJSON *r, *it;

    s->docs_in += num(o, "docs_in");
    s->docs_out += num(o, "docs_out");
    s->bytes_in += num(o, "bytes_in");
    s->bytes_out += num(o, "bytes_out");
    it = cJSON_GetObjectItemCaseSensitive(o, "seconds");
    if (cJSON_IsNumber(it))
        s->seconds += it->valuedouble;
    r = cJSON_GetObjectItemCaseSensitive(o, "removed");
    cJSON_ArrayForEach(it, r)
    {
        if (cJSON_IsNumber(it) &&
            stats_removed(s, it->string, (uint64_t)it->valuedouble) < 0)
            return NH_ENOMEM;
    }
    /* a stage's own members come from its one global pass: copied, not
     * added up */
    cJSON_ArrayForEach(it, o)
    {
        cJSON *dup;

        if (!it->string || is_counter(it->string))
            continue;
        if (!s->extra && !(s->extra = cJSON_CreateObject()))
            return NH_ENOMEM;
        if (!(dup = cJSON_Duplicate(it, true)))
            return NH_ENOMEM;
        cJSON_DeleteItemFromObjectCaseSensitive(s->extra, it->string);
        if (!cJSON_AddItemToObject(s->extra, it->string, dup)) {
            cJSON_Delete(dup);
            return NH_ENOMEM;
        }
    }
    return 0;
}

void
stats_release(struct stage_stats *s)
{
    size_t i;

    for (i = 0; i < s->nremoved; i++)
        free(s->removed[i].reason);
    free(s->removed);
    cJSON_Delete(s->extra);
    memset(s, 0, sizeof(*s));
}
