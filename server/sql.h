/* sql.h - small SQLite helpers shared by nhd's op files
 *
 * Preparing a statement, running one without rows and reading a 32-hex
 * id column, each spelling its failure as an NH_E* code with SQLite's
 * message in a struct nh_error, so the op files (op-*.c), ref.c and
 * version.c say "cannot read versions: ..." the same way.
 */
#ifndef NH_SQL_H
#define NH_SQL_H

#include "err.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdbool.h>

/* NH_EIO with "WHAT: SQLite's last message". */
int sql_fail(sqlite3 *db, struct nh_error *err, const char *what);

/* Prepare sql into *st (the caller finalizes it); NH_EIO on failure. */
int sql_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st,
                struct nh_error *err);

/* Run sql (no result rows); NH_EIO naming it on failure. err may be
 * NULL (for a ROLLBACK on a path that already failed). */
int sql_exec(sqlite3 *db, const char *sql, struct nh_error *err);

/* Copy column col into out when it is exactly 32 lowercase hex digits;
 * false otherwise (out untouched). */
bool sql_column_hash(sqlite3_stmt *st, int col, char out[33]);

/* Add column col of st's current row to obj under key: NULL as null,
 * an integer or a real as a number, anything else as a string. false when out
 * of memory. */
bool sql_add_column(cJSON *obj, const char *key, sqlite3_stmt *st, int col);

/* Add column col (JSON text) parsed under key; NULL or text that is not
 * JSON as null. false when out of memory. */
bool sql_add_json_column(cJSON *obj, const char *key, sqlite3_stmt *st,
                         int col);

/* Roll back the open transaction, if any (after a failure). */
void sql_rollback(sqlite3 *db);

#endif
