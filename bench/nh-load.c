/* nh-load.c - a closed-loop load generator for nhd's WebSocket API
 *
 *   nh-load --url ws://127.0.0.1:PORT/ws --token TOKEN [--connections N]
 *           [--seconds S] [--warmup S] [--ops OP[:NAME],...] [--json]
 *
 * One thread, one libwebsockets context, N client connections with
 * subprotocol naohai.v1. Each connection authenticates, subscribes to
 * topic "jobs" (an "unknown_op" answer is counted as a warning: servers
 * without subscriptions still serve reads) and then keeps exactly one
 * request in flight, cycling through the ops of --ops ("OP:NAME" sends
 * {"name": NAME} as args). Each request's latency runs from lws_write()
 * to the whole response (CLOCK_MONOTONIC). Requests answered in the
 * first --warmup seconds after every connection is set up are not
 * counted; the measured window is the --seconds after that.
 *
 * A response counts as correct when it parses as JSON, carries the id of
 * the request in flight and "ok": true. Anything else, a failed auth and
 * a connection that fails or closes early are errors. Events (messages
 * without "id") are ignored. Exit status: 0 without errors, 1 with
 * errors, 2 for a usage error. Used by scripts/bench-server (make bench)
 * and tests/cli/t0120-nh-load.sh.
 */
#include "strbuf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <libwebsockets.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOAD_MAX_OPS 16
#define LOAD_REQ_MAX 512       /* bytes in one request */
#define LOAD_RX_MAX (16 << 20) /* bytes in one response */
#define LOAD_SETUP_SECONDS 30  /* limit for connecting and auth */
#define LOAD_MAX_ERRSHOWN 5    /* error messages printed to stderr */

enum lstate { LS_CONNECTING, LS_AUTH, LS_SUBSCRIBE, LS_RUN, LS_DEAD };

struct lconn {
    struct lws *wsi;
    enum lstate state;
    int64_t next_id;  /* id of the next request */
    int64_t want_id;  /* id of the request in flight, 0 when none */
    int64_t sent_ns;  /* when it was written */
    bool send_due;    /* a request waits in tx for a writeable callback */
    unsigned op;      /* index of the next read op */
    size_t tx_len;    /* bytes after LWS_PRE in tx */
    struct strbuf rx; /* the response being received */
    unsigned char tx[LWS_PRE + LOAD_REQ_MAX];
};

struct load_op {
    char text[LOAD_REQ_MAX - 64]; /* "op":"...","args":{...} */
};

struct load {
    /* configuration */
    char host[256], path[256];
    int port;
    const char *token;
    int nconns;
    double seconds, warmup;
    bool json;
    struct load_op ops[LOAD_MAX_OPS];
    unsigned nops;

    /* state */
    struct lws_context *ctx;
    struct lconn *conns;
    int pending;        /* connections not yet running or dead */
    int64_t t_start_ns; /* setup finished: warm-up starts */
    int64_t t_measure_ns, t_end_ns;
    bool stopping;
    lws_sorted_usec_list_t tick;

    /* results */
    int authed, subscribed, sub_unsupported, failed_setup;
    uint64_t errors, conn_failures;
    uint32_t *lat_us; /* latencies of counted requests, microseconds */
    size_t nlat, alat;
    int errshown;
};

static struct load L;

static int64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: nh-load --url ws://HOST:PORT/PATH --token TOKEN\n"
               "               [--connections N] [--seconds S] [--warmup S]\n"
               "               [--ops OP[:NAME],...] [--json]\n"
               "  --connections N  client connections (default 200)\n"
               "  --seconds S      measured seconds (default 10)\n"
               "  --warmup S       seconds not counted first (default 1)\n"
               "  --ops LIST       read ops to cycle through (default\n"
               "                   dataset.list,ping); OP:NAME sends "
               "{\"name\":NAME}\n"
               "  --json           print the figures as one JSON object\n");
}

static void report_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Count an error; print the first few. */
static void
report_error(const char *fmt, ...)
{
    va_list ap;

    L.errors++;
    if (L.errshown++ >= LOAD_MAX_ERRSHOWN)
        return;
    fputs("nh-load: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ws://HOST:PORT/PATH into L.host, L.port, L.path. */
static int
parse_url(const char *url)
{
    const char *h, *colon, *slash;
    char *end;
    long port;

    if (strncmp(url, "ws://", 5))
        return -1;
    h = url + 5;
    slash = strchr(h, '/');
    if (!slash)
        slash = h + strlen(h);
    colon = memchr(h, ':', (size_t)(slash - h));
    if (!colon || colon == h || (size_t)(colon - h) >= sizeof(L.host))
        return -1;
    memcpy(L.host, h, (size_t)(colon - h));
    L.host[colon - h] = '\0';
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno || end != slash || port < 1 || port > 65535)
        return -1;
    L.port = (int)port;
    if (snprintf(L.path, sizeof(L.path), "%s", *slash ? slash : "/") >=
        (int)sizeof(L.path))
        return -1;
    return 0;
}

/* One --ops item, "op" or "op:NAME", into L.ops[L.nops]. */
static int
add_op(const char *item, size_t len)
{
    struct strbuf sb = STRBUF_INIT;
    const char *colon = memchr(item, ':', len);
    size_t oplen = colon ? (size_t)(colon - item) : len;
    int rc = -1;

    if (L.nops == LOAD_MAX_OPS || oplen == 0)
        return -1;
    if (strbuf_addstr(&sb, "\"op\":") < 0 ||
        strbuf_add_json_str(&sb, item, oplen) < 0 ||
        strbuf_addstr(&sb, ",\"args\":{") < 0)
        goto out;
    if (colon && (strbuf_addstr(&sb, "\"name\":") < 0 ||
                  strbuf_add_json_str(&sb, colon + 1, len - oplen - 1) < 0))
        goto out;
    if (strbuf_addch(&sb, '}') < 0 || sb.len >= sizeof(L.ops[0].text))
        goto out;
    memcpy(L.ops[L.nops].text, sb.buf, sb.len + 1);
    L.nops++;
    rc = 0;
out:
    strbuf_release(&sb);
    return rc;
}

static int
parse_ops(const char *list)
{
    const char *p = list, *comma;

    L.nops = 0;
    for (;;) {
        comma = strchr(p, ',');
        if (add_op(p, comma ? (size_t)(comma - p) : strlen(p)) < 0)
            return -1;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

/* Put the request {"id":N,BODY} in c->tx and ask to write it. */
static void
conn_queue(struct lconn *c, const char *body)
{
    int n = snprintf((char *)c->tx + LWS_PRE, LOAD_REQ_MAX, "{\"id\":%lld,%s}",
                     (long long)c->next_id, body);

    c->tx_len = (size_t)n; /* bodies are checked to fit in add_op() */
    c->want_id = c->next_id++;
    c->send_due = true;
    lws_callback_on_writable(c->wsi);
}

static void
conn_queue_auth(struct lconn *c)
{
    struct strbuf sb = STRBUF_INIT;

    if (strbuf_addstr(&sb, "\"op\":\"auth\",\"args\":{\"token\":") < 0 ||
        strbuf_add_json_str(&sb, L.token, strlen(L.token)) < 0 ||
        strbuf_addch(&sb, '}') < 0 || sb.len >= LOAD_REQ_MAX - 32) {
        strbuf_release(&sb);
        report_error("token too long");
        c->state = LS_DEAD;
        return;
    }
    conn_queue(c, sb.buf);
    strbuf_release(&sb);
}

static void
conn_queue_read(struct lconn *c)
{
    conn_queue(c, L.ops[c->op].text);
    c->op = (c->op + 1) % L.nops;
}

/* c has left setup, running or not. */
static void
conn_setup_done(struct lconn *c)
{
    (void)c;
    if (--L.pending == 0 && !L.t_start_ns) {
        L.t_start_ns = now_ns();
        L.t_measure_ns = L.t_start_ns + (int64_t)(L.warmup * 1e9);
        L.t_end_ns = L.t_measure_ns + (int64_t)(L.seconds * 1e9);
    }
}

static void
conn_fail(struct lconn *c, const char *why)
{
    bool in_setup = c->state != LS_RUN;

    if (c->state == LS_DEAD || L.stopping)
        return;
    L.conn_failures++;
    report_error("connection %d: %s", (int)(c - L.conns), why);
    c->state = LS_DEAD;
    if (in_setup)
        conn_setup_done(c);
}

static void
record_latency(int64_t ns)
{
    uint32_t *grown;
    size_t na;

    if (L.nlat == L.alat) {
        na = L.alat ? L.alat * 2 : 65536;
        grown = realloc(L.lat_us, na * sizeof(*grown));
        if (!grown) {
            report_error("out of memory recording latencies");
            return;
        }
        L.lat_us = grown;
        L.alat = na;
    }
    L.lat_us[L.nlat++] = (uint32_t)(ns / 1000);
}

/* The error code of response r, or "" when it has none. */
static const char *
error_code(const cJSON *r)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");

    return cJSON_IsString(code) ? code->valuestring : "";
}

/* A whole message arrived on c. */
static void
conn_message(struct lconn *c)
{
    int64_t t = now_ns();
    cJSON *r = cJSON_ParseWithLength(c->rx.buf, c->rx.len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id");
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(r, "ok");
    bool good;

    if (!r) {
        conn_fail(c, "response is not JSON");
        goto out;
    }
    if (!id && cJSON_GetObjectItemCaseSensitive(r, "event"))
        goto out; /* an event from the subscription */
    if (!cJSON_IsNumber(id) || c->want_id == 0 ||
        id->valuedouble != (double)c->want_id) {
        conn_fail(c, "response id does not match the request");
        goto out;
    }
    c->want_id = 0;
    good = cJSON_IsTrue(ok);
    switch (c->state) {
    case LS_AUTH:
        if (!good) {
            conn_fail(c, "auth refused");
            goto out;
        }
        L.authed++;
        c->state = LS_SUBSCRIBE;
        conn_queue(c, "\"op\":\"subscribe\",\"args\":{\"topic\":\"jobs\"}");
        break;
    case LS_SUBSCRIBE:
        if (good)
            L.subscribed++;
        else if (!strcmp(error_code(r), "unknown_op"))
            L.sub_unsupported++;
        else
            report_error("subscribe: %s", error_code(r));
        c->state = LS_RUN;
        conn_setup_done(c);
        conn_queue_read(c);
        break;
    case LS_RUN:
        if (L.t_start_ns && c->sent_ns >= L.t_measure_ns && t <= L.t_end_ns) {
            if (good)
                record_latency(t - c->sent_ns);
            else
                report_error("request %lld: error '%s'",
                             (long long)id->valuedouble, error_code(r));
        } else if (!good && !L.t_start_ns) {
            report_error("request %lld: error '%s'", (long long)id->valuedouble,
                         error_code(r));
        }
        if (!L.stopping)
            conn_queue_read(c);
        break;
    default:
        break;
    }
out:
    cJSON_Delete(r);
}

static int
load_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
              void *in, size_t len)
{
    struct lconn *c = lws_get_opaque_user_data(wsi);
    int n;

    (void)user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (c) {
            c->wsi = NULL;
            conn_fail(c, in ? (const char *)in : "cannot connect");
        }
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->state = LS_AUTH;
        conn_queue_auth(c);
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (L.stopping || c->state == LS_DEAD)
            return -1;
        if (!c->send_due)
            return 0;
        c->send_due = false;
        c->sent_ns = now_ns();
        n = lws_write(wsi, c->tx + LWS_PRE, c->tx_len, LWS_WRITE_TEXT);
        if (n < (int)c->tx_len) {
            conn_fail(c, "write failed");
            return -1;
        }
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (c->state == LS_DEAD)
            return -1;
        if (strbuf_add(&c->rx, in, len) < 0) {
            conn_fail(c, "response too large");
            return -1;
        }
        if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
            return 0;
        conn_message(c);
        strbuf_reset(&c->rx);
        return c->state == LS_DEAD ? -1 : 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c) {
            c->wsi = NULL;
            conn_fail(c, "closed by the server");
        }
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols load_protocols[] = {
    {"naohai.v1", load_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* Wakes lws_service() so the main loop sees the clock move. */
static void
on_tick(lws_sorted_usec_list_t *sul)
{
    lws_sul_schedule(L.ctx, 0, sul, on_tick, 50 * LWS_US_PER_MS);
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

/* Latency at quantile q of the sorted samples, in ms. */
static double
quantile_ms(double q)
{
    size_t i;

    if (!L.nlat)
        return 0;
    i = (size_t)(q * (double)(L.nlat - 1) + 0.5);
    return L.lat_us[i] / 1000.0;
}

static void
print_figures(void)
{
    double rps = L.nlat / L.seconds;

    if (L.nlat)
        qsort(L.lat_us, L.nlat, sizeof(*L.lat_us), cmp_u32);
    if (L.json) {
        printf("{\"connections\":%d,\"authenticated\":%d,\"subscribed\":%d,"
               "\"subscribe_unsupported\":%d,\"requests\":%zu,"
               "\"seconds\":%.3f,\"requests_per_s\":%.1f,\"p50_ms\":%.3f,"
               "\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
               "\"errors\":%llu,\"connection_failures\":%llu}\n",
               L.nconns, L.authed, L.subscribed, L.sub_unsupported, L.nlat,
               L.seconds, rps, quantile_ms(0.5), quantile_ms(0.9),
               quantile_ms(0.99), quantile_ms(1.0),
               (unsigned long long)L.errors,
               (unsigned long long)L.conn_failures);
        return;
    }
    printf("connections    %d (%d authenticated)\n", L.nconns, L.authed);
    printf("subscriptions  %d held", L.subscribed);
    if (L.sub_unsupported)
        printf(", %d 'unknown_op' (server without subscribe)",
               L.sub_unsupported);
    printf("\nrequests       %zu in %.1f s: %.0f requests/s\n", L.nlat,
           L.seconds, rps);
    printf("latency ms     p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n",
           quantile_ms(0.5), quantile_ms(0.9), quantile_ms(0.99),
           quantile_ms(1.0));
    printf("errors         %llu (%llu connection failures)\n",
           (unsigned long long)L.errors, (unsigned long long)L.conn_failures);
}

static int
parse_args(int argc, char **argv)
{
    const char *url = NULL;
    char *end;
    int i;

    L.nconns = 200;
    L.seconds = 10;
    L.warmup = 1;
    if (parse_ops("dataset.list,ping") < 0)
        return -1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!strcmp(a, "--json")) {
            L.json = true;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "nh-load: bad or incomplete option '%s'\n", a);
            return -1;
        }
        i++;
        errno = 0;
        if (!strcmp(a, "--url")) {
            url = v;
        } else if (!strcmp(a, "--token")) {
            L.token = v;
        } else if (!strcmp(a, "--connections")) {
            long n = strtol(v, &end, 10);
            if (errno || *end || n < 1 || n > 60000)
                goto bad;
            L.nconns = (int)n;
        } else if (!strcmp(a, "--seconds") || !strcmp(a, "--warmup")) {
            double d = strtod(v, &end);
            if (errno || *end || !(d >= 0 && d <= 86400))
                goto bad;
            if (a[2] == 's')
                L.seconds = d;
            else
                L.warmup = d;
        } else if (!strcmp(a, "--ops")) {
            if (parse_ops(v) < 0)
                goto bad;
        } else {
            fprintf(stderr, "nh-load: unknown option '%s'\n", a);
            return -1;
        }
        continue;
    bad:
        fprintf(stderr, "nh-load: bad value '%s' for '%s'\n", v, a);
        return -1;
    }
    if (!url || !L.token || L.seconds <= 0) {
        fprintf(stderr, "nh-load: --url and --token are required, "
                        "--seconds above 0\n");
        return -1;
    }
    if (parse_url(url) < 0) {
        fprintf(stderr, "nh-load: bad url '%s': expected ws://HOST:PORT/PATH\n",
                url);
        return -1;
    }
    return 0;
}

static int
connect_all(void)
{
    struct lws_client_connect_info ci;
    int i;

    for (i = 0; i < L.nconns; i++) {
        struct lconn *c = &L.conns[i];

        strbuf_init(&c->rx, LOAD_RX_MAX);
        c->next_id = 1;
        memset(&ci, 0, sizeof(ci));
        ci.context = L.ctx;
        ci.address = L.host;
        ci.port = L.port;
        ci.path = L.path;
        ci.host = L.host;
        ci.origin = L.host;
        ci.protocol = "naohai.v1";
        ci.local_protocol_name = "naohai.v1";
        ci.ietf_version_or_minus_one = -1;
        ci.opaque_user_data = c;
        ci.pwsi = &c->wsi;
        if (!lws_client_connect_via_info(&ci) && c->state != LS_DEAD) {
            c->wsi = NULL;
            conn_fail(c, "cannot start connecting");
        }
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct lws_context_creation_info info;
    int64_t setup_deadline;
    int i, rc = 1;

    if (parse_args(argc, argv) < 0) {
        usage(stderr);
        return 2;
    }
    L.conns = calloc((size_t)L.nconns, sizeof(*L.conns));
    if (!L.conns) {
        fprintf(stderr, "nh-load: out of memory\n");
        return 1;
    }
    L.pending = L.nconns;
    lws_set_log_level(LLL_ERR, NULL);
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = load_protocols;
    info.gid = -1;
    info.uid = -1;
    L.ctx = lws_create_context(&info);
    if (!L.ctx) {
        fprintf(stderr, "nh-load: cannot create the lws context\n");
        goto out;
    }
    lws_sul_schedule(L.ctx, 0, &L.tick, on_tick, 50 * LWS_US_PER_MS);
    connect_all();
    setup_deadline = now_ns() + (int64_t)LOAD_SETUP_SECONDS * 1000000000;
    while (!L.t_start_ns && now_ns() < setup_deadline)
        if (lws_service(L.ctx, 0) < 0)
            break;
    if (!L.t_start_ns) {
        for (i = 0; i < L.nconns; i++)
            if (L.conns[i].state != LS_RUN)
                conn_fail(&L.conns[i], "not set up in time");
        L.seconds = 0.001;
    } else {
        while (now_ns() < L.t_end_ns)
            if (lws_service(L.ctx, 0) < 0)
                break;
    }
    L.stopping = true;
    for (i = 0; i < L.nconns; i++)
        if (L.conns[i].wsi && L.conns[i].state == LS_RUN)
            L.conns[i].want_id = 0;
    print_figures();
    rc = L.errors ? 1 : 0;
out:
    if (L.ctx) {
        lws_sul_cancel(&L.tick);
        lws_context_destroy(L.ctx);
    }
    for (i = 0; i < L.nconns; i++)
        strbuf_release(&L.conns[i].rx);
    free(L.conns);
    free(L.lat_us);
    return rc;
}
