/* cmd-dataset.c - `nh dataset ls|versions|show|lineage|diff|tag`
 *
 * The read-mostly dataset commands: each is one op (dataset.list,
 * dataset.versions, dataset.show, dataset.lineage, dataset.diff,
 * dataset.tag) whose result is printed as a table or a tree, or as is
 * with --json. Importing is in cmd-import.c, reading shards in
 * cmd-read.c.
 */
#include "nh.h"

#include "strbuf.h"

#include <stdlib.h>
#include <string.h>

/* {"KEY": value} with a string value; NULL when out of memory. */
static cJSON *
args1(const char *key, const char *value)
{
    cJSON *a = cJSON_CreateObject();

    if (a && !cJSON_AddStringToObject(a, key, value)) {
        cJSON_Delete(a);
        a = NULL;
    }
    return a;
}

/* Run op with args (taken) and print the result as JSON when asked;
 * *res is the result on NH_EXIT_OK. */
static int
call_taking(struct cmd_ctx *ctx, const char *op, cJSON *args, cJSON **res)
{
    int rc;

    if (!args)
        return nh_failf("out of memory");
    rc = nh_call1(op, args, res);
    cJSON_Delete(args);
    if (rc == NH_EXIT_OK && ctx->json)
        out_json(*res);
    return rc;
}

/* "a, b" from a JSON array of strings, into sb. */
static void
join_tags(const cJSON *tags, struct strbuf *sb)
{
    const cJSON *t;

    strbuf_reset(sb);
    cJSON_ArrayForEach(t, tags)
    {
        if (!cJSON_IsString(t))
            continue;
        if (sb->len)
            strbuf_addstr(sb, ",");
        strbuf_addstr(sb, t->valuestring);
    }
}

int
cmd_dataset_ls(struct cmd_ctx *ctx)
{
    static const char *const hdr[] = {"NAME", "VERSIONS", "LATEST", "DOCS",
                                      "SIZE"};
    cJSON *res = NULL;
    const cJSON *d;
    struct table *t;
    int rc;

    rc = call_taking(ctx, "dataset.list", cJSON_CreateObject(), &res);
    if (rc != NH_EXIT_OK || ctx->json)
        goto out;
    t = table_new(5, hdr);
    if (!t) {
        rc = nh_failf("out of memory");
        goto out;
    }
    table_right(t, 1);
    table_right(t, 3);
    table_right(t, 4);
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(res, "datasets"))
    {
        char nv[24], docs[24], size[32], id[16];
        const char *row[5];
        snprintf(nv, sizeof(nv), "%lld",
                 (long long)json_int(
                     cJSON_GetObjectItemCaseSensitive(d, "versions"), 0));
        snprintf(docs, sizeof(docs), "%lld",
                 (long long)json_int(
                     cJSON_GetObjectItemCaseSensitive(d, "docs"), 0));
        fmt_size(
            (double)json_int(cJSON_GetObjectItemCaseSensitive(d, "bytes"), 0),
            size, sizeof(size));
        row[0] = json_str(d, "name", "?");
        row[1] = nv;
        row[2] = short_id(json_str(d, "latest", NULL), id, 12);
        row[3] = docs;
        row[4] = size;
        if (table_add(t, row) < 0) {
            table_free(t);
            rc = nh_failf("out of memory");
            goto out;
        }
    }
    table_print(t, stdout);
    table_free(t);
out:
    cJSON_Delete(res);
    return rc;
}

int
cmd_dataset_versions(struct cmd_ctx *ctx)
{
    static const char *const hdr[] = {"VERSION", "PARENT", "DOCS", "SIZE",
                                      "CREATED", "JOB",    "TAGS"};
    cJSON *res = NULL;
    const cJSON *v;
    struct table *t = NULL;
    struct strbuf tags = STRBUF_INIT;
    int rc;

    rc =
        call_taking(ctx, "dataset.versions", args1("name", ctx->argv[0]), &res);
    if (rc != NH_EXIT_OK || ctx->json)
        goto out;
    t = table_new(7, hdr);
    if (!t) {
        rc = nh_failf("out of memory");
        goto out;
    }
    table_right(t, 2);
    table_right(t, 3);
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(res, "versions"))
    {
        char id[16], parent[16], docs[24], size[32], created[32], job[24];
        const cJSON *jj = cJSON_GetObjectItemCaseSensitive(v, "job");
        const char *row[7];
        join_tags(cJSON_GetObjectItemCaseSensitive(v, "tags"), &tags);
        snprintf(docs, sizeof(docs), "%lld",
                 (long long)json_int(
                     cJSON_GetObjectItemCaseSensitive(v, "docs"), 0));
        if (cJSON_IsNumber(jj))
            snprintf(job, sizeof(job), "%lld", (long long)json_int(jj, 0));
        else
            snprintf(job, sizeof(job), "-");
        row[0] = short_id(json_str(v, "id", NULL), id, 12);
        row[1] = short_id(json_str(v, "parent", NULL), parent, 12);
        row[2] = docs;
        row[3] = fmt_size(
            (double)json_int(cJSON_GetObjectItemCaseSensitive(v, "bytes"), 0),
            size, sizeof(size));
        row[4] = fmt_time(cJSON_GetObjectItemCaseSensitive(v, "created"),
                          created, sizeof(created));
        row[5] = job;
        row[6] = tags.len ? tags.buf : "";
        if (table_add(t, row) < 0) {
            rc = nh_failf("out of memory");
            goto out;
        }
    }
    table_print(t, stdout);
out:
    table_free(t);
    strbuf_release(&tags);
    cJSON_Delete(res);
    return rc;
}

int
cmd_dataset_show(struct cmd_ctx *ctx)
{
    static const char *const hdr[] = {"#", "OBJECT", "DOCS", "SIZE"};
    cJSON *res = NULL;
    const cJSON *s, *j;
    struct table *t = NULL;
    struct strbuf tags = STRBUF_INIT;
    char buf[64];
    int rc, i = 0;

    rc = call_taking(ctx, "dataset.show", args1("ref", ctx->argv[0]), &res);
    if (rc != NH_EXIT_OK || ctx->json)
        goto out;
    join_tags(cJSON_GetObjectItemCaseSensitive(res, "tags"), &tags);
    printf("dataset:   %s\n", json_str(res, "dataset", "?"));
    printf("version:   %s\n", json_str(res, "version", "?"));
    printf("parent:    %s\n", json_str(res, "parent", "-"));
    j = cJSON_GetObjectItemCaseSensitive(res, "job");
    if (cJSON_IsNumber(j))
        printf("job:       %lld\n", (long long)json_int(j, 0));
    else
        printf("job:       -\n");
    printf("config:    %s\n", json_str(res, "config_hash", "-"));
    printf("tool:      %s\n", json_str(res, "tool_version", "-"));
    printf(
        "docs:      %lld\n",
        (long long)json_int(cJSON_GetObjectItemCaseSensitive(res, "docs"), 0));
    printf("size:      %s\n",
           fmt_size((double)json_int(
                        cJSON_GetObjectItemCaseSensitive(res, "bytes"), 0),
                    buf, sizeof(buf)));
    printf("created:   %s\n",
           fmt_time(cJSON_GetObjectItemCaseSensitive(res, "created"), buf,
                    sizeof(buf)));
    printf("tags:      %s\n\n", tags.len ? tags.buf : "-");
    t = table_new(4, hdr);
    if (!t) {
        rc = nh_failf("out of memory");
        goto out;
    }
    table_right(t, 0);
    table_right(t, 2);
    table_right(t, 3);
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(res, "shards"))
    {
        char n[16], docs[24], size[32];
        const char *row[4];
        snprintf(n, sizeof(n), "%d", i++);
        snprintf(docs, sizeof(docs), "%lld",
                 (long long)json_int(
                     cJSON_GetObjectItemCaseSensitive(s, "docs"), 0));
        row[0] = n;
        row[1] = json_str(s, "object", "?");
        row[2] = docs;
        row[3] = fmt_size(
            (double)json_int(cJSON_GetObjectItemCaseSensitive(s, "bytes"), 0),
            size, sizeof(size));
        if (table_add(t, row) < 0) {
            rc = nh_failf("out of memory");
            goto out;
        }
    }
    table_print(t, stdout);
out:
    table_free(t);
    strbuf_release(&tags);
    cJSON_Delete(res);
    return rc;
}

/* Print node and its children (nodes whose parent is its id) at depth,
 * with prefix the tree lines drawn so far. */
static void
lineage_print(const cJSON *nodes, const cJSON *node, const char *root,
              const char *dataset, struct strbuf *prefix, bool last, bool top,
              int depth)
{
    const char *id = json_str(node, "id", "");
    const char *ds = json_str(node, "dataset", "");
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(node, "job");
    const cJSON *n, *lastchild = NULL;
    struct strbuf tags = STRBUF_INIT;
    char sid[16], size[32];
    size_t plen = prefix->len;

    if (depth > 10000)
        return;
    join_tags(cJSON_GetObjectItemCaseSensitive(node, "tags"), &tags);
    printf("%s%s%s", strbuf_str(prefix), top ? "" : (last ? "└─ " : "├─ "),
           short_id(id, sid, 12));
    if (strcmp(ds, dataset))
        printf(" (%s)", ds);
    printf(
        "  %lld docs  %s",
        (long long)json_int(cJSON_GetObjectItemCaseSensitive(node, "docs"), 0),
        fmt_size((double)json_int(
                     cJSON_GetObjectItemCaseSensitive(node, "bytes"), 0),
                 size, sizeof(size)));
    if (tags.len)
        printf("  [%s]", tags.buf);
    if (cJSON_IsNumber(j))
        printf("  job %lld", (long long)json_int(j, 0));
    if (root && !strcmp(root, id))
        printf("  *");
    putchar('\n');
    strbuf_release(&tags);

    if (!top)
        strbuf_addstr(prefix, last ? "   " : "│  ");
    cJSON_ArrayForEach(n, nodes)
    {
        const char *p = json_str(n, "parent", NULL);
        if (p && !strcmp(p, id))
            lastchild = n;
    }
    /* the train jobs on this version (train.launch) */
    cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(node, "runs"))
    {
        const cJSON *step = cJSON_GetObjectItemCaseSensitive(n, "last_step");

        printf(
            "%s%strain job %lld %s", strbuf_str(prefix),
            lastchild ? "│  " : "   ",
            (long long)json_int(cJSON_GetObjectItemCaseSensitive(n, "job"), 0),
            json_str(n, "state", "?"));
        if (cJSON_IsNumber(step))
            printf("  step %lld  loss %.4f", (long long)json_int(step, 0),
                   cJSON_GetNumberValue(
                       cJSON_GetObjectItemCaseSensitive(n, "last_loss")));
        putchar('\n');
    }
    cJSON_ArrayForEach(n, nodes)
    {
        const char *p = json_str(n, "parent", NULL);
        if (p && !strcmp(p, id))
            lineage_print(nodes, n, root, dataset, prefix, n == lastchild,
                          false, depth + 1);
    }
    strbuf_setlen(prefix, plen);
}

int
cmd_dataset_lineage(struct cmd_ctx *ctx)
{
    cJSON *res = NULL;
    const cJSON *nodes, *n, *m;
    struct strbuf prefix = STRBUF_INIT;
    char *dataset = NULL;
    const char *root;
    int rc;

    rc = call_taking(ctx, "dataset.lineage", args1("ref", ctx->argv[0]), &res);
    if (rc != NH_EXIT_OK || ctx->json)
        goto out;
    dataset = strndup(ctx->argv[0], strcspn(ctx->argv[0], "@"));
    if (!dataset) {
        rc = nh_failf("out of memory");
        goto out;
    }
    nodes = cJSON_GetObjectItemCaseSensitive(res, "nodes");
    root = json_str(res, "root", NULL);
    /* every node without a parent among the nodes starts a tree */
    cJSON_ArrayForEach(n, nodes)
    {
        const char *p = json_str(n, "parent", NULL);
        bool found = false;
        cJSON_ArrayForEach(m, nodes)
        {
            if (p && !strcmp(json_str(m, "id", ""), p))
                found = true;
        }
        if (!found)
            lineage_print(nodes, n, root, dataset, &prefix, true, true, 0);
    }
out:
    free(dataset);
    strbuf_release(&prefix);
    cJSON_Delete(res);
    return rc;
}

int
cmd_dataset_diff(struct cmd_ctx *ctx)
{
    const char *sample = cmd_opt(ctx, "sample");
    cJSON *args, *res = NULL;
    const cJSON *s;
    int rc;

    args = cJSON_CreateObject();
    if (!args || !cJSON_AddStringToObject(args, "a", ctx->argv[0]) ||
        !cJSON_AddStringToObject(args, "b", ctx->argv[1])) {
        cJSON_Delete(args);
        return nh_failf("out of memory");
    }
    if (sample) {
        char *e;
        long v = strtol(sample, &e, 10);
        if (e == sample || *e || v < 0 || v > 1000) {
            cJSON_Delete(args);
            return cmd_usage(ctx, "--sample is a number from 0 to 1000");
        }
        cJSON_AddNumberToObject(args, "sample", (double)v);
    }
    rc = call_taking(ctx, "dataset.diff", args, &res);
    if (rc != NH_EXIT_OK || ctx->json)
        goto out;
    printf("%s -> %s\n", json_str(res, "a", ctx->argv[0]),
           json_str(res, "b", ctx->argv[1]));
    printf(
        "added:   %lld\n",
        (long long)json_int(cJSON_GetObjectItemCaseSensitive(res, "added"), 0));
    printf("removed: %lld\n",
           (long long)json_int(cJSON_GetObjectItemCaseSensitive(res, "removed"),
                               0));
    printf("common:  %lld\n",
           (long long)json_int(cJSON_GetObjectItemCaseSensitive(res, "common"),
                               0));
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(res, "added_sample"))
    {
        if (cJSON_IsString(s))
            printf("+ %.200s\n", s->valuestring);
    }
    cJSON_ArrayForEach(s,
                       cJSON_GetObjectItemCaseSensitive(res, "removed_sample"))
    {
        if (cJSON_IsString(s))
            printf("- %.200s\n", s->valuestring);
    }
out:
    cJSON_Delete(res);
    return rc;
}

int
cmd_dataset_tag(struct cmd_ctx *ctx)
{
    cJSON *args = args1("ref", ctx->argv[0]), *res = NULL;
    char id[16];
    int rc;

    if (args && !cJSON_AddStringToObject(args, "tag", ctx->argv[1])) {
        cJSON_Delete(args);
        args = NULL;
    }
    rc = call_taking(ctx, "dataset.tag", args, &res);
    if (rc == NH_EXIT_OK && !ctx->json)
        printf("%s@%s -> %s\n", json_str(res, "dataset", "?"),
               json_str(res, "tag", ctx->argv[1]),
               short_id(json_str(res, "version", NULL), id, 12));
    cJSON_Delete(res);
    return rc;
}
