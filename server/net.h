/* net.h - nhd's network side: the libwebsockets context and its callbacks
 *
 * One struct net is one lws context listening on host:port. It serves
 * GET /health over HTTP ({"ok":true,"version":"..."}) and the naohai.v1
 * protocol (proto.h) over a WebSocket at /ws. Only the service thread,
 * the one calling net_service(), calls into libwebsockets; requests that
 * need the database go to the DB workers (dbq.h) and come back through
 * their result queue, woken by lws_cancel_service().
 *
 * Ops: "ping" (allowed before auth), "auth" {"token": "..."}, and after
 * auth the table ops of ops.h, checked against the user's role
 * ("forbidden" below it). Any other op before a successful auth is
 * "unauthenticated", after it "unknown_op". Five bad tokens on one connection
 * close it; a message over PROTO_MAX_FRAME gets "too_large" and closes that
 * connection.
 */
#ifndef NH_NET_H
#define NH_NET_H

#include "err.h"

#include <stdbool.h>

#define NHD_VERSION "0.1.0"
#define NET_MAX_BAD_TOKENS 5

struct net;

struct net_config {
    const char *host;       /* IPv4 address to listen on */
    int port;               /* TCP port */
    const char *data_dir;   /* nhd's --data */
    const char *migrations; /* schemas/db */
    int db_workers;         /* DB worker threads (and stores) */
    const char *nh_clean;   /* the nh-clean binary jobs run */
    const char *nh_train;   /* the nh-train binary train jobs run */
    int max_jobs;           /* jobs running at once */
    const char *tls_cert;   /* PEM files; NULL: plain ws:// and http:// */
    const char *tls_key;
    const char *import_root; /* realpath below which dataset.import may
                                read server paths; NULL: nowhere */
    bool verbose;            /* lws logs warnings and notices too */
};

/* Create the context (listening) and start the DB workers. On success
 * *out is freed with net_free(). */
int net_create(struct net **out, const struct net_config *cfg,
               struct nh_error *err);

/* Run one round of the event loop (blocks until something happens or
 * net_wake() is called). 0, or NH_EIO when the loop failed. */
int net_service(struct net *n);

/* Wake net_service() from another thread or a signal handler (it only
 * calls lws_cancel_service, which writes to a pipe). */
void net_wake(struct net *n);

/* Stop the workers, close every connection, free n. NULL is a no-op. */
void net_free(struct net *n);

#endif
