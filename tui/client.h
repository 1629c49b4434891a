/* client.h - a synchronous naohai.v1 WebSocket client (libwebsockets)
 *
 * nh (and anything else that wants to talk to nhd from one thread) opens
 * one struct client per server. Every call runs the lws event loop in the
 * calling thread until what it waits for has arrived, the connection has
 * closed, or its deadline has passed; no threads are started.
 *
 *   struct client *c;
 *   struct nh_error err;
 *   cJSON *res;
 *   if (client_open(&c, "ws://127.0.0.1:7420", &err) < 0) ...
 *   if (client_call(c, "dataset.list", NULL, &res, &err) < 0) ...
 *   cJSON_Delete(res);
 *   client_free(c);
 *
 * URLs are ws://HOST[:PORT][/PATH] or wss://... (PATH defaults to /ws; TLS
 * checks the server against the system CA store unless NH_INSECURE=1 is
 * in the environment, which allows self-signed and mismatched
 * certificates). Messages of any size up to CLIENT_MAX_MESSAGE arrive,
 * in as many fragments as the server sends them. Events that arrive while
 * a call waits for its response are queued for client_next_event().
 */
#ifndef NH_CLIENT_H
#define NH_CLIENT_H

#include "err.h"

#include <cjson/cJSON.h>

#define CLIENT_MAX_MESSAGE ((size_t)64 << 20) /* 64 MiB */
#define CLIENT_CALL_TIMEOUT_MS 300000         /* default for client_call */

/* Codes beyond err.h's: the server answered {"ok": false} (err->msg is
 * "CODE: message" and client_error_code() gives CODE), the connection is
 * gone (cannot connect, closed by the server), or a deadline passed. */
#define CLIENT_EREMOTE (-100)
#define CLIENT_ECLOSED (-101)
#define CLIENT_ETIMEOUT (-102)

struct client;

/* Connect to url and wait for the WebSocket handshake (at most
 * timeout_ms; <= 0 means 10 s). On success *out is freed with
 * client_free(). Errors: NH_EINVAL (bad URL), CLIENT_ECLOSED (cannot
 * connect), CLIENT_ETIMEOUT, NH_ENOMEM. */
int client_open(struct client **out, const char *url, int timeout_ms,
                struct nh_error *err);

/* Deadline for each client_call (ms; <= 0 restores the default). */
void client_set_timeout(struct client *c, int timeout_ms);

/* Send {"id", "op", "args"} with a fresh id and wait for its response.
 * args is copied, not taken (NULL sends no args). On success *result is
 * the response's "result" (the caller frees it with cJSON_Delete). On a
 * server error returns CLIENT_EREMOTE; on a closed connection
 * CLIENT_ECLOSED; after the deadline CLIENT_ETIMEOUT. */
int client_call(struct client *c, const char *op, const cJSON *args,
                cJSON **result, struct nh_error *err);

/* The error code ("not_found") of the last CLIENT_EREMOTE, or "". */
const char *client_error_code(const struct client *c);

/* The next queued or arriving event ({"event", "topic", "data"}),
 * waiting at most timeout_ms (< 0: forever). The caller frees *event.
 * CLIENT_ETIMEOUT when none came, CLIENT_ECLOSED when the connection is
 * gone and no event is left. */
int client_next_event(struct client *c, int timeout_ms, cJSON **event,
                      struct nh_error *err);

/* Close the connection and free c. NULL is a no-op. */
void client_free(struct client *c);

#endif
