/* stages.c - the table of pipeline stages
 *
 * The one place that knows every op: the driver looks stages up here by
 * the "op" names of the pipeline config. See stage.h for how to add one.
 */
#include "stage.h"

#include <string.h>

extern const struct stage_ops stage_extract;
extern const struct stage_ops stage_normalize;
extern const struct stage_ops stage_filter_rules;
extern const struct stage_ops stage_pii;
extern const struct stage_ops stage_repetition;
extern const struct stage_ops stage_dedup_exact;
extern const struct stage_ops stage_dedup_minhash;
extern const struct stage_ops stage_classify;
extern const struct stage_ops stage_perplexity;

const struct stage_ops *const stage_table[] = {
    &stage_extract,       &stage_normalize,
    &stage_filter_rules,  &stage_pii,
    &stage_repetition,    &stage_dedup_exact,
    &stage_dedup_minhash, &stage_classify,
    &stage_perplexity,    NULL,
};

const struct stage_ops *
stage_find(const char *name)
{
    const struct stage_ops *const *s;

    for (s = stage_table; *s; s++)
        if (!strcmp((*s)->name, name))
            return *s;
    return NULL;
}

cJSON *
doc_meta(struct doc *d)
{
    cJSON *m = cJSON_GetObjectItemCaseSensitive(d->obj, "meta");

    if (!m)
        return cJSON_AddObjectToObject(d->obj, "meta");
    return cJSON_IsObject(m) ? m : NULL;
}
