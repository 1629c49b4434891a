/* store.c - nhd's database: opening, migrations, users and tokens
 *
 * The storage layer under the server's DB workers (docs/SERVER.md,
 * "Storage"). store_open() makes one SQLite connection with the settings
 * every nhd connection shares and applies the schema migrations from
 * schemas/db; the user and token functions are the first queries built
 * on it. All statements are prepared, with values bound, never pasted
 * into SQL text; the one exception is PRAGMA user_version, which takes no
 * parameters and is given an integer parsed from a migration's file name.
 *
 * Tokens: 32 bytes from getrandom(2) as lowercase hex; stored as the
 * SHA-256 of that hex text (OpenSSL's EVP interface). xxHash is for
 * content, not secrets.
 */
#include "store.h"

#include "strbuf.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#define BUSY_TIMEOUT_MS 5000
#define MIGRATION_MAX_BYTES ((size_t)16 << 20) /* one .sql file */
#define MIGRATION_NUM_DIGITS 4

struct store_cached {
    const char *sql; /* the key: a string literal's address */
    sqlite3_stmt *st;
};

struct store {
    sqlite3 *db;
    struct store_cached stmts[STORE_STMT_MAX]; /* store_stmt's cache */
    int nstmts;
};

struct migration {
    int num;
    char *name; /* file name, malloc'd */
};

static const char *const roles[] = {
    STORE_ROLE_ADMIN,
    STORE_ROLE_ENGINEER,
    STORE_ROLE_REVIEWER,
};

/* Report the connection's last SQLite error as "WHAT: message". */
static int
db_error(struct store *s, struct nh_error *err, const char *what)
{
    return nh_errorf(err, NH_EIO, "%s: %s", what, sqlite3_errmsg(s->db));
}

static int
prepare(struct store *s, const char *sql, sqlite3_stmt **st,
        struct nh_error *err)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return db_error(s, err, "cannot prepare statement");
    }
    return 0;
}

/* Run every statement of a script (migrations, fixed SQL without
 * parameters), one prepared statement at a time; rows are discarded. */
static int
run_script(struct store *s, const char *sql, struct nh_error *err,
           const char *what)
{
    const char *tail = sql;
    sqlite3_stmt *st = NULL;
    int rc;

    while (*tail) {
        if (sqlite3_prepare_v2(s->db, tail, -1, &st, &tail) != SQLITE_OK)
            return db_error(s, err, what);
        if (!st) /* only whitespace or comments were left */
            break;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            ;
        if (rc != SQLITE_DONE) {
            db_error(s, err, what);
            sqlite3_finalize(st);
            return NH_EIO;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    return 0;
}

static int
begin(struct store *s, struct nh_error *err)
{
    return run_script(s, "BEGIN IMMEDIATE", err, "cannot begin transaction");
}

static int
commit(struct store *s, struct nh_error *err)
{
    return run_script(s, "COMMIT", err, "cannot commit transaction");
}

/* Undo the open transaction, if any; keeps err as the caller set it. */
static void
rollback(struct store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        run_script(s, "ROLLBACK", NULL, "rollback");
}

/* mkdir -p with mode 0700: the database holds token hashes. */
static int
make_dirs(const char *dir, struct nh_error *err)
{
    size_t n = strlen(dir), i;
    char *p = malloc(n + 1);
    int rc = 0;

    if (!p)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    memcpy(p, dir, n + 1);
    for (i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        p[i] = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST) {
            rc = nh_error_errno(err, "cannot create directory '%s'", p);
            break;
        }
        p[i] = dir[i];
    }
    free(p);
    return rc;
}

static int
read_file(const char *path, struct strbuf *sb, struct nh_error *err)
{
    char buf[8192];
    size_t n;
    FILE *f = fopen(path, "rb");
    int rc = 0;

    if (!f)
        return nh_error_errno(err, "cannot open '%s'", path);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        rc = strbuf_add(sb, buf, n);
        if (rc < 0) {
            nh_errorf(err, rc, "cannot read '%s': %s", path, nh_strerror(rc));
            break;
        }
    }
    if (!rc && ferror(f))
        rc = nh_error_errno(err, "cannot read '%s'", path);
    fclose(f);
    if (!rc && !sb->buf)
        rc = strbuf_add(sb, "", 0); /* an empty file is an empty script */
    return rc;
}

/* The number of a migration file name "NNNN-what.sql", or -1. */
static int
migration_num(const char *name)
{
    size_t n = strlen(name);
    int i, num = 0;

    if (n < MIGRATION_NUM_DIGITS + 1 + 4 || name[MIGRATION_NUM_DIGITS] != '-' ||
        strcmp(name + n - 4, ".sql"))
        return -1;
    for (i = 0; i < MIGRATION_NUM_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        num = num * 10 + (name[i] - '0');
    }
    return num;
}

static int
migration_cmp(const void *a, const void *b)
{
    const struct migration *x = a, *y = b;

    return (x->num > y->num) - (x->num < y->num);
}

static void
migrations_free(struct migration *m, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(m[i].name);
    free(m);
}

/* The migration files of dir, sorted by number; two files with one
 * number are an error. */
static int
migrations_list(const char *dir, struct migration **out, size_t *nout,
                struct nh_error *err)
{
    struct migration *m = NULL, *grown;
    size_t n = 0, alloc = 0, i;
    struct dirent *de;
    DIR *d = opendir(dir);
    int rc = 0, num;

    if (!d)
        return nh_error_errno(err, "cannot open migrations directory '%s'",
                              dir);
    while ((errno = 0, de = readdir(d))) {
        num = migration_num(de->d_name);
        if (num < 0)
            continue;
        if (n == alloc) {
            alloc = alloc ? 2 * alloc : 8;
            grown = realloc(m, alloc * sizeof(*m));
            if (!grown) {
                rc = nh_errorf(err, NH_ENOMEM, "out of memory");
                goto out;
            }
            m = grown;
        }
        m[n].num = num;
        m[n].name = strdup(de->d_name);
        if (!m[n].name) {
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            goto out;
        }
        n++;
    }
    if (errno) {
        rc = nh_error_errno(err, "cannot read migrations directory '%s'", dir);
        goto out;
    }
    if (n)
        qsort(m, n, sizeof(*m), migration_cmp);
    for (i = 1; i < n; i++) {
        if (m[i].num == m[i - 1].num) {
            rc = nh_errorf(err, NH_EINVAL,
                           "migrations '%s' and '%s' have the same number",
                           m[i - 1].name, m[i].name);
            goto out;
        }
    }
    *out = m;
    *nout = n;
    m = NULL;
    n = 0;
out:
    migrations_free(m, n);
    closedir(d);
    return rc;
}

static int
user_version(struct store *s, int *out, struct nh_error *err)
{
    sqlite3_stmt *st;
    int rc = prepare(s, "PRAGMA user_version", &st, err);

    if (rc < 0)
        return rc;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *out = sqlite3_column_int(st, 0);
    } else {
        rc = db_error(s, err, "cannot read user_version");
    }
    sqlite3_finalize(st);
    return rc;
}

/* Run one migration file in a transaction that also records its number. */
static int
migration_apply(struct store *s, const char *dir, const struct migration *m,
                struct nh_error *err)
{
    struct strbuf sql = STRBUF_INIT, path = STRBUF_INIT, what = STRBUF_INIT;
    char pragma[64];
    int rc;

    rc = strbuf_addf(&path, "%s/%s", dir, m->name);
    if (rc < 0) {
        nh_errorf(err, rc, "out of memory");
        goto out;
    }
    strbuf_init(&sql, MIGRATION_MAX_BYTES);
    rc = read_file(strbuf_str(&path), &sql, err);
    if (rc < 0)
        goto out;
    rc = strbuf_addf(&what, "migration '%s' failed", m->name);
    if (rc < 0) {
        nh_errorf(err, rc, "out of memory");
        goto out;
    }
    /* an int from the file name; PRAGMA values cannot be bound */
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", m->num);
    rc = run_script(s, "BEGIN IMMEDIATE", err, strbuf_str(&what));
    if (rc < 0)
        goto out;
    rc = run_script(s, strbuf_str(&sql), err, strbuf_str(&what));
    if (!rc)
        rc = run_script(s, pragma, err, strbuf_str(&what));
    if (!rc)
        rc = run_script(s, "COMMIT", err, strbuf_str(&what));
    if (rc < 0)
        rollback(s);
out:
    strbuf_release(&sql);
    strbuf_release(&path);
    strbuf_release(&what);
    return rc;
}

static int
migrate(struct store *s, const char *dir, struct nh_error *err)
{
    struct migration *m = NULL;
    size_t n = 0, i;
    int rc, have = 0;

    rc = user_version(s, &have, err);
    if (rc < 0)
        return rc;
    rc = migrations_list(dir, &m, &n, err);
    if (rc < 0)
        return rc;
    if (have > (n ? m[n - 1].num : 0)) {
        rc = nh_errorf(err, NH_EINVAL,
                       "database version %d is newer than the migrations "
                       "in '%s'",
                       have, dir);
        goto out;
    }
    for (i = 0; i < n && !rc; i++)
        if (m[i].num > have)
            rc = migration_apply(s, dir, &m[i], err);
out:
    migrations_free(m, n);
    return rc;
}

/* Connection settings; journal_mode answers with the mode it got. Errors
 * read "WHAT: reason". */
static int
configure(struct store *s, const char *what, struct nh_error *err)
{
    sqlite3_stmt *st;
    const unsigned char *mode;
    int rc;

    sqlite3_extended_result_codes(s->db, 1);
    if (sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS) != SQLITE_OK)
        return db_error(s, err, what);
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) !=
        SQLITE_OK)
        return db_error(s, err, what);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = db_error(s, err, what);
    } else {
        mode = sqlite3_column_text(st, 0);
        rc = 0;
        if (!mode || strcmp((const char *)mode, "wal"))
            rc = nh_errorf(err, NH_EIO, "%s: journal mode is '%s', not wal",
                           what, mode ? (const char *)mode : "");
    }
    sqlite3_finalize(st);
    if (rc < 0)
        return rc;
    return run_script(s,
                      "PRAGMA foreign_keys = ON;"
                      "PRAGMA synchronous = NORMAL;",
                      err, what);
}

/* Process-wide SQLite settings, before the first connection: no memory
 * statistics, which would take a global mutex on every allocation of
 * every worker. (sqlite3_config fails harmlessly once SQLite is
 * initialised.) */
static void
sqlite_setup(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int
store_open(struct store **out, const char *dir, const char *migrations_dir,
           struct nh_error *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    struct strbuf path = STRBUF_INIT, what = STRBUF_INIT;
    struct store *s = NULL;
    int rc;

    pthread_once(&once, sqlite_setup);
    if (!dir || !*dir || !migrations_dir || !*migrations_dir)
        return nh_errorf(err, NH_EINVAL, "no data or migrations directory");
    rc = make_dirs(dir, err);
    if (rc < 0)
        return rc;
    rc = strbuf_addf(&path, "%s/%s", dir, STORE_DB_NAME);
    s = calloc(1, sizeof(*s));
    if (rc < 0 || !s) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    if (sqlite3_open_v2(strbuf_str(&path), &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = nh_errorf(err, NH_EIO, "cannot open database '%s': %s",
                       strbuf_str(&path),
                       s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto out;
    }
    rc = strbuf_addf(&what, "cannot open database '%s'", strbuf_str(&path));
    if (rc < 0) {
        nh_errorf(err, rc, "out of memory");
        goto out;
    }
    rc = configure(s, strbuf_str(&what), err);
    if (rc < 0)
        goto out;
    rc = migrate(s, migrations_dir, err);
    if (rc < 0)
        goto out;
    *out = s;
    s = NULL;
out:
    store_close(s);
    strbuf_release(&path);
    strbuf_release(&what);
    return rc;
}

void
store_close(struct store *s)
{
    int i;

    if (!s)
        return;
    /* store_stmt's statements are the only ones that outlive a call */
    for (i = 0; i < s->nstmts; i++)
        sqlite3_finalize(s->stmts[i].st);
    sqlite3_close(s->db);
    free(s);
}

int
store_stmt(struct store *s, const char *sql, sqlite3_stmt **st,
           struct nh_error *err)
{
    int i;

    for (i = 0; i < s->nstmts; i++) {
        if (s->stmts[i].sql == sql) {
            *st = s->stmts[i].st;
            return 0;
        }
    }
    if (s->nstmts == STORE_STMT_MAX)
        return nh_errorf(err, NH_ENOMEM, "more than %d cached statements",
                         STORE_STMT_MAX);
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
                           NULL) != SQLITE_OK) {
        *st = NULL;
        return db_error(s, err, "cannot prepare statement");
    }
    if (!*st) /* only whitespace or a comment */
        return nh_errorf(err, NH_EINVAL, "empty statement");
    s->stmts[s->nstmts].sql = sql;
    s->stmts[s->nstmts].st = *st;
    s->nstmts++;
    return 0;
}

void
store_stmt_done(sqlite3_stmt *st)
{
    if (!st)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

struct sqlite3 *
store_db(struct store *s)
{
    return s->db;
}

static void
hex_encode(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* SHA-256 of a token's hex text, as 64 hex digits. */
static int
token_hash(const char *token, char out[STORE_TOKEN_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (!EVP_Digest(token, strlen(token), md, &mdlen, EVP_sha256(), NULL) ||
        mdlen != STORE_TOKEN_LEN / 2)
        return NH_EIO;
    hex_encode(md, mdlen, out);
    return 0;
}

static int
token_make(char token[STORE_TOKEN_LEN + 1], char hash[STORE_TOKEN_LEN + 1],
           struct nh_error *err)
{
    unsigned char raw[STORE_TOKEN_LEN / 2];
    size_t got = 0;
    ssize_t r;

    while (got < sizeof(raw)) {
        r = getrandom(raw + got, sizeof(raw) - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return nh_error_errno(err, "cannot get random bytes");
        }
        got += (size_t)r;
    }
    hex_encode(raw, sizeof(raw), token);
    explicit_bzero(raw, sizeof(raw));
    if (token_hash(token, hash) < 0)
        return nh_errorf(err, NH_EIO, "cannot hash token: sha-256 failed");
    return 0;
}

static bool
name_ok(const char *name)
{
    size_t n = strlen(name), i;

    if (n < 1 || n > STORE_USER_NAME_MAX)
        return false;
    for (i = 0; i < n; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool
role_ok(const char *role)
{
    size_t i;

    for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
        if (!strcmp(role, roles[i]))
            return true;
    return false;
}

/* Insert a user and its first token; the caller holds a transaction. */
static int
user_insert(struct store *s, const char *name, const char *role,
            char token[STORE_TOKEN_LEN + 1], struct nh_error *err)
{
    char hash[STORE_TOKEN_LEN + 1];
    sqlite3_stmt *st = NULL;
    sqlite3_int64 id;
    int rc, src;

    rc = prepare(s, "INSERT INTO users (name, role) VALUES (?1, ?2)", &st, err);
    if (rc < 0)
        goto out;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, role, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_CONSTRAINT_UNIQUE ||
        src == SQLITE_CONSTRAINT_PRIMARYKEY) {
        rc = nh_errorf(err, NH_EEXIST, "user '%s' already exists", name);
        goto out;
    }
    if (src != SQLITE_DONE) {
        rc = nh_errorf(err, NH_EIO, "cannot add user '%s': %s", name,
                       sqlite3_errmsg(s->db));
        goto out;
    }
    id = sqlite3_last_insert_rowid(s->db);
    sqlite3_finalize(st);
    st = NULL;

    rc = token_make(token, hash, err);
    if (rc < 0)
        goto out;
    rc = prepare(s, "INSERT INTO tokens (hash, user_id) VALUES (?1, ?2)", &st,
                 err);
    if (rc < 0)
        goto out;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, id);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = nh_errorf(err, NH_EIO, "cannot add token for user '%s': %s", name,
                       sqlite3_errmsg(s->db));
out:
    sqlite3_finalize(st);
    return rc;
}

int
store_user_add(struct store *s, const char *name, const char *role,
               char token_out[STORE_TOKEN_LEN + 1], struct nh_error *err)
{
    char token[STORE_TOKEN_LEN + 1];
    int rc;

    if (!name || !name_ok(name))
        return nh_errorf(err, NH_EINVAL,
                         "bad user name '%s': want 1-%d of [A-Za-z0-9._-]",
                         name ? name : "", STORE_USER_NAME_MAX);
    if (!role || !role_ok(role))
        return nh_errorf(err, NH_EINVAL,
                         "bad role '%s': want admin, engineer or reviewer",
                         role ? role : "");
    rc = begin(s, err);
    if (rc < 0)
        return rc;
    rc = user_insert(s, name, role, token, err);
    if (!rc)
        rc = commit(s, err);
    if (rc < 0)
        rollback(s);
    else
        memcpy(token_out, token, sizeof(token));
    explicit_bzero(token, sizeof(token));
    return rc;
}

static bool
token_well_formed(const char *token)
{
    size_t i;

    for (i = 0; i < STORE_TOKEN_LEN; i++)
        if (!((token[i] >= '0' && token[i] <= '9') ||
              (token[i] >= 'a' && token[i] <= 'f')))
            return false;
    return token[STORE_TOKEN_LEN] == '\0';
}

/* Copy a text column into a fixed buffer; false if it does not fit. */
static bool
column_copy(sqlite3_stmt *st, int col, char *out, size_t size)
{
    const unsigned char *p = sqlite3_column_text(st, col);
    int n = sqlite3_column_bytes(st, col);

    if (!p || n < 0 || (size_t)n >= size)
        return false;
    memcpy(out, p, (size_t)n);
    out[n] = '\0';
    return true;
}

int
store_token_check(struct store *s, const char *token, struct store_user *out)
{
    char hash[STORE_TOKEN_LEN + 1];
    struct store_user u;
    sqlite3_stmt *st = NULL;
    int rc, src;

    if (!token || !token_well_formed(token))
        return NH_ENOENT;
    if (token_hash(token, hash) < 0)
        return NH_EIO;
    rc = prepare(s,
                 "SELECT u.id, u.name, u.role FROM tokens t"
                 " JOIN users u ON u.id = t.user_id"
                 " WHERE t.hash = ?1 AND t.revoked IS NULL",
                 &st, NULL);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        u.id = sqlite3_column_int64(st, 0);
        if (column_copy(st, 1, u.name, sizeof(u.name)) &&
            column_copy(st, 2, u.role, sizeof(u.role)))
            *out = u;
        else
            rc = NH_ECORRUPT;
    } else if (src == SQLITE_DONE) {
        rc = NH_ENOENT;
    } else {
        rc = NH_EIO;
    }
    sqlite3_finalize(st);
    return rc;
}

int
store_user_revoke(struct store *s, const char *name, struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    sqlite3_int64 id = 0;
    int rc, src;

    if (!name)
        return nh_errorf(err, NH_EINVAL, "no user name");
    rc = begin(s, err);
    if (rc < 0)
        return rc;
    rc = prepare(s, "SELECT id FROM users WHERE name = ?1", &st, err);
    if (rc < 0)
        goto out;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
    } else if (src == SQLITE_DONE) {
        rc = nh_errorf(err, NH_ENOENT, "no user '%s'", name);
        goto out;
    } else {
        rc = db_error(s, err, "cannot look up user");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    rc = prepare(s,
                 "UPDATE tokens SET revoked = unixepoch()"
                 " WHERE user_id = ?1 AND revoked IS NULL",
                 &st, err);
    if (rc < 0)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = nh_errorf(err, NH_EIO, "cannot revoke tokens of '%s': %s", name,
                       sqlite3_errmsg(s->db));
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    rc = commit(s, err);
out:
    sqlite3_finalize(st);
    if (rc < 0)
        rollback(s);
    return rc;
}

int
store_admin_bootstrap(struct store *s, char token_out[STORE_TOKEN_LEN + 1],
                      bool *created, struct nh_error *err)
{
    char token[STORE_TOKEN_LEN + 1];
    sqlite3_stmt *st = NULL;
    bool make = false;
    int rc, src;

    rc = begin(s, err);
    if (rc < 0)
        return rc;
    rc = prepare(s, "SELECT 1 FROM users WHERE role = ?1 LIMIT 1", &st, err);
    if (rc < 0)
        goto out;
    sqlite3_bind_text(st, 1, STORE_ROLE_ADMIN, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        make = true;
    } else if (src != SQLITE_ROW) {
        rc = db_error(s, err, "cannot look up admin users");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (make) {
        rc = user_insert(s, STORE_ROLE_ADMIN, STORE_ROLE_ADMIN, token, err);
        if (rc < 0)
            goto out;
    }
    rc = commit(s, err);
out:
    sqlite3_finalize(st);
    if (rc < 0) {
        rollback(s);
    } else {
        if (make)
            memcpy(token_out, token, sizeof(token));
        *created = make;
    }
    explicit_bzero(token, sizeof(token));
    return rc;
}
