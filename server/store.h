/* store.h - nhd's database: opening, migrations, users and tokens
 *
 * A struct store is one SQLite connection to DIR/naohai.db, set up the
 * way every nhd connection must be (WAL, foreign_keys=ON, busy_timeout
 * 5000 ms, synchronous=NORMAL), with the schema brought up to date from
 * schemas/db/NNNN-*.sql. Each DB worker thread opens its own store; one
 * store must be used by one thread at a time.
 *
 * Tokens are 32 random bytes from getrandom(2), spelled as 64 lowercase
 * hex digits. The token is returned once, when made; the database keeps
 * only its SHA-256 (hex), so a copy of the database grants no access.
 *
 * Functions return 0 or a negative NH_E* code (common/err.h) and, where
 * they take a struct nh_error, fill it with the reason. Out-parameters
 * are written only on success.
 */
#ifndef NH_STORE_H
#define NH_STORE_H

#include "err.h"

#include <stdbool.h>
#include <stdint.h>

struct store;
struct sqlite3;      /* <sqlite3.h>'s sqlite3 */
struct sqlite3_stmt; /* <sqlite3.h>'s sqlite3_stmt */

#define STORE_DB_NAME "naohai.db"
#define STORE_TOKEN_LEN 64     /* hex digits in a token, without the NUL */
#define STORE_USER_NAME_MAX 64 /* bytes in a user name */

/* Roles, weakest last; the schema's CHECK holds the same list. */
#define STORE_ROLE_ADMIN "admin"
#define STORE_ROLE_ENGINEER "engineer"
#define STORE_ROLE_REVIEWER "reviewer"

struct store_user {
    int64_t id;
    char name[STORE_USER_NAME_MAX + 1];
    char role[16];
};

/* Open (creating DIR and the database if needed) and migrate: every
 * migrations_dir/NNNN-*.sql whose NNNN is above PRAGMA user_version is
 * run, in order, each in its own transaction that also sets user_version
 * to NNNN. A failing migration is rolled back and reported by file name
 * with SQLite's message; migrations applied before it stay. On success
 * *out is a store the caller frees with store_close(). */
int store_open(struct store **out, const char *dir, const char *migrations_dir,
               struct nh_error *err);

/* Close the connection and free s; NULL is a no-op. */
void store_close(struct store *s);

/* The underlying connection, for code that runs its own statements (and
 * for tests). Owned by s: do not close it. */
struct sqlite3 *store_db(struct store *s);

/* Statements each store keeps prepared (store_stmt); more is a bug. */
#define STORE_STMT_MAX 64

/* A prepared statement for sql, kept by s for reuse: the first call
 * prepares it (SQLITE_PREPARE_PERSISTENT), later calls with the same
 * pointer hand back the same statement, reset and with no bindings. sql
 * must be a string literal (its address is the key). The caller does not
 * finalize it but must call store_stmt_done() when finished with it, on
 * every path, before the next op on s: a statement left mid-rows keeps a
 * read transaction (an old snapshot) open. NH_EIO when it cannot be
 * prepared, NH_ENOMEM past STORE_STMT_MAX statements. */
int store_stmt(struct store *s, const char *sql, struct sqlite3_stmt **st,
               struct nh_error *err);

/* Reset st (from store_stmt) and clear its bindings; NULL is a no-op. */
void store_stmt_done(struct sqlite3_stmt *st);

/* Add a user with role "admin", "engineer" or "reviewer" and make its
 * first token, written to token_out (64 hex digits and a NUL). The name
 * is 1-64 bytes of [A-Za-z0-9._-]. NH_EINVAL for a bad name or role,
 * NH_EEXIST for a name in use, NH_EIO for a database or getrandom
 * failure. */
int store_user_add(struct store *s, const char *name, const char *role,
                   char token_out[STORE_TOKEN_LEN + 1], struct nh_error *err);

/* Who holds token? 0 with *out filled when its hash is stored, not
 * revoked, and its user exists; NH_ENOENT for every other token, without
 * saying why; NH_EIO if the database fails. */
int store_token_check(struct store *s, const char *token,
                      struct store_user *out);

/* Revoke every token of user name. NH_ENOENT for an unknown user. */
int store_user_revoke(struct store *s, const char *name, struct nh_error *err);

/* First start: if no user has role admin, create user "admin" with that
 * role, write its token to token_out and set *created = true; otherwise
 * set *created = false and leave token_out alone. NH_EEXIST if a
 * non-admin user already holds the name "admin". */
int store_admin_bootstrap(struct store *s, char token_out[STORE_TOKEN_LEN + 1],
                          bool *created, struct nh_error *err);

#endif
