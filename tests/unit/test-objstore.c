/* test-objstore.c - unit tests for server/objstore.c
 *
 * Object store tests work on real files in their own mkdtemp directory
 * under /tmp, removed at the end; they check hashes against nh_hash128()
 * over the same bytes. Manifest tests build manifests both through
 * manifest_to_json() and from JSON text in other key orders. The schema
 * test validates a produced manifest against schemas/manifest.schema.json
 * (found through $NH_TOP, which tests/run sets, else the current
 * directory) with python3-jsonschema, when /usr/bin/python3 has it.
 */
#include "objstore.h"

#include "hash.h"

#include "test.h"
#include "tmpdir.h"

#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PYTHON "/usr/bin/python3"

static int
write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int rc;

    if (!f)
        return -1;
    rc = len && fwrite(data, 1, len, f) != len ? -1 : 0;
    return fclose(f) || rc ? -1 : 0;
}

static void
hex_of(const void *data, size_t len, char out[33])
{
    nh_h128_hex(nh_hash128(data, len), out);
}

/* Entries in DIR/objects whose names start with prefix. */
static int
count_entries(const char *dir, const char *prefix)
{
    char path[4096];
    struct dirent *e;
    DIR *d;
    int n = 0;

    path_join(path, sizeof(path), dir, OBJSTORE_DIR);
    d = opendir(path);
    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

/* Regular files under DIR/objects/??/. */
static int
count_objects(const char *dir)
{
    char path[4096], sub[4096];
    struct dirent *e, *f;
    DIR *d, *s;
    int n = 0;

    path_join(path, sizeof(path), dir, OBJSTORE_DIR);
    d = opendir(path);
    if (!d)
        return -1;
    while ((e = readdir(d))) {
        if (strlen(e->d_name) != 2 || e->d_name[0] == '.')
            continue;
        path_join(sub, sizeof(sub), path, e->d_name);
        s = opendir(sub);
        if (!s)
            continue;
        while ((f = readdir(s)))
            if (f->d_name[0] != '.')
                n++;
        closedir(s);
    }
    closedir(d);
    return n;
}

TEST(put_hash_matches)
{
    static const char text[] = "{\"text\":\"你好\"}\n{\"text\":\"world\"}\n";
    char src[128], hash[33], want[33], rel[128];
    struct nh_error err = {0};
    struct strbuf p = STRBUF_INIT;
    struct stat st;
    uint64_t bytes = 0;

    CHECK(tmp_begin("objstore") == 0);
    path_join(src, sizeof(src), tmp, "a.jsonl");
    CHECK(write_bytes(src, text, sizeof(text) - 1) == 0);
    CHECK(objstore_put_file(tmp, src, hash, &bytes, &err) == 0);
    hex_of(text, sizeof(text) - 1, want);
    CHECK_STR(hash, want);
    CHECK(bytes == sizeof(text) - 1);
    CHECK(objstore_hash_valid(hash));

    /* objects/ab/<hash> */
    CHECK(objstore_path(tmp, hash, &p) == 0);
    snprintf(rel, sizeof(rel), "%s/objects/%.2s/%s", tmp, hash, hash);
    CHECK_STR(p.buf, rel);
    CHECK(stat(p.buf, &st) == 0 && (size_t)st.st_size == sizeof(text) - 1);
    CHECK((st.st_mode & 0222) == 0); /* read-only */
    CHECK(count_entries(tmp, "tmp-") == 0);
    CHECK(objstore_verify(tmp, hash, &err) == 0);
    strbuf_release(&p);
    tmp_end();
}

TEST(put_empty_file)
{
    char src[128], hash[33], want[33];
    struct nh_error err = {0};
    uint64_t bytes = 99;

    CHECK(tmp_begin("objstore") == 0);
    path_join(src, sizeof(src), tmp, "empty");
    CHECK(write_bytes(src, "", 0) == 0);
    CHECK(objstore_put_file(tmp, src, hash, &bytes, &err) == 0);
    hex_of("", 0, want);
    CHECK_STR(hash, want);
    CHECK(bytes == 0);
    CHECK(objstore_verify(tmp, hash, &err) == 0);
    tmp_end();
}

TEST(put_dedup)
{
    char a[128], b[128], c[128], ha[33], hb[33], hc[33];
    struct nh_error err = {0};

    CHECK(tmp_begin("objstore") == 0);
    path_join(a, sizeof(a), tmp, "a");
    path_join(b, sizeof(b), tmp, "b");
    path_join(c, sizeof(c), tmp, "c");
    CHECK(write_bytes(a, "same\n", 5) == 0);
    CHECK(write_bytes(b, "same\n", 5) == 0);
    CHECK(write_bytes(c, "other\n", 6) == 0);
    CHECK(objstore_put_file(tmp, a, ha, NULL, &err) == 0);
    CHECK(objstore_put_file(tmp, b, hb, NULL, &err) == 0);
    CHECK(objstore_put_file(tmp, a, ha, NULL, &err) == 0);
    CHECK_STR(ha, hb);
    CHECK(count_objects(tmp) == 1);
    CHECK(objstore_put_file(tmp, c, hc, NULL, &err) == 0);
    CHECK(strcmp(ha, hc) != 0);
    CHECK(count_objects(tmp) == 2);
    CHECK(count_entries(tmp, "tmp-") == 0);
    tmp_end();
}

TEST(put_missing_source)
{
    char src[128], hash[33] = "untouched";
    struct nh_error err = {0};

    CHECK(tmp_begin("objstore") == 0);
    path_join(src, sizeof(src), tmp, "nope");
    CHECK(objstore_put_file(tmp, src, hash, NULL, &err) == NH_EIO);
    CHECK(strstr(err.msg, "nope") != NULL);
    CHECK_STR(hash, "untouched");
    CHECK(count_entries(tmp, "tmp-") == 0);
    tmp_end();
}

TEST(put_large_file)
{
    const size_t n = (size_t)20 << 20; /* 20 MiB: many 1 MiB blocks */
    char src[128], hash[33], want[33];
    struct nh_error err = {0};
    uint64_t bytes = 0;
    unsigned char *buf = malloc(n);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    size_t i;

    CHECK(buf != NULL);
    if (!buf)
        return;
    for (i = 0; i < n; i++) { /* xorshift: incompressible, reproducible */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (unsigned char)x;
    }
    CHECK(tmp_begin("objstore") == 0);
    path_join(src, sizeof(src), tmp, "big");
    CHECK(write_bytes(src, buf, n) == 0);
    CHECK(objstore_put_file(tmp, src, hash, &bytes, &err) == 0);
    hex_of(buf, n, want);
    CHECK_STR(hash, want);
    CHECK(bytes == n);
    CHECK(objstore_verify(tmp, hash, &err) == 0);
    CHECK(count_entries(tmp, "tmp-") == 0);
    free(buf);
    tmp_end();
}

TEST(verify_corrupt_and_missing)
{
    char src[128], hash[33];
    struct nh_error err = {0};
    struct strbuf p = STRBUF_INIT;
    FILE *f;
    int c;

    CHECK(tmp_begin("objstore") == 0);
    path_join(src, sizeof(src), tmp, "a");
    CHECK(write_bytes(src, "abcdefgh\n", 9) == 0);
    CHECK(objstore_put_file(tmp, src, hash, NULL, &err) == 0);
    CHECK(objstore_path(tmp, hash, &p) == 0);

    /* flip one byte of the stored object */
    CHECK(chmod(p.buf, 0644) == 0);
    f = fopen(p.buf, "r+b");
    CHECK(f != NULL);
    if (f) {
        CHECK(fseek(f, 3, SEEK_SET) == 0);
        c = fgetc(f);
        CHECK(fseek(f, 3, SEEK_SET) == 0);
        fputc(c ^ 0x01, f);
        fclose(f);
    }
    CHECK(objstore_verify(tmp, hash, &err) == NH_ECORRUPT);
    CHECK(strstr(err.msg, hash) != NULL);

    CHECK(unlink(p.buf) == 0);
    CHECK(objstore_verify(tmp, hash, &err) == NH_ENOENT);
    CHECK(objstore_verify(tmp, "0123456789abcdef0123456789abcdef", &err) ==
          NH_ENOENT);
    strbuf_release(&p);
    tmp_end();
}

TEST(hash_validation)
{
    struct strbuf p = STRBUF_INIT;
    struct nh_error err = {0};

    CHECK(objstore_hash_valid("0123456789abcdef0123456789abcdef"));
    CHECK(!objstore_hash_valid("0123456789ABCDEF0123456789abcdef"));
    CHECK(!objstore_hash_valid("0123456789abcdef0123456789abcde"));
    CHECK(!objstore_hash_valid("0123456789abcdef0123456789abcdef0"));
    CHECK(!objstore_hash_valid("../../../../etc/passwd/aaaaaaaaaa"));
    CHECK(!objstore_hash_valid(""));
    CHECK(!objstore_hash_valid(NULL));
    CHECK(objstore_path("/d", "../x", &p) == NH_EINVAL);
    CHECK(p.len == 0);
    CHECK(objstore_verify("/tmp", "../../etc/passwd", &err) == NH_EINVAL);
    strbuf_release(&p);
}

static const struct manifest_shard test_shards[] = {
    {"00112233445566778899aabbccddeeff", 10, 1000},
    {"ffeeddccbbaa99887766554433221100", 20, 3000000000ull},
};

static struct manifest
test_manifest(void)
{
    struct manifest m = {
        .dataset = "web-zh",
        .shards = test_shards,
        .nshards = 2,
        .parent = "0123456789abcdef0123456789abcdef",
        .job_id = 7,
        .config_hash = "cafe",
        .tool_version = "0.1.0",
    };

    return m;
}

static int
canon_str(const cJSON *j, struct strbuf *sb)
{
    return manifest_canonical(j, sb);
}

TEST(canonical_sorted)
{
    struct manifest m = test_manifest();
    struct strbuf sb = STRBUF_INIT;
    cJSON *j = manifest_to_json(&m), *x;

    CHECK(j != NULL);
    CHECK(canon_str(j, &sb) == 0);
    CHECK_STR(sb.buf, "{\"config_hash\":\"cafe\",\"dataset\":\"web-zh\","
                      "\"format\":\"naohai-manifest-1\",\"job_id\":7,"
                      "\"parent\":\"0123456789abcdef0123456789abcdef\","
                      "\"shards\":[{\"bytes\":1000,\"docs\":10,\"hash\":"
                      "\"00112233445566778899aabbccddeeff\"},{\"bytes\":"
                      "3000000000,\"docs\":20,\"hash\":"
                      "\"ffeeddccbbaa99887766554433221100\"}],"
                      "\"tool_version\":\"0.1.0\"}");
    cJSON_Delete(j);

    /* any JSON: nested sorting, bytewise order, escapes, numbers */
    x = cJSON_Parse("{\"b\":{\"z\":[3,{\"y\":1,\"x\":2.5}],\"a\":null},"
                    "\"a\":\"q\\\"\\n\xc3\xa9\",\"B\":true,\"\xc3\xa9\":"
                    "false,\"n\":-0,\"e\":1e3}");
    CHECK(x != NULL);
    CHECK(canon_str(x, &sb) == 0);
    CHECK_STR(sb.buf, "{\"B\":true,\"a\":\"q\\\"\\n\xc3\xa9\",\"b\":{\"a\":"
                      "null,\"z\":[3,{\"x\":2.5,\"y\":1}]},\"e\":1000,\"n\":0,"
                      "\"\xc3\xa9\":false}");
    cJSON_Delete(x);

    x = cJSON_Parse("{\"a\":1,\"a\":2}");
    CHECK(x != NULL);
    CHECK(canon_str(x, &sb) == NH_EINVAL);
    cJSON_Delete(x);
    strbuf_release(&sb);
}

TEST(canonical_key_order_independent)
{
    static const char a[] =
        "{\"format\":\"naohai-manifest-1\",\"dataset\":\"d\",\"shards\":"
        "[{\"hash\":\"00112233445566778899aabbccddeeff\",\"docs\":1,"
        "\"bytes\":2}],\"parent\":null,\"job_id\":null,\"config_hash\":null,"
        "\"tool_version\":\"1\"}";
    static const char b[] =
        "{ \"tool_version\": \"1\", \"config_hash\": null, \"job_id\": null,\n"
        "  \"shards\": [ { \"bytes\": 2, \"docs\": 1.0, \"hash\": "
        "\"00112233445566778899aabbccddeeff\" } ],\n"
        "  \"parent\": null, \"dataset\": \"d\", "
        "\"format\": \"naohai-manifest-1\" }";
    static const struct manifest_shard sh[] = {
        {"00112233445566778899aabbccddeeff", 1, 2},
    };
    struct manifest m = {"d", sh, 1, NULL, -1, NULL, "1"};
    struct nh_error err = {0};
    struct strbuf sa = STRBUF_INIT, sb = STRBUF_INIT, sc = STRBUF_INIT;
    cJSON *ja = NULL, *jb = NULL, *jc = manifest_to_json(&m);
    char ida[33], idb[33], idc[33];

    CHECK(manifest_parse(a, sizeof(a) - 1, &ja, &err) == 0);
    CHECK(manifest_parse(b, sizeof(b) - 1, &jb, &err) == 0);
    CHECK(ja && jb && jc);
    if (!ja || !jb || !jc)
        goto out;
    CHECK(manifest_canonical(ja, &sa) == 0);
    CHECK(manifest_canonical(jb, &sb) == 0);
    CHECK(manifest_canonical(jc, &sc) == 0);
    CHECK_STR(sa.buf, sb.buf);
    CHECK_STR(sa.buf, sc.buf);
    CHECK(manifest_id(ja, ida) == 0);
    CHECK(manifest_id(jb, idb) == 0);
    CHECK(manifest_id(jc, idc) == 0);
    CHECK_STR(ida, idb);
    CHECK_STR(ida, idc);
    CHECK(objstore_hash_valid(ida));
    hex_of(sa.buf, sa.len, idb);
    CHECK_STR(ida, idb);
out:
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    cJSON_Delete(jc);
    strbuf_release(&sa);
    strbuf_release(&sb);
    strbuf_release(&sc);
}

static void
id_of(const struct manifest *m, char id[33])
{
    cJSON *j = manifest_to_json(m);

    if (!j || manifest_id(j, id) < 0)
        snprintf(id, 33, "error");
    cJSON_Delete(j);
}

TEST(id_changes_with_every_field)
{
    struct manifest base = test_manifest(), m;
    struct manifest_shard sh[2];
    char ids[12][33];
    int n = 0, i, k;

    /* each VARY changes one field of base, then takes the id */
#define VARY(change)                                                           \
    do {                                                                       \
        m = base;                                                              \
        memcpy(sh, test_shards, sizeof(sh));                                   \
        change;                                                                \
        id_of(&m, ids[n++]);                                                   \
    } while (0)
    VARY((void)0);
    VARY(m.dataset = "web-en");
    VARY(m.parent = NULL);
    VARY(m.parent = "1123456789abcdef0123456789abcdef");
    VARY(m.job_id = -1);
    VARY(m.job_id = 8);
    VARY(m.config_hash = NULL);
    VARY(m.tool_version = "0.1.1");
    VARY(m.nshards = 1);
    VARY(m.shards = sh; sh[0].docs = 11);
    VARY(m.shards = sh; sh[1].bytes = 3000000001ull);
    VARY(m.shards = sh; sh[1].hash[31] = '1');
#undef VARY
    for (i = 0; i < n; i++) {
        CHECK(objstore_hash_valid(ids[i]));
        for (k = 0; k < i; k++)
            CHECK(strcmp(ids[i], ids[k]) != 0);
    }
    /* and is stable */
    id_of(&base, ids[1]);
    CHECK_STR(ids[0], ids[1]);
}

/* manifest_parse must fail on text with field named in the message. */
static void
check_bad(const char *json, int code, const char *field, int line)
{
    struct nh_error err = {0};
    cJSON *j = NULL;
    int rc = manifest_parse(json, strlen(json), &j, &err);

    if (rc != code || j || !strstr(err.msg, field)) {
        printf("  FAIL line %d: rc %d, msg \"%s\", want %d naming %s\n", line,
               rc, err.msg, code, field);
        test_cur_failed = 1;
    }
    cJSON_Delete(j);
}

#define HDR                                                                    \
    "{\"format\":\"naohai-manifest-1\",\"dataset\":\"d\","                     \
    "\"tool_version\":\"1\",\"config_hash\":null,"
#define GOODSHARD "{\"hash\":\"00112233445566778899aabbccddeeff\""

TEST(parse_rejects)
{
    check_bad("{", NH_EFORMAT, "not valid JSON", __LINE__);
    check_bad("[]", NH_EINVAL, "not a JSON object", __LINE__);
    check_bad(HDR "\"parent\":null,\"job_id\":null}", NH_EINVAL,
              "missing field 'shards'", __LINE__);
    check_bad(HDR "\"parent\":null,\"job_id\":null,\"shards\":[],\"x\":1}",
              NH_EINVAL, "unknown field 'x'", __LINE__);
    check_bad(HDR "\"parent\":null,\"job_id\":null,\"shards\":[],"
                  "\"dataset\":\"e\"}",
              NH_EINVAL, "duplicate field 'dataset'", __LINE__);
    check_bad("{\"format\":\"other\",\"dataset\":\"d\",\"tool_version\":\"1\","
              "\"config_hash\":null,\"parent\":null,\"job_id\":null,"
              "\"shards\":[]}",
              NH_EINVAL, "'format'", __LINE__);
    check_bad(HDR "\"parent\":\"ABC\",\"job_id\":null,\"shards\":[]}",
              NH_EINVAL, "'parent'", __LINE__);
    check_bad(HDR "\"parent\":null,\"job_id\":-1,\"shards\":[]}", NH_EINVAL,
              "'job_id'", __LINE__);
    check_bad(HDR "\"parent\":null,\"job_id\":\"7\",\"shards\":[]}", NH_EINVAL,
              "'job_id'", __LINE__);
    check_bad(HDR "\"parent\":null,\"job_id\":null,\"shards\":{}}", NH_EINVAL,
              "'shards'", __LINE__);
    check_bad(HDR "\"parent\":null,\"job_id\":null,\"shards\":[1]}", NH_EINVAL,
              "'shards[0]'", __LINE__);
    check_bad(HDR "\"parent\":null,\"job_id\":null,\"shards\":[" GOODSHARD
                  ",\"docs\":1,\"bytes\":1},{\"hash\":\"00112233445566778899"
                  "aabbccddeefg\",\"docs\":1,\"bytes\":1}]}",
              NH_EINVAL, "'shards[1].hash'", __LINE__);
    check_bad(HDR "\"parent\":null,\"job_id\":null,\"shards\":[{\"hash\":7,"
                  "\"docs\":1,\"bytes\":1}]}",
              NH_EINVAL, "'shards[0].hash'", __LINE__);
    check_bad(HDR "\"parent\":null,\"job_id\":null,\"shards\":[" GOODSHARD
                  ",\"docs\":-1,\"bytes\":1}]}",
              NH_EINVAL, "'shards[0].docs'", __LINE__);
    check_bad(HDR "\"parent\":null,\"job_id\":null,\"shards\":[" GOODSHARD
                  ",\"docs\":1.5,\"bytes\":1}]}",
              NH_EINVAL, "'shards[0].docs'", __LINE__);
    check_bad(HDR "\"parent\":null,\"job_id\":null,\"shards\":[" GOODSHARD
                  ",\"docs\":1,\"bytes\":-3}]}",
              NH_EINVAL, "'shards[0].bytes'", __LINE__);
    check_bad(HDR "\"parent\":null,\"job_id\":null,\"shards\":[" GOODSHARD
                  ",\"docs\":1,\"bytes\":\"1\"}]}",
              NH_EINVAL, "'shards[0].bytes'", __LINE__);
    check_bad(HDR "\"parent\":null,\"job_id\":null,\"shards\":[" GOODSHARD
                  ",\"docs\":1}]}",
              NH_EINVAL, "missing field 'shards[0].bytes'", __LINE__);
    check_bad(HDR "\"parent\":null,\"job_id\":null,\"shards\":[" GOODSHARD
                  ",\"docs\":1,\"bytes\":1,\"extra\":0}]}",
              NH_EINVAL, "unknown field 'shards[0].extra'", __LINE__);
    check_bad("{\"format\":\"naohai-manifest-1\",\"dataset\":\"\","
              "\"tool_version\":\"1\",\"config_hash\":null,\"parent\":null,"
              "\"job_id\":null,\"shards\":[]}",
              NH_EINVAL, "'dataset'", __LINE__);
    check_bad(HDR "\"parent\":null,\"job_id\":null,\"shards\":[" GOODSHARD
                  ",\"docs\":1,\"bytes\":1e300}]}",
              NH_EINVAL, "'shards[0].bytes'", __LINE__);
}

TEST(parse_roundtrip)
{
    struct manifest m = test_manifest();
    struct nh_error err = {0};
    struct strbuf sb = STRBUF_INIT;
    cJSON *j = manifest_to_json(&m), *back = NULL;
    char id1[33], id2[33];

    CHECK(j != NULL);
    if (!j)
        return;
    CHECK(manifest_canonical(j, &sb) == 0);
    CHECK(manifest_parse(sb.buf, sb.len, &back, &err) == 0);
    CHECK(back != NULL);
    if (back) {
        CHECK(manifest_id(j, id1) == 0);
        CHECK(manifest_id(back, id2) == 0);
        CHECK_STR(id1, id2);
    }
    cJSON_Delete(back);
    cJSON_Delete(j);
    strbuf_release(&sb);
}

static int
python_has_jsonschema(void)
{
    if (access(PYTHON, X_OK) != 0)
        return 0;
    return system(PYTHON " -c 'import jsonschema' >/dev/null 2>&1") == 0;
}

/* Run jsonschema on file against the schema; 0 when valid. */
static int
schema_check(const char *file, const char *schema)
{
    char cmd[8192];
    int n = snprintf(cmd, sizeof(cmd),
                     PYTHON " -c 'import json,sys,jsonschema; "
                            "jsonschema.validate(json.load(open(sys.argv[1])), "
                            "json.load(open(sys.argv[2])))' '%s' '%s' "
                            ">/dev/null 2>&1",
                     file, schema);

    if (n < 0 || (size_t)n >= sizeof(cmd))
        return -1;
    return system(cmd);
}

TEST(schema_validates)
{
    struct manifest m = test_manifest();
    struct manifest none = {"d", NULL, 0, NULL, -1, NULL, "1"};
    struct strbuf sb = STRBUF_INIT;
    const char *top = getenv("NH_TOP");
    char schema[4096], file[128];
    cJSON *j;

    if (!python_has_jsonschema()) {
        printf("  skip: no python3 jsonschema\n");
        return;
    }
    snprintf(schema, sizeof(schema), "%s/schemas/manifest.schema.json",
             top ? top : ".");
    CHECK(access(schema, R_OK) == 0);
    CHECK(tmp_begin("objstore") == 0);
    path_join(file, sizeof(file), tmp, "manifest.json");

    j = manifest_to_json(&m);
    CHECK(j && manifest_canonical(j, &sb) == 0);
    cJSON_Delete(j);
    CHECK(write_bytes(file, sb.buf, sb.len) == 0);
    CHECK(schema_check(file, schema) == 0);

    j = manifest_to_json(&none);
    CHECK(j && manifest_canonical(j, &sb) == 0);
    cJSON_Delete(j);
    CHECK(write_bytes(file, sb.buf, sb.len) == 0);
    CHECK(schema_check(file, schema) == 0);

    /* the schema is not vacuous: a bad shard hash fails it */
    j = manifest_to_json(&m);
    CHECK(j != NULL);
    if (j) {
        cJSON *h = cJSON_GetObjectItem(
            cJSON_GetArrayItem(cJSON_GetObjectItem(j, "shards"), 0), "hash");

        CHECK(h && cJSON_SetValuestring(h, "XYZ") != NULL);
        CHECK(manifest_canonical(j, &sb) == 0);
        CHECK(write_bytes(file, sb.buf, sb.len) == 0);
        CHECK(schema_check(file, schema) != 0);
    }
    cJSON_Delete(j);
    strbuf_release(&sb);
    tmp_end();
}

int
main(void)
{
    RUN(put_hash_matches);
    RUN(put_empty_file);
    RUN(put_dedup);
    RUN(put_missing_source);
    RUN(put_large_file);
    RUN(verify_corrupt_and_missing);
    RUN(hash_validation);
    RUN(canonical_sorted);
    RUN(canonical_key_order_independent);
    RUN(id_changes_with_every_field);
    RUN(parse_rejects);
    RUN(parse_roundtrip);
    RUN(schema_validates);
    return test_summary();
}
