/* config.c - typed, checked access to stage parameters in the config
 *
 * The shared validation layer under every stage's init(): type checks,
 * range checks, enumerations, and the rejection of unknown keys, each
 * with a message that names the stage and the field.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int
cfg_check_keys(const cJSON *params, const char *where, const char *const *known,
               struct nh_error *err)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, params)
    {
        const char *const *k;
        int found = !strcmp(it->string, "op") || !strcmp(it->string, "name");

        for (k = known; !found && *k; k++)
            found = !strcmp(it->string, *k);
        if (!found)
            return nh_errorf(err, NH_EINVAL, "%s: unknown parameter '%s'",
                             where, it->string);
    }
    return 0;
}

int
cfg_bool(const cJSON *params, const char *where, const char *key, bool def,
         bool *out, struct nh_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(params, key);

    if (!it) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(it))
        return nh_errorf(err, NH_EINVAL, "%s: '%s' must be true or false",
                         where, key);
    *out = cJSON_IsTrue(it);
    return 0;
}

int
cfg_num(const cJSON *params, const char *where, const char *key, double def,
        double min, double max, double *out, struct nh_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(params, key);

    if (!it) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(it) || isnan(it->valuedouble))
        return nh_errorf(err, NH_EINVAL, "%s: '%s' must be a number", where,
                         key);
    if (it->valuedouble < min || it->valuedouble > max)
        return nh_errorf(err, NH_EINVAL,
                         "%s: '%s' must be between %g and %g (got %g)", where,
                         key, min, max, it->valuedouble);
    *out = it->valuedouble;
    return 0;
}

int
cfg_int(const cJSON *params, const char *where, const char *key, long def,
        long min, long max, long *out, struct nh_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(params, key);
    double v;

    if (!it) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(it))
        return nh_errorf(err, NH_EINVAL, "%s: '%s' must be an integer", where,
                         key);
    v = it->valuedouble;
    if (v != floor(v))
        return nh_errorf(err, NH_EINVAL, "%s: '%s' must be an integer", where,
                         key);
    if (v < (double)min || v > (double)max)
        return nh_errorf(err, NH_EINVAL,
                         "%s: '%s' must be between %ld and %ld (got %.0f)",
                         where, key, min, max, v);
    *out = (long)v;
    return 0;
}

int
cfg_str(const cJSON *params, const char *where, const char *key,
        const char *def, const char *const *choices, const char **out,
        struct nh_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(params, key);
    const char *const *c;
    char list[256] = "";
    size_t n = 0;

    if (!it) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsString(it))
        return nh_errorf(err, NH_EINVAL, "%s: '%s' must be a string", where,
                         key);
    if (!choices) {
        *out = it->valuestring;
        return 0;
    }
    for (c = choices; *c; c++) {
        if (!strcmp(*c, it->valuestring)) {
            *out = *c;
            return 0;
        }
        if (n < sizeof(list))
            n += (size_t)snprintf(list + n, sizeof(list) - n, "%s\"%s\"",
                                  c == choices ? "" : ", ", *c);
    }
    return nh_errorf(err, NH_EINVAL, "%s: '%s' must be one of %s (got \"%s\")",
                     where, key, list, it->valuestring);
}

int
cfg_strlist(const cJSON *params, const char *where, const char *key,
            const cJSON **out, struct nh_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(params, key), *e;

    *out = NULL;
    if (!it)
        return 0;
    if (!cJSON_IsArray(it))
        return nh_errorf(err, NH_EINVAL, "%s: '%s' must be an array of strings",
                         where, key);
    cJSON_ArrayForEach(e, it)
    {
        if (!cJSON_IsString(e))
            return nh_errorf(err, NH_EINVAL,
                             "%s: '%s' must be an array of strings", where,
                             key);
    }
    *out = it;
    return 0;
}
