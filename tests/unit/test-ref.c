/* test-ref.c - unit tests for server/ref.c (and version_commit)
 *
 * Each test opens a real store (schemas/db migrations, found through
 * $NH_TOP, else the current directory) in its own temp directory. The
 * ref tests insert datasets, versions and tags with SQL, choosing ids
 * that share prefixes; the commit tests go through version_commit() with
 * real files and then resolve what it made.
 */
#include "ref.h"

#include "store.h"
#include "test.h"
#include "tmpdir.h"
#include "version.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V1 "aaaaaa00000000000000000000000001"
#define V2 "aaaaaa00000000000000000000000002"
#define V3 "bbbbbb11111111111111111111111111"
#define W1 "cccccc22222222222222222222222222"

static struct store *
open_store(void)
{
    char migs[4096], dir[4096];
    const char *top = getenv("NH_TOP");
    struct store *s = NULL;
    struct nh_error err = {0};

    snprintf(migs, sizeof(migs), "%s/schemas/db", top ? top : ".");
    path_join(dir, sizeof(dir), tmp, "data");
    if (store_open(&s, dir, migs, &err) < 0) {
        printf("  store_open: %s\n", err.msg);
        return NULL;
    }
    return s;
}

static int
exec_sql(struct store *s, const char *sql)
{
    return sqlite3_exec(store_db(s), sql, NULL, NULL, NULL) == SQLITE_OK ? 0
                                                                         : -1;
}

/* Dataset "web": V1 <- V2 <- V3 (V3 newest), tag "prod" on V2; dataset
 * "other": W1; dataset "empty" without versions. */
static int
fixture(struct store *s)
{
    return exec_sql(
        s, "INSERT INTO datasets (id, name) VALUES (1, 'web'), (2, 'other'),"
           " (3, 'empty');"
           "INSERT INTO versions (id, dataset_id, parent, tool_version, docs,"
           " bytes, created) VALUES"
           " ('" V1 "', 1, NULL, 't', 1, 1, 100),"
           " ('" V2 "', 1, '" V1 "', 't', 1, 1, 100),"
           " ('" V3 "', 1, '" V2 "', 't', 1, 1, 100),"
           " ('" W1 "', 2, NULL, 't', 1, 1, 200);"
           "INSERT INTO tags (dataset_id, name, version_id) VALUES"
           " (1, 'prod', '" V2 "');");
}

/* Resolve ref; the return code, with *out filled on success. */
static int
resolve(struct store *s, const char *ref, struct ref_version *out)
{
    struct nh_error err = {0};

    memset(out, 0, sizeof(*out));
    return ref_resolve(store_db(s), ref, out, &err);
}

TEST(resolve_forms)
{
    struct store *s;
    struct ref_version r;

    CHECK(tmp_begin("ref") == 0);
    s = open_store();
    CHECK(s != NULL);
    if (!s)
        goto out;
    CHECK(fixture(s) == 0);

    /* NAME: newest (same second: the deepest in the chain) */
    CHECK(resolve(s, "web", &r) == 0);
    CHECK_STR(r.version, V3);
    CHECK_STR(r.dataset, "web");
    CHECK(r.dataset_id == 1);
    CHECK(resolve(s, "other", &r) == 0);
    CHECK_STR(r.version, W1);
    CHECK(r.dataset_id == 2);
    /* NAME@TAG */
    CHECK(resolve(s, "web@prod", &r) == 0);
    CHECK_STR(r.version, V2);
    /* NAME@FULLID, in upper case too */
    CHECK(resolve(s, "web@" V1, &r) == 0);
    CHECK_STR(r.version, V1);
    CHECK(resolve(s, "web@AAAAAA00000000000000000000000001", &r) == 0);
    CHECK_STR(r.version, V1);
    /* NAME@PREFIX: unique from 6 digits on */
    CHECK(resolve(s, "web@bbbbbb", &r) == 0);
    CHECK_STR(r.version, V3);
    CHECK(resolve(s, "web@aaaaaa000000000000000000000000", &r) == NH_EINVAL);
    CHECK(resolve(s, "web@aaaaaa0000000000000000000000002", &r) == NH_ENOENT);
    CHECK(resolve(s, "web@aaaaaa00000000000000000000000002", &r) == 0);
    CHECK_STR(r.version, V2);
out:
    store_close(s);
    tmp_end();
}

TEST(resolve_errors)
{
    struct nh_error err = {0};
    struct store *s;
    struct ref_version r;

    CHECK(tmp_begin("ref") == 0);
    s = open_store();
    CHECK(s != NULL);
    if (!s)
        goto out;
    CHECK(fixture(s) == 0);

    /* ambiguous prefix is bad_request, with both in the message */
    memset(&r, 0, sizeof(r));
    CHECK(ref_resolve(store_db(s), "web@aaaaaa", &r, &err) == NH_EINVAL);
    CHECK(strstr(err.msg, "ambiguous") != NULL);
    CHECK(r.version[0] == '\0');
    /* too short to be a prefix, and no such tag */
    CHECK(resolve(s, "web@bbbbb", &r) == NH_ENOENT);
    /* a prefix of another dataset's version */
    CHECK(resolve(s, "web@cccccc", &r) == NH_ENOENT);
    CHECK(resolve(s, "other@cccccc", &r) == 0);
    /* unknown dataset, unknown tag, dataset without versions */
    CHECK(ref_resolve(store_db(s), "nope", &r, &err) == NH_ENOENT);
    CHECK(strstr(err.msg, "'nope'") != NULL);
    CHECK(resolve(s, "web@staging", &r) == NH_ENOENT);
    CHECK(resolve(s, "other@prod", &r) == NH_ENOENT);
    CHECK(resolve(s, "empty", &r) == NH_ENOENT);
    /* malformed */
    CHECK(resolve(s, "", &r) == NH_EINVAL);
    CHECK(resolve(s, "@prod", &r) == NH_EINVAL);
    CHECK(resolve(s, "web@", &r) == NH_EINVAL);
    CHECK(resolve(s, "web@prod@x", &r) == NH_EINVAL);
    /* a newer version changes NAME, not the tag */
    CHECK(exec_sql(s, "UPDATE versions SET created = 300 WHERE id = '" V1
                      "'") == 0);
    CHECK(resolve(s, "web", &r) == 0);
    CHECK_STR(r.version, V1);
    CHECK(resolve(s, "web@prod", &r) == 0);
    CHECK_STR(r.version, V2);
out:
    store_close(s);
    tmp_end();
}

TEST(tag_and_name_rules)
{
    CHECK(ref_tag_valid("prod"));
    CHECK(ref_tag_valid("v1.2_rc-3"));
    CHECK(ref_tag_valid("abcde"));   /* 5 hex digits: not a prefix */
    CHECK(!ref_tag_valid("abcdef")); /* 6: reads as a prefix */
    CHECK(!ref_tag_valid("ABCDEF12"));
    CHECK(ref_tag_valid("abcdefg"));
    CHECK(!ref_tag_valid(""));
    CHECK(!ref_tag_valid("a b"));
    CHECK(!ref_tag_valid("a@b"));
    CHECK(ref_dataset_name_valid("web-zh.2024"));
    CHECK(!ref_dataset_name_valid("a@b"));
    CHECK(!ref_dataset_name_valid("a/b"));
    CHECK(!ref_dataset_name_valid("a b"));
    CHECK(!ref_dataset_name_valid(""));
}

static int
write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    int rc;

    if (!f)
        return -1;
    rc = fwrite(text, 1, len, f) == len ? 0 : -1;
    return fclose(f) || rc ? -1 : 0;
}

TEST(commit_and_resolve)
{
    char a[4096], b[4096], bad[4096], dir[4096];
    char id1[33], id2[33], id3[33], id4[33];
    const char *pa[1], *pb[1], *pbad[1];
    struct nh_error err = {0};
    struct ref_version r;
    struct store *s;
    sqlite3 *db;

    CHECK(tmp_begin("ref") == 0);
    s = open_store();
    CHECK(s != NULL);
    if (!s)
        goto out;
    db = store_db(s);
    path_join(dir, sizeof(dir), tmp, "data");
    path_join(a, sizeof(a), tmp, "a.jsonl");
    path_join(b, sizeof(b), tmp, "b.jsonl");
    path_join(bad, sizeof(bad), tmp, "bad.jsonl");
    CHECK(write_file(a, "{\"t\":\"x\"}\n{\"t\":\"\xe4\xbd\xa0\"}\n", 22) == 0);
    CHECK(write_file(b, "{\"t\":\"y\"}", 9) == 0);
    CHECK(write_file(bad, "{}\n{}\n{\"t\":\"\xff\"}\n", 16) == 0);
    pa[0] = a;
    pb[0] = b;
    pbad[0] = bad;

    struct version_spec spec = {.dataset = "web", .paths = pa, .n = 1};
    CHECK(version_commit(db, dir, &spec, id1, &err) == 0);
    CHECK(version_commit(db, dir, &spec, id2, &err) == 0);
    CHECK_STR(id1, id2); /* a repeat is the same version */
    spec.paths = pb;
    CHECK(version_commit(db, dir, &spec, id2, &err) == 0);
    CHECK(strcmp(id1, id2) != 0);
    CHECK(resolve(s, "web", &r) == 0);
    CHECK_STR(r.version, id2);

    /* a job's output in another dataset, parented on web's first */
    struct version_spec job = {.dataset = "clean",
                               .paths = pa,
                               .n = 1,
                               .parent = id1,
                               .config_hash = "cafe",
                               .tool_version = "nh-clean 9"};
    CHECK(version_commit(db, dir, &job, id3, &err) == 0);
    CHECK(resolve(s, "clean", &r) == 0);
    CHECK_STR(r.version, id3);
    CHECK(strcmp(id3, id1) != 0);
    /* objects already stored commit the same as their files */
    const char *objs[1] = {NULL};
    sqlite3_stmt *st = NULL;
    char obj[33] = "";
    CHECK(sqlite3_prepare_v2(db,
                             "SELECT object FROM version_shards WHERE "
                             "version_id = ?1",
                             -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_text(st, 1, id3, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(obj, sizeof(obj), "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    objs[0] = obj;
    job.paths = NULL;
    job.objects = objs;
    CHECK(version_commit(db, dir, &job, id4, &err) == 0);
    CHECK_STR(id4, id3);

    /* invalid UTF-8 names the file and the line */
    spec.paths = pbad;
    CHECK(version_commit(db, dir, &spec, id4, &err) == NH_EINVAL);
    CHECK(strstr(err.msg, "bad.jsonl' line 3") != NULL);
    /* unknown parent, bad name */
    job.parent = "0123456789abcdef0123456789abcdef";
    CHECK(version_commit(db, dir, &job, id4, &err) == NH_ENOENT);
    spec.paths = pa;
    spec.dataset = "a@b";
    CHECK(version_commit(db, dir, &spec, id4, &err) == NH_EINVAL);
out:
    store_close(s);
    tmp_end();
}

int
main(void)
{
    RUN(resolve_forms);
    RUN(resolve_errors);
    RUN(tag_and_name_rules);
    RUN(commit_and_resolve);
    return test_summary();
}
