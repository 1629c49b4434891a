/* cmd-login.c - `nh login`: check a server and token, then save them
 *
 * The token is tried with an "auth" call first, so a typo never ends up
 * in the config file (session.c writes it, mode 0600).
 */
#include "nh.h"

#include <stdlib.h>

int
cmd_login(struct cmd_ctx *ctx)
{
    const char *server = cmd_opt(ctx, "server");
    const char *token = cmd_opt(ctx, "token");
    char *cfg_server = NULL, *cfg_token = NULL, *path = NULL;
    struct client *c = NULL;
    cJSON *user = NULL;
    struct nh_error err;
    int rc;

    if (!token || !*token)
        return cmd_usage(ctx, "login needs --token TOKEN");
    if (!server) {
        if (nh_config_load(&cfg_server, &cfg_token, &err) < 0) {
            rc = nh_fail(&err);
            goto out;
        }
        server = cfg_server;
    }
    if (nh_connect_to(server, token, &c, &user, &err) < 0 ||
        nh_config_save(server, token, &err) < 0) {
        rc = nh_fail(&err);
        goto out;
    }
    if (ctx->json) {
        out_json(user);
    } else {
        path = nh_config_path();
        printf("logged in to %s as '%s' (%s); saved in %s\n", server,
               json_str(user, "user", "?"), json_str(user, "role", "?"),
               path ? path : "the config file");
    }
    rc = NH_EXIT_OK;
out:
    cJSON_Delete(user);
    client_free(c);
    free(cfg_server);
    free(cfg_token);
    free(path);
    return rc;
}
