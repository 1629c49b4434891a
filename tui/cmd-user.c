/* cmd-user.c - `nh user add` and `nh user revoke` (admin ops)
 *
 * user.add answers with the new user's token, shown once: nhd keeps only
 * its hash.
 */
#include "nh.h"

#include <string.h>

int
cmd_user_add(struct cmd_ctx *ctx)
{
    const char *role = cmd_opt(ctx, "role");
    cJSON *args, *res = NULL;
    int rc;

    if (!role)
        return cmd_usage(ctx, "user add needs --role ROLE");
    if (strcmp(role, "admin") && strcmp(role, "engineer") &&
        strcmp(role, "reviewer"))
        return cmd_usage(ctx, "ROLE is admin, engineer or reviewer");
    args = cJSON_CreateObject();
    if (!args || !cJSON_AddStringToObject(args, "name", ctx->argv[0]) ||
        !cJSON_AddStringToObject(args, "role", role)) {
        cJSON_Delete(args);
        return nh_failf("out of memory");
    }
    rc = nh_call1("user.add", args, &res);
    if (rc == NH_EXIT_OK) {
        if (ctx->json)
            out_json(res);
        else
            printf("user '%s' (%s) added; token (shown once):\n%s\n",
                   json_str(res, "name", "?"), json_str(res, "role", "?"),
                   json_str(res, "token", "?"));
    }
    cJSON_Delete(args);
    cJSON_Delete(res);
    return rc;
}

int
cmd_user_revoke(struct cmd_ctx *ctx)
{
    cJSON *args, *res = NULL;
    int rc;

    args = cJSON_CreateObject();
    if (!args || !cJSON_AddStringToObject(args, "name", ctx->argv[0])) {
        cJSON_Delete(args);
        return nh_failf("out of memory");
    }
    rc = nh_call1("user.revoke", args, &res);
    if (rc == NH_EXIT_OK) {
        if (ctx->json)
            out_json(res);
        else
            printf("user '%s' revoked\n", ctx->argv[0]);
    }
    cJSON_Delete(args);
    cJSON_Delete(res);
    return rc;
}
