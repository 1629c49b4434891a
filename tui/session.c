/* session.c - where nh connects to and how: the config file and auth
 *
 * The server URL and token come from NH_SERVER / NH_TOKEN when set, else
 * from $XDG_CONFIG_HOME/naohai/config (or ~/.config/naohai/config),
 * written by `nh login` as "server = URL" and "token = TOKEN" lines with
 * mode 0600. Every command that talks to nhd goes through nh_connect(),
 * which opens the WebSocket and sends "auth" first.
 */
#include "nh.h"

#include "strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *
nh_config_path(void)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    struct strbuf sb = STRBUF_INIT;

    if (xdg && *xdg)
        strbuf_addf(&sb, "%s/naohai/config", xdg);
    else
        strbuf_addf(&sb, "%s/.config/naohai/config", home ? home : ".");
    return strbuf_detach(&sb, NULL);
}

/* Copy the value of "KEY = VALUE" into *out when line's key is key. */
static int
config_line(const char *line, const char *key, char **out)
{
    size_t kl = strlen(key);
    const char *v;
    size_t n;

    while (*line == ' ' || *line == '\t')
        line++;
    if (strncmp(line, key, kl))
        return 0;
    v = line + kl;
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v != '=')
        return 0;
    v++;
    while (*v == ' ' || *v == '\t')
        v++;
    n = strcspn(v, "\r\n");
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    free(*out);
    *out = strndup(v, n);
    return *out ? 0 : NH_ENOMEM;
}

int
nh_config_load(char **server, char **token, struct nh_error *err)
{
    const char *es = getenv("NH_SERVER"), *et = getenv("NH_TOKEN");
    char *path = nh_config_path();
    char *s = NULL, *t = NULL;
    char line[4096];
    FILE *f;
    int rc = 0;

    if (!path)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    f = fopen(path, "r");
    if (!f && errno != ENOENT) {
        rc = nh_error_errno(err, "cannot open '%s'", path);
        goto out;
    }
    while (f && fgets(line, sizeof(line), f)) {
        if (config_line(line, "server", &s) < 0 ||
            config_line(line, "token", &t) < 0) {
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (es && *es) {
        free(s);
        s = strdup(es);
    }
    if (et && *et) {
        free(t);
        t = strdup(et);
    }
    if (!s)
        s = strdup(NH_DEFAULT_SERVER);
    if (!s || ((et && *et) && !t)) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    *server = s;
    *token = t;
    s = t = NULL;
out:
    if (f)
        fclose(f);
    free(s);
    free(t);
    free(path);
    return rc;
}

int
nh_config_save(const char *server, const char *token, struct nh_error *err)
{
    char *path = nh_config_path();
    struct strbuf tmp = STRBUF_INIT, text = STRBUF_INIT;
    char *slash, *p;
    int fd = -1, rc = 0;

    if (!path)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    /* create the directories, 0700 for the last one */
    slash = strrchr(path, '/');
    for (p = path + 1; slash && p <= slash; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) < 0 && errno != EEXIST) {
            rc = nh_error_errno(err, "cannot create '%s'", path);
            *p = '/';
            goto out;
        }
        *p = '/';
    }
    if (strbuf_addf(&tmp, "%s.tmp-%ld", path, (long)getpid()) < 0 ||
        strbuf_addf(&text,
                    "# nh client configuration (nh login)\n"
                    "server = %s\ntoken = %s\n",
                    server, token) < 0) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    fd = open(tmp.buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = nh_error_errno(err, "cannot create '%s'", tmp.buf);
        goto out;
    }
    if (fchmod(fd, 0600) < 0 ||
        write(fd, text.buf, text.len) != (ssize_t)text.len || fsync(fd) < 0) {
        rc = nh_error_errno(err, "cannot write '%s'", tmp.buf);
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        rc = nh_error_errno(err, "cannot write '%s'", tmp.buf);
        goto out;
    }
    fd = -1;
    if (rename(tmp.buf, path) < 0) {
        rc = nh_error_errno(err, "cannot rename '%s' to '%s'", tmp.buf, path);
        goto out;
    }
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0 && tmp.buf)
        unlink(tmp.buf);
    strbuf_release(&tmp);
    strbuf_release(&text);
    free(path);
    return rc;
}

int
nh_connect_to(const char *url, const char *token, struct client **out,
              cJSON **user_out, struct nh_error *err)
{
    struct client *c = NULL;
    cJSON *args = NULL, *res = NULL;
    const char *tmo = getenv("NH_TIMEOUT");
    int rc;

    if (!token || !*token)
        return nh_errorf(err, NH_EINVAL,
                         "no token: run 'nh login --server URL --token "
                         "TOKEN' or set NH_TOKEN");
    rc = client_open(&c, url, 0, err);
    if (rc < 0)
        return rc;
    if (tmo && atoi(tmo) > 0)
        client_set_timeout(c, atoi(tmo) * 1000);
    args = cJSON_CreateObject();
    if (!args || !cJSON_AddStringToObject(args, "token", token)) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    rc = client_call(c, "auth", args, &res, err);
    if (rc < 0)
        goto out;
    if (user_out) {
        *user_out = res;
        res = NULL;
    }
    *out = c;
    c = NULL;
out:
    cJSON_Delete(args);
    cJSON_Delete(res);
    client_free(c);
    return rc;
}

int
nh_connect(struct client **out, struct nh_error *err)
{
    char *server = NULL, *token = NULL;
    int rc;

    rc = nh_config_load(&server, &token, err);
    if (rc == 0)
        rc = nh_connect_to(server, token, out, NULL, err);
    free(server);
    free(token);
    return rc;
}

int
nh_fail(const struct nh_error *err)
{
    fflush(stdout);
    fprintf(stderr, "nh: error: %s\n", err->msg);
    return NH_EXIT_ERROR;
}

int
nh_failf(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs("nh: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return NH_EXIT_ERROR;
}

int
nh_call1(const char *op, const cJSON *args, cJSON **result)
{
    struct client *c = NULL;
    struct nh_error err;
    int rc;

    rc = nh_connect(&c, &err);
    if (rc == 0)
        rc = client_call(c, op, args, result, &err);
    client_free(c);
    return rc < 0 ? nh_fail(&err) : NH_EXIT_OK;
}
