/* nh.c - main() of nh, the naohai client: the command table and parsing
 *
 * `nh COMMAND...` runs one scriptable command against nhd over the
 * naohai.v1 protocol (client.h). This file finds the command in
 * cmd_table[] (its one or two words), parses the options it declares
 * (--json and --help are accepted anywhere), checks the argument count,
 * and calls it; the commands live in cmd-*.c. `nh` alone opens the
 * ncurses workbench (wb.c).
 */
#include "nh.h"
#include "wb.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>

static const struct cmd_entry cmd_table[] = {
    {"login",
     "--server URL --token TOKEN",
     "check a token against a server and save both",
     "Saves the server URL and token in $XDG_CONFIG_HOME/naohai/config\n"
     "(mode 0600) after an 'auth' call succeeded. NH_SERVER and NH_TOKEN\n"
     "override the file.",
     {"server=", "token=", NULL},
     0,
     0,
     cmd_login},
    {"dataset import",
     "NAME PATH... [--server-paths]",
     "import JSONL files as a new version of dataset NAME",
     "Uploads each file in chunks (resumable: running the command again\n"
     "continues an interrupted upload), then imports the uploads. With\n"
     "--server-paths the server reads the PATHs from its own disk.",
     {"server-paths", NULL},
     2,
     -1,
     cmd_dataset_import},
    {"dataset ls", "", "list datasets", NULL, {NULL}, 0, 0, cmd_dataset_ls},
    {"dataset versions",
     "NAME",
     "list the versions of a dataset, newest first",
     NULL,
     {NULL},
     1,
     1,
     cmd_dataset_versions},
    {"dataset show",
     "NAME[@REF]",
     "show a version and its shards",
     "REF is a tag, a version id or a prefix of at least 6 hex digits;\n"
     "NAME alone is the newest version.",
     {NULL},
     1,
     1,
     cmd_dataset_show},
    {"dataset lineage",
     "NAME[@REF]",
     "show the tree of versions a dataset came from",
     NULL,
     {NULL},
     1,
     1,
     cmd_dataset_lineage},
    {"dataset diff",
     "A B [--sample=N]",
     "documents added and removed between two versions",
     NULL,
     {"sample=", NULL},
     2,
     2,
     cmd_dataset_diff},
    {"dataset tag",
     "NAME@VERSION TAG",
     "name a version (moves the tag)",
     NULL,
     {NULL},
     2,
     2,
     cmd_dataset_tag},
    {"dataset cat",
     "NAME[@REF]",
     "write every document of a version to stdout",
     NULL,
     {NULL},
     1,
     1,
     cmd_dataset_cat},
    {"dataset export",
     "NAME[@REF] DIR",
     "write a version's shards to DIR/part-NNNNN.jsonl, hash-checked",
     NULL,
     {NULL},
     2,
     2,
     cmd_dataset_export},
    {"pipeline run",
     "NAME[@REF] --config FILE [--output NAME] [--wait]",
     "run a pipeline config over a version as a job",
     "With --wait, follows the job until it ends (exit 1 unless it\n"
     "succeeded).",
     {"config=", "output=", "wait", NULL},
     1,
     1,
     cmd_pipeline_run},
    {"augment run",
     "NAME[@REF] --ops FILE [--ratio R] [--seed S] [--only-new] [--review N]\n"
     "       [--output NAME] [--wait]",
     "augment a version as a job (docs/AUGMENT.md)",
     "The new version holds the originals and their augmented copies\n"
     "(--only-new: the copies only); a review campaign of N (default 100)\n"
     "augmented documents is made when the job ends. Operator files:\n"
     "docs/examples/augment-*.json.",
     {"ops=", "ratio=", "seed=", "only-new", "review=", "output=", "wait",
      NULL},
     1,
     1,
     cmd_augment_run},
    {"mix create",
     "NAME --source REF:WEIGHT... --tokens N [--by tokens|docs|bytes]\n"
     "       [--seed S] [--wait]",
     "draw a corpus mixture from several versions as a job (docs/MIX.md)",
     "A new version of NAME holding N tokens (documents, bytes) drawn from\n"
     "the sources in proportion to their weights: a small source repeated\n"
     "(epochs > 1), a large one sampled, the same seed the same draw. Its\n"
     "parents are every source's version; `nh mix show` prints the report.",
     {"source=...", "tokens=", "by=", "seed=", "wait", NULL},
     1,
     1,
     cmd_mix_create},
    {"mix show",
     "NAME[@REF]",
     "the report of a mixture: per source docs, bytes, tokens, share, epochs",
     NULL,
     {NULL},
     1,
     1,
     cmd_mix_show},
    {"train launch",
     "NAME[@REF] --model MODEL.json (--tokenizer TOK | --vocab N) [--np N]\n"
     "       [--steps N] [--batch B] [--seq T] [--lr X] [--ckpt-every K]\n"
     "       [--threads N] [--fault NH_FAULT] [--plan PLAN.json] [--wait]",
     "train a model on a version as a job (nh-train launch, supervised)",
     "The model config is read here and sent; TOK and PLAN.json are\n"
     "server paths (below nhd's --import-root). The version is tokenized\n"
     "once per tokenizer (--vocab N trains one of N ids on it). --fault\n"
     "injects an NH_FAULT into the first start (drills). With --wait,\n"
     "prints the steps and faults as they come until the job ends (exit 1\n"
     "unless it succeeded).",
     {"model=", "tokenizer=", "vocab=", "np=", "steps=", "batch=", "seq=",
      "lr=", "ckpt-every=", "threads=", "fault=", "plan=", "wait", NULL},
     1,
     1,
     cmd_train_launch},
    {"train ls",
     "",
     "list train jobs, newest first",
     NULL,
     {NULL},
     0,
     0,
     cmd_train_ls},
    {"train show",
     "RUN",
     "show a train job: its version, tokens, last step, faults, goodput",
     NULL,
     {NULL},
     1,
     1,
     cmd_train_show},
    {"train watch",
     "RUN",
     "print a train job's steps and faults until it ends",
     NULL,
     {NULL},
     1,
     1,
     cmd_train_watch},
    {"train stop",
     "RUN",
     "stop a train job (its supervisor stops the ranks)",
     NULL,
     {NULL},
     1,
     1,
     cmd_train_stop},
    {"train resume",
     "RUN",
     "run a stopped or failed train job on from its newest checkpoint",
     NULL,
     {NULL},
     1,
     1,
     cmd_train_resume},
    {"job ls",
     "[--state STATE] [--limit N]",
     "list jobs, newest first",
     NULL,
     {"state=", "limit=", NULL},
     0,
     0,
     cmd_job_ls},
    {"job show", "ID", "show a job", NULL, {NULL}, 1, 1, cmd_job_show},
    {"job watch",
     "ID",
     "follow a job until it ends (exit 1 unless it succeeded)",
     NULL,
     {NULL},
     1,
     1,
     cmd_job_watch},
    {"job cancel",
     "ID",
     "cancel a queued or running job",
     NULL,
     {NULL},
     1,
     1,
     cmd_job_cancel},
    {"job resume",
     "ID",
     "queue an interrupted or failed job again",
     NULL,
     {NULL},
     1,
     1,
     cmd_job_resume},
    {"job logs",
     "ID",
     "print a job's log lines",
     NULL,
     {NULL},
     1,
     1,
     cmd_job_logs},
    {"user add",
     "NAME --role ROLE",
     "create a user (admin, engineer or reviewer) and print its token",
     NULL,
     {"role=", NULL},
     1,
     1,
     cmd_user_add},
    {"user revoke",
     "NAME",
     "revoke every token of a user",
     NULL,
     {NULL},
     1,
     1,
     cmd_user_revoke},
    {"review create",
     "NAME[@VERSION] (--size N | --margin E [--confidence C]) [--strata "
     "source] [--allocation proportional|neyman] [--seed S] [--overlap F "
     "--raters K] [--labels L,...] [--threshold T] [--audit "
     "JOB:STAGE[:REASON]] [--name NAME] [--lease SECONDS]",
     "start a review campaign: a sample of a version to judge",
     "The sample is reproducible from the version and --seed. --strata\n"
     "source draws each source's share (proportional, or Neyman from the\n"
     "last closed campaign's pass rates); --margin sizes the sample by\n"
     "Cochran's formula. --overlap F gives that fraction of the items to\n"
     "--raters K reviewers each (agreement)."
     "\n--audit JOB:STAGE[:REASON] samples what a stage of a finished job\n"
     "removed: its pass rate is the filter's precision.",
     {"size=", "margin=", "confidence=", "strata=", "allocation=", "seed=",
      "overlap=", "raters=", "labels=", "threshold=", "audit=", "name=",
      "lease=", NULL},
     1,
     1,
     cmd_review_create},
    {"review ls",
     "",
     "list review campaigns",
     NULL,
     {NULL},
     0,
     0,
     cmd_review_ls},
    {"review next",
     "ID",
     "lease the next item of campaign ID to you and print it",
     "Asking again before the lease runs out gives the same item.",
     {NULL},
     1,
     1,
     cmd_review_next},
    {"review submit",
     "ID ITEM --verdict accept|reject|skip [--label L]... [--score N] [--note "
     "TEXT] [--request-id R]",
     "record your judgment of an item",
     "--label may be repeated, or take a comma-separated list. The request id\n"
     "(random unless given) makes a re-sent submit count once: the server\n"
     "answers the judgment it stored, marked duplicate.",
     {"verdict=", "label=...", "score=", "note=", "request-id=", NULL},
     2,
     2,
     cmd_review_submit},
    {"review stats",
     "ID",
     "pass rate with its interval, strata, labels, agreement, decision",
     NULL,
     {NULL},
     1,
     1,
     cmd_review_stats},
    {"review export",
     "ID FILE",
     "write every item with its doc id, stratum and judgments as JSONL",
     NULL,
     {NULL},
     2,
     2,
     cmd_review_export},
    {"review close",
     "ID",
     "close a campaign: no more judgments",
     NULL,
     {NULL},
     1,
     1,
     cmd_review_close},
    {"label create",
     "NAME[@VERSION] (--size N | --margin E [--confidence C]) [--strata "
     "source] [--allocation proportional|neyman] [--seed S] [--overlap F "
     "--raters K] --labels L,... [--name NAME] [--lease SECONDS]",
     "start a labeling campaign over a sample of a version",
     "The sample is reproducible from the version and --seed. --strata\n"
     "source draws each source's share (proportional, or Neyman from the\n"
     "last closed campaign's pass rates); --margin sizes the sample by\n"
     "Cochran's formula. --overlap F gives that fraction of the items to\n"
     "--raters K reviewers each (agreement).",
     {"size=", "margin=", "confidence=", "strata=", "allocation=", "seed=",
      "overlap=", "raters=", "labels=", "name=", "lease=", NULL},
     1,
     1,
     cmd_review_create},
    {"label ls", "", "list label campaigns", NULL, {NULL}, 0, 0, cmd_review_ls},
    {"label next",
     "ID",
     "lease the next item of campaign ID to you and print it",
     "Asking again before the lease runs out gives the same item.",
     {NULL},
     1,
     1,
     cmd_review_next},
    {"label submit",
     "ID ITEM [--label L]... [--score N] [--note TEXT] [--request-id R]",
     "record your judgment of an item",
     "--label may be repeated, or take a comma-separated list. The request id\n"
     "(random unless given) makes a re-sent submit count once: the server\n"
     "answers the judgment it stored, marked duplicate.",
     {"label=...", "score=", "note=", "request-id=", NULL},
     2,
     2,
     cmd_review_submit},
    {"label stats",
     "ID",
     "pass rate with its interval, strata, labels, agreement, decision",
     NULL,
     {NULL},
     1,
     1,
     cmd_review_stats},
    {"label export",
     "ID FILE [--format fasttext|jsonl]",
     "write the labeled documents as classifier training data",
     "fasttext: '__label__A __label__B text' with the text on one line;\n"
     "jsonl: {\"id\", \"text\", \"labels\"}. A label is kept when more than\n"
     "half of an item's current judgments carry it.",
     {"format=", NULL},
     2,
     2,
     cmd_review_export},
    {"label close",
     "ID",
     "close a campaign: no more judgments",
     NULL,
     {NULL},
     1,
     1,
     cmd_review_close},
};

#define NCMDS (sizeof(cmd_table) / sizeof(cmd_table[0]))

static void
print_usage(FILE *f)
{
    size_t i;

    fputs("usage: nh COMMAND [ARGS...] [--json]\n\ncommands:\n", f);
    for (i = 0; i < NCMDS; i++)
        fprintf(f, "  %-18s %s\n", cmd_table[i].name, cmd_table[i].summary);
    fputs(
        "\n  nh                  the workbench (on a terminal; ? lists keys)\n"
        "  nh help COMMAND     more about a command\n"
        "  nh --version        print the version\n"
        "\nServer and token: NH_SERVER, NH_TOKEN, or 'nh login'.\n"
        "Exit status: 0 ok, 1 error (from the server or the connection),"
        " 2 usage.\n",
        f);
}

static void
print_help(const struct cmd_entry *e, FILE *f)
{
    fprintf(f, "usage: nh %s%s%s [--json]\n\n%s\n", e->name,
            e->usage[0] ? " " : "", e->usage, e->summary);
    if (e->help)
        fprintf(f, "\n%s\n", e->help);
}

int
cmd_usage(const struct cmd_ctx *ctx, const char *why)
{
    if (why)
        fprintf(stderr, "nh: %s\n", why);
    fprintf(stderr, "usage: nh %s %s\n", ctx->entry->name, ctx->entry->usage);
    return NH_EXIT_USAGE;
}

static int
opt_index(const struct cmd_entry *e, const char *name, size_t len,
          bool *takes_value)
{
    int i;

    for (i = 0; i < CMD_MAX_OPTS && e->opts[i]; i++) {
        const char *o = e->opts[i];
        size_t ol = strcspn(o, "=");
        if (ol == len && !strncmp(o, name, len)) {
            *takes_value = o[ol] == '=';
            return i;
        }
    }
    return -1;
}

const char *
cmd_opt(const struct cmd_ctx *ctx, const char *name)
{
    bool v;
    int i = opt_index(ctx->entry, name, strlen(name), &v);

    return i >= 0 && ctx->opt_set[i] ? ctx->opt_val[i] : NULL;
}

bool
cmd_flag(const struct cmd_ctx *ctx, const char *name)
{
    bool v;
    int i = opt_index(ctx->entry, name, strlen(name), &v);

    return i >= 0 && ctx->opt_set[i];
}

/* The entry whose words start args (setting *nwords), or NULL. */
static const struct cmd_entry *
find_cmd(int argc, char **argv, int *nwords)
{
    size_t i;

    for (i = 0; i < NCMDS; i++) {
        const char *name = cmd_table[i].name;
        const char *sp = strchr(name, ' ');
        if (!sp) {
            if (argc >= 1 && !strcmp(argv[0], name)) {
                *nwords = 1;
                return &cmd_table[i];
            }
        } else if (argc >= 2 && strlen(argv[0]) == (size_t)(sp - name) &&
                   !strncmp(argv[0], name, (size_t)(sp - name)) &&
                   !strcmp(argv[1], sp + 1)) {
            *nwords = 2;
            return &cmd_table[i];
        }
    }
    return NULL;
}

/* Is word the first word of some command (a group like "dataset")? */
static bool
is_group(const char *word)
{
    size_t i, n = strlen(word);

    for (i = 0; i < NCMDS; i++)
        if (!strncmp(cmd_table[i].name, word, n) && cmd_table[i].name[n] == ' ')
            return true;
    return false;
}

static int
group_usage(const char *group)
{
    size_t i, n = strlen(group);

    fprintf(stderr, "usage: nh %s SUBCOMMAND ...\n\n", group);
    for (i = 0; i < NCMDS; i++)
        if (!strncmp(cmd_table[i].name, group, n) &&
            cmd_table[i].name[n] == ' ')
            fprintf(stderr, "  nh %s%s%s\n", cmd_table[i].name,
                    cmd_table[i].usage[0] ? " " : "", cmd_table[i].usage);
    return NH_EXIT_USAGE;
}

static int
cmd_help(int argc, char **argv)
{
    const struct cmd_entry *e;
    int nw;

    if (argc == 0) {
        print_usage(stdout);
        return NH_EXIT_OK;
    }
    e = find_cmd(argc, argv, &nw);
    if (e) {
        print_help(e, stdout);
        return NH_EXIT_OK;
    }
    if (is_group(argv[0]))
        return group_usage(argv[0]);
    fprintf(stderr, "nh: unknown command '%s'\n", argv[0]);
    return NH_EXIT_USAGE;
}

int
main(int argc, char **argv)
{
    struct cmd_ctx ctx;
    const struct cmd_entry *e;
    char **pos = NULL;
    int i, nw, rc;
    bool help = false, json = false;

    setlocale(LC_ALL, "");
    argc--;
    argv++;
    /* --json may come anywhere, also before the command words */
    for (i = nw = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            while (i < argc)
                argv[nw++] = argv[i++];
        else if (!strcmp(argv[i], "--json"))
            json = true;
        else
            argv[nw++] = argv[i];
    }
    argc = nw;
    if (argc == 0) {
        rc = wb_main();
        if (rc != WB_NO_TERMINAL)
            return rc;
        /* not on a terminal (a script): the usage, as before */
        print_usage(stderr);
        return NH_EXIT_USAGE;
    }
    if (!strcmp(argv[0], "--version") || !strcmp(argv[0], "version")) {
        printf("nh %s\n", NH_VERSION);
        return NH_EXIT_OK;
    }
    if (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        print_usage(stdout);
        return NH_EXIT_OK;
    }
    if (!strcmp(argv[0], "help"))
        return cmd_help(argc - 1, argv + 1);
    e = find_cmd(argc, argv, &nw);
    if (!e) {
        if (is_group(argv[0])) {
            if (argc >= 2 &&
                (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
                group_usage(argv[0]);
                return NH_EXIT_OK;
            }
            return group_usage(argv[0]);
        }
        fprintf(stderr, "nh: unknown command '%s'\n\n", argv[0]);
        print_usage(stderr);
        return NH_EXIT_USAGE;
    }

    memset(&ctx, 0, sizeof(ctx));
    ctx.entry = e;
    ctx.json = json;
    pos = calloc((size_t)argc + 1, sizeof(char *));
    if (!pos) {
        fputs("nh: error: out of memory\n", stderr);
        return NH_EXIT_ERROR;
    }
    ctx.argv = pos;
    for (i = nw; i < argc; i++) {
        const char *a = argv[i];
        const char *eq, *val;
        bool takes;
        int oi;

        if (!strcmp(a, "--")) {
            while (++i < argc)
                pos[ctx.argc++] = argv[i];
            break;
        }
        if (!strcmp(a, "--json")) {
            ctx.json = true;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help = true;
            continue;
        }
        if (strncmp(a, "--", 2) || !a[2]) {
            pos[ctx.argc++] = argv[i];
            continue;
        }
        eq = strchr(a + 2, '=');
        oi = opt_index(e, a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2),
                       &takes);
        if (oi < 0) {
            fprintf(stderr, "nh: unknown option '%s'\n", a);
            rc = cmd_usage(&ctx, NULL);
            goto out;
        }
        if (takes && !eq && i + 1 >= argc) {
            fprintf(stderr, "nh: option '%s' needs a value\n", a);
            rc = cmd_usage(&ctx, NULL);
            goto out;
        }
        if (!takes && eq) {
            fprintf(stderr, "nh: option '--%s' takes no value\n", e->opts[oi]);
            rc = cmd_usage(&ctx, NULL);
            goto out;
        }
        val = takes ? (eq ? eq + 1 : argv[++i]) : NULL;
        if (ctx.opt_set[oi] && val && strstr(e->opts[oi], "=...")) {
            /* a repeatable option: the values joined with commas */
            size_t n = strlen(ctx.opt_val[oi]) + strlen(val) + 2;
            char *j = malloc(n);

            if (!j) {
                rc = nh_failf("out of memory");
                goto out;
            }
            snprintf(j, n, "%s,%s", ctx.opt_val[oi], val);
            free(ctx.joined[oi]);
            ctx.joined[oi] = j;
            val = j;
        }
        ctx.opt_set[oi] = true;
        ctx.opt_val[oi] = val;
    }
    if (help) {
        print_help(e, stdout);
        rc = NH_EXIT_OK;
        goto out;
    }
    if (ctx.argc < e->min_args ||
        (e->max_args >= 0 && ctx.argc > e->max_args)) {
        rc = cmd_usage(&ctx, ctx.argc < e->min_args ? "too few arguments"
                                                    : "too many arguments");
        goto out;
    }
    rc = e->fn(&ctx);
    if (fflush(stdout) != 0 && rc == NH_EXIT_OK)
        rc = nh_failf("cannot write to stdout");
out:
    for (int k = 0; k < CMD_MAX_OPTS; k++)
        free(ctx.joined[k]);
    free(pos);
    return rc;
}
