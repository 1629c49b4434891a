/* test-store.c - unit tests for server/store.c
 *
 * Every test works on a real SQLite file in its own mkdtemp directory
 * under /tmp, removed at the end. Migrations come from schemas/db (found
 * through $NH_TOP, which tests/run sets, else the current directory), or
 * from a copy in the temp directory when a test needs broken or extra
 * migrations. The test reaches under the API with store_db() to read
 * pragmas and to poke at constraints.
 */
#include "store.h"

#include "test.h"
#include "tmpdir.h"

#include <ftw.h>
#include <glob.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char migs[4096];

static const char *
migrations(void)
{
    const char *top = getenv("NH_TOP");

    snprintf(migs, sizeof(migs), "%s/schemas/db", top ? top : ".");
    return migs;
}

static int
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int rc;

    if (!f)
        return -1;
    rc = fputs(text, f) < 0 ? -1 : 0;
    return fclose(f) || rc ? -1 : 0;
}

/* Whole file as a malloc'd buffer; *len its size. NULL if unreadable. */
static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p = NULL, *q;
    size_t n = 0, got;
    char buf[65536];

    if (!f)
        return NULL;
    while ((got = fread(buf, 1, sizeof(buf), f)) > 0) {
        q = realloc(p, n + got + 1);
        if (!q) {
            free(p);
            fclose(f);
            return NULL;
        }
        p = q;
        memcpy(p + n, buf, got);
        n += got;
    }
    fclose(f);
    if (!p)
        p = calloc(1, 1);
    else
        p[n] = '\0';
    *len = n;
    return p;
}

static int
copy_file(const char *src, const char *dst)
{
    size_t n;
    char *p = slurp(src, &n);
    int rc;

    if (!p)
        return -1;
    rc = write_file(dst, p);
    free(p);
    return rc;
}

/* tmp/migs holding a copy of 0001-init.sql; its path in out. */
static int
migs_copy(char *out, size_t size)
{
    char src[4096], dst[4096];

    path_join(out, size, tmp, "migs");
    if (mkdir(out, 0700) < 0)
        return -1;
    path_join(src, sizeof(src), migrations(), "0001-init.sql");
    path_join(dst, sizeof(dst), out, "0001-init.sql");
    return copy_file(src, dst);
}

/* Does file path contain needle? -1 if it cannot be read. */
static int
file_has(const char *path, const char *needle)
{
    size_t n;
    char *p = slurp(path, &n);
    int found;

    if (!p)
        return -1;
    found = memmem(p, n, needle, strlen(needle)) != NULL;
    free(p);
    return found;
}

static long long
query_int(struct store *s, const char *sql)
{
    sqlite3_stmt *st;
    long long v = -1;

    if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) != SQLITE_OK)
        return -2;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Run sql with no parameters; SQLite's extended result code. */
static int
exec_rc(struct store *s, const char *sql)
{
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) != SQLITE_OK)
        return sqlite3_extended_errcode(store_db(s));
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc;
}

static int
is_token(const char *t)
{
    size_t i;

    for (i = 0; i < STORE_TOKEN_LEN; i++)
        if (!strchr("0123456789abcdef", t[i]) || !t[i])
            return 0;
    return t[STORE_TOKEN_LEN] == '\0';
}

static void
sha256_hex(const char *s, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;

    EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
    for (i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The highest NNNN of the real migrations: the user_version they make. */
static long long
latest_migration(void)
{
    char pattern[4200];
    long long best = 0, v;
    glob_t g;
    size_t i;

    snprintf(pattern, sizeof(pattern), "%s/[0-9][0-9][0-9][0-9]-*.sql",
             migrations());
    if (glob(pattern, 0, NULL, &g) != 0)
        return -1;
    for (i = 0; i < g.gl_pathc; i++) {
        v = atoll(strrchr(g.gl_pathv[i], '/') + 1);
        if (v > best)
            best = v;
    }
    globfree(&g);
    return best;
}

/* Open tmp/data with the real migrations; NULL on failure. */
static struct store *
open_data(struct nh_error *err)
{
    char dir[4096];
    struct store *s = NULL;

    path_join(dir, sizeof(dir), tmp, "data");
    if (store_open(&s, dir, migrations(), err) < 0)
        return NULL;
    return s;
}

TEST(open_fresh)
{
    struct nh_error err = {0};
    struct store *s = NULL;
    char dir[4096], db[4096];
    struct stat st;

    if (tmp_begin("store") < 0) {
        CHECK(!"mkdtemp");
        return;
    }
    path_join(dir, sizeof(dir), tmp, "a/b");
    path_join(db, sizeof(db), dir, STORE_DB_NAME);
    CHECK(store_open(&s, dir, migrations(), &err) == 0);
    if (!s) {
        printf("  %s\n", err.msg);
        goto out;
    }
    CHECK(stat(db, &st) == 0);
    CHECK(latest_migration() >= 1);
    CHECK(query_int(s, "PRAGMA user_version") == latest_migration());
    CHECK(query_int(s, "PRAGMA foreign_keys") == 1);
    CHECK(query_int(s, "PRAGMA synchronous") == 1); /* NORMAL */
    CHECK(query_int(s, "SELECT count(*) FROM sqlite_schema WHERE type ="
                       " 'table' AND name IN ('users', 'tokens', 'datasets',"
                       " 'versions', 'version_shards', 'tags', 'jobs',"
                       " 'job_logs')") == 8);
    store_close(s);
out:
    tmp_end();
}

TEST(wal_mode)
{
    struct nh_error err = {0};
    struct store *s;
    sqlite3_stmt *st;
    char wal[4096];
    struct stat sb;

    if (tmp_begin("store") < 0) {
        CHECK(!"mkdtemp");
        return;
    }
    s = open_data(&err);
    CHECK(s != NULL);
    if (!s)
        goto out;
    CHECK(sqlite3_prepare_v2(store_db(s), "PRAGMA journal_mode", -1, &st,
                             NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    path_join(wal, sizeof(wal), tmp, "data/" STORE_DB_NAME "-wal");
    CHECK(stat(wal, &sb) == 0);
    store_close(s);
out:
    tmp_end();
}

TEST(reopen_applies_nothing)
{
    struct nh_error err = {0};
    struct store *s;
    char tok[STORE_TOKEN_LEN + 1], dir[4096], mdir[4096], f[4096];
    struct store_user u;

    if (tmp_begin("store") < 0) {
        CHECK(!"mkdtemp");
        return;
    }
    path_join(dir, sizeof(dir), tmp, "data");
    CHECK(migs_copy(mdir, sizeof(mdir)) == 0);
    CHECK(store_open(&s, dir, mdir, &err) == 0);
    CHECK(s != NULL);
    if (!s)
        goto out;
    CHECK(store_user_add(s, "ann", "engineer", tok, &err) == 0);
    store_close(s);

    /* 0001 is at or below user_version: not even read, so garbage in it
     * does not matter */
    path_join(f, sizeof(f), mdir, "0001-init.sql");
    CHECK(write_file(f, "this is not sql;") == 0);
    s = NULL;
    CHECK(store_open(&s, dir, mdir, &err) == 0);
    if (!s) {
        printf("  %s\n", err.msg);
        goto out;
    }
    CHECK(query_int(s, "PRAGMA user_version") == 1);
    CHECK(store_token_check(s, tok, &u) == 0);
    CHECK_STR(u.name, "ann");
    store_close(s);
out:
    tmp_end();
}

TEST(broken_migration)
{
    struct nh_error err = {0};
    struct store *s = NULL;
    char tok[STORE_TOKEN_LEN + 1], dir[4096], mdir[4096], f[4096];
    int rc;

    if (tmp_begin("store") < 0) {
        CHECK(!"mkdtemp");
        return;
    }
    path_join(dir, sizeof(dir), tmp, "data");
    CHECK(migs_copy(mdir, sizeof(mdir)) == 0);
    path_join(f, sizeof(f), mdir, "0002-broken.sql");
    CHECK(write_file(f, "CREATE TABLE half (a);\n"
                        "INSERT INTO nosuch VALUES (1);\n") == 0);

    /* fresh: 0001 goes in, 0002 fails and is rolled back */
    rc = store_open(&s, dir, mdir, &err);
    CHECK(rc == NH_EIO);
    CHECK(s == NULL);
    CHECK(strstr(err.msg, "'0002-broken.sql'") != NULL);
    CHECK(strstr(err.msg, "no such table: nosuch") != NULL);

    /* the same again on an existing database */
    memset(&err, 0, sizeof(err));
    CHECK(store_open(&s, dir, mdir, &err) == NH_EIO);
    CHECK(strstr(err.msg, "0002-broken.sql") != NULL);

    /* 0001 stayed; the real migrations bring it up to date, usable */
    CHECK(store_open(&s, dir, migrations(), &err) == 0);
    if (!s)
        goto out;
    CHECK(query_int(s, "PRAGMA user_version") == latest_migration());
    CHECK(query_int(s, "SELECT count(*) FROM sqlite_schema WHERE name ="
                       " 'half'") == 0);
    CHECK(store_user_add(s, "bob", "reviewer", tok, &err) == 0);
    store_close(s);
out:
    tmp_end();
}

TEST(migration_order_and_newer_db)
{
    struct nh_error err = {0};
    struct store *s = NULL;
    char dir[4096], mdir[4096], f[4096];

    if (tmp_begin("store") < 0) {
        CHECK(!"mkdtemp");
        return;
    }
    path_join(dir, sizeof(dir), tmp, "data");
    CHECK(migs_copy(mdir, sizeof(mdir)) == 0);
    /* 0903 needs 0902's table: proves numeric order; README is ignored.
     * The numbers are far above the real migrations. */
    path_join(f, sizeof(f), mdir, "0903-more.sql");
    CHECK(write_file(f, "ALTER TABLE extra ADD COLUMN b;") == 0);
    path_join(f, sizeof(f), mdir, "0902-extra.sql");
    CHECK(write_file(f, "CREATE TABLE extra (a);") == 0);
    path_join(f, sizeof(f), mdir, "README");
    CHECK(write_file(f, "not a migration") == 0);
    CHECK(store_open(&s, dir, mdir, &err) == 0);
    if (!s) {
        printf("  %s\n", err.msg);
        goto out;
    }
    CHECK(query_int(s, "PRAGMA user_version") == 903);
    CHECK(query_int(s, "SELECT count(b) FROM extra") == 0);
    store_close(s);
    s = NULL;

    /* a database newer than the migrations is refused */
    CHECK(store_open(&s, dir, migrations(), &err) == NH_EINVAL);
    CHECK(strstr(err.msg, "version 903") != NULL);

    /* two files with one number */
    path_join(f, sizeof(f), mdir, "0902-twin.sql");
    CHECK(write_file(f, "SELECT 1;") == 0);
    CHECK(store_open(&s, dir, mdir, &err) == NH_EINVAL);
    CHECK(strstr(err.msg, "same number") != NULL);
out:
    tmp_end();
}

TEST(open_errors)
{
    struct nh_error err = {0};
    struct store *s = NULL;
    char path[4096], db[4096];

    if (tmp_begin("store") < 0) {
        CHECK(!"mkdtemp");
        return;
    }
    /* a data directory under a regular file */
    path_join(path, sizeof(path), tmp, "file");
    CHECK(write_file(path, "x") == 0);
    path_join(db, sizeof(db), path, "data");
    CHECK(store_open(&s, db, migrations(), &err) == NH_EIO);
    CHECK(strstr(err.msg, "cannot create directory") != NULL);

    /* the database file is a directory */
    path_join(path, sizeof(path), tmp, "d");
    path_join(db, sizeof(db), path, STORE_DB_NAME);
    CHECK(mkdir(path, 0700) == 0 && mkdir(db, 0700) == 0);
    CHECK(store_open(&s, path, migrations(), &err) == NH_EIO);
    CHECK(strncmp(err.msg, "cannot open database '", 22) == 0);
    CHECK(strstr(err.msg, STORE_DB_NAME "': ") != NULL);

    /* no migrations directory */
    path_join(path, sizeof(path), tmp, "e");
    path_join(db, sizeof(db), tmp, "nomigs");
    CHECK(store_open(&s, path, db, &err) == NH_EIO);
    CHECK(strstr(err.msg, "nomigs") != NULL);
    CHECK(s == NULL);
    tmp_end();
}

TEST(constraints)
{
    struct nh_error err = {0};
    struct store *s;
    char tok[STORE_TOKEN_LEN + 1];

    if (tmp_begin("store") < 0) {
        CHECK(!"mkdtemp");
        return;
    }
    s = open_data(&err);
    CHECK(s != NULL);
    if (!s)
        goto out;
    /* foreign keys are enforced: a token for a missing user */
    CHECK(exec_rc(s, "INSERT INTO tokens (hash, user_id) VALUES ('"
                     "0000000000000000000000000000000000000000000000000000"
                     "000000000000', 999)") == SQLITE_CONSTRAINT_FOREIGNKEY);
    CHECK(exec_rc(s, "INSERT INTO users (name, role) VALUES ('x', 'root')") ==
          SQLITE_CONSTRAINT_CHECK);
    CHECK(exec_rc(s, "INSERT INTO jobs (kind, state) VALUES ('p', 'bogus')") ==
          SQLITE_CONSTRAINT_CHECK);
    CHECK(exec_rc(s, "INSERT INTO jobs (kind) VALUES ('pipeline.run')") ==
          SQLITE_DONE);
    CHECK(query_int(s, "SELECT count(*) FROM jobs WHERE state = 'queued'") ==
          1);
    CHECK(exec_rc(s, "UPDATE jobs SET state = 'interrupted'") == SQLITE_DONE);
    CHECK(exec_rc(s, "INSERT INTO versions (id, dataset_id, tool_version,"
                     " docs, bytes) VALUES ('0123456789abcdef0123456789abcdef',"
                     " 7, 'nh 0', 0, 0)") == SQLITE_CONSTRAINT_FOREIGNKEY);
    CHECK(store_user_add(s, "cat", "admin", tok, &err) == 0);
    CHECK(exec_rc(s, "DELETE FROM users WHERE name = 'cat'") == SQLITE_DONE);
    CHECK(query_int(s, "SELECT count(*) FROM tokens") == 0); /* cascade */
    store_close(s);
out:
    tmp_end();
}

TEST(user_add_and_check)
{
    struct nh_error err = {0};
    struct store *s;
    char tok[STORE_TOKEN_LEN + 1], tok2[STORE_TOKEN_LEN + 1];
    char bad[STORE_TOKEN_LEN + 1];
    struct store_user u;

    if (tmp_begin("store") < 0) {
        CHECK(!"mkdtemp");
        return;
    }
    s = open_data(&err);
    CHECK(s != NULL);
    if (!s)
        goto out;
    CHECK(store_user_add(s, "dan", "engineer", tok, &err) == 0);
    CHECK(is_token(tok));
    CHECK(store_user_add(s, "eve.r-2_x", "reviewer", tok2, &err) == 0);
    CHECK(is_token(tok2));
    CHECK(strcmp(tok, tok2) != 0);

    memset(&u, 0, sizeof(u));
    CHECK(store_token_check(s, tok, &u) == 0);
    CHECK_STR(u.name, "dan");
    CHECK_STR(u.role, "engineer");
    CHECK(u.id > 0);
    CHECK(store_token_check(s, tok2, &u) == 0);
    CHECK_STR(u.name, "eve.r-2_x");
    CHECK_STR(u.role, "reviewer");

    /* wrong tokens, all alike NH_ENOENT, *out untouched */
    memcpy(bad, tok, sizeof(bad));
    bad[10] = bad[10] == '0' ? '1' : '0';
    memset(&u, 0, sizeof(u));
    CHECK(store_token_check(s, bad, &u) == NH_ENOENT);
    CHECK(u.id == 0 && u.name[0] == '\0');
    bad[10] = 'A'; /* upper case is not the same token */
    CHECK(store_token_check(s, bad, &u) == NH_ENOENT);
    CHECK(store_token_check(s, "", &u) == NH_ENOENT);
    CHECK(store_token_check(s, "abc", &u) == NH_ENOENT);
    CHECK(store_token_check(s, NULL, &u) == NH_ENOENT);
    store_close(s);
out:
    tmp_end();
}

TEST(user_add_errors)
{
    struct nh_error err = {0};
    struct store *s;
    char tok[STORE_TOKEN_LEN + 1], long_name[80];

    if (tmp_begin("store") < 0) {
        CHECK(!"mkdtemp");
        return;
    }
    s = open_data(&err);
    CHECK(s != NULL);
    if (!s)
        goto out;
    CHECK(store_user_add(s, "fay", "admin", tok, &err) == 0);
    CHECK(store_user_add(s, "fay", "reviewer", tok, &err) == NH_EEXIST);
    CHECK_STR(err.msg, "user 'fay' already exists");
    CHECK(store_user_add(s, "gus", "root", tok, &err) == NH_EINVAL);
    CHECK(strstr(err.msg, "'root'") != NULL);
    CHECK(store_user_add(s, "gus", "", tok, &err) == NH_EINVAL);
    CHECK(store_user_add(s, "gus", "Admin", tok, &err) == NH_EINVAL);
    CHECK(store_user_add(s, "", "admin", tok, &err) == NH_EINVAL);
    CHECK(store_user_add(s, "a b", "admin", tok, &err) == NH_EINVAL);
    CHECK(store_user_add(s, "x'--", "admin", tok, &err) == NH_EINVAL);
    memset(long_name, 'n', 65);
    long_name[65] = '\0';
    CHECK(store_user_add(s, long_name, "admin", tok, &err) == NH_EINVAL);
    long_name[64] = '\0';
    CHECK(store_user_add(s, long_name, "admin", tok, &err) == 0);
    /* nothing half-made by the failures */
    CHECK(query_int(s, "SELECT count(*) FROM users") == 2);
    CHECK(query_int(s, "SELECT count(*) FROM tokens") == 2);
    store_close(s);
out:
    tmp_end();
}

TEST(token_not_in_clear)
{
    struct nh_error err = {0};
    struct store *s;
    char tok[STORE_TOKEN_LEN + 1], hash[65], db[4096], wal[4096];

    if (tmp_begin("store") < 0) {
        CHECK(!"mkdtemp");
        return;
    }
    s = open_data(&err);
    CHECK(s != NULL);
    if (!s)
        goto out;
    CHECK(store_user_add(s, "hal", "engineer", tok, &err) == 0);
    sha256_hex(tok, hash);
    store_close(s);
    path_join(db, sizeof(db), tmp, "data/" STORE_DB_NAME);
    path_join(wal, sizeof(wal), tmp, "data/" STORE_DB_NAME "-wal");
    CHECK(file_has(db, tok) == 0);
    CHECK(file_has(wal, tok) <= 0); /* gone after close, or no token */
    /* the search works: the hash is there, in the file or its WAL */
    CHECK(file_has(db, hash) == 1 || file_has(wal, hash) == 1);
out:
    tmp_end();
}

TEST(revoke)
{
    struct nh_error err = {0};
    struct store *s;
    char tok[STORE_TOKEN_LEN + 1], tok2[STORE_TOKEN_LEN + 1];
    struct store_user u;

    if (tmp_begin("store") < 0) {
        CHECK(!"mkdtemp");
        return;
    }
    s = open_data(&err);
    CHECK(s != NULL);
    if (!s)
        goto out;
    CHECK(store_user_add(s, "ida", "engineer", tok, &err) == 0);
    CHECK(store_user_add(s, "jon", "engineer", tok2, &err) == 0);
    CHECK(store_token_check(s, tok, &u) == 0);
    CHECK(store_user_revoke(s, "ida", &err) == 0);
    CHECK(store_token_check(s, tok, &u) == NH_ENOENT);
    CHECK(store_token_check(s, tok2, &u) == 0);
    CHECK(store_user_revoke(s, "ida", &err) == 0); /* again: no-op */
    CHECK(store_user_revoke(s, "nobody", &err) == NH_ENOENT);
    CHECK_STR(err.msg, "no user 'nobody'");
    CHECK(query_int(s, "SELECT count(*) FROM tokens WHERE revoked IS NOT"
                       " NULL") == 1);
    store_close(s);
out:
    tmp_end();
}

TEST(admin_bootstrap)
{
    struct nh_error err = {0};
    struct store *s;
    char tok[STORE_TOKEN_LEN + 1], tok2[STORE_TOKEN_LEN + 1];
    struct store_user u;
    bool created = false;

    if (tmp_begin("store") < 0) {
        CHECK(!"mkdtemp");
        return;
    }
    s = open_data(&err);
    CHECK(s != NULL);
    if (!s)
        goto out;
    CHECK(store_admin_bootstrap(s, tok, &created, &err) == 0);
    CHECK(created);
    CHECK(is_token(tok));
    CHECK(store_token_check(s, tok, &u) == 0);
    CHECK_STR(u.name, "admin");
    CHECK_STR(u.role, "admin");

    memset(tok2, 'z', sizeof(tok2));
    CHECK(store_admin_bootstrap(s, tok2, &created, &err) == 0);
    CHECK(!created);
    CHECK(tok2[0] == 'z' && tok2[STORE_TOKEN_LEN] == 'z'); /* untouched */
    CHECK(query_int(s, "SELECT count(*) FROM users") == 1);
    store_close(s);
    s = NULL;

    /* any admin counts, whatever its name; still false after reopen */
    s = open_data(&err);
    CHECK(s != NULL);
    if (!s)
        goto out;
    CHECK(store_admin_bootstrap(s, tok2, &created, &err) == 0);
    CHECK(!created);
    store_close(s);
    tmp_end();

    if (tmp_begin("store") < 0) {
        CHECK(!"mkdtemp");
        return;
    }
    s = open_data(&err);
    CHECK(s != NULL);
    if (!s)
        goto out;
    CHECK(store_user_add(s, "root", "admin", tok, &err) == 0);
    CHECK(store_admin_bootstrap(s, tok2, &created, &err) == 0);
    CHECK(!created);
    store_close(s);
out:
    tmp_end();
}

/* Copy migration name from schemas/db into mdir. */
static int
mig_add(const char *mdir, const char *name)
{
    char src[4096], dst[4096];

    path_join(src, sizeof(src), migrations(), name);
    path_join(dst, sizeof(dst), mdir, name);
    return copy_file(src, dst);
}

/* The depth column of version id; -1 when there is none. */
static long long
depth_of(struct store *s, const char *id)
{
    char sql[128];

    snprintf(sql, sizeof(sql), "SELECT depth FROM versions WHERE id = '%s'",
             id);
    return query_int(s, sql);
}

#define VA "aaaaaa00000000000000000000000001"
#define VB "aaaaaa00000000000000000000000002"
#define VC "aaaaaa00000000000000000000000003"
#define VD "aaaaaa00000000000000000000000004"
#define WA "bbbbbb00000000000000000000000001"
#define WB "bbbbbb00000000000000000000000002"
#define WC "bbbbbb00000000000000000000000003"

/* 0004 fills versions.depth for rows made before it (the chain within a
 * dataset; a parent in another dataset starts a new chain), and its
 * trigger sets it for every later insert. */
TEST(version_depth_migration)
{
    struct nh_error err = {0};
    struct store *s = NULL;
    char dir[4096], mdir[4096];

    if (tmp_begin("store") < 0) {
        CHECK(!"mkdtemp");
        return;
    }
    path_join(dir, sizeof(dir), tmp, "data");
    CHECK(migs_copy(mdir, sizeof(mdir)) == 0);
    CHECK(mig_add(mdir, "0002-uploads.sql") == 0);
    CHECK(mig_add(mdir, "0003-jobs.sql") == 0);
    CHECK(store_open(&s, dir, mdir, &err) == 0);
    if (!s)
        goto out;
    CHECK(query_int(s, "PRAGMA user_version") == 3);
    CHECK(exec_rc(s, "INSERT INTO datasets (id, name) VALUES (1, 'web'),"
                     " (2, 'other')") == SQLITE_DONE);
    CHECK(exec_rc(s,
                  "INSERT INTO versions (id, dataset_id, parent,"
                  " tool_version, docs, bytes, created) VALUES"
                  " ('" VA "', 1, NULL, 't', 1, 1, 100),"
                  " ('" VB "', 1, '" VA "', 't', 1, 1, 100),"
                  " ('" VC "', 1, '" VB "', 't', 1, 1, 100),"
                  " ('" WA "', 2, '" VC "', 't', 1, 1, 100),"
                  " ('" WB "', 2, '" WA "', 't', 1, 1, 100)") == SQLITE_DONE);
    store_close(s);
    s = NULL;

    CHECK(store_open(&s, dir, migrations(), &err) == 0);
    if (!s)
        goto out;
    CHECK(query_int(s, "PRAGMA user_version") == latest_migration());
    CHECK(depth_of(s, VA) == 0);
    CHECK(depth_of(s, VB) == 1);
    CHECK(depth_of(s, VC) == 2);
    CHECK(depth_of(s, WA) == 0); /* its parent is in "web" */
    CHECK(depth_of(s, WB) == 1);

    /* later inserts, whoever makes them */
    CHECK(exec_rc(s, "INSERT INTO versions (id, dataset_id, parent,"
                     " tool_version, docs, bytes) VALUES"
                     " ('" VD "', 1, '" VC "', 't', 1, 1),"
                     " ('" WC "', 2, '" VD "', 't', 1, 1)") == SQLITE_DONE);
    CHECK(depth_of(s, VD) == 3);
    CHECK(depth_of(s, WC) == 0);
    CHECK(exec_rc(s, "UPDATE versions SET depth = -1 WHERE id = '" VA "'") ==
          SQLITE_CONSTRAINT_CHECK);
    store_close(s);
out:
    tmp_end();
}

/* store_stmt keeps one statement per SQL pointer, hands it back reset
 * and without bindings, and refuses to grow past STORE_STMT_MAX. */
TEST(stmt_cache)
{
    static const char one[] = "SELECT ?1";
    static const char two[] = "SELECT 2 UNION ALL SELECT 3";
    static char many[STORE_STMT_MAX + 1][32];
    struct nh_error err = {0};
    sqlite3_stmt *a = NULL, *b = NULL, *c = NULL;
    struct store *s;
    int i, rc = 0;

    if (tmp_begin("store") < 0) {
        CHECK(!"mkdtemp");
        return;
    }
    s = open_data(&err);
    CHECK(s != NULL);
    if (!s)
        goto out;
    CHECK(store_stmt(s, one, &a, &err) == 0);
    CHECK(store_stmt(s, two, &b, &err) == 0);
    CHECK(a != NULL && b != NULL && a != b);
    sqlite3_bind_int(a, 1, 7);
    CHECK(sqlite3_step(a) == SQLITE_ROW);
    CHECK(sqlite3_column_int(a, 0) == 7);
    CHECK(sqlite3_step(b) == SQLITE_ROW); /* left mid-rows */
    CHECK(sqlite3_stmt_busy(b));
    store_stmt_done(a);
    store_stmt_done(b);
    CHECK(!sqlite3_stmt_busy(b));
    CHECK(store_stmt(s, one, &c, &err) == 0);
    CHECK(c == a);
    CHECK(sqlite3_step(c) == SQLITE_ROW);
    CHECK(sqlite3_column_type(c, 0) == SQLITE_NULL); /* binding cleared */
    store_stmt_done(c);
    store_stmt_done(NULL);

    CHECK(store_stmt(s, "SELEC nonsense", &c, &err) == NH_EIO);
    CHECK(c == NULL);
    CHECK(strstr(err.msg, "cannot prepare statement") != NULL);
    CHECK(store_stmt(s, "  -- nothing", &c, &err) == NH_EINVAL);
    CHECK(c == NULL);
    for (i = 0; i <= STORE_STMT_MAX && rc == 0; i++) {
        snprintf(many[i], sizeof(many[i]), "SELECT %d", i);
        rc = store_stmt(s, many[i], &c, &err);
    }
    CHECK(rc == NH_ENOMEM);
    CHECK(i == STORE_STMT_MAX - 1); /* two were there already */
    CHECK(store_stmt(s, one, &c, &err) == 0 && c == a);
    store_close(s); /* finalizes them all; ASan sees a leak otherwise */
out:
    tmp_end();
}

int
main(void)
{
    RUN(open_fresh);
    RUN(wal_mode);
    RUN(reopen_applies_nothing);
    RUN(broken_migration);
    RUN(migration_order_and_newer_db);
    RUN(open_errors);
    RUN(constraints);
    RUN(user_add_and_check);
    RUN(user_add_errors);
    RUN(token_not_in_clear);
    RUN(revoke);
    RUN(admin_bootstrap);
    RUN(version_depth_migration);
    RUN(stmt_cache);
    return test_summary();
}
