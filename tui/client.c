/* client.c - a synchronous naohai.v1 WebSocket client (libwebsockets)
 *
 * One lws context per client with a single client connection. The lws
 * callback only moves bytes: complete incoming messages are parsed and
 * appended to the inbox, outgoing ones leave the outbox one per
 * LWS_CALLBACK_CLIENT_WRITEABLE. The public calls (client.h) loop on
 * lws_service() in the caller's thread until the inbox holds what they
 * wait for; a scheduled lws_sorted_usec_list wakes the loop at the
 * deadline, so no wait can hang past its timeout.
 */
#include "client.h"

#include "strbuf.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLIENT_CONNECT_TIMEOUT_MS 10000
#define CLIENT_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

struct msg {
    struct msg *next;
    cJSON *json; /* inbox: the parsed message */
    size_t len;  /* outbox: the text after LWS_PRE bytes */
    unsigned char buf[];
};

enum client_state { CLIENT_CONNECTING, CLIENT_OPEN, CLIENT_CLOSED };

struct client {
    struct lws_context *ctx;
    struct lws *wsi;
    enum client_state state;
    char why[400]; /* why the connection closed */
    char url[256];
    struct strbuf rx;
    bool rx_bad; /* the message being received is dropped */
    struct msg *in, *in_tail;
    struct msg *out, *out_tail;
    int64_t next_id;
    int timeout_ms;
    lws_sorted_usec_list_t sul;
    bool timed_out;
    char code[64]; /* last server error code */
};

static void
msgs_free(struct msg *m)
{
    while (m) {
        struct msg *next = m->next;
        cJSON_Delete(m->json);
        free(m);
        m = next;
    }
}

static void
set_closed(struct client *c, const char *why)
{
    if (c->state != CLIENT_CLOSED && why && !c->why[0])
        snprintf(c->why, sizeof(c->why), "%s", why);
    c->state = CLIENT_CLOSED;
    c->wsi = NULL;
}

static void
on_receive(struct client *c, struct lws *wsi, const void *in, size_t len)
{
    bool last =
        lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
    struct msg *m;

    if (!c->rx_bad && strbuf_add(&c->rx, in, len) < 0) {
        /* over CLIENT_MAX_MESSAGE: the connection cannot be trusted to
         * stay in step, so give it up */
        c->rx_bad = true;
        snprintf(c->why, sizeof(c->why),
                 "a message from the server is over %zu bytes",
                 CLIENT_MAX_MESSAGE);
    }
    if (!last)
        return;
    if (c->rx_bad) {
        strbuf_release(&c->rx);
        c->rx_bad = false;
        return;
    }
    m = calloc(1, sizeof(*m));
    if (m)
        m->json = cJSON_ParseWithLength(c->rx.buf ? c->rx.buf : "", c->rx.len);
    strbuf_reset(&c->rx);
    if (!m || !m->json || !cJSON_IsObject(m->json)) {
        /* not JSON from a naohai server: drop it */
        if (m)
            cJSON_Delete(m->json);
        free(m);
        return;
    }
    if (c->in_tail)
        c->in_tail->next = m;
    else
        c->in = m;
    c->in_tail = m;
}

static int
on_writeable(struct client *c, struct lws *wsi)
{
    struct msg *m = c->out;

    if (!m)
        return 0;
    c->out = m->next;
    if (!c->out)
        c->out_tail = NULL;
    if (lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) <
        (int)m->len) {
        free(m);
        set_closed(c, "cannot send to the server");
        return -1;
    }
    free(m);
    if (c->out)
        lws_callback_on_writable(wsi);
    return 0;
}

static int
client_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                void *in, size_t len)
{
    struct client *c = lws_context_user(lws_get_context(wsi));
    char why[400];

    (void)user;
    if (!c)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->state = CLIENT_OPEN;
        if (c->out)
            lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        snprintf(why, sizeof(why), "cannot connect to '%s': %s", c->url,
                 in && len ? (const char *)in : "connection refused");
        set_closed(c, why);
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        on_receive(c, wsi, in, len);
        if (c->why[0]) {
            set_closed(c, NULL);
            return -1;
        }
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return on_writeable(c, wsi);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len > 2)
            snprintf(why, sizeof(why), "the server closed the connection: %.*s",
                     (int)(len - 2), (const char *)in + 2);
        else
            snprintf(why, sizeof(why), "the server closed the connection");
        set_closed(c, why);
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_CLOSED:
        set_closed(c, "the server closed the connection");
        break;
    case LWS_CALLBACK_WSI_DESTROY:
        if (c->wsi == wsi)
            set_closed(c, "the connection was closed");
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols client_protocols[] = {
    {"naohai.v1", client_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void
on_deadline(lws_sorted_usec_list_t *sul)
{
    struct client *c = lws_container_of(sul, struct client, sul);

    c->timed_out = true;
    /* lws runs ripe timers before it computes its poll wait; without a
     * wake-up the poll after this one would sleep until the next timer
     * (lws's own, ~30 s), stalling short waits such as the workbench's */
    lws_cancel_service(c->ctx);
}

/* Run the loop until done(c, arg) or the deadline (ms; < 0: none).
 * 0 when done, CLIENT_ETIMEOUT, or CLIENT_ECLOSED when the connection is
 * gone first. */
static int
service_until(struct client *c, int timeout_ms,
              bool (*done)(struct client *, const void *), const void *arg)
{
    int rc = 0;

    c->timed_out = false;
    if (timeout_ms >= 0)
        lws_sul_schedule(c->ctx, 0, &c->sul, on_deadline,
                         (lws_usec_t)timeout_ms * 1000);
    while (!done(c, arg)) {
        if (c->state == CLIENT_CLOSED) {
            rc = CLIENT_ECLOSED;
            break;
        }
        if (c->timed_out) {
            rc = CLIENT_ETIMEOUT;
            break;
        }
        if (lws_service(c->ctx, 0) < 0) {
            set_closed(c, "the event loop failed");
            rc = CLIENT_ECLOSED;
            break;
        }
    }
    lws_sul_cancel(&c->sul);
    return rc;
}

/* Split ws[s]://HOST[:PORT][/PATH] into its parts (host and path point
 * into buf). */
static int
parse_url(const char *url, char *buf, size_t bufsz, bool *tls,
          const char **host, int *port, const char **path, struct nh_error *err)
{
    char *p, *colon, *slash;
    long v;

    if (!strncmp(url, "ws://", 5)) {
        *tls = false;
        url += 5;
    } else if (!strncmp(url, "wss://", 6)) {
        *tls = true;
        url += 6;
    } else {
        return nh_errorf(err, NH_EINVAL,
                         "bad server URL '%s' (ws://HOST:PORT or "
                         "wss://HOST:PORT)",
                         url);
    }
    if (strlen(url) + 2 > bufsz)
        return nh_errorf(err, NH_EINVAL, "server URL too long");
    memcpy(buf, url, strlen(url) + 1);
    slash = strchr(buf, '/');
    *path = "/ws";
    if (slash) {
        if (slash[1]) {
            /* keep the path: move it one byte on to end the host */
            memmove(slash + 1, slash, strlen(slash) + 1);
            *path = slash + 1;
        }
        *slash = '\0';
    }
    *port = *tls ? 443 : 80;
    p = buf;
    if (*p == '[') {
        char *end = strchr(p, ']');
        if (!end)
            return nh_errorf(err, NH_EINVAL, "bad server URL host '%s'", buf);
        *end = '\0';
        *host = p + 1;
        colon = end[1] == ':' ? end + 1 : NULL;
    } else {
        *host = p;
        colon = strchr(p, ':');
    }
    if (colon) {
        char *e;
        *colon = '\0';
        v = strtol(colon + 1, &e, 10);
        if (e == colon + 1 || *e || v < 1 || v > 65535)
            return nh_errorf(err, NH_EINVAL, "bad port in server URL '%s'",
                             url);
        *port = (int)v;
    }
    if (!**host)
        return nh_errorf(err, NH_EINVAL, "no host in server URL '%s'", url);
    return 0;
}

static bool
is_open_or_closed(struct client *c, const void *arg)
{
    (void)arg;
    return c->state != CLIENT_CONNECTING;
}

int
client_open(struct client **out, const char *url, int timeout_ms,
            struct nh_error *err)
{
    struct lws_context_creation_info info;
    struct lws_client_connect_info ci;
    char buf[256];
    const char *host = NULL, *path = NULL;
    const char *insecure = getenv("NH_INSECURE");
    const char *debug = getenv("NH_DEBUG");
    struct client *c;
    bool tls = false;
    int port = 0, rc;

    rc = parse_url(url, buf, sizeof(buf), &tls, &host, &port, &path, err);
    if (rc < 0)
        return rc;
    c = calloc(1, sizeof(*c));
    if (!c)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    strbuf_init(&c->rx, CLIENT_MAX_MESSAGE);
    snprintf(c->url, sizeof(c->url), "%s", url);
    c->next_id = 1;
    c->timeout_ms = CLIENT_CALL_TIMEOUT_MS;
    lws_set_log_level(debug && *debug ? LLL_ERR | LLL_WARN | LLL_NOTICE : 0,
                      NULL);

    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = client_protocols;
    info.user = c;
    info.gid = -1;
    info.uid = -1;
    if (tls) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        if (access(CLIENT_CA_FILE, R_OK) == 0)
            info.client_ssl_ca_filepath = CLIENT_CA_FILE;
    }
    c->ctx = lws_create_context(&info);
    if (!c->ctx) {
        rc = nh_errorf(err, NH_ENOMEM, "cannot create the lws context");
        goto fail;
    }

    memset(&ci, 0, sizeof(ci));
    ci.context = c->ctx;
    ci.address = host;
    ci.port = port;
    ci.path = path;
    ci.host = host;
    ci.origin = host;
    ci.protocol = "naohai.v1";
    ci.local_protocol_name = "naohai.v1";
    ci.pwsi = &c->wsi;
    if (tls) {
        ci.ssl_connection = LCCSCF_USE_SSL;
        if (insecure && !strcmp(insecure, "1"))
            ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED |
                                 LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                                 LCCSCF_ALLOW_EXPIRED;
    }
    if (!lws_client_connect_via_info(&ci) && c->state != CLIENT_CLOSED)
        set_closed(c, NULL);
    rc = service_until(c,
                       timeout_ms > 0 ? timeout_ms : CLIENT_CONNECT_TIMEOUT_MS,
                       is_open_or_closed, NULL);
    if (rc == 0 && c->state != CLIENT_OPEN)
        rc = CLIENT_ECLOSED;
    if (rc == CLIENT_ETIMEOUT) {
        rc = nh_errorf(err, CLIENT_ETIMEOUT,
                       "cannot connect to '%s': timed out", url);
        goto fail;
    }
    if (rc < 0) {
        if (c->why[0] && strncmp(c->why, "cannot connect", 14))
            rc = nh_errorf(err, CLIENT_ECLOSED, "cannot connect to '%s': %s",
                           url, c->why);
        else if (c->why[0])
            rc = nh_errorf(err, CLIENT_ECLOSED, "%s", c->why);
        else
            rc = nh_errorf(err, CLIENT_ECLOSED, "cannot connect to '%s'", url);
        goto fail;
    }
    *out = c;
    return 0;
fail:
    client_free(c);
    return rc;
}

void
client_set_timeout(struct client *c, int timeout_ms)
{
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : CLIENT_CALL_TIMEOUT_MS;
}

const char *
client_error_code(const struct client *c)
{
    return c->code;
}

/* Queue text (len bytes) for sending. */
static int
client_send(struct client *c, const char *text, size_t len,
            struct nh_error *err)
{
    struct msg *m;

    if (c->state != CLIENT_OPEN || !c->wsi)
        return nh_errorf(err, CLIENT_ECLOSED, "%s",
                         c->why[0] ? c->why : "not connected");
    m = malloc(sizeof(*m) + LWS_PRE + len);
    if (!m)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    m->next = NULL;
    m->json = NULL;
    m->len = len;
    memcpy(m->buf + LWS_PRE, text, len);
    if (c->out_tail)
        c->out_tail->next = m;
    else
        c->out = m;
    c->out_tail = m;
    lws_callback_on_writable(c->wsi);
    return 0;
}

/* Unlink and return the first inbox message with "id" == *id (or the
 * first event when id is NULL), or NULL. */
static struct msg *
inbox_take(struct client *c, const int64_t *id)
{
    struct msg *m, *prev = NULL;

    for (m = c->in; m; prev = m, m = m->next) {
        const cJSON *mid = cJSON_GetObjectItemCaseSensitive(m->json, "id");
        bool match;
        if (id)
            match = cJSON_IsNumber(mid) && (int64_t)mid->valuedouble == *id;
        else
            match = cJSON_IsString(
                cJSON_GetObjectItemCaseSensitive(m->json, "event"));
        if (!match)
            continue;
        if (prev)
            prev->next = m->next;
        else
            c->in = m->next;
        if (c->in_tail == m)
            c->in_tail = prev;
        m->next = NULL;
        return m;
    }
    return NULL;
}

static bool
has_reply(struct client *c, const void *arg)
{
    const int64_t *id = arg;
    struct msg *m;

    for (m = c->in; m; m = m->next) {
        const cJSON *mid = cJSON_GetObjectItemCaseSensitive(m->json, "id");
        if (cJSON_IsNumber(mid) && (int64_t)mid->valuedouble == *id)
            return true;
    }
    return false;
}

static bool
has_event(struct client *c, const void *arg)
{
    struct msg *m;

    (void)arg;
    for (m = c->in; m; m = m->next)
        if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(m->json, "event")))
            return true;
    return false;
}

static int
wait_error(struct client *c, int rc, const char *what, struct nh_error *err)
{
    if (rc == CLIENT_ETIMEOUT)
        return nh_errorf(err, rc, "timed out waiting for %s", what);
    return nh_errorf(err, CLIENT_ECLOSED, "%s",
                     c->why[0] ? c->why : "the server closed the connection");
}

int
client_call(struct client *c, const char *op, const cJSON *args, cJSON **result,
            struct nh_error *err)
{
    cJSON *req = NULL, *a;
    char *text = NULL;
    struct msg *m = NULL;
    const cJSON *ok, *e;
    int64_t id = c->next_id++;
    int rc;
    char what[128];

    c->code[0] = '\0';
    req = cJSON_CreateObject();
    if (!req || !cJSON_AddNumberToObject(req, "id", (double)id) ||
        !cJSON_AddStringToObject(req, "op", op)) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    if (args) {
        a = cJSON_Duplicate(args, 1);
        if (!a || !cJSON_AddItemToObject(req, "args", a)) {
            cJSON_Delete(a);
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            goto out;
        }
    }
    text = cJSON_PrintUnformatted(req);
    if (!text) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    rc = client_send(c, text, strlen(text), err);
    if (rc < 0)
        goto out;
    snprintf(what, sizeof(what), "the answer to '%s'", op);
    rc = service_until(c, c->timeout_ms, has_reply, &id);
    if (rc < 0) {
        rc = wait_error(c, rc, what, err);
        goto out;
    }
    m = inbox_take(c, &id);
    ok = cJSON_GetObjectItemCaseSensitive(m->json, "ok");
    if (cJSON_IsTrue(ok)) {
        cJSON *r = cJSON_DetachItemFromObjectCaseSensitive(m->json, "result");
        if (!r)
            r = cJSON_CreateObject();
        if (!r) {
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            goto out;
        }
        *result = r;
        rc = 0;
        goto out;
    }
    e = cJSON_GetObjectItemCaseSensitive(m->json, "error");
    {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
        const cJSON *message = cJSON_GetObjectItemCaseSensitive(e, "message");
        const char *cs = cJSON_IsString(code) ? code->valuestring : "internal";
        snprintf(c->code, sizeof(c->code), "%s", cs);
        rc = nh_errorf(err, CLIENT_EREMOTE, "%s: %s", cs,
                       cJSON_IsString(message) ? message->valuestring
                                               : "(no message)");
    }
out:
    msgs_free(m);
    free(text);
    cJSON_Delete(req);
    return rc;
}

int
client_next_event(struct client *c, int timeout_ms, cJSON **event,
                  struct nh_error *err)
{
    struct msg *m;
    int rc;

    rc = service_until(c, timeout_ms, has_event, NULL);
    if (rc < 0)
        return wait_error(c, rc, "an event", err);
    m = inbox_take(c, NULL);
    *event = m->json;
    m->json = NULL;
    msgs_free(m);
    return 0;
}

void
client_free(struct client *c)
{
    if (!c)
        return;
    if (c->ctx)
        lws_context_destroy(c->ctx);
    msgs_free(c->in);
    msgs_free(c->out);
    strbuf_release(&c->rx);
    free(c);
}
