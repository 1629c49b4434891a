/* sql.c - small SQLite helpers shared by nhd's op files (sql.h)
 *
 * Everything here is a thin wrapper that turns a SQLite failure into an
 * NH_E* code and a message; there is no state.
 */
#include "sql.h"

#include "objstore.h"

#include <string.h>

int
sql_fail(sqlite3 *db, struct nh_error *err, const char *what)
{
    return nh_errorf(err, NH_EIO, "%s: %s", what, sqlite3_errmsg(db));
}

int
sql_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st,
            struct nh_error *err)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
        return sql_fail(db, err, "cannot prepare statement");
    return 0;
}

int
sql_exec(sqlite3 *db, const char *sql, struct nh_error *err)
{
    char *msg = NULL;
    int rc = 0;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        rc = nh_errorf(err, NH_EIO, "'%s' failed: %s", sql,
                       msg ? msg : "unknown error");
    sqlite3_free(msg);
    return rc;
}

bool
sql_column_hash(sqlite3_stmt *st, int col, char out[33])
{
    const unsigned char *p = sqlite3_column_text(st, col);

    if (!p || sqlite3_column_bytes(st, col) != OBJSTORE_HASH_LEN ||
        !objstore_hash_valid((const char *)p))
        return false;
    memcpy(out, p, OBJSTORE_HASH_LEN + 1);
    return true;
}

void
sql_rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        sql_exec(db, "ROLLBACK", NULL);
}

bool
sql_add_column(cJSON *obj, const char *key, sqlite3_stmt *st, int col)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_NULL:
        return cJSON_AddNullToObject(obj, key) != NULL;
    case SQLITE_INTEGER:
        return cJSON_AddNumberToObject(
                   obj, key, (double)sqlite3_column_int64(st, col)) != NULL;
    case SQLITE_FLOAT:
        return cJSON_AddNumberToObject(obj, key,
                                       sqlite3_column_double(st, col)) != NULL;
    default:
        return cJSON_AddStringToObject(
                   obj, key, (const char *)sqlite3_column_text(st, col)) !=
               NULL;
    }
}

bool
sql_add_json_column(cJSON *obj, const char *key, sqlite3_stmt *st, int col)
{
    const char *text = (const char *)sqlite3_column_text(st, col);
    cJSON *v;

    if (sqlite3_column_type(st, col) == SQLITE_NULL || !text)
        return cJSON_AddNullToObject(obj, key) != NULL;
    v = cJSON_Parse(text);
    if (!v)
        return cJSON_AddNullToObject(obj, key) != NULL;
    return cJSON_AddItemToObject(obj, key, v);
}
