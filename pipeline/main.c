/* main.c - the nh-clean command line
 *
 * Parses arguments, loads and validates the pipeline config before
 * anything is written, scans the inputs, and hands over to the driver.
 * Exit status: 0 success, 1 failure during the run, 2 bad usage, bad
 * config or unreadable inputs (nothing written).
 */
#include "augment.h"
#include "driver.h"
#include "ftc.h"
#include "jsonl.h"
#include "lm.h"
#include "log.h"
#include "mix.h"
#include "nhmpi.h"
#include "report.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VERSION "0.1.0"

static const char usage_text[] =
    "usage: nh-clean run [--config PIPELINE.json] --output DIR [options] "
    "INPUT...\n"
    "       nh-clean stats DIR\n"
    "       nh-clean dedup-report DIR [--top N] [--members M]\n"
    "       nh-clean stages\n"
    "       nh-clean check-config PIPELINE.json\n"
    "       nh-clean classifier train|test|predict ... (see --help)\n"
    "       nh-clean lm train|score ...   (n-gram language model)\n"
    "       nh-clean augment --ops OPS.json -o OUT INPUT... (see --help)\n"
    "       nh-clean mix --source LABEL=WEIGHT=PATH... --target N -o OUT\n"
    "\n"
    "Clean a text corpus: HTML extraction, normalization, quality rules,\n"
    "PII masking, repetition removal, exact and near-duplicate removal,\n"
    "a trained classifier and a perplexity filter (`classifier`, `lm`).\n"
    "\n"
    "run options:\n"
    "  -c, --config FILE     pipeline config (JSON); default: the built-in\n"
    "                        pipeline (nh-clean check-config --default)\n"
    "  -o, --output DIR      output directory: data/, removed/, stats.json\n"
    "  -j, --threads N       work units in parallel (default: all cores);\n"
    "                        the output is the same for any N\n"
    "      --memory SIZE     memory for sorting dedup keys (K, M, G\n"
    "                        suffixes; default: a quarter of the RAM);\n"
    "                        beyond it, sorted runs go to OUT/.work\n"
    "      --progress MODE   bar (default on a terminal), json (lines on\n"
    "                        stdout, for nhd) or none\n"
    "  -q, --quiet           no summary table\n"
    "  -v, --verbose         log the time of each phase\n"
    "\n"
    "INPUT: files or directories of .jsonl, .jsonl.gz, .jsonl.zst, .txt\n"
    "and .html. A killed run continues when started again with the same\n"
    "command. Started by mpirun, each rank takes a share of the input\n"
    "files and writes its own shards (OUT must be visible to all ranks).\n"
    "See docs/PIPELINE.md and docs/STAGES.md.\n";

static int
usage(int status)
{
    fputs(usage_text, status ? stderr : stdout);
    return status;
}

static int
load_config(struct pipeline *p, const char *path, struct nh_error *err)
{
    struct nh_reader *rd;
    struct strbuf sb = STRBUF_INIT;
    int rc;

    if (!path)
        return pipeline_parse(p, pipeline_default_json,
                              strlen(pipeline_default_json), "default config",
                              err);
    if ((rc = nh_reader_open(&rd, path, err)) < 0)
        return rc;
    rc = nh_reader_all(rd, &sb, (size_t)16 << 20, err);
    nh_reader_close(rd);
    if (rc == 0)
        rc = pipeline_parse(p, strbuf_str(&sb), sb.len, path, err);
    strbuf_release(&sb);
    return rc;
}

/* "512M", "2G", "1048576": bytes, or 0 when malformed or under 1 MiB. */
static size_t
parse_size(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    double mul = 1;

    if (end == s || v <= 0)
        return 0;
    switch (*end) {
    case 'K':
    case 'k':
        mul = 1024.0;
        end++;
        break;
    case 'M':
    case 'm':
        mul = 1024.0 * 1024;
        end++;
        break;
    case 'G':
    case 'g':
        mul = 1024.0 * 1024 * 1024;
        end++;
        break;
    case 'T':
    case 't':
        mul = 1024.0 * 1024 * 1024 * 1024;
        end++;
        break;
    default:
        break;
    }
    if (*end == 'i' || *end == 'B')
        end += *end == 'i' && end[1] == 'B' ? 2 : 1;
    v *= mul;
    if (*end || v < 1024.0 * 1024 || v > 1e18)
        return 0;
    return (size_t)v;
}

static int
cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"output", required_argument, NULL, 'o'},
        {"threads", required_argument, NULL, 'j'},
        {"progress", required_argument, NULL, 'p'},
        {"memory", required_argument, NULL, 'm'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    struct run_opts ro = {0};
    struct dist dist;
    struct pipeline p;
    struct input_set in;
    struct nh_error err = {0};
    bool quiet = false;
    long n;
    int c, rc;

    if (nh_mpi_init(&dist, &argc, &argv) < 0) {
        fprintf(stderr, "nh-clean: cannot start MPI\n");
        return 1;
    }
    ro.threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (ro.threads < 1)
        ro.threads = 1;
    ro.progress = isatty(2) ? PROGRESS_BAR : PROGRESS_NONE;
    {
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

        ro.memory = pages > 0 && psz > 0 ? (size_t)pages * (size_t)psz / 4
                                         : (size_t)1 << 30;
        if (ro.memory < ((size_t)64 << 20))
            ro.memory = (size_t)64 << 20;
    }
    while ((c = getopt_long(argc, argv, "c:o:j:qvh", opts, NULL)) != -1) {
        char *end;

        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'o':
            ro.out = optarg;
            break;
        case 'j':
            n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 1024) {
                fprintf(stderr, "nh-clean: --threads must be 1..1024\n");
                return 2;
            }
            ro.threads = (int)n;
            break;
        case 'p':
            if (!strcmp(optarg, "bar"))
                ro.progress = PROGRESS_BAR;
            else if (!strcmp(optarg, "json"))
                ro.progress = PROGRESS_JSON;
            else if (!strcmp(optarg, "none"))
                ro.progress = PROGRESS_NONE;
            else {
                fprintf(stderr,
                        "nh-clean: --progress must be bar, json or none\n");
                return 2;
            }
            break;
        case 'm':
            if (!(ro.memory = parse_size(optarg))) {
                fprintf(stderr, "nh-clean: --memory must be a size of at "
                                "least 1M, like 512M or 4G\n");
                return 2;
            }
            break;
        case 'q':
            quiet = true;
            break;
        case 'v':
            nh_log_init("nh-clean", NH_LOG_DEBUG);
            break;
        case 'h':
            return usage(0);
        default:
            return usage(2);
        }
    }
    if (!ro.out) {
        fprintf(stderr, "nh-clean: run needs --output DIR\n");
        return usage(2);
    }
    if (optind >= argc) {
        fprintf(stderr, "nh-clean: run needs at least one INPUT\n");
        return usage(2);
    }
    if (load_config(&p, config, &err) < 0) {
        fprintf(stderr, "nh-clean: %s\n", err.msg);
        return 2;
    }
    if (input_scan(&in, argv + optind, (size_t)(argc - optind), &err) < 0) {
        fprintf(stderr, "nh-clean: %s\n", err.msg);
        pipeline_release(&p);
        return 2;
    }
    if (in.skipped)
        nh_warn("skipped %zu file(s) of unknown type in input directories",
                in.skipped);
    if (in.nfiles == 0) {
        fprintf(stderr, "nh-clean: no input files (.jsonl, .jsonl.gz, "
                        ".jsonl.zst, .txt, .html) in the given paths\n");
        input_set_release(&in);
        pipeline_release(&p);
        return 2;
    }
    if (dist.size > 1) {
        ro.dist = &dist;
        if (dist.rank != 0) { /* rank 0 speaks for the run */
            ro.progress = PROGRESS_NONE;
            quiet = true;
        }
    }
    rc = driver_run(&p, &in, &ro, &err);
    if (rc < 0) {
        fprintf(stderr, "nh-clean: %s\n", err.msg);
        rc = rc == NH_EEXIST ? 2 : 1;
    } else if (ro.progress == PROGRESS_JSON && dist.rank == 0) {
        printf("{\"event\":\"done\",\"output\":");
        fflush(stdout);
        {
            struct strbuf sb = STRBUF_INIT;

            strbuf_add_json_str(&sb, ro.out, strlen(ro.out));
            printf("%s}\n", strbuf_str(&sb));
            strbuf_release(&sb);
        }
    } else if (!quiet) {
        driver_print_summary(ro.out, stdout, &err);
    }
    input_set_release(&in);
    pipeline_release(&p);
    return rc;
}

static int
cmd_stats(int argc, char **argv)
{
    struct nh_error err = {0};

    if (argc != 2)
        return usage(2);
    if (driver_print_summary(argv[1], stdout, &err) < 0) {
        fprintf(stderr, "nh-clean: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* dedup-report DIR [--top N] [--members M] */
static int
cmd_dedup_report(int argc, char **argv)
{
    static const struct option opts[] = {
        {"top", required_argument, NULL, 't'},
        {"members", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    struct nh_error err = {0};
    long top = 10, members = 3;
    char *end;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "t:m:", opts, NULL)) != -1) {
        long *v = c == 't' ? &top : c == 'm' ? &members : NULL;

        if (!v)
            return usage(2);
        *v = strtol(optarg, &end, 10);
        if (*end || end == optarg || *v < 0 || *v > 1000000) {
            fprintf(stderr, "nh-clean: '--%s' must be a number 0..1000000\n",
                    c == 't' ? "top" : "members");
            return 2;
        }
    }
    if (argc - optind != 1)
        return usage(2);
    if (dedup_report(argv[optind], top, members, stdout, &err) < 0) {
        fprintf(stderr, "nh-clean: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int
cmd_stages(void)
{
    const struct stage_ops *const *s;

    for (s = stage_table; *s; s++)
        printf("%s%s\n", (*s)->name, (*s)->apply ? "" : "  (global)");
    return 0;
}

static int
cmd_check_config(int argc, char **argv)
{
    struct pipeline p;
    struct nh_error err = {0};

    if (argc == 2 && !strcmp(argv[1], "--default")) {
        fputs(pipeline_default_json, stdout);
        return 0;
    }
    if (argc != 2)
        return usage(2);
    if (load_config(&p, argv[1], &err) < 0) {
        fprintf(stderr, "nh-clean: %s\n", err.msg);
        return 2;
    }
    printf("%s: ok (%zu stages)\n", argv[1], p.nstages);
    pipeline_release(&p);
    return 0;
}

int
main(int argc, char **argv)
{
    nh_log_init("nh-clean", NH_LOG_INFO);
    if (argc < 2)
        return usage(2);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help"))
        return usage(0);
    if (!strcmp(argv[1], "--version")) {
        printf("nh-clean %s\n", VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "run")) {
        int rc = cmd_run(argc - 1, argv + 1);

        nh_mpi_finalize();
        return rc;
    }
    if (!strcmp(argv[1], "stats"))
        return cmd_stats(argc - 1, argv + 1);
    if (!strcmp(argv[1], "dedup-report"))
        return cmd_dedup_report(argc - 1, argv + 1);
    if (!strcmp(argv[1], "stages"))
        return cmd_stages();
    if (!strcmp(argv[1], "classifier"))
        return cmd_classifier(argc - 1, argv + 1);
    if (!strcmp(argv[1], "check-config"))
        return cmd_check_config(argc - 1, argv + 1);
    if (!strcmp(argv[1], "mix"))
        return cmd_mix(argc - 1, argv + 1);
    if (!strcmp(argv[1], "augment"))
        return cmd_augment(argc - 1, argv + 1);
    if (!strcmp(argv[1], "lm"))
        return lm_main(argc - 1, argv + 1);
    fprintf(stderr, "nh-clean: unknown command '%s'\n", argv[1]);
    return usage(2);
}
