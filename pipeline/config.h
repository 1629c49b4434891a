/* config.h - typed, checked access to stage parameters in the config
 *
 * Every stage reads its parameters through these, so that every bad value
 * gets the same kind of message naming the stage and the field:
 *   stages[3] (pii): 'action' must be one of "mask", "drop"
 * Each getter leaves *out at the default when the key is absent and
 * returns NH_EINVAL (with err) when present with a wrong type or range.
 */
#ifndef NH_CONFIG_H
#define NH_CONFIG_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "err.h"

/* Fail on any key of params not in known (NULL-terminated); "op" and
 * "name" are always allowed. */
int cfg_check_keys(const cJSON *params, const char *where,
                   const char *const *known, struct nh_error *err);

int cfg_bool(const cJSON *params, const char *where, const char *key, bool def,
             bool *out, struct nh_error *err);
int cfg_num(const cJSON *params, const char *where, const char *key, double def,
            double min, double max, double *out, struct nh_error *err);
int cfg_int(const cJSON *params, const char *where, const char *key, long def,
            long min, long max, long *out, struct nh_error *err);
/* *out points into params (or is def); choices NULL-terminated, or NULL
 * for any string. */
int cfg_str(const cJSON *params, const char *where, const char *key,
            const char *def, const char *const *choices, const char **out,
            struct nh_error *err);
/* An array of strings; *out is params' array item, or NULL if absent. */
int cfg_strlist(const cJSON *params, const char *where, const char *key,
                const cJSON **out, struct nh_error *err);

#endif
