/* net.c - nhd's network side: the libwebsockets context and its callbacks
 *
 * Everything here runs on the service thread. Each WebSocket connection
 * has a struct conn in a table indexed by slot; the lws per-session data
 * holds only (slot, gen), and a slot's generation changes when it is
 * freed, so results from the DB workers for a closed connection are
 * recognised and dropped. Outgoing messages wait on the connection's
 * list and leave one per LWS_CALLBACK_SERVER_WRITEABLE.
 *
 * Protocol 0 ("http") answers GET /health and refuses WebSocket upgrades
 * without our subprotocol; protocol 1 (PROTO_SUBPROTOCOL) is the API.
 */
#include "net.h"

#include "dbq.h"
#include "jobs.h"
#include "log.h"
#include "ops.h"
#include "proto.h"
#include "store.h"
#include "strbuf.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NET_FRAGMENT (64 * 1024)     /* bytes of a message per write */
#define NET_MAX_TOPICS 16            /* subscriptions per connection */
#define NET_EVENT_BACKLOG (8u << 20) /* queued bytes past which events drop */
#define NET_RX_PAUSE (16u << 20)     /* queued bytes that stop reading */
#define NET_MAX_INFLIGHT 32          /* requests at the DB workers at once */
#define NET_MAX_REFRESH 256          /* campaigns refreshing at once */
#define NET_AUTH_TIMEOUT 60          /* seconds to authenticate */

struct outmsg {
    struct outmsg *next;
    size_t len, sent;    /* sent: bytes already written (in fragments) */
    unsigned char buf[]; /* LWS_PRE bytes, then the text */
};

struct conn {
    struct lws *wsi; /* NULL: slot free */
    uint32_t gen;
    struct strbuf rx; /* the message being received */
    bool discarding;  /* rest of an oversized message is ignored */
    bool close_after; /* close once the out list is empty */
    bool authed;
    struct store_user user;
    int bad_tokens;
    struct outmsg *out, *out_tail;
    size_t out_bytes; /* queued on out */
    char topics[NET_MAX_TOPICS][JOBS_TOPIC_MAX];
    int ntopics;
    uint64_t events_dropped;
    bool http;         /* an HTTP request, not a WebSocket */
    int http_status;   /* its response's status, once known */
    bool headers_sent; /* its headers are written; the body follows */
    int inflight;      /* requests queued at the DB workers */
    bool rx_paused;    /* lws_rx_flow_control(wsi, 0) is in force */
};

struct ws_session {
    uint32_t slot, gen;
    bool valid; /* (slot, gen) was assigned: the connection was accepted */
};

struct http_session {
    bool has_slot; /* a request in flight holds conn slot (slot, gen) */
    uint32_t slot, gen;
};

struct net {
    struct lws_context *ctx;
    struct dbq *qs[OPQ_COUNT]; /* DB worker pools by op_desc.queue */
    struct jobs *jobs;
    struct {
        int64_t campaign;
        bool dirty;
    } refresh[NET_MAX_REFRESH]; /* campaigns with a stats refresh queued */
    size_t nrefresh;
    struct conn *conns;
    uint32_t nconns;
    char *data_dir;    /* copy of net_config.data_dir, for ops */
    char *import_root; /* copy of net_config.import_root, or NULL */
};

/* Append a copy of text to c's out list and ask for a writeable
 * callback. text is freed here. On out of memory the message is lost
 * and the connection is closed once its list drains. */
static void
conn_send(struct conn *c, char *text, size_t len)
{
    struct outmsg *m = NULL;

    if (text)
        m = malloc(sizeof(*m) + LWS_PRE + len);
    if (!m) {
        nh_error("out of memory queueing a response");
        free(text);
        c->close_after = true;
        lws_callback_on_writable(c->wsi);
        return;
    }
    m->next = NULL;
    m->len = len;
    m->sent = 0;
    memcpy(m->buf + LWS_PRE, text, len);
    free(text);
    c->out_bytes += len;
    if (c->out_tail)
        c->out_tail->next = m;
    else
        c->out = m;
    c->out_tail = m;
    lws_callback_on_writable(c->wsi);
}

/* Stop reading from a client that does not read its answers, or has too
 * many requests in flight; start again once it catches up. Memory per
 * connection stays bounded by NET_RX_PAUSE plus the answers in flight. */
static void
conn_flow(struct conn *c)
{
    bool want = c->out_bytes < NET_RX_PAUSE && c->inflight < NET_MAX_INFLIGHT;

    if (c->http || want != c->rx_paused)
        return;
    lws_rx_flow_control(c->wsi, want);
    c->rx_paused = !want;
}

static void
conn_error(struct conn *c, bool has_id, int64_t id, const char *code,
           const char *message)
{
    size_t len = 0;
    char *text = proto_error(has_id, id, code, message, &len);

    conn_send(c, text, len);
}

static struct conn *
conn_get(struct net *n, uint32_t slot, uint32_t gen)
{
    struct conn *c;

    if (slot >= n->nconns)
        return NULL;
    c = &n->conns[slot];
    return c->wsi && c->gen == gen ? c : NULL;
}

static int
conn_new(struct net *n, struct lws *wsi, uint32_t *slot_out, uint32_t *gen_out)
{
    struct conn *grown;
    uint32_t i, nn;

    for (i = 0; i < n->nconns; i++)
        if (!n->conns[i].wsi)
            break;
    if (i == n->nconns) {
        nn = n->nconns ? n->nconns * 2 : 16;
        if (nn > 65536)
            return NH_ETOOBIG;
        grown = realloc(n->conns, nn * sizeof(*grown));
        if (!grown)
            return NH_ENOMEM;
        memset(grown + n->nconns, 0, (nn - n->nconns) * sizeof(*grown));
        n->conns = grown;
        n->nconns = nn;
    }
    struct conn *c = &n->conns[i];
    uint32_t gen = c->gen;
    memset(c, 0, sizeof(*c));
    c->gen = gen;
    c->wsi = wsi;
    strbuf_init(&c->rx, PROTO_MAX_FRAME);
    *slot_out = i;
    *gen_out = c->gen;
    return 0;
}

static void
conn_release(struct conn *c)
{
    struct outmsg *m;

    while ((m = c->out)) {
        c->out = m->next;
        free(m);
    }
    c->out_tail = NULL;
    strbuf_release(&c->rx);
    c->wsi = NULL;
    c->gen++; /* results still in flight for it are dropped */
}

/* Runs on a DB worker: check args.token. */
static void
auth_job(struct store *s, const struct dbq_job *job, struct dbq_result *res)
{
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(job->args, "token");
    struct store_user user;
    cJSON *result;
    int rc;

    rc = store_token_check(s, tok->valuestring, &user);
    if (rc == 0) {
        res->auth = DBQ_AUTH_OK;
        res->user = user;
        result = cJSON_CreateObject();
        if (result && cJSON_AddStringToObject(result, "user", user.name) &&
            cJSON_AddStringToObject(result, "role", user.role))
            res->text = proto_result(job->has_id, job->id, result, &res->len);
        cJSON_Delete(result);
    } else if (rc == NH_ENOENT) {
        res->auth = DBQ_AUTH_BAD;
        res->text = proto_error(job->has_id, job->id, PROTO_EBAD_TOKEN,
                                "invalid token", &res->len);
    } else {
        res->text = proto_error(job->has_id, job->id, PROTO_EINTERNAL,
                                "database error", &res->len);
    }
}

/* Hand req (its args move into the job) to the DB workers; the answer
 * comes back through dbq and the (slot, gen) of c. */
static void
queue_job(struct net *n, struct conn *c, uint32_t slot, struct proto_req *req,
          dbq_fn *fn, enum op_queue queue)
{
    struct dbq_job *job = calloc(1, sizeof(*job));

    if (!job) {
        conn_error(c, true, req->id, PROTO_EINTERNAL, "out of memory");
        return;
    }
    job->slot = slot;
    job->gen = c->gen;
    job->has_id = true;
    job->id = req->id;
    job->fn = fn;
    job->data_dir = n->data_dir;
    job->jobs = n->jobs;
    job->import_root = n->import_root;
    snprintf(job->user, sizeof(job->user), "%s", c->user.name);
    job->args = cJSON_DetachItemFromObjectCaseSensitive(req->root, "args");
    req->args = NULL;
    if (dbq_submit(n->qs[queue], job) < 0) {
        conn_error(c, true, req->id, PROTO_EINTERNAL, "server stopping");
        return;
    }
    c->inflight++;
    conn_flow(c);
}

static void
op_auth(struct net *n, struct conn *c, uint32_t slot, struct proto_req *req)
{
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(req->args, "token");

    if (!cJSON_IsString(tok)) {
        conn_error(c, true, req->id, PROTO_EBAD_REQUEST,
                   "'args.token' must be a string");
        return;
    }
    queue_job(n, c, slot, req, auth_job, OPQ_QUICK);
}

static void
op_ping(struct conn *c, struct proto_req *req)
{
    cJSON *result = cJSON_CreateObject();
    char *text = NULL;
    size_t len = 0;

    if (result && cJSON_AddTrueToObject(result, "pong"))
        text = proto_result(true, req->id, result, &len);
    cJSON_Delete(result);
    conn_send(c, text, len);
}

/* A table op (ops.h) from an authenticated connection: check the role
 * and queue it on the DB workers. */
static void
op_queue(struct net *n, struct conn *c, uint32_t slot, struct proto_req *req,
         const struct op_desc *op)
{
    char msg[128];

    if (!ops_role_allows(c->user.role, op->min_role)) {
        snprintf(msg, sizeof(msg), "op '%s' needs role '%s'", op->name,
                 op->min_role);
        conn_error(c, true, req->id, PROTO_EFORBIDDEN, msg);
        return;
    }
    queue_job(n, c, slot, req, op->fn, op->queue);
}

static int
topic_find(const struct conn *c, const char *topic)
{
    for (int i = 0; i < c->ntopics; i++)
        if (!strcmp(c->topics[i], topic))
            return i;
    return -1;
}

static void
topic_drop(struct conn *c, const char *topic)
{
    int i = topic_find(c, topic);

    if (i >= 0) {
        c->ntopics--;
        memmove(c->topics[i], c->topics[c->ntopics], JOBS_TOPIC_MAX);
    }
}

static void
reply_topic(struct conn *c, struct proto_req *req, const char *topic)
{
    cJSON *result = cJSON_CreateObject();
    char *text = NULL;
    size_t len = 0;

    if (result && cJSON_AddStringToObject(result, "topic", topic))
        text = proto_result(true, req->id, result, &len);
    cJSON_Delete(result);
    conn_send(c, text, len);
}

/* subscribe / unsubscribe {"topic": "jobs" | "job/ID"}. The topic is
 * live at once, so no event between the check and the answer is lost;
 * for "job/ID" a DB worker then checks the job exists and sends its
 * current state (op_subscribe_job), or the topic is dropped again. */
static void
op_subscribe(struct net *n, struct conn *c, uint32_t slot,
             struct proto_req *req, bool on)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(req->args, "topic");
    const char *topic = cJSON_GetStringValue(t);
    bool review = topic && !strncmp(topic, "review/", 7);

    if (!topic || strlen(topic) >= JOBS_TOPIC_MAX ||
        (strcmp(topic, "jobs") &&
         (review ? !jobs_parse_id(topic + 7)
                 : strncmp(topic, "job/", 4) || !jobs_parse_id(topic + 4)))) {
        conn_error(c, true, req->id, PROTO_EBAD_REQUEST,
                   "'args.topic' must be 'jobs', 'job/ID' or 'review/ID'");
        return;
    }
    if (!on) {
        topic_drop(c, topic);
        reply_topic(c, req, topic);
        return;
    }
    if (topic_find(c, topic) < 0) {
        if (c->ntopics == NET_MAX_TOPICS) {
            conn_error(c, true, req->id, PROTO_EBAD_REQUEST,
                       "too many subscriptions on this connection");
            return;
        }
        snprintf(c->topics[c->ntopics++], JOBS_TOPIC_MAX, "%s", topic);
    }
    if (!strcmp(topic, "jobs"))
        reply_topic(c, req, topic);
    else
        queue_job(n, c, slot, req,
                  review ? op_subscribe_review : op_subscribe_job, OPQ_QUICK);
}

/* A whole message arrived on c. */
static void
handle_message(struct net *n, struct conn *c, uint32_t slot)
{
    struct proto_req req;
    struct nh_error err = {0};
    const struct op_desc *op;

    if (proto_req_parse(c->rx.buf, c->rx.len, &req, &err) < 0) {
        conn_error(c, req.has_id, req.id, PROTO_EBAD_REQUEST, err.msg);
        return;
    }
    if (!strcmp(req.op, "ping"))
        op_ping(c, &req);
    else if (!strcmp(req.op, "auth"))
        op_auth(n, c, slot, &req);
    else if (!c->authed)
        conn_error(c, true, req.id, PROTO_EUNAUTHENTICATED,
                   "authenticate first with op 'auth'");
    else if (!strcmp(req.op, "subscribe") || !strcmp(req.op, "unsubscribe"))
        op_subscribe(n, c, slot, &req, req.op[0] == 's');
    else if ((op = ops_find(req.op)))
        op_queue(n, c, slot, &req, op);
    else
        conn_error(c, true, req.id, PROTO_EUNKNOWN_OP, "unknown op");
    proto_req_release(&req);
}

static void
on_receive(struct net *n, struct lws *wsi, struct conn *c, uint32_t slot,
           const void *in, size_t len)
{
    bool last =
        lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;

    if (c->discarding || c->close_after)
        return;
    if (len > PROTO_MAX_FRAME - c->rx.len) {
        c->discarding = true;
        strbuf_release(&c->rx);
        conn_error(c, false, 0, PROTO_ETOO_LARGE, "message over 1048576 bytes");
        c->close_after = true;
        return;
    }
    if (strbuf_add(&c->rx, in, len) < 0) {
        c->discarding = true;
        conn_error(c, false, 0, PROTO_EINTERNAL, "out of memory");
        c->close_after = true;
        return;
    }
    if (!last)
        return;
    handle_message(n, c, slot);
    strbuf_reset(&c->rx);
}

static void http_reply(struct conn *c, int status, const char *body);
static void fanout(struct net *n, const char *topic, const char *text,
                   size_t len);
static void refresh_want(struct net *n, int64_t campaign);
static void refresh_done(struct net *n, int64_t campaign);

/* A user's tokens were revoked: close their open WebSocket sessions
 * (after what is queued for them, the revoke's own answer included). */
static void
end_sessions(struct net *n, const char *user)
{
    for (uint32_t i = 0; i < n->nconns; i++) {
        struct conn *c = &n->conns[i];

        if (c->wsi && c->authed && !strcmp(c->user.name, user)) {
            c->authed = false;
            c->close_after = true;
            lws_callback_on_writable(c->wsi);
        }
    }
}

/* Hand every finished DB job's response to its connection. */
static void
drain_results(struct net *n)
{
    struct dbq_result *res, *next;
    struct conn *c;
    struct dbq_result *all = NULL, **tail = &all;

    if (!n || !n->qs[OPQ_COUNT - 1])
        return;
    for (int q = 0; q < OPQ_COUNT; q++) { /* one list, pool after pool */
        *tail = dbq_drain(n->qs[q]);
        while (*tail)
            tail = &(*tail)->next;
    }
    for (res = all; res; res = next) {
        next = res->next;
        c = conn_get(n, res->slot, res->gen);
        if (c && c->http) {
            if (res->text) {
                c->http_status = res->http_status;
                conn_send(c, res->text, res->len);
                res->text = NULL;
            } else {
                http_reply(c, 500,
                           "{\"error\":{\"code\":\"internal\","
                           "\"message\":\"out of memory\"}}");
            }
        } else if (c && !c->close_after) {
            c->inflight--;
            if (res->auth == DBQ_AUTH_OK) {
                c->authed = true;
                c->user = res->user;
                lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
            } else if (res->auth == DBQ_AUTH_BAD &&
                       ++c->bad_tokens >= NET_MAX_BAD_TOKENS) {
                c->close_after = true;
            }
            if (res->unsubscribe)
                topic_drop(c, res->topic);
            conn_send(c, res->text, res->len);
            res->text = NULL;
            if (res->event && topic_find(c, res->topic) >= 0) {
                conn_send(c, res->event, res->event_len);
                res->event = NULL;
            }
            conn_flow(c);
        }
        if (res->revoked_user[0])
            end_sessions(n, res->revoked_user);
        if (res->refresh > 0)
            refresh_want(n, res->refresh);
        if (res->refreshed > 0) {
            if (res->event)
                fanout(n, res->topic, res->event, res->event_len);
            refresh_done(n, res->refreshed);
        }
        dbq_result_free(res);
    }
}

/* How jobs_event_text() begins the events that may be dropped. */
#define EV_PROGRESS "{\"event\":\"job.progress\","
#define EV_LOG "{\"event\":\"job.log\","

/* Give a copy of an event to every connection subscribed to topic. A
 * connection with a backlog over NET_EVENT_BACKLOG misses events (they
 * are counted) rather than growing without bound. */
static void
fanout(struct net *n, const char *topic, const char *text, size_t len)
{
    for (uint32_t i = 0; i < n->nconns; i++) {
        struct conn *c = &n->conns[i];
        char *copy;

        if (!c->wsi || !c->authed || c->close_after || topic_find(c, topic) < 0)
            continue;
        /* past the backlog only progress and log lines are dropped: a
         * state change (or fresh statistics) always goes out */
        if (c->out_bytes > NET_EVENT_BACKLOG &&
            (!strncmp(text, EV_PROGRESS, sizeof(EV_PROGRESS) - 1) ||
             !strncmp(text, EV_LOG, sizeof(EV_LOG) - 1))) {
            if (c->events_dropped++ == 0)
                nh_warn("a slow client misses events");
            continue;
        }
        copy = malloc(len);
        if (copy)
            memcpy(copy, text, len);
        conn_send(c, copy, len);
    }
}

/* Hand every job event to the connections subscribed to its topic. */
static void
drain_events(struct net *n)
{
    struct jobs_event *e, *next;

    if (!n || !n->jobs)
        return;
    for (e = jobs_drain(n->jobs); e; e = next) {
        next = e->next;
        fanout(n, e->topic, e->text, e->len);
        jobs_event_free(e);
    }
}

/* Campaign statistics refreshes, coalesced: while one is queued for a
 * campaign, more judgments only mark it dirty, and one more refresh
 * follows when it is done. So under load each campaign has at most one
 * refresh in flight, and the pushed statistics are never older than one
 * refresh's time. */
static void
refresh_queue(struct net *n, int64_t campaign)
{
    struct dbq_job *job = calloc(1, sizeof(*job));
    cJSON *args = cJSON_CreateObject();

    if (!job || !args ||
        !cJSON_AddNumberToObject(args, "campaign", (double)campaign)) {
        free(job);
        cJSON_Delete(args);
        return;
    }
    job->slot = UINT32_MAX; /* no connection: the answer is an event */
    job->fn = op_review_refresh;
    job->data_dir = n->data_dir;
    job->jobs = n->jobs;
    job->args = args;
    dbq_submit(n->qs[OPQ_QUICK], job);
}

static void
refresh_want(struct net *n, int64_t campaign)
{
    char topic[JOBS_TOPIC_MAX];
    uint32_t c;
    size_t i;

    /* nobody watching: nothing to compute (a subscribe sends the
     * current statistics anyway) */
    snprintf(topic, sizeof(topic), "review/%lld", (long long)campaign);
    for (c = 0; c < n->nconns; c++)
        if (n->conns[c].wsi && n->conns[c].authed &&
            topic_find(&n->conns[c], topic) >= 0)
            break;
    if (c == n->nconns)
        return;

    for (i = 0; i < n->nrefresh; i++)
        if (n->refresh[i].campaign == campaign) {
            n->refresh[i].dirty = true;
            return;
        }
    if (n->nrefresh == NET_MAX_REFRESH)
        return; /* the campaign's next judgment asks again */
    n->refresh[n->nrefresh].campaign = campaign;
    n->refresh[n->nrefresh].dirty = false;
    n->nrefresh++;
    refresh_queue(n, campaign);
}

static void
refresh_done(struct net *n, int64_t campaign)
{
    for (size_t i = 0; i < n->nrefresh; i++)
        if (n->refresh[i].campaign == campaign) {
            if (n->refresh[i].dirty) {
                n->refresh[i].dirty = false;
                refresh_queue(n, campaign);
            } else {
                n->refresh[i] = n->refresh[--n->nrefresh];
            }
            return;
        }
}

/* Send the next fragment of the first queued message (one write per
 * callback; a message over NET_FRAGMENT goes as a text frame and
 * continuations). The LWS_PRE bytes before a fragment belong to the
 * part already sent, which lws may overwrite with the frame header.
 * -1 asks lws to close the connection. */
static int
on_writeable(struct lws *wsi, struct conn *c)
{
    struct outmsg *m = c->out;

    if (m) {
        size_t chunk = m->len - m->sent;
        bool first = m->sent == 0, last;
        int flags;

        if (chunk > NET_FRAGMENT)
            chunk = NET_FRAGMENT;
        last = m->sent + chunk == m->len;
        flags = lws_write_ws_flags(LWS_WRITE_TEXT, first, last);
        if (lws_write(wsi, m->buf + LWS_PRE + m->sent, chunk,
                      (enum lws_write_protocol)flags) < (int)chunk)
            return -1;
        m->sent += chunk;
        if (last) {
            c->out = m->next;
            if (!c->out)
                c->out_tail = NULL;
            c->out_bytes -= m->len;
            free(m);
            conn_flow(c);
        }
    }
    if (c->out) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    if (c->close_after) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, NULL, 0);
        return -1;
    }
    return 0;
}

static int
ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
            void *in, size_t len)
{
    struct net *n = lws_context_user(lws_get_context(wsi));
    struct ws_session *ss = user;
    struct conn *c;
    char uri[64];

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) < 0 ||
            strcmp(uri, "/ws"))
            return 1;
        return 0;
    case LWS_CALLBACK_ESTABLISHED:
        if (conn_new(n, wsi, &ss->slot, &ss->gen) == 0) {
            ss->valid = true;
            /* an idle socket that never authenticates is closed */
            lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, NET_AUTH_TIMEOUT);
        } else {
            nh_error("cannot accept a connection: table full or no memory");
            return -1;
        }
        return 0;
    case LWS_CALLBACK_RECEIVE:
        c = ss->valid ? conn_get(n, ss->slot, ss->gen) : NULL;
        if (!c)
            return -1;
        on_receive(n, wsi, c, ss->slot, in, len);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        c = ss->valid ? conn_get(n, ss->slot, ss->gen) : NULL;
        if (!c)
            return -1;
        return on_writeable(wsi, c);
    case LWS_CALLBACK_CLOSED:
        c = ss->valid ? conn_get(n, ss->slot, ss->gen) : NULL;
        if (c)
            conn_release(c);
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        drain_results(n);
        drain_events(n);
        return 0;
    default:
        return 0;
    }
}

/* ---- HTTP: GET /health and the read API -------------------------------
 *
 * Each request takes a conn slot (flagged http) for as long as it is in
 * flight, so a DB worker's answer finds it by (slot, gen) like a
 * WebSocket request's. The answer is one message on the slot's out list:
 * the headers go in one writeable callback, the body in NET_FRAGMENT
 * pieces in the following ones; then the slot is freed and the
 * connection may carry the next request (keep-alive). */

static const char health_body[] =
    "{\"ok\":true,\"version\":\"" NHD_VERSION "\"}";

static void
http_reply(struct conn *c, int status, const char *body)
{
    size_t len = strlen(body);
    char *copy = malloc(len + 1);

    if (copy)
        memcpy(copy, body, len + 1);
    c->http_status = status;
    conn_send(c, copy, len);
}

/* Map GET path (and query) to an op and its args; false: no such route. */
static bool
http_route(struct lws *wsi, const char *path, const char **op, cJSON *args)
{
    char name[160], arg[64];
    const char *v;
    int64_t id;
    int used = 0;

    if (!strcmp(path, "/api/datasets")) {
        *op = "dataset.list";
        return true;
    }
    if (!strcmp(path, "/api/jobs")) {
        *op = "job.list";
        /* returns a pointer into arg, past "state=" */
        if ((v = lws_get_urlarg_by_name(wsi, "state=", arg, sizeof(arg))))
            cJSON_AddStringToObject(args, "state", v);
        return true;
    }
    if (!strncmp(path, "/api/jobs/", 10) && (id = jobs_parse_id(path + 10))) {
        *op = "job.get";
        cJSON_AddNumberToObject(args, "job", (double)id);
        return true;
    }
    if (!strncmp(path, "/api/datasets/", 14) &&
        sscanf(path + 14, "%159[^/]/versions%n", name, &used) == 1 &&
        !path[14 + used]) {
        *op = "dataset.versions";
        cJSON_AddStringToObject(args, "name", name);
        return true;
    }
    return false;
}

/* A new GET on wsi: answer /health at once, queue an API read. */
static int
http_request(struct net *n, struct lws *wsi, struct http_session *hs,
             const char *path)
{
    char auth[128];
    const char *op = NULL;
    struct dbq_job *job;
    struct conn *c;
    cJSON *args;

    if (conn_new(n, wsi, &hs->slot, &hs->gen) < 0)
        return -1;
    hs->has_slot = true;
    c = &n->conns[hs->slot];
    c->http = true;
    if (!strcmp(path, "/health")) {
        http_reply(c, 200, health_body);
        return 0;
    }
    args = cJSON_CreateObject();
    if (!args || !cJSON_AddObjectToObject(args, "args")) {
        cJSON_Delete(args);
        return -1;
    }
    if (!http_route(wsi, path, &op, cJSON_GetObjectItem(args, "args"))) {
        cJSON_Delete(args);
        http_reply(c, 404,
                   "{\"error\":{\"code\":\"not_found\",\"message\":"
                   "\"no such path\"}}");
        return 0;
    }
    if (lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) <
            8 ||
        strncmp(auth, "Bearer ", 7)) {
        cJSON_Delete(args);
        http_reply(c, 401,
                   "{\"error\":{\"code\":\"unauthenticated\",\"message\":"
                   "\"send 'Authorization: Bearer TOKEN'\"}}");
        return 0;
    }
    job = calloc(1, sizeof(*job));
    if (!job || !cJSON_AddStringToObject(args, "token", auth + 7) ||
        !cJSON_AddStringToObject(args, "op", op)) {
        free(job);
        cJSON_Delete(args);
        return -1;
    }
    job->slot = hs->slot;
    job->gen = hs->gen;
    job->fn = op_http;
    job->data_dir = n->data_dir;
    job->jobs = n->jobs;
    job->args = args;
    if (dbq_submit(n->qs[OPQ_QUICK], job) < 0)
        http_reply(c, 500,
                   "{\"error\":{\"code\":\"internal\",\"message\":"
                   "\"server stopping\"}}");
    return 0;
}

/* Write the headers, or the next piece of the body, of the answer. */
static int
http_writeable(struct net *n, struct lws *wsi, struct http_session *hs)
{
    struct conn *c = hs->has_slot ? conn_get(n, hs->slot, hs->gen) : NULL;
    struct outmsg *m = c ? c->out : NULL;
    unsigned char hdr[LWS_PRE + 512];
    unsigned char *start = hdr + LWS_PRE, *p = start;
    size_t chunk;
    bool last;

    if (!m)
        return 0;
    if (!c->headers_sent) {
        if (lws_add_http_common_headers(wsi, (unsigned)c->http_status,
                                        "application/json", m->len, &p,
                                        hdr + sizeof(hdr) - 1) ||
            lws_finalize_write_http_header(wsi, start, &p,
                                           hdr + sizeof(hdr) - 1))
            return -1;
        c->headers_sent = true;
        lws_callback_on_writable(wsi);
        return 0;
    }
    chunk = m->len - m->sent;
    if (chunk > NET_FRAGMENT)
        chunk = NET_FRAGMENT;
    last = m->sent + chunk == m->len;
    if (lws_write(wsi, m->buf + LWS_PRE + m->sent, chunk,
                  last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)chunk)
        return -1;
    m->sent += chunk;
    if (!last) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    conn_release(c);
    hs->has_slot = false;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int
http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
              void *in, size_t len)
{
    struct net *n = lws_context_user(lws_get_context(wsi));
    struct http_session *hs = user;
    struct conn *c;

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return 1; /* a WebSocket without subprotocol naohai.v1 */
    case LWS_CALLBACK_HTTP:
        if (hs->has_slot || lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
            lws_return_http_status(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, NULL);
            return -1;
        }
        return http_request(n, wsi, hs, (const char *)in);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return hs ? http_writeable(n, wsi, hs) : 0;
    case LWS_CALLBACK_CLOSED_HTTP:
        if (hs && hs->has_slot && (c = conn_get(n, hs->slot, hs->gen)))
            conn_release(c);
        if (hs)
            hs->has_slot = false;
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols protocols[] = {
    {"http", http_callback, sizeof(struct http_session), 0, 0, NULL, 0},
    {PROTO_SUBPROTOCOL, ws_callback, sizeof(struct ws_session), 4096, 0, NULL,
     0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void
wake_cb(void *arg)
{
    net_wake(arg);
}

int
net_create(struct net **out, const struct net_config *cfg, struct nh_error *err)
{
    struct lws_context_creation_info info;
    struct jobs_config jcfg;
    struct net *n;
    int rc = 0;

    n = calloc(1, sizeof(*n));
    if (!n)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    n->data_dir = strdup(cfg->data_dir);
    n->import_root = cfg->import_root ? strdup(cfg->import_root) : NULL;
    if (!n->data_dir || (cfg->import_root && !n->import_root)) {
        free(n->data_dir);
        free(n);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    lws_set_log_level(cfg->verbose ? LLL_ERR | LLL_WARN | LLL_NOTICE : LLL_ERR,
                      NULL);
    memset(&info, 0, sizeof(info));
    info.port = cfg->port;
    info.iface = cfg->host;
    info.protocols = protocols;
    info.user = n;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
    if (cfg->tls_cert) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cfg->tls_cert;
        info.ssl_private_key_filepath = cfg->tls_key;
    }
    info.gid = -1;
    info.uid = -1;
    n->ctx = lws_create_context(&info);
    if (!n->ctx) {
        rc = nh_errorf(err, NH_EIO, "cannot listen on '%s:%d'", cfg->host,
                       cfg->port);
        goto fail;
    }
    for (int q = 0; q < OPQ_COUNT && rc == 0; q++)
        rc = dbq_create(&n->qs[q], cfg->data_dir, cfg->migrations,
                        q == OPQ_QUICK ? cfg->db_workers : 1, wake_cb, n, err);
    if (rc < 0)
        goto fail;
    jcfg.data_dir = cfg->data_dir;
    jcfg.migrations = cfg->migrations;
    jcfg.nh_clean = cfg->nh_clean;
    jcfg.nh_train = cfg->nh_train;
    jcfg.max_running = cfg->max_jobs;
    jcfg.notify = wake_cb;
    jcfg.notify_arg = n;
    rc = jobs_create(&n->jobs, &jcfg, err);
    if (rc < 0)
        goto fail;
    *out = n;
    return 0;
fail:
    net_free(n);
    return rc;
}

int
net_service(struct net *n)
{
    return lws_service(n->ctx, 0) < 0 ? NH_EIO : 0;
}

void
net_wake(struct net *n)
{
    if (n && n->ctx)
        lws_cancel_service(n->ctx);
}

void
net_free(struct net *n)
{
    uint32_t i;

    if (!n)
        return; /* the DB workers first: an op in flight may still call into
                 * jobs; then the supervisor, whose last events need the lws
                 * context */
    for (int q = 0; q < OPQ_COUNT; q++) {
        dbq_destroy(n->qs[q]);
        n->qs[q] = NULL;
    }
    jobs_destroy(n->jobs);
    n->jobs = NULL;
    if (n->ctx)
        lws_context_destroy(n->ctx);
    for (i = 0; i < n->nconns; i++)
        if (n->conns[i].wsi)
            conn_release(&n->conns[i]);
    free(n->conns);
    free(n->data_dir);
    free(n->import_root);
    free(n);
}
