/* outbox.c - judgments the server has not acknowledged yet
 *
 * The review reader hands every judgment to wb_submit() (wb.c), which
 * puts it here first, with a random request_id, and drops it only when
 * the server's answer arrives. After a reconnect wb.c sends what is left
 * in order; the server keeps (campaign, user, request_id) unique, so a
 * judgment that did arrive before the connection dropped counts once.
 * The list is mirrored in a small file (one JSON line per entry, with
 * the server's URL) so that it also survives nh itself.
 */
#include "wb.h"

#include "strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUTBOX_MAX_FILE ((size_t)16 << 20)

struct outbox {
    char *server;
    char *path;    /* NULL: no file */
    cJSON *mine;   /* array of args for this server */
    cJSON *others; /* array of {"server", "args"} kept as they are */
};

static char *
outbox_path(void)
{
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    struct strbuf sb = STRBUF_INIT;

    if (xdg && *xdg)
        strbuf_addf(&sb, "%s/naohai/outbox", xdg);
    else if (home && *home)
        strbuf_addf(&sb, "%s/.local/state/naohai/outbox", home);
    else
        return NULL;
    return strbuf_detach(&sb, NULL);
}

/* mkdir -p of path's directory. */
static void
make_dirs(const char *path)
{
    char buf[4096];
    char *p;

    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return;
    for (p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        mkdir(buf, 0700);
        *p = '/';
    }
}

/* Write the file anew (a temporary file renamed over it). Failing to
 * save is not fatal: the in-memory list still works. */
static void
outbox_save(struct outbox *ob)
{
    struct strbuf text = STRBUF_INIT, tmp = STRBUF_INIT;
    const cJSON *e;
    int fd;

    if (!ob->path)
        return;
    cJSON_ArrayForEach(e, ob->others)
    {
        char *line = cJSON_PrintUnformatted(e);
        if (line) {
            strbuf_addstr(&text, line);
            strbuf_addch(&text, '\n');
        }
        free(line);
    }
    cJSON_ArrayForEach(e, ob->mine)
    {
        cJSON *w = cJSON_CreateObject();
        char *line = NULL;
        if (w && cJSON_AddStringToObject(w, "server", ob->server) &&
            cJSON_AddItemReferenceToObject(w, "args", (cJSON *)e))
            line = cJSON_PrintUnformatted(w);
        if (line) {
            strbuf_addstr(&text, line);
            strbuf_addch(&text, '\n');
        }
        free(line);
        cJSON_Delete(w);
    }
    make_dirs(ob->path);
    strbuf_addf(&tmp, "%s.tmp.%d", ob->path, (int)getpid());
    fd = open(tmp.buf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        bool ok = write(fd, text.buf ? text.buf : "", text.len) ==
                      (ssize_t)text.len &&
                  fsync(fd) == 0;
        if (close(fd) == 0 && ok)
            rename(tmp.buf, ob->path);
        else
            unlink(tmp.buf);
    }
    strbuf_release(&text);
    strbuf_release(&tmp);
}

static int
outbox_load(struct outbox *ob, struct nh_error *err)
{
    FILE *f = fopen(ob->path, "r");
    struct strbuf line = STRBUF_INIT;
    int c, rc = 0;

    if (!f)
        return errno == ENOENT
                   ? 0
                   : nh_error_errno(err, "cannot open '%s'", ob->path);
    strbuf_init(&line, OUTBOX_MAX_FILE);
    for (;;) {
        cJSON *j;
        const cJSON *srv, *args;
        strbuf_reset(&line);
        while ((c = getc(f)) != EOF && c != '\n')
            if (strbuf_addch(&line, c) < 0) {
                rc = nh_errorf(err, NH_ETOOBIG, "'%s' is too large", ob->path);
                goto out;
            }
        if (line.len) {
            j = cJSON_ParseWithLength(line.buf, line.len);
            srv = cJSON_GetObjectItemCaseSensitive(j, "server");
            args = cJSON_GetObjectItemCaseSensitive(j, "args");
            if (cJSON_IsString(srv) && cJSON_IsObject(args) &&
                !strcmp(srv->valuestring, ob->server)) {
                cJSON_AddItemToArray(
                    ob->mine,
                    cJSON_DetachItemFromObjectCaseSensitive(j, "args"));
                cJSON_Delete(j);
            } else if (j) {
                cJSON_AddItemToArray(ob->others, j);
            }
        }
        if (c == EOF)
            break;
    }
out:
    strbuf_release(&line);
    fclose(f);
    return rc;
}

int
outbox_open(struct outbox **out, const char *server, struct nh_error *err)
{
    struct outbox *ob = calloc(1, sizeof(*ob));
    int rc;

    if (!ob)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    ob->server = strdup(server);
    ob->mine = cJSON_CreateArray();
    ob->others = cJSON_CreateArray();
    if (!ob->server || !ob->mine || !ob->others) {
        outbox_free(ob);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    ob->path = outbox_path();
    if (ob->path) {
        rc = outbox_load(ob, err);
        if (rc < 0) {
            outbox_free(ob);
            return rc;
        }
    }
    *out = ob;
    return 0;
}

int
outbox_add(struct outbox *ob, cJSON *args, struct nh_error *err)
{
    unsigned char r[16];
    char hex[33];
    size_t i;

    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        cJSON_Delete(args);
        return nh_error_errno(err, "cannot get random bytes");
    }
    for (i = 0; i < sizeof(r); i++)
        snprintf(hex + 2 * i, 3, "%02x", r[i]);
    cJSON_DeleteItemFromObjectCaseSensitive(args, "request_id");
    if (!cJSON_AddStringToObject(args, "request_id", hex) ||
        !cJSON_AddItemToArray(ob->mine, args)) {
        cJSON_Delete(args);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    outbox_save(ob);
    return 0;
}

size_t
outbox_len(const struct outbox *ob)
{
    return (size_t)cJSON_GetArraySize(ob->mine);
}

const cJSON *
outbox_first(const struct outbox *ob)
{
    return cJSON_GetArrayItem(ob->mine, 0);
}

void
outbox_drop_first(struct outbox *ob)
{
    cJSON_DeleteItemFromArray(ob->mine, 0);
    outbox_save(ob);
}

void
outbox_free(struct outbox *ob)
{
    if (!ob)
        return;
    cJSON_Delete(ob->mine);
    cJSON_Delete(ob->others);
    free(ob->server);
    free(ob->path);
    free(ob);
}
