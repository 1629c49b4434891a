/* stage-pii.c - find personal data (PII) and mask it or drop the document
 *
 * The pii stage runs after normalize, so full-width digits have already
 * become ASCII. It walks the text once, stopping only at bytes that can
 * start a match (a digit, '@', ':', '+', '(' or the first byte of a
 * full-width '（'), and recognizes e-mail addresses, Chinese mobile and
 * landline numbers, resident ID numbers (GB 11643-1999, check digit and
 * birth date verified), bank card numbers (Luhn verified) and IPv4/IPv6
 * addresses, all by hand-written matchers (no regex library). Each match
 * becomes a typed placeholder such as <PHONE> with per-type counts in
 * meta.pii, or drops the document as "pii_<type>". Every rule, default
 * and source is in docs/stages/pii.md.
 */
#include "config.h"
#include "stage.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum pii_type {
    PII_EMAIL,
    PII_PHONE,
    PII_ID_CARD,
    PII_BANK_CARD,
    PII_IP,
    PII_N
};

static const char *const type_names[PII_N] = {
    "email", "phone", "id_card", "bank_card", "ip",
};
static const char *const placeholders[PII_N] = {
    "<EMAIL>", "<PHONE>", "<ID_CARD>", "<BANK_CARD>", "<IP>",
};
static const char *const drop_reasons[PII_N] = {
    "pii_email", "pii_phone", "pii_id_card", "pii_bank_card", "pii_ip",
};

struct pii_conf {
    unsigned types; /* bit (1u << enum pii_type) set: detect that type */
    bool drop;      /* action "drop" rather than "mask" */
};

struct pii_match {
    size_t start, end;
    enum pii_type type;
};

/* Bytes at which a match can start; everything else is skipped at once. */
static const unsigned char trigger[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1,  ['3'] = 1, ['4'] = 1, ['5'] = 1,
    ['6'] = 1, ['7'] = 1, ['8'] = 1,  ['9'] = 1, ['@'] = 1, [':'] = 1,
    ['+'] = 1, ['('] = 1, [0xEF] = 1, /* lead byte of U+FF08 '（' */
};

static bool
is_digit(unsigned char c)
{
    return (unsigned)(c - '0') < 10;
}

static bool
is_alpha(unsigned char c)
{
    return (unsigned)((c | 0x20) - 'a') < 26;
}

static bool
is_word(unsigned char c)
{
    return is_digit(c) || is_alpha(c) || c == '_';
}

static bool
is_hex(unsigned char c)
{
    return is_digit(c) || (unsigned)((c | 0x20) - 'a') < 6;
}

/* Characters of an e-mail local part: RFC 5322's atext narrowed to the
 * ones seen in real addresses. */
static bool
is_local(unsigned char c)
{
    return is_digit(c) || is_alpha(c) || c == '.' || c == '_' || c == '%' ||
           c == '+' || c == '-';
}

static bool
is_sep(unsigned char c)
{
    return c == ' ' || c == '-';
}

/* Digits from j on. */
static size_t
digit_run(const unsigned char *s, size_t n, size_t j)
{
    size_t k = j;

    while (k < n && is_digit(s[k]))
        k++;
    return k - j;
}

/* A match may start at i: no letter, digit or '_' before it, nor a digit
 * then '.' or '-' (the tail of "3.14" or "2023-"). CJK is a boundary. */
static bool
left_ok(const unsigned char *s, size_t i)
{
    return i == 0 ||
           (!is_word(s[i - 1]) && !((s[i - 1] == '.' || s[i - 1] == '-') &&
                                    i >= 2 && is_digit(s[i - 2])));
}

/* A match may end at e: the same rule mirrored, plus '@' (the text is
 * then an e-mail local part). */
static bool
right_ok(const unsigned char *s, size_t n, size_t e)
{
    return e >= n ||
           (!is_word(s[e]) && s[e] != '@' &&
            !((s[e] == '.' || s[e] == '-') && e + 1 < n && is_digit(s[e + 1])));
}

/* Does one more group follow at e: sep, then a digit? */
static bool
more_group(const unsigned char *s, size_t n, size_t e, unsigned char sep)
{
    return e + 1 < n && s[e] == sep && is_digit(s[e + 1]);
}

/* The value of the len decimal digits at s. */
static int
dec(const unsigned char *s, size_t len)
{
    int v = 0;

    while (len--)
        v = v * 10 + (*s++ - '0');
    return v;
}

/* GB 11643-1999: 17 digits, then the ISO 7064 MOD 11-2 check character;
 * digits 7-14 are the birth date YYYYMMDD, which must be plausible. */
static bool
id_valid(const unsigned char *s)
{
    static const int weight[17] = {7, 9, 10, 5,  8, 4, 2, 1, 6,
                                   3, 7, 9,  10, 5, 8, 4, 2};
    int sum = 0, year = dec(s + 6, 4), month = dec(s + 10, 2),
        day = dec(s + 12, 2), k;

    if (year < 1900 || year > 2099 || month < 1 || month > 12 || day < 1 ||
        day > 31)
        return false;
    for (k = 0; k < 17; k++)
        sum += (s[k] - '0') * weight[k];
    return "10X98765432"[sum % 11] == (s[17] == 'x' ? 'X' : s[17]);
}

/* Digit groups of the given sizes at j (sizes: a string of small
 * numbers, "\3\4\4" for 3-4-4), run together or each joined to the next
 * by the same separator, and no further group after. The end, or 0. */
static size_t
grouped(const unsigned char *s, size_t n, size_t j, const char *sizes)
{
    size_t total = 0, e = j, k;
    unsigned char sep = 0;

    for (k = 0; sizes[k]; k++)
        total += (size_t)sizes[k];
    if (digit_run(s, n, j) == total)
        return j + total;
    for (k = 0; sizes[k]; k++) {
        if (k && (e >= n || !is_sep(s[e]) || (sep && s[e] != sep)))
            return 0;
        if (k)
            sep = s[e++];
        if (digit_run(s, n, e) != (size_t)sizes[k])
            return 0;
        e += (size_t)sizes[k];
    }
    return more_group(s, n, e, sep) ? 0 : e;
}

/* A mobile number at j: 1[3-9] then 9 digits, bare or 3-4-4. */
static size_t
mobile_body(const unsigned char *s, size_t n, size_t j)
{
    if (j + 1 >= n || s[j] != '1' || s[j + 1] < '3' || s[j + 1] > '9')
        return 0;
    return grouped(s, n, j, "\3\4\4");
}

/* The local part of a landline at j: 7-8 digits, bare, 3-4 or 4-4; a
 * bare one may carry an extension "-1" to "-123456". */
static size_t
local_body(const unsigned char *s, size_t n, size_t j)
{
    size_t e, r;

    /* a local number never begins with 0, the trunk prefix (so hex
     * dumps such as "0801 00000000" are not phones) */
    if (j >= n || s[j] == '0')
        return 0;
    e = grouped(s, n, j, "\3\4");
    if (!e)
        e = grouped(s, n, j, "\4\4");
    if (e && e + 1 < n && s[e] == '-' && (r = digit_run(s, n, e + 1)) && r <= 6)
        e += 1 + r;
    return e;
}

/* The Luhn sum (ISO/IEC 7812-1 Annex B) over the digits of s[0..len),
 * which may hold separators. */
static unsigned
luhn_sum(const unsigned char *s, size_t len)
{
    unsigned sum = 0, odd = 0, v;

    while (len--) {
        if (!is_digit(s[len]))
            continue;
        v = (unsigned)(s[len] - '0') << odd;
        sum += v > 9 ? v - 9 : v;
        odd ^= 1;
    }
    return sum;
}

/* Luhn over a card number at s[0..len). A card number's first digit, the major
 * industry identifier, is never 0 (ISO/IEC 7812-1: 0 is reserved), which keeps
 * runs of zeros in hex dumps from passing. */
static bool
luhn_valid(const unsigned char *s, size_t len)
{
    if (len == 0 || s[0] == '0')
        return false;
    return luhn_sum(s, len) % 10 == 0;
}

/* A card number at i in groups of 4 (the last 1-4), 16-19 digits. */
static size_t
card_grouped(const unsigned char *s, size_t n, size_t i)
{
    static const char *const forms[] = {
        "\4\4\4\4\3",
        "\4\4\4\4\2",
        "\4\4\4\4\1",
        "\4\4\4\4",
    };
    size_t k, e = 0;

    for (k = 0; k < 4 && !e; k++)
        e = grouped(s, n, i, forms[k]);
    return e;
}

/* An area code at j: '0', a non-zero digit, 1-2 more digits. Returns
 * its length, or 0. */
static size_t
area_code(const unsigned char *s, size_t n, size_t j)
{
    size_t r = digit_run(s, n, j);

    if ((r != 3 && r != 4) || s[j] != '0' || s[j + 1] == '0')
        return 0;
    return r;
}

/* '(' or '（' at j: its length in bytes, or 0; likewise for closing. */
static size_t
paren(const unsigned char *s, size_t n, size_t j, bool open)
{
    if (j < n && s[j] == (open ? '(' : ')'))
        return 1;
    if (j + 2 < n && s[j] == 0xEF && s[j + 1] == 0xBC &&
        s[j + 2] == (open ? 0x88 : 0x89))
        return 3;
    return 0;
}

/* A phone starting with a digit at i: [86[sep]]mobile or 0AC sep local.
 * Returns the end, or 0. */
static size_t
phone_digits(const unsigned char *s, size_t n, size_t i)
{
    size_t e = mobile_body(s, n, i), j, ac;

    if (!e && s[i] == '8' && i + 2 < n && s[i + 1] == '6') {
        j = i + 2 + is_sep(s[i + 2]);
        e = mobile_body(s, n, j);
    }
    if (!e && (ac = area_code(s, n, i)) && i + ac < n && is_sep(s[i + ac]))
        e = local_body(s, n, i + ac + 1);
    return e && right_ok(s, n, e) ? e : 0;
}

/* A phone starting with '+86' or a parenthesis at i: "+86 138...",
 * "(+86)138...", "+86-731-86755567", "(0755) 8765 4321",
 * "（010）12345678". */
static size_t
phone_punct(const unsigned char *s, size_t n, size_t i)
{
    size_t po = paren(s, n, i, true), j = i + po, ac, pc, e;
    bool intl = j + 2 < n && s[j] == '+' && s[j + 1] == '8' && s[j + 2] == '6';

    if (intl)
        j += 3;
    else if (po && (ac = area_code(s, n, j)))
        j += ac;
    else
        return 0;
    if (po) {
        if (!(pc = paren(s, n, j, false)))
            return 0;
        j += pc;
    }
    if (j < n && is_sep(s[j]))
        j++;
    e = intl ? mobile_body(s, n, j) : local_body(s, n, j);
    if (!e && intl && j < n &&
        ((s[j] == '0' && (ac = area_code(s, n, j))) ||
         (s[j] != '0' && (ac = digit_run(s, n, j)) >= 2 && ac <= 3)) &&
        j + ac < n && is_sep(s[j + ac]))
        /* a landline from abroad: the area code drops its leading 0,
         * "+86-731-86755567", "+86 10 1234 5678" (and people who keep
         * the 0, "+86 0731-86755567") */
        e = local_body(s, n, j + ac + 1);
    return e && right_ok(s, n, e) ? e : 0;
}

/* Four dotted decimal octets 0-255 at j, no leading zeros (the strict
 * form of inet_pton). Returns the end, or 0; no boundary check. */
static size_t
ipv4_body(const unsigned char *s, size_t n, size_t j)
{
    size_t r;
    int k;

    for (k = 0; k < 4; k++) {
        if (k) {
            if (j + 1 >= n || s[j] != '.')
                return 0;
            j++;
        }
        r = digit_run(s, n, j);
        if (r == 0 || r > 3 || (r > 1 && s[j] == '0') || dec(s + j, r) > 255)
            return 0;
        j += r;
    }
    return j;
}

/* Is the dotted quad at i a version or section number: preceded (past
 * spaces and colons) by "v", "ver", "version", "版本", "版本号" or "第"? */
static bool
after_version(const unsigned char *s, size_t i)
{
    static const char ban[] = "\xe7\x89\x88\xe6\x9c\xac"; /* 版本 */
    static const char hao[] = "\xe5\x8f\xb7";             /* 号 */
    static const char di[] = "\xe7\xac\xac";              /* 第 */
    size_t k = i, w;

    for (;;) {
        if (k > 0 && (s[k - 1] == ' ' || s[k - 1] == ':' || s[k - 1] == '='))
            k--;
        else if (k >= 3 && !memcmp(s + k - 3, "\xef\xbc\x9a", 3)) /* ： */
            k -= 3;
        else
            break;
    }
    if (k >= 3 && !memcmp(s + k - 3, hao, 3))
        k -= 3;
    if ((k >= 6 && !memcmp(s + k - 6, ban, 6)) ||
        (k >= 3 && !memcmp(s + k - 3, di, 3)))
        return true;
    w = k;
    while (w > 0 && is_alpha(s[w - 1]))
        w--;
    if (w > 0 && is_word(s[w - 1]))
        return false;
    return (k - w == 1 && (s[w] | 0x20) == 'v') ||
           (k - w == 3 && !strncasecmp((const char *)s + w, "ver", 3)) ||
           (k - w == 7 && !strncasecmp((const char *)s + w, "version", 7));
}

static bool
on(const struct pii_conf *c, enum pii_type t)
{
    return c->types & (1u << t);
}

/* Everything that starts with a digit at i (left boundary already ok). */
static int
match_digit(const struct pii_conf *c, const unsigned char *s, size_t n,
            size_t i, struct pii_match *m)
{
    size_t r = digit_run(s, n, i), e = 0;

    m->start = i;
    if (on(c, PII_ID_CARD) &&
        (r == 18 || (r == 17 && i + 17 < n && (s[i + 17] | 0x20) == 'x')) &&
        right_ok(s, n, i + 18) && id_valid(s + i)) {
        m->type = PII_ID_CARD;
        e = i + 18;
    } else if (on(c, PII_BANK_CARD) && r >= 16 && r <= 19 &&
               right_ok(s, n, i + r) && luhn_valid(s + i, r)) {
        m->type = PII_BANK_CARD;
        e = i + r;
    } else if (on(c, PII_BANK_CARD) && r == 4 && (e = card_grouped(s, n, i)) &&
               right_ok(s, n, e) && luhn_valid(s + i, e - i)) {
        m->type = PII_BANK_CARD;
    } else if (on(c, PII_PHONE) && (e = phone_digits(s, n, i))) {
        m->type = PII_PHONE;
    } else if (on(c, PII_IP) && r <= 3 && (e = ipv4_body(s, n, i)) &&
               right_ok(s, n, e) && !after_version(s, i)) {
        m->type = PII_IP;
    } else {
        return 0;
    }
    m->end = e;
    return 1;
}

/* An e-mail address around the '@' at i: the local part runs back from
 * i, but not before lo (the end of the previous match: "<PHONE>+x@y.cn"
 * then masks the rest too). */
static int
match_email(const unsigned char *s, size_t n, size_t i, size_t lo,
            struct pii_match *m)
{
    size_t k = i, j, lab, labels = 0, e;

    while (k > lo && i - k <= 64 && is_local(s[k - 1]))
        k--;
    if (i - k > 64)
        return 0; /* RFC 5321 4.5.3.1.1 */
    while (k < i && (s[k] == '.' || s[k] == '-' || s[k] == '+'))
        k++;
    if (k == i || s[i - 1] == '.')
        return 0;
    for (j = k; j + 1 < i; j++)
        if (s[j] == '.' && s[j + 1] == '.')
            return 0;
    for (e = i + 1; e < n && e - i <= 255; e++)
        if (!is_alpha(s[e]) && !is_digit(s[e]) && s[e] != '-' && s[e] != '.')
            break;
    if (e - i > 255 || (e < n && (s[e] == '_' || s[e] == '@')))
        return 0;
    while (e > i + 1 && (s[e - 1] == '.' || s[e - 1] == '-'))
        e--;
    /* labels of 1-63 letters, digits, inner '-' (RFC 1035); the last a
     * top-level domain of 2 or more letters */
    for (lab = i + 1; lab < e; lab = j + 1, labels++) {
        bool alpha = true;

        for (j = lab; j < e && s[j] != '.'; j++)
            alpha = alpha && is_alpha(s[j]);
        if (j == lab || j - lab > 63 || s[lab] == '-' || s[j - 1] == '-')
            return 0;
        if (j == e && (labels == 0 || !alpha || j - lab < 2))
            return 0;
    }
    if (labels < 2)
        return 0;
    m->start = k;
    m->end = e;
    m->type = PII_EMAIL;
    return 1;
}

/* An IPv6 address (RFC 4291 2.2) whose first ':' is at i; its first
 * group runs back from i, not before lo. Accepted: 8 groups, or a
 * "::" with at most 7; an IPv4 tail counts as 2. To leave times, MACs
 * and C++ "a::b" alone, it needs some group and some decimal digit. */
static int
match_ipv6(const unsigned char *s, size_t n, size_t i, size_t lo,
           struct pii_match *m)
{
    size_t k = i, j, h, e;
    int groups = 0, dbl = 0, digit = 0;

    while (k > lo && i - k < 4 && is_hex(s[k - 1]))
        k--;
    if (k > 0 &&
        (is_word(s[k - 1]) || s[k - 1] == '.' ||
         (s[k - 1] == ':' && k >= 2 && (is_hex(s[k - 2]) || s[k - 2] == ':'))))
        return 0; /* inside a word or number, or not the first ':' */
    j = k;
    if (s[j] == ':') {
        if (j + 1 >= n || s[j + 1] != ':')
            return 0;
        dbl = 1;
        j += 2;
    }
    for (;;) {
        for (h = 0; j + h < n && h < 5 && is_hex(s[j + h]); h++)
            digit |= is_digit(s[j + h]);
        if (h == 0)
            break;
        if (h > 4)
            return 0;
        if (j + h < n && s[j + h] == '.') {
            if (groups > 6 || !(e = ipv4_body(s, n, j)))
                return 0;
            groups += 2;
            j = e;
            break;
        }
        groups++;
        j += h;
        if (j + 1 < n && s[j] == ':' && s[j + 1] == ':') {
            if (dbl)
                return 0;
            dbl = 1;
            j += 2;
        } else if (j + 1 < n && s[j] == ':' && is_hex(s[j + 1])) {
            j++;
        } else {
            break;
        }
    }
    if ((dbl ? groups > 7 : groups != 8) || !groups || !digit ||
        !right_ok(s, n, j))
        return 0;
    m->start = k;
    m->end = j;
    m->type = PII_IP;
    return 1;
}

/* Try every matcher that can start at the trigger byte s[i]. */
static int
match_at(const struct pii_conf *c, const unsigned char *s, size_t n, size_t i,
         size_t lo, struct pii_match *m)
{
    unsigned char ch = s[i];
    size_t e;

    if (ch == '@')
        return on(c, PII_EMAIL) && match_email(s, n, i, lo, m);
    if (ch == ':')
        return on(c, PII_IP) && match_ipv6(s, n, i, lo, m);
    if (!left_ok(s, i))
        return 0;
    if (is_digit(ch))
        return match_digit(c, s, n, i, m);
    if (!on(c, PII_PHONE) || !(e = phone_punct(s, n, i)))
        return 0;
    m->start = i;
    m->end = e;
    m->type = PII_PHONE;
    return 1;
}

/* meta.pii = {type: count, ...} for the types found. */
static int
add_meta(struct doc *d, const unsigned *counts)
{
    cJSON *meta = doc_meta(d), *pii;
    int t;

    if (!meta) /* "meta" is not an object: leave the record as it is */
        return cJSON_GetObjectItemCaseSensitive(d->obj, "meta") ? 0 : NH_ENOMEM;
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "pii");
    if (!(pii = cJSON_AddObjectToObject(meta, "pii")))
        return NH_ENOMEM;
    for (t = 0; t < PII_N; t++)
        if (counts[t] &&
            !cJSON_AddNumberToObject(pii, type_names[t], counts[t]))
            return NH_ENOMEM;
    return 0;
}

static int
pii_apply(const void *conf, struct stage_ctx *ctx, struct doc *d,
          const char **reason)
{
    const struct pii_conf *c = conf;
    const unsigned char *s = (const unsigned char *)d->text.buf;
    size_t n = d->text.len, i = 0, copied = 0;
    struct strbuf *out = &ctx->scratch;
    unsigned counts[PII_N] = {0}, found = 0;
    struct pii_match m;
    int rc;

    while (i < n) {
        if (!trigger[s[i]]) {
            i++;
            continue;
        }
        if (!match_at(c, s, n, i, copied, &m)) {
            /* no match starts inside a word: after a digit, skip it */
            if (is_digit(s[i++]))
                while (i < n && is_word(s[i]))
                    i++;
            continue;
        }
        if (c->drop) {
            *reason = drop_reasons[m.type];
            return STAGE_DROP;
        }
        if (!found++)
            strbuf_reset(out);
        if ((rc = strbuf_add(out, s + copied, m.start - copied)) < 0 ||
            (rc = strbuf_addstr(out, placeholders[m.type])) < 0)
            return rc;
        counts[m.type]++;
        i = copied = m.end;
    }
    if (!found)
        return STAGE_KEEP;
    if ((rc = strbuf_add(out, s + copied, n - copied)) < 0)
        return rc;
    doc_swap_text(d, out);
    if ((rc = add_meta(d, counts)) < 0)
        return rc;
    return STAGE_KEEP;
}

static int
pii_init(const cJSON *params, const char *where, void **conf,
         struct nh_error *err)
{
    static const char *const known[] = {"action", "types", NULL};
    static const char *const actions[] = {"mask", "drop", NULL};
    const char *action;
    const cJSON *types, *it;
    struct pii_conf *c;
    unsigned mask = 0;
    int rc, t;

    rc = cfg_check_keys(params, where, known, err);
    if (!rc)
        rc = cfg_str(params, where, "action", "mask", actions, &action, err);
    if (!rc)
        rc = cfg_strlist(params, where, "types", &types, err);
    if (rc < 0)
        return rc;
    if (!types) {
        mask = (1u << PII_N) - 1;
    } else {
        cJSON_ArrayForEach(it, types)
        {
            for (t = 0; t < PII_N; t++)
                if (!strcmp(it->valuestring, type_names[t]))
                    break;
            if (t == PII_N)
                return nh_errorf(err, NH_EINVAL,
                                 "%s: unknown type \"%s\" in 'types'", where,
                                 it->valuestring);
            mask |= 1u << t;
        }
        if (!mask)
            return nh_errorf(err, NH_EINVAL, "%s: 'types' must not be empty",
                             where);
    }
    if (!(c = malloc(sizeof(*c))))
        return nh_errorf(err, NH_ENOMEM, "%s: out of memory", where);
    c->types = mask;
    c->drop = !strcmp(action, "drop");
    *conf = c;
    return 0;
}

static void
pii_free(void *conf)
{
    free(conf);
}

const struct stage_ops stage_pii = {
    .name = "pii",
    .init = pii_init,
    .apply = pii_apply,
    .free = pii_free,
};
