/* ref.c - resolving version references (ref.h)
 *
 * A ref is split at its '@': the part before names the dataset, the part
 * after (if any) is a tag, a full version id or an id prefix. Lookups go
 * straight to SQLite on the calling DB worker's connection; nothing is
 * cached, so a tag moved a moment ago resolves to its new version.
 */
#include "ref.h"

#include "sql.h"

#include <ctype.h>
#include <string.h>

bool
ref_tag_valid(const char *tag)
{
    size_t n = strlen(tag), i;
    bool hex = true;

    if (n < 1 || n > REF_TAG_MAX)
        return false;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)tag[i];

        if (!isalnum(c) && c != '.' && c != '_' && c != '-')
            return false;
        if (!isxdigit(c))
            hex = false;
    }
    return !(hex && n >= REF_PREFIX_MIN);
}

bool
ref_dataset_name_valid(const char *name)
{
    size_t n = strlen(name), i;

    if (n < 1 || n > REF_DATASET_NAME_MAX)
        return false;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];

        if (c <= ' ' || c == 0x7f || c == '@' || c == '/')
            return false;
    }
    return true;
}

int
ref_dataset_id(sqlite3 *db, const char *name, int64_t *id, struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc, src;

    rc = sql_prepare(db, "SELECT id FROM datasets WHERE name = ?1", &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    else if (src == SQLITE_DONE)
        rc = nh_errorf(err, NH_ENOENT, "no dataset '%s'", name);
    else
        rc = sql_fail(db, err, "cannot look up dataset");
    sqlite3_finalize(st);
    return rc;
}

int
ref_newest_version(sqlite3 *db, int64_t ds, bool *found,
                   char id[OBJSTORE_HASH_LEN + 1],
                   char parent[OBJSTORE_HASH_LEN + 1], struct nh_error *err)
{
    char vid[OBJSTORE_HASH_LEN + 1], vparent[OBJSTORE_HASH_LEN + 1] = "";
    sqlite3_stmt *st = NULL;
    int rc, src;

    rc = sql_prepare(db,
                     "SELECT v.id, v.parent FROM versions v"
                     " WHERE v.dataset_id = ?1" REF_NEWEST_FIRST " LIMIT 1",
                     &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, ds);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        if (!sql_column_hash(st, 0, vid) ||
            (sqlite3_column_type(st, 1) != SQLITE_NULL &&
             !sql_column_hash(st, 1, vparent))) {
            rc = nh_errorf(err, NH_ECORRUPT, "bad version id in database");
        } else {
            *found = true;
            memcpy(id, vid, sizeof(vid));
            if (parent)
                memcpy(parent, vparent, sizeof(vparent));
        }
    } else if (src == SQLITE_DONE) {
        *found = false;
    } else {
        rc = sql_fail(db, err, "cannot read versions");
    }
    sqlite3_finalize(st);
    return rc;
}

/* The version tag of dataset ds points at, in id. */
static int
tag_lookup(sqlite3 *db, int64_t ds, const char *tag, bool *found,
           char id[OBJSTORE_HASH_LEN + 1], struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc, src;

    rc = sql_prepare(db,
                     "SELECT version_id FROM tags"
                     " WHERE dataset_id = ?1 AND name = ?2",
                     &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, ds);
    sqlite3_bind_text(st, 2, tag, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    *found = false;
    if (src == SQLITE_ROW) {
        if (sql_column_hash(st, 0, id))
            *found = true;
        else
            rc = nh_errorf(err, NH_ECORRUPT, "bad version id in database");
    } else if (src != SQLITE_DONE) {
        rc = sql_fail(db, err, "cannot read tags");
    }
    sqlite3_finalize(st);
    return rc;
}

/* The versions of dataset ds whose id starts with prefix (lowercase
 * hex): *matches is 0, 1 or 2 (two or more), id the match when 1. */
static int
prefix_lookup(sqlite3 *db, int64_t ds, const char *prefix, int *matches,
              char id[OBJSTORE_HASH_LEN + 1], struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc, src;

    rc = sql_prepare(db,
                     "SELECT id FROM versions WHERE dataset_id = ?1"
                     " AND id GLOB ?2 || '*' LIMIT 2",
                     &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, ds);
    sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
    *matches = 0;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (*matches == 0 && !sql_column_hash(st, 0, id)) {
            rc = nh_errorf(err, NH_ECORRUPT, "bad version id in database");
            break;
        }
        (*matches)++;
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = sql_fail(db, err, "cannot read versions");
    sqlite3_finalize(st);
    return rc;
}

/* Is s 6-32 hex digits? Then lower is its lowercase spelling. */
static bool
id_like(const char *s, char lower[OBJSTORE_HASH_LEN + 1])
{
    size_t n = strlen(s), i;

    if (n < REF_PREFIX_MIN || n > OBJSTORE_HASH_LEN)
        return false;
    for (i = 0; i < n; i++) {
        if (!isxdigit((unsigned char)s[i]))
            return false;
        lower[i] = (char)tolower((unsigned char)s[i]);
    }
    lower[n] = '\0';
    return true;
}

int
ref_resolve(sqlite3 *db, const char *ref, struct ref_version *out,
            struct nh_error *err)
{
    char name[REF_DATASET_NAME_MAX + 1], id[OBJSTORE_HASH_LEN + 1];
    char hex[OBJSTORE_HASH_LEN + 1];
    const char *at = strchr(ref, '@'), *rest = NULL;
    size_t nlen = at ? (size_t)(at - ref) : strlen(ref);
    bool found = false;
    int64_t ds;
    int rc, matches = 0;

    if (nlen < 1 || nlen > REF_DATASET_NAME_MAX)
        return nh_errorf(err, NH_EINVAL,
                         "bad ref '%.200s': the dataset name must be 1-%d "
                         "bytes",
                         ref, REF_DATASET_NAME_MAX);
    memcpy(name, ref, nlen);
    name[nlen] = '\0';
    if (at) {
        rest = at + 1;
        if (!*rest || strchr(rest, '@'))
            return nh_errorf(err, NH_EINVAL,
                             "bad ref '%.200s': expected NAME@TAG or NAME@ID",
                             ref);
    }
    rc = ref_dataset_id(db, name, &ds, err);
    if (rc < 0)
        return rc;
    if (!rest) {
        rc = ref_newest_version(db, ds, &found, id, NULL, err);
        if (rc == 0 && !found)
            rc =
                nh_errorf(err, NH_ENOENT, "dataset '%s' has no versions", name);
    } else {
        rc = tag_lookup(db, ds, rest, &found, id, err);
        if (rc == 0 && !found && id_like(rest, hex)) {
            rc = prefix_lookup(db, ds, hex, &matches, id, err);
            if (rc == 0 && matches > 1)
                rc = nh_errorf(err, NH_EINVAL,
                               "ref '%.200s' is ambiguous: several versions "
                               "of '%s' start with '%s'",
                               ref, name, hex);
            found = matches == 1;
        }
        if (rc == 0 && !found)
            rc = nh_errorf(err, NH_ENOENT,
                           "no version '%.200s' in dataset '%s'", rest, name);
    }
    if (rc < 0)
        return rc;
    out->dataset_id = ds;
    memcpy(out->dataset, name, nlen + 1);
    memcpy(out->version, id, sizeof(id));
    return 0;
}

int
ref_version_tags_st(sqlite3_stmt *st, const char *id, cJSON *arr,
                    struct nh_error *err)
{
    int rc = 0, src = SQLITE_DONE;

    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *s = cJSON_CreateString((const char *)sqlite3_column_text(st, 0));

        if (!s || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            break;
        }
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = sql_fail(sqlite3_db_handle(st), err, "cannot read tags");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int
ref_version_tags(sqlite3 *db, const char *id, cJSON *arr, struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = sql_prepare(db, REF_TAGS_SQL, &st, err);
    if (rc == 0)
        rc = ref_version_tags_st(st, id, arr, err);
    sqlite3_finalize(st);
    return rc;
}
