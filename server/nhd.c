/* nhd.c - the naohai server: arguments, first start, signals, event loop
 *
 * main() opens the store once to migrate it and, on first start, create
 * the admin user (its token goes to DIR/admin.token, mode 0600, and is
 * printed once on stdout). Then net.c takes over: the lws context and
 * the DB workers. SIGTERM and SIGINT set a flag and wake the loop with
 * lws_cancel_service(), and nhd shuts down cleanly with status 0.
 */
#include "log.h"
#include "net.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_DATA "./var/naohai"
#define DEFAULT_LISTEN "127.0.0.1:7420"
#define ADMIN_TOKEN_FILE "admin.token"
#define DEFAULT_MAX_JOBS 2

static volatile sig_atomic_t stop_flag, hup_flag;
static struct net *volatile live_net;

static void
on_signal(int sig)
{
    if (sig == SIGHUP)
        hup_flag = 1;
    else
        stop_flag = 1;
    net_wake(live_net);
}

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: nhd [--data DIR] [--listen HOST:PORT] [options]\n"
            "\n"
            "  --data DIR         data directory (default %s)\n"
            "  --listen HOST:PORT IPv4 address and port (default %s)\n"
            "  --tls-cert FILE    serve TLS (wss://, https://) with this PEM\n"
            "  --tls-key FILE     certificate and key\n"
            "  --max-jobs N       jobs running at once, more wait queued\n"
            "                     (default %d)\n"
            "  --nh-clean PATH    the nh-clean that pipeline jobs run\n"
            "  --nh-train PATH    the nh-train that train jobs run\n"
            "                     (default: next to nhd)\n"
            "  --log FILE         log to FILE (reopened on SIGHUP)\n"
            "  --import-root DIR  dataset.import may read server files only\n"
            "                     below DIR (default: the working directory;\n"
            "                     'none': uploads only)\n"
            "  --migrations DIR   schemas/db of the source tree (default:\n"
            "                     $NH_TOP/schemas/db, or found next to nhd)\n"
            "  -v                 verbose logging\n"
            "  --version          print the version\n",
            DEFAULT_DATA, DEFAULT_LISTEN, DEFAULT_MAX_JOBS);
}

/* out = the directory of this executable + "/" + name, or name alone
 * when /proc/self/exe cannot be read. */
static void
find_sibling(const char *name, char *out, size_t outsz)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    if (n > 0) {
        exe[n] = '\0';
        if ((slash = strrchr(exe, '/'))) {
            *slash = '\0';
            if (snprintf(out, outsz, "%s/%s", exe, name) < (int)outsz)
                return;
        }
    }
    snprintf(out, outsz, "%s", name);
}

/* Split "HOST:PORT" into host (hostsz bytes) and *port; NH_EINVAL. */
static int
parse_listen(const char *s, char *host, size_t hostsz, int *port)
{
    const char *colon = strrchr(s, ':');
    char *end;
    long p;

    if (!colon || colon == s || (size_t)(colon - s) >= hostsz)
        return NH_EINVAL;
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || p < 1 || p > 65535)
        return NH_EINVAL;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    *port = (int)p;
    return 0;
}

static bool
is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Where schemas/db is: $NH_TOP, then next to the binary (build/ and
 * build/san/ inside the tree), then ./schemas/db. */
static void
find_migrations(char *out, size_t outsz)
{
    const char *top = getenv("NH_TOP");
    char exe[PATH_MAX];
    ssize_t n;
    char *slash;

    if (top) {
        if (snprintf(out, outsz, "%s/schemas/db", top) < (int)outsz &&
            is_dir(out))
            return;
    }
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            if (snprintf(out, outsz, "%s/../schemas/db", exe) < (int)outsz &&
                is_dir(out))
                return;
            if (snprintf(out, outsz, "%s/../../schemas/db", exe) < (int)outsz &&
                is_dir(out))
                return;
        }
    }
    snprintf(out, outsz, "schemas/db");
}

static int
write_token(const char *dir, const char *token, struct nh_error *err)
{
    char path[PATH_MAX];
    size_t len = strlen(token);
    int fd, rc = 0;

    if (snprintf(path, sizeof(path), "%s/%s", dir, ADMIN_TOKEN_FILE) >=
        (int)sizeof(path))
        return nh_errorf(err, NH_EINVAL, "data directory name too long");
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return nh_error_errno(err, "cannot create '%s'", path);
    if (fchmod(fd, 0600) < 0 || write(fd, token, len) != (ssize_t)len ||
        write(fd, "\n", 1) != 1 || fsync(fd) < 0)
        rc = nh_error_errno(err, "cannot write '%s'", path);
    if (close(fd) < 0 && rc == 0)
        rc = nh_error_errno(err, "cannot write '%s'", path);
    return rc;
}

/* Migrate, and on first start make the admin user and its token. */
static int
first_start(const char *dir, const char *migrations, struct nh_error *err)
{
    char token[STORE_TOKEN_LEN + 1];
    struct store *s;
    bool created = false;
    int rc;

    rc = store_open(&s, dir, migrations, err);
    if (rc < 0)
        return rc;
    rc = store_admin_bootstrap(s, token, &created, err);
    store_close(s);
    if (rc < 0 || !created)
        return rc;
    rc = write_token(dir, token, err);
    if (rc < 0)
        return rc;
    printf("admin token: %s\n", token);
    fflush(stdout);
    return 0;
}

int
main(int argc, char **argv)
{
    const char *data = DEFAULT_DATA, *listen = DEFAULT_LISTEN;
    const char *migrations = NULL, *nh_clean = NULL, *log_path = NULL;
    const char *tls_cert = NULL, *tls_key = NULL, *import_root = ".";
    const char *nh_train = NULL;
    char rootbuf[PATH_MAX];
    char migbuf[PATH_MAX], cleanbuf[PATH_MAX], trainbuf[PATH_MAX];
    char host[256];
    long max_jobs = DEFAULT_MAX_JOBS;
    char *end;
    struct net_config cfg = {0};
    struct nh_error err = {0};
    struct sigaction sa;
    struct net *n;
    bool verbose = false;
    int i, rc;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--version")) {
            printf("nhd %s\n", NHD_VERSION);
            return 0;
        } else if (!strcmp(argv[i], "-v")) {
            verbose = true;
        } else if (!strcmp(argv[i], "--data") && i + 1 < argc) {
            data = argv[++i];
        } else if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
            listen = argv[++i];
        } else if (!strcmp(argv[i], "--migrations") && i + 1 < argc) {
            migrations = argv[++i];
        } else if (!strcmp(argv[i], "--nh-clean") && i + 1 < argc) {
            nh_clean = argv[++i];
        } else if (!strcmp(argv[i], "--nh-train") && i + 1 < argc) {
            nh_train = argv[++i];
        } else if (!strcmp(argv[i], "--import-root") && i + 1 < argc) {
            import_root = argv[++i];
        } else if (!strcmp(argv[i], "--log") && i + 1 < argc) {
            log_path = argv[++i];
        } else if (!strcmp(argv[i], "--tls-cert") && i + 1 < argc) {
            tls_cert = argv[++i];
        } else if (!strcmp(argv[i], "--tls-key") && i + 1 < argc) {
            tls_key = argv[++i];
        } else if (!strcmp(argv[i], "--max-jobs") && i + 1 < argc) {
            max_jobs = strtol(argv[++i], &end, 10);
            if (*end || max_jobs < 1 || max_jobs > 64) {
                fprintf(stderr, "nhd: --max-jobs must be 1..64\n");
                return 2;
            }
        } else {
            fprintf(stderr, "nhd: bad argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    nh_log_init("nhd", verbose ? NH_LOG_DEBUG : NH_LOG_INFO);
    if (!tls_cert != !tls_key)
        nh_die(2, "--tls-cert and --tls-key go together");
    if (log_path && nh_log_open(log_path) < 0)
        nh_die(1, "cannot open log '%s': %s", log_path, strerror(errno));
    if (!nh_clean) {
        find_sibling("nh-clean", cleanbuf, sizeof(cleanbuf));
        nh_clean = cleanbuf;
    }
    if (access(nh_clean, X_OK) < 0)
        nh_warn("'%s' is not executable: pipeline jobs will fail "
                "(see --nh-clean)",
                nh_clean);
    if (!nh_train) {
        find_sibling("nh-train", trainbuf, sizeof(trainbuf));
        nh_train = trainbuf;
    }
    if (parse_listen(listen, host, sizeof(host), &cfg.port) < 0)
        nh_die(2, "bad --listen '%s': expected HOST:PORT", listen);
    if (!migrations) {
        find_migrations(migbuf, sizeof(migbuf));
        migrations = migbuf;
    }
    if (first_start(data, migrations, &err) < 0)
        nh_die(1, "%s", err.msg);

    cfg.host = host;
    cfg.data_dir = data;
    cfg.migrations = migrations;
    cfg.db_workers = 2;
    cfg.verbose = verbose;
    cfg.nh_clean = nh_clean;
    cfg.nh_train = nh_train;
    cfg.max_jobs = (int)max_jobs;
    cfg.tls_cert = tls_cert;
    if (strcmp(import_root, "none")) {
        if (!realpath(import_root, rootbuf))
            nh_die(2, "bad --import-root '%s': %s", import_root,
                   strerror(errno));
        cfg.import_root = rootbuf;
    }
    cfg.tls_key = tls_key;
    if (net_create(&n, &cfg, &err) < 0)
        nh_die(1, "%s", err.msg);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    live_net = n;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    nh_info("listening on %s:%d", host, cfg.port);

    rc = 0;
    while (!stop_flag) {
        if (hup_flag) {
            hup_flag = 0;
            if (log_path && nh_log_open(log_path) < 0)
                nh_error("cannot reopen log '%s'", log_path);
            else
                nh_info("log reopened");
        }
        if (net_service(n) < 0) {
            nh_error("event loop failed");
            rc = 1;
            break;
        }
    }
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    live_net = NULL;
    net_free(n);
    nh_info("stopped");
    return rc;
}
