/* objstore.h - nhd's content-addressed object store and version manifests
 *
 * Objects (shards) live in DIR/objects/ab/<hash>, where <hash> is the
 * XXH3-128 of the content as 32 lowercase hex digits (nh_h128_hex) and ab
 * its first two digits. An object is written to DIR/objects/tmp-XXXXXX,
 * fsync'd, made read-only and renamed into place, so a crash never leaves
 * a partial object under a hash name, and identical content is stored
 * once. Objects are never modified after that.
 *
 * A manifest describes one dataset version: its shards in order (object
 * hash, documents, bytes), the parent version, the job that made it, the
 * pipeline config hash and the tool version (schemas/manifest.schema.json).
 * The version id is the XXH3-128 of the manifest's canonical JSON: object
 * keys sorted bytewise at every level, arrays in order, no whitespace,
 * integral numbers written as integers, other numbers as "%.17g", strings
 * with the minimal escapes of strbuf_add_json_str(). So the same manifest
 * always gets the same id, whatever order its keys were built or parsed in.
 *
 * Functions return 0 or a negative NH_E* code (common/err.h) and, where
 * they take a struct nh_error, fill it with the reason. Out-parameters
 * are written only on success.
 */
#ifndef NH_OBJSTORE_H
#define NH_OBJSTORE_H

#include "err.h"
#include "strbuf.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OBJSTORE_HASH_LEN 32 /* hex digits in an object hash or version id */
#define OBJSTORE_DIR "objects"

/* "format" of every manifest; a reader rejects any other value. */
#define MANIFEST_FORMAT "naohai-manifest-1"

/* Largest docs, bytes or job_id a manifest holds: JSON numbers are
 * doubles, exact up to 2^53. */
#define MANIFEST_INT_MAX 9007199254740992.0

/* Is s exactly OBJSTORE_HASH_LEN lowercase hex digits (and a NUL)? Every
 * hash is checked with this before it becomes part of a path. */
bool objstore_hash_valid(const char *s);

/* Copy the file at path into dir's object store (creating dir/objects and
 * the two-digit subdirectory as needed), reading it in blocks, never
 * whole. On success hash_out holds its 32-hex hash and *bytes_out (if
 * not NULL) its size. Content already stored is not stored again; the
 * temporary copy is removed and the call succeeds. NH_EIO (with the
 * path and errno) when a read, write, fsync or rename fails; the
 * temporary file is removed on every failure. */
int objstore_put_file(const char *dir, const char *path, char hash_out[33],
                      uint64_t *bytes_out, struct nh_error *err);

/* Set out (reset first) to "DIR/objects/ab/HASH". NH_EINVAL for a hash
 * that is not 32 lowercase hex digits (out untouched), or a strbuf
 * error. Does not look at the disk. */
int objstore_path(const char *dir, const char *hash, struct strbuf *out);

/* Rehash the stored object: 0 when its content has the hash in its name,
 * NH_ECORRUPT when not, NH_ENOENT when there is no such object, NH_EINVAL
 * for a malformed hash, NH_EIO for a read failure. */
int objstore_verify(const char *dir, const char *hash, struct nh_error *err);

struct manifest_shard {
    char hash[OBJSTORE_HASH_LEN + 1]; /* object hash */
    uint64_t docs;                    /* documents (lines) in it */
    uint64_t bytes;                   /* its size in bytes */
};

/* A manifest as C values; the caller owns every pointer in it. */
struct manifest {
    const char *dataset; /* dataset name */
    const struct manifest_shard *shards;
    size_t nshards;
    const char *parent;       /* parent version id (32 hex), NULL: none */
    int64_t job_id;           /* producing job, -1: none */
    const char *config_hash;  /* pipeline config hash, NULL: none */
    const char *tool_version; /* nh-clean version that made it */
};

/* The manifest as JSON (keys "format", "dataset", "shards", "parent",
 * "job_id", "config_hash", "tool_version"; absent values are null). The
 * caller frees it with cJSON_Delete(). NULL when out of memory, or when
 * dataset or tool_version is NULL. Values are copied, not validated:
 * manifest_parse() checks a manifest that came from outside. */
cJSON *manifest_to_json(const struct manifest *m);

/* Set out (reset first) to the canonical JSON of m (described above). m
 * may be any JSON value, not only a manifest. NH_EINVAL for a duplicate
 * key in an object or a non-finite number, NH_ETOOBIG past 256 levels of
 * nesting, or a strbuf error. */
int manifest_canonical(const cJSON *m, struct strbuf *out);

/* The version id of m: XXH3-128 hex of manifest_canonical(m). Errors as
 * manifest_canonical(). */
int manifest_id(const cJSON *m, char id[OBJSTORE_HASH_LEN + 1]);

/* Parse len bytes of JSON as a manifest and check it: every key present
 * and no others, "format" is MANIFEST_FORMAT, "dataset" and
 * "tool_version" non-empty strings, "parent" null or 32 hex, "job_id"
 * null or a non-negative integer, "config_hash" null or a string,
 * "shards" an array of {"hash": 32 hex, "docs": n, "bytes": n} with n a
 * non-negative integer up to 2^53. NH_EFORMAT for text that is not JSON;
 * NH_EINVAL naming the field ("shards[2].docs") for anything else. On
 * success *out is the parsed tree; the caller frees it with
 * cJSON_Delete(). */
int manifest_parse(const char *json, size_t len, cJSON **out,
                   struct nh_error *err);

#endif
