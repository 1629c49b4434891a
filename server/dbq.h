/* dbq.h - nhd's DB workers: a job queue in, a result queue out
 *
 * The service thread (net.c) never touches the database. It wraps each
 * request that needs SQLite in a struct dbq_job and submits it; one of
 * the worker threads, each with its own struct store (store.h), runs the
 * job's function, which fills a struct dbq_result. The result goes on an
 * outbound queue behind a mutex and, when the queue was empty, the worker
 * calls the notify function (nhd: lws_cancel_service), so the service
 * thread wakes up and takes every result queued so far with dbq_drain().
 *
 * Connections are named by (slot, gen), never by pointer: a worker may
 * finish after its connection closed, and the service thread drops the
 * result when the generation no longer matches.
 *
 * Adding a DB-backed op: write a dbq_fn next to the op, fill a job with
 * it in the op's handler, read the result in the drain loop.
 */
#ifndef NH_DBQ_H
#define NH_DBQ_H

#include "err.h"
#include "store.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dbq;
struct dbq_job;
struct dbq_result;
struct jobs;

/* Runs on a worker thread with that worker's store. It reads job (args
 * included) and fills res: text/len (a malloc'd response, or NULL for
 * none) and, for auth, auth and user. It must not touch anything the
 * service thread owns. */
typedef void dbq_fn(struct store *s, const struct dbq_job *job,
                    struct dbq_result *res);

/* Wakes the service thread; called from worker threads. */
typedef void dbq_notify_fn(void *arg);

struct dbq_job {
    struct dbq_job *next; /* queue link, owned by dbq */
    uint32_t slot, gen;   /* the connection that asked */
    bool has_id;          /* request id, for the response */
    int64_t id;
    dbq_fn *fn;
    cJSON *args;          /* the request's args (or NULL); freed with the job */
    const char *data_dir; /* nhd's --data, for ops that touch files */
    struct jobs *jobs;    /* the job supervisor (jobs.h), for job ops */
    const char *import_root; /* server-path imports only below it (NULL:
                                none); a realpath */
    char user[STORE_USER_NAME_MAX + 1]; /* who asked (after auth) */
};

enum dbq_auth { DBQ_AUTH_NONE, DBQ_AUTH_OK, DBQ_AUTH_BAD };

struct dbq_result {
    struct dbq_result *next; /* queue link */
    uint32_t slot, gen;      /* copied from the job */
    char *text;              /* response text (malloc'd), or NULL */
    size_t len;
    enum dbq_auth auth;     /* the outcome of an auth job */
    struct store_user user; /* who authenticated, when auth is OK */
    char *event;            /* an event sent right after text, or NULL */
    size_t event_len;
    bool unsubscribe;  /* subscribe failed: drop args.topic again */
    char topic[32];    /* the topic of a subscribe job */
    int http_status;   /* for op_http: the response status */
    int64_t refresh;   /* > 0: campaign whose stats changed (net.c pushes) */
    int64_t refreshed; /* > 0: a refresh job's campaign; event is its stats */
    char revoked_user[STORE_USER_NAME_MAX + 1]; /* user.revoke: whose
                                                   sessions end */
};

/* Open nworkers stores on dir (migrating from migrations_dir, on this
 * thread, one after the other) and start one worker thread on each.
 * notify(arg) is called when a result lands on an empty queue. On
 * success *out is a queue freed with dbq_destroy(). */
int dbq_create(struct dbq **out, const char *dir, const char *migrations_dir,
               int nworkers, dbq_notify_fn *notify, void *notify_arg,
               struct nh_error *err);

/* Queue job, taking it (and its args) over: the caller must not use it
 * afterwards, even on failure. NH_EINVAL once the queue is stopping. */
int dbq_submit(struct dbq *q, struct dbq_job *job);

/* Take every queued result, oldest first, as a list linked by next; NULL
 * when there are none. The caller frees each with dbq_result_free(). */
struct dbq_result *dbq_drain(struct dbq *q);

/* Free one result and its text; NULL is a no-op. */
void dbq_result_free(struct dbq_result *res);

/* Stop the workers (a running job finishes first), join them, free the
 * jobs and results still queued and close the stores. NULL is a no-op. */
void dbq_destroy(struct dbq *q);

#endif
