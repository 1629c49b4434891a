/* op-user.c - the admin ops on users: "user.add" and "user.revoke"
 *
 * Both run on a DB worker (ops.h) and are thin wrappers over store.h:
 * user.add {"name", "role"} makes the user and its first token, which is
 * returned once and never stored; user.revoke {"name"} revokes every
 * token of the user, so its next auth fails (connections already
 * authenticated keep their session until they close).
 */
#include "ops.h"

#include "store.h"

#include <stdio.h>

/* args.key as a string, or NH_EINVAL naming it. */
static int
arg_string(const cJSON *args, const char *key, const char **out,
           struct nh_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);

    if (!cJSON_IsString(v))
        return nh_errorf(err, NH_EINVAL, "'args.%s' must be a string", key);
    *out = v->valuestring;
    return 0;
}

void
op_user_add(struct store *s, const struct dbq_job *job, struct dbq_result *res)
{
    char token[STORE_TOKEN_LEN + 1];
    struct nh_error err = {0};
    const char *name = NULL, *role = NULL;
    cJSON *result = NULL;
    int rc;

    rc = arg_string(job->args, "name", &name, &err);
    if (rc == 0)
        rc = arg_string(job->args, "role", &role, &err);
    if (rc == 0)
        rc = store_user_add(s, name, role, token, &err);
    if (rc == 0) {
        result = cJSON_CreateObject();
        if (!result || !cJSON_AddStringToObject(result, "name", name) ||
            !cJSON_AddStringToObject(result, "role", role) ||
            !cJSON_AddStringToObject(result, "token", token))
            rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
    }
    ops_reply(job, res, rc, result, &err);
}

void
op_user_revoke(struct store *s, const struct dbq_job *job,
               struct dbq_result *res)
{
    struct nh_error err = {0};
    const char *name = NULL;
    cJSON *result = NULL;
    int rc;

    rc = arg_string(job->args, "name", &name, &err);
    if (rc == 0)
        rc = store_user_revoke(s, name, &err);
    if (rc == 0) {
        /* net.c closes the user's open connections */
        snprintf(res->revoked_user, sizeof(res->revoked_user), "%s", name);
        result = cJSON_CreateObject();
        if (!result || !cJSON_AddStringToObject(result, "name", name))
            rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
    }
    ops_reply(job, res, rc, result, &err);
}
