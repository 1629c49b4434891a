/* ref.h - version references: NAME, NAME@TAG, NAME@ID, NAME@PREFIX
 *
 * Ops that take a "ref" (docs/PROTOCOL.md, "Version references") resolve
 * it here to a dataset and one of its versions:
 *   NAME         the dataset's newest version
 *   NAME@TAG     the version the dataset's tag points at
 *   NAME@ID      the version with that full 32-hex id, in that dataset
 *   NAME@PREFIX  6-31 hex digits matching exactly one of its versions
 * Tags are names of [A-Za-z0-9._-] that are not 6 or more hex digits
 * (ref_tag_valid), so a tag never shadows an id prefix.
 *
 * "Newest" is the latest created, ties (the same second) broken by depth
 * in the dataset's parent chain, which only grows: a version whose parent
 * is NULL or in another dataset has depth 0, any other its parent's depth
 * plus one. The depth is stored in versions.depth, set by a trigger on
 * insert (schemas/db/0004-version-depth.sql); REF_NEWEST_FIRST spells the
 * order in SQL for every query that needs it.
 *
 * All functions run on a DB worker's connection and return 0 or a
 * negative NH_E* code (common/err.h) with err filled; out-parameters are
 * written only on success.
 */
#ifndef NH_REF_H
#define NH_REF_H

#include "err.h"
#include "objstore.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#define REF_DATASET_NAME_MAX 128 /* the datasets.name CHECK */
#define REF_TAG_MAX 128          /* the tags.name CHECK */
#define REF_PREFIX_MIN 6         /* hex digits in the shortest id prefix */

/* ORDER BY for "newest first" over versions v (one dataset's, from
 * "FROM versions v WHERE v.dataset_id = ?"); the index versions_newest
 * serves it. */
#define REF_NEWEST_FIRST " ORDER BY v.created DESC, v.depth DESC, v.id"

struct ref_version {
    int64_t dataset_id;
    char dataset[REF_DATASET_NAME_MAX + 1];
    char version[OBJSTORE_HASH_LEN + 1];
};

/* Resolve ref (forms above) into *out. NH_ENOENT (naming the ref) for an
 * unknown dataset, tag, id or prefix, or a dataset without versions;
 * NH_EINVAL for a malformed ref (empty name or tag, a second '@', a name
 * too long) or a prefix matching two or more versions; NH_EIO for a
 * database failure. */
int ref_resolve(sqlite3 *db, const char *ref, struct ref_version *out,
                struct nh_error *err);

/* Is tag a valid tag name: 1-128 bytes of [A-Za-z0-9._-], and not 6 or
 * more hex digits only (which would read as an id prefix)? */
bool ref_tag_valid(const char *tag);

/* Is name a valid dataset name: 1-128 bytes, no '@', '/', control
 * characters or spaces? */
bool ref_dataset_name_valid(const char *name);

/* The id of dataset name in *id; NH_ENOENT when there is none. */
int ref_dataset_id(sqlite3 *db, const char *name, int64_t *id,
                   struct nh_error *err);

/* The SQL of ref_version_tags, for callers that keep it prepared
 * (store_stmt, store.h) and call ref_version_tags_st() with it. */
#define REF_TAGS_SQL "SELECT name FROM tags WHERE version_id = ?1 ORDER BY name"

/* ref_version_tags on st, a statement prepared from REF_TAGS_SQL; st is
 * reset when it returns. */
int ref_version_tags_st(sqlite3_stmt *st, const char *id, cJSON *arr,
                        struct nh_error *err);

/* The newest version of dataset ds: *found says whether it has one; then
 * id is the version and parent its parent (parent[0] is '\0' for none;
 * parent may be NULL when not wanted). */
int ref_newest_version(sqlite3 *db, int64_t ds, bool *found,
                       char id[OBJSTORE_HASH_LEN + 1],
                       char parent[OBJSTORE_HASH_LEN + 1],
                       struct nh_error *err);

/* Append the names of the tags on version id to arr (a cJSON array),
 * sorted. */
int ref_version_tags(sqlite3 *db, const char *id, cJSON *arr,
                     struct nh_error *err);

#endif
