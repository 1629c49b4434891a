/* test-stage-pii.c - unit tests for the pii stage
 *
 * Each case runs the stage on one text through stage_run() and checks the
 * rewritten text, the verdict and reason, and meta.pii. ID numbers and
 * card numbers are also built here by the published algorithms, so the
 * checks do not rest only on hard-coded examples.
 */
#include <stdio.h>
#include <string.h>

#include "stage-util.h"
#include "test.h"

/* Mask with the given params; the text after the stage, or "(error)". */
static char out[1024];

static const char *
mask_p(const char *params, const char *text)
{
    struct stage_run r;

    stage_run(&r, "pii", params, text);
    if (r.rc < 0 || r.verdict != STAGE_KEEP)
        snprintf(out, sizeof(out), "(error)");
    else
        snprintf(out, sizeof(out), "%s", r.text);
    stage_run_release(&r);
    return out;
}

static const char *
mask(const char *text)
{
    return mask_p(NULL, text);
}

/* The drop reason for text under action "drop", or "keep". */
static const char *
drop_reason(const char *params, const char *text)
{
    struct stage_run r;
    const char *why;

    stage_run(&r, "pii", params ? params : "{\"action\": \"drop\"}", text);
    why = r.rc < 0 ? "(error)" : r.verdict == STAGE_DROP ? r.reason : "keep";
    stage_run_release(&r);
    return why;
}

/* meta.pii.<type> of the record after masking text; -1 when absent. */
static int
meta_count(const char *text, const char *type)
{
    struct stage_run r;
    const cJSON *meta, *pii, *v;
    int n = -1;

    stage_run(&r, "pii", NULL, text);
    meta = cJSON_GetObjectItemCaseSensitive(r.obj, "meta");
    pii = cJSON_GetObjectItemCaseSensitive(meta, "pii");
    v = cJSON_GetObjectItemCaseSensitive(pii, type);
    if (cJSON_IsNumber(v))
        n = v->valueint;
    else if (!type && pii)
        n = 0;
    stage_run_release(&r);
    return n;
}

/* The GB 11643-1999 check character of the 17 digits in s. */
static char
id_check(const char *s)
{
    static const int w[17] = {7, 9, 10, 5,  8, 4, 2, 1, 6,
                              3, 7, 9,  10, 5, 8, 4, 2};
    int k, sum = 0;

    for (k = 0; k < 17; k++)
        sum += (s[k] - '0') * w[k];
    return "10X98765432"[sum % 11];
}

/* Complete 15 digits (or 18 for 19-digit cards) with a Luhn digit. */
static void
luhn_complete(char *s, size_t len)
{
    int sum = 0;
    size_t k;

    for (k = 0; k < len; k++) {
        int v = s[len - 1 - k] - '0';

        if (!(k & 1)) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    s[len] = (char)('0' + (10 - sum % 10) % 10);
    s[len + 1] = '\0';
}

TEST(id_card_classic_x)
{
    CHECK_STR(mask("身份证号11010519491231002X，请核对"),
              "身份证号<ID_CARD>，请核对");
    CHECK_STR(mask("ID: 11010519491231002x."), "ID: <ID_CARD>.");
    CHECK_STR(mask("440306199001011236"), "<ID_CARD>");
    CHECK_STR(mask("他的身份证是510104200002290011。"),
              "他的身份证是<ID_CARD>。");
}

TEST(id_card_computed)
{
    static const char *const bases[] = {
        "11010119800101001", "32010219991231456", "44030620230615789",
        "65010219000101000", "21020320991130777",
    };
    char id[32], text[64];
    size_t k;

    for (k = 0; k < sizeof(bases) / sizeof(bases[0]); k++) {
        snprintf(id, sizeof(id), "%s%c", bases[k], id_check(bases[k]));
        snprintf(text, sizeof(text), "证件%s号", id);
        CHECK_STR(mask_p("{\"types\": [\"id_card\"]}", text),
                  "证件<ID_CARD>号");
    }
}

TEST(id_card_wrong_check_untouched)
{
    /* the right check digit is X; these fail both ID and Luhn checks */
    CHECK_STR(mask("身份证11010519491231002，110105194912310021"),
              "身份证11010519491231002，110105194912310021");
    CHECK_STR(mask("440306199001011230"), "440306199001011230");
    CHECK_STR(mask_p("{\"types\": [\"id_card\"]}", "110105194912310028"),
              "110105194912310028");
}

TEST(id_card_bad_date_untouched)
{
    char id[32];

    /* month 13, year 1899, day 00, each with a correct check digit */
    snprintf(id, sizeof(id), "11010519491331002%c",
             id_check("11010519491331002"));
    CHECK_STR(mask_p("{\"types\": [\"id_card\"]}", id), id);
    snprintf(id, sizeof(id), "11010518991231002%c",
             id_check("11010518991231002"));
    CHECK_STR(mask_p("{\"types\": [\"id_card\"]}", id), id);
    snprintf(id, sizeof(id), "11010519490031002%c",
             id_check("11010519490031002"));
    CHECK_STR(mask_p("{\"types\": [\"id_card\"]}", id), id);
}

TEST(id_card_inside_longer_runs_untouched)
{
    CHECK_STR(mask("订单号202312011234567890123"),
              "订单号202312011234567890123");
    CHECK_STR(mask("511010519491231002X"), "511010519491231002X");
    CHECK_STR(mask("11010519491231002X5"), "11010519491231002X5");
    CHECK_STR(mask("A11010519491231002X"), "A11010519491231002X");
    CHECK_STR(mask("11010519491231002Xyz"), "11010519491231002Xyz");
    CHECK_STR(mask("order 9911010519491231002X shipped"),
              "order 9911010519491231002X shipped");
}

TEST(bank_card_luhn_valid)
{
    char card[32], text[64];

    CHECK_STR(mask("卡号 4111 1111 1111 1111 谢谢"), "卡号 <BANK_CARD> 谢谢");
    CHECK_STR(mask("card 4111111111111111."), "card <BANK_CARD>.");
    CHECK_STR(mask("Pay with 4111-1111-1111-1111 today"),
              "Pay with <BANK_CARD> today");
    CHECK_STR(mask("工行卡6222021234567890128收款"), "工行卡<BANK_CARD>收款");
    CHECK_STR(mask("6222 0212 3456 7890 128"), "<BANK_CARD>");
    CHECK_STR(mask("5500000000000004"), "<BANK_CARD>");
    snprintf(card, sizeof(card), "621700000000000");
    luhn_complete(card, 15);
    snprintf(text, sizeof(text), "账户%s", card);
    CHECK_STR(mask(text), "账户<BANK_CARD>");
}

TEST(bank_card_luhn_invalid_untouched)
{
    CHECK_STR(mask("4111111111111112"), "4111111111111112");
    CHECK_STR(mask("卡号4111 1111 1111 1112"), "卡号4111 1111 1111 1112");
    CHECK_STR(mask("6222021234567890120"), "6222021234567890120");
    /* 20 digits is not a card even when Luhn passes */
    CHECK_STR(mask("41111111111111111113"), "41111111111111111113");
    CHECK_STR(mask("4111 1111 1111 1111 1111"), "4111 1111 1111 1111 1111");
    /* a card number never starts with 0: zeros in a hex dump pass Luhn */
    CHECK_STR(mask("0000000: 0000 0000 0000 0000 ...."),
              "0000000: 0000 0000 0000 0000 ....");
    CHECK_STR(mask("0000000000000000"), "0000000000000000");
}

TEST(mobile_phones)
{
    CHECK_STR(mask("手机13812345678联系"), "手机<PHONE>联系");
    CHECK_STR(mask("电话：+86 138 1234 5678。"), "电话：<PHONE>。");
    CHECK_STR(mask("+86-138-1234-5678"), "<PHONE>");
    CHECK_STR(mask("(+86)13812345678"), "<PHONE>");
    CHECK_STR(mask("（+86）139 8765 4321"), "<PHONE>");
    CHECK_STR(mask("8613812345678"), "<PHONE>");
    CHECK_STR(mask("+8619912345678"), "<PHONE>");
    CHECK_STR(mask("Call me at 139-1234-5678."), "Call me at <PHONE>.");
    CHECK_STR(mask("a: 13812345678, b: 15000000000"), "a: <PHONE>, b: <PHONE>");
}

TEST(mobile_lookalikes_untouched)
{
    CHECK_STR(mask("12812345678"), "12812345678");
    CHECK_STR(mask("1381234567"), "1381234567");
    CHECK_STR(mask("138123456789"), "138123456789");
    CHECK_STR(mask("abc13812345678"), "abc13812345678");
    CHECK_STR(mask("13812345678abc"), "13812345678abc");
    CHECK_STR(mask("3.13812345678"), "3.13812345678");
    CHECK_STR(mask("138 1234 5678 9012"), "138 1234 5678 9012");
    CHECK_STR(mask("138-1234 5678"), "138-1234 5678");
}

TEST(landlines)
{
    CHECK_STR(mask("北京010-12345678转"), "北京<PHONE>转");
    CHECK_STR(mask("(0755) 8765 4321"), "<PHONE>");
    CHECK_STR(mask("深圳（0755）87654321"), "深圳<PHONE>");
    CHECK_STR(mask("021-1234-5678"), "<PHONE>");
    CHECK_STR(mask("Tel 0571 8888888"), "Tel <PHONE>");
    CHECK_STR(mask("(010)12345678"), "<PHONE>");
    CHECK_STR(mask("总机010-12345678-123。"), "总机<PHONE>。");
    /* dialled from abroad: +86, then the area code without its 0 */
    CHECK_STR(mask("Tel: +86-731-86755567"), "Tel: <PHONE>");
    CHECK_STR(mask("电话 +86 10 1234 5678。"), "电话 <PHONE>。");
    CHECK_STR(mask("(+86) 531-7435557"), "<PHONE>");
    CHECK_STR(mask("+86-0731-86755567"), "<PHONE>");
    CHECK_STR(mask("+86-1-86755567"), "+86-1-86755567");
    /* hex dumps: a "local number" starting with 0 is not one */
    CHECK_STR(mask("1: 00000000:0801 00000000:0000 0A"),
              "1: 00000000:0801 00000000:0000 0A");
    /* no separator, leading 00, local number too short or long */
    CHECK_STR(mask("01012345678"), "01012345678");
    CHECK_STR(mask("001-12345678"), "001-12345678");
    CHECK_STR(mask("010-123456"), "010-123456");
    CHECK_STR(mask("0755-123456789"), "0755-123456789");
}

TEST(emails)
{
    CHECK_STR(mask("请发邮件到zhang.san@example.com.cn谢谢"),
              "请发邮件到<EMAIL>谢谢");
    CHECK_STR(mask("Mail john+tag@mail.co.uk."), "Mail <EMAIL>.");
    CHECK_STR(mask("<a_b-c%d@sub-domain.example.org>"), "<<EMAIL>>");
    CHECK_STR(mask("QQ邮箱13812345678@qq.com"), "QQ邮箱<EMAIL>");
    CHECK_STR(mask("mailto:foo@bar.io"), "mailto:<EMAIL>");
    CHECK_STR(mask("13812345678+tag@qq.com"), "<PHONE>+<EMAIL>");
    CHECK_STR(mask("an.address.with.a.very.long.local.part.that.goes.on.and.on."
                   "and.on@example.com"),
              "an.address.with.a.very.long.local.part.that.goes.on.and.on."
              "and.on@example.com");
    CHECK_STR(mask("联系：小王（wang@163.com）"), "联系：小王（<EMAIL>）");
}

TEST(email_lookalikes_untouched)
{
    CHECK_STR(mask("a@b"), "a@b");
    CHECK_STR(mask("user@localhost"), "user@localhost");
    CHECK_STR(mask("x@y.c"), "x@y.c");
    CHECK_STR(mask("a..b@example.com"), "a..b@example.com");
    CHECK_STR(mask("@example.com"), "@example.com");
    CHECK_STR(mask("me@-bad.com"), "me@-bad.com");
    CHECK_STR(mask("weibo @张三"), "weibo @张三");
}

TEST(ipv4)
{
    CHECK_STR(mask("服务器192.168.1.1宕机"), "服务器<IP>宕机");
    CHECK_STR(mask("connect to 10.0.0.1:8080 now"), "connect to <IP>:8080 now");
    CHECK_STR(mask("from 0.0.0.0 to 255.255.255.255."), "from <IP> to <IP>.");
    CHECK_STR(mask("256.1.1.1"), "256.1.1.1");
    CHECK_STR(mask("1.2.3.4.5"), "1.2.3.4.5");
    CHECK_STR(mask("192.168.01.1"), "192.168.01.1");
    CHECK_STR(mask("1.2.3"), "1.2.3");
    CHECK_STR(mask("x1.2.3.4"), "x1.2.3.4");
}

TEST(version_strings_untouched)
{
    CHECK_STR(mask("v1.2.3.4"), "v1.2.3.4");
    CHECK_STR(mask("version 1.2.3.4"), "version 1.2.3.4");
    CHECK_STR(mask("Version: 10.0.0.1"), "Version: 10.0.0.1");
    CHECK_STR(mask("版本 1.2.3.4"), "版本 1.2.3.4");
    CHECK_STR(mask("版本号：2.0.1.3"), "版本号：2.0.1.3");
    CHECK_STR(mask("ver 4.3.2.1"), "ver 4.3.2.1");
    CHECK_STR(mask("见第3.2.1.4节"), "见第3.2.1.4节");
    /* a word merely ending in "v" is no version marker */
    CHECK_STR(mask("dev 1.2.3.4"), "dev <IP>");
}

TEST(ipv6)
{
    CHECK_STR(mask("地址2001:db8::1可用"), "地址<IP>可用");
    CHECK_STR(mask("fe80::1ff:fe23:4567:890a%eth0"), "<IP>%eth0");
    CHECK_STR(mask("2001:0db8:85a3:0000:0000:8a2e:0370:7334"), "<IP>");
    CHECK_STR(mask("ping ::1 ok"), "ping <IP> ok");
    CHECK_STR(mask("::ffff:192.168.1.1"), "<IP>");
    CHECK_STR(mask("IPv6：fe80::1"), "IPv6：<IP>");
    CHECK_STR(mask("1:2:3:4:5:6:7:8"), "<IP>");
    CHECK_STR(mask("FE80::ABCD:1, [2001:db8::7]:443"), "<IP>, [<IP>]:443");
    CHECK_STR(mask("fe80::"), "<IP>");
}

TEST(ipv6_lookalikes_untouched)
{
    CHECK_STR(mask("会议12:30:45开始"), "会议12:30:45开始");
    CHECK_STR(mask("at 12:30"), "at 12:30");
    CHECK_STR(mask("std::vector"), "std::vector");
    CHECK_STR(mask("a::b"), "a::b");
    CHECK_STR(mask("00:1a:2b:3c:4d:5e"), "00:1a:2b:3c:4d:5e");
    CHECK_STR(mask("2023-12-01T10:20:30"), "2023-12-01T10:20:30");
    CHECK_STR(mask("1:2:3:4:5:6:7:8:9"), "1:2:3:4:5:6:7:8:9");
    CHECK_STR(mask("1::2::3"), "1::2::3");
    CHECK_STR(mask("12345::1"), "12345::1");
}

TEST(no_pii_unchanged)
{
    struct stage_run r;

    stage_run(&r, "pii", NULL, "今天天气很好，我们去公园玩。Nothing here.");
    CHECK(r.rc == 0 && r.verdict == STAGE_KEEP);
    CHECK_STR(r.text, "今天天气很好，我们去公园玩。Nothing here.");
    CHECK(!cJSON_GetObjectItemCaseSensitive(r.obj, "meta"));
    stage_run_release(&r);
    CHECK_STR(mask(""), "");
    CHECK_STR(mask("2023年12月1日，共3人，价格99.5元"),
              "2023年12月1日，共3人，价格99.5元");
}

TEST(mixed_english)
{
    CHECK_STR(mask("Contact John at john.doe@example.com or 4111-1111-1111-"
                   "1111; server 8.8.8.8."),
              "Contact John at <EMAIL> or <BANK_CARD>; server <IP>.");
}

TEST(meta_counts)
{
    const char *t = "张三 13812345678 和 13912345678, a@b.com";

    CHECK(meta_count(t, "phone") == 2);
    CHECK(meta_count(t, "email") == 1);
    CHECK(meta_count(t, "id_card") == -1);
    CHECK(meta_count(t, "ip") == -1);
    CHECK(meta_count("nothing", NULL) == -1);
    CHECK(meta_count("11010519491231002X 1.1.1.1", "id_card") == 1);
    CHECK(meta_count("11010519491231002X 1.1.1.1", "ip") == 1);
}

/* Run the stage on a record that already has a "meta" (given as JSON). */
static cJSON *
run_with_meta(const char *meta_json, const char *text, char **out_text)
{
    const struct stage_ops *ops = stage_find("pii");
    struct stage_ctx ctx;
    struct nh_error err;
    struct doc d;
    cJSON *p = cJSON_Parse("{\"op\": \"pii\"}");
    void *conf = NULL;
    const char *reason = NULL;

    memset(&ctx, 0, sizeof(ctx));
    memset(&d, 0, sizeof(d));
    if (!ops || ops->init(p, "stages[0] (pii)", &conf, &err) < 0) {
        cJSON_Delete(p);
        return NULL;
    }
    cJSON_Delete(p);
    d.obj = cJSON_Parse(meta_json);
    d.id = d.source = "";
    strbuf_addstr(&d.text, text);
    if (ops->apply(conf, &ctx, &d, &reason) != STAGE_KEEP) {
        cJSON_Delete(d.obj);
        d.obj = NULL;
    }
    *out_text = strbuf_detach(&d.text, NULL);
    strbuf_release(&ctx.scratch);
    strbuf_release(&ctx.scratch2);
    ops->free(conf);
    return d.obj;
}

TEST(existing_meta)
{
    char *text = NULL, *json;
    cJSON *obj;

    /* other meta fields stay; an old "pii" is replaced */
    obj = run_with_meta("{\"meta\": {\"lang\": \"zh\", \"pii\": {\"ip\": 9}}}",
                        "邮箱a@b.cn", &text);
    json = cJSON_PrintUnformatted(obj);
    CHECK_STR(text, "邮箱<EMAIL>");
    CHECK_STR(json, "{\"meta\":{\"lang\":\"zh\",\"pii\":{\"email\":1}}}");
    cJSON_free(json);
    cJSON_Delete(obj);
    free(text);

    /* a "meta" that is not an object is left alone; the text is masked */
    obj = run_with_meta("{\"meta\": \"x\"}", "ip 1.2.3.4", &text);
    json = cJSON_PrintUnformatted(obj);
    CHECK_STR(text, "ip <IP>");
    CHECK_STR(json, "{\"meta\":\"x\"}");
    cJSON_free(json);
    cJSON_Delete(obj);
    free(text);
}

TEST(drop_reasons)
{
    CHECK_STR(drop_reason(NULL, "身份证11010519491231002X"), "pii_id_card");
    CHECK_STR(drop_reason(NULL, "手机13812345678"), "pii_phone");
    CHECK_STR(drop_reason(NULL, "邮箱a@example.com"), "pii_email");
    CHECK_STR(drop_reason(NULL, "card 4111 1111 1111 1111"), "pii_bank_card");
    CHECK_STR(drop_reason(NULL, "host 10.1.2.3"), "pii_ip");
    CHECK_STR(drop_reason(NULL, "host fe80::1"), "pii_ip");
    /* the first match in the text decides */
    CHECK_STR(drop_reason(NULL, "a@b.com then 13812345678"), "pii_email");
    CHECK_STR(drop_reason(NULL, "13812345678 then a@b.com"), "pii_phone");
    CHECK_STR(drop_reason(NULL, "版本 1.2.3.4，订单202312011234567890123"),
              "keep");
}

TEST(drop_keeps_text)
{
    struct stage_run r;

    stage_run(&r, "pii", "{\"action\": \"drop\"}", "call 13812345678");
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.text, "call 13812345678");
    stage_run_release(&r);
}

TEST(types_filter)
{
    const char *t = "13812345678 a@b.com 1.2.3.4";

    CHECK_STR(mask_p("{\"types\": [\"email\"]}", t),
              "13812345678 <EMAIL> 1.2.3.4");
    CHECK_STR(mask_p("{\"types\": [\"phone\", \"ip\"]}", t),
              "<PHONE> a@b.com <IP>");
    CHECK_STR(drop_reason("{\"action\": \"drop\", \"types\": [\"ip\"]}", t),
              "pii_ip");
    CHECK_STR(
        drop_reason("{\"action\": \"drop\", \"types\": [\"id_card\"]}", t),
        "keep");
}

TEST(config_errors)
{
    struct stage_run r;

    stage_run(&r, "pii", "{\"action\": \"redact\"}", "x");
    CHECK(r.init_rc == NH_EINVAL);
    CHECK(strstr(r.err.msg, "'action'") != NULL);
    CHECK(strstr(r.err.msg, "stages[0] (test)") != NULL);
    stage_run_release(&r);

    stage_run(&r, "pii", "{\"actoin\": \"drop\"}", "x");
    CHECK(r.init_rc == NH_EINVAL);
    CHECK(strstr(r.err.msg, "'actoin'") != NULL);
    stage_run_release(&r);

    stage_run(&r, "pii", "{\"types\": [\"ssn\"]}", "x");
    CHECK(r.init_rc == NH_EINVAL);
    CHECK(strstr(r.err.msg, "'types'") && strstr(r.err.msg, "ssn"));
    stage_run_release(&r);

    stage_run(&r, "pii", "{\"types\": \"email\"}", "x");
    CHECK(r.init_rc == NH_EINVAL && strstr(r.err.msg, "'types'"));
    stage_run_release(&r);

    stage_run(&r, "pii", "{\"types\": []}", "x");
    CHECK(r.init_rc == NH_EINVAL && strstr(r.err.msg, "'types'"));
    stage_run_release(&r);

    stage_run(&r, "pii", "{\"action\": 1}", "x");
    CHECK(r.init_rc == NH_EINVAL);
    stage_run_release(&r);

    stage_run(&r, "pii", "{\"action\": \"mask\", \"types\": [\"ip\"]}", "x");
    CHECK(r.init_rc == 0 && r.verdict == STAGE_KEEP);
    stage_run_release(&r);
}

TEST(many_matches_in_long_text)
{
    static char text[16384], want[16384];
    size_t tn = 0, wn = 0;
    int k;

    for (k = 0; k < 200; k++) {
        tn += (size_t)snprintf(text + tn, sizeof(text) - tn,
                               "第%d行 13812345678 v1.2.3.4 ", k);
        wn += (size_t)snprintf(want + wn, sizeof(want) - wn,
                               "第%d行 <PHONE> v1.2.3.4 ", k);
    }
    {
        struct stage_run r;
        const cJSON *pii;

        stage_run(&r, "pii", NULL, text);
        CHECK_STR(r.text, want);
        pii = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(r.obj, "meta"), "pii");
        CHECK(cJSON_GetObjectItemCaseSensitive(pii, "phone")->valueint == 200);
        stage_run_release(&r);
    }
}

int
main(void)
{
    RUN(id_card_classic_x);
    RUN(id_card_computed);
    RUN(id_card_wrong_check_untouched);
    RUN(id_card_bad_date_untouched);
    RUN(id_card_inside_longer_runs_untouched);
    RUN(bank_card_luhn_valid);
    RUN(bank_card_luhn_invalid_untouched);
    RUN(mobile_phones);
    RUN(mobile_lookalikes_untouched);
    RUN(landlines);
    RUN(emails);
    RUN(email_lookalikes_untouched);
    RUN(ipv4);
    RUN(version_strings_untouched);
    RUN(ipv6);
    RUN(ipv6_lookalikes_untouched);
    RUN(no_pii_unchanged);
    RUN(mixed_english);
    RUN(meta_counts);
    RUN(existing_meta);
    RUN(drop_reasons);
    RUN(drop_keeps_text);
    RUN(types_filter);
    RUN(config_errors);
    RUN(many_matches_in_long_text);
    return test_summary();
}
