/* mix.c - the mixture plan and the token estimate (mix.h)
 *
 * mix_plan() is a pure function of the measures, weights, target and
 * seed; cli-mix.c does the reading and writing around it.
 */
#include "mix.h"

#include "hash.h"
#include "utf8.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct order {
    uint64_t key;
    uint64_t doc;
};

static int
order_cmp(const void *a, const void *b)
{
    const struct order *x = a, *y = b;

    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->doc < y->doc ? -1 : x->doc > y->doc;
}

int
mix_plan(struct mix_source *s, size_t n, double target, uint64_t seed,
         struct nh_error *err)
{
    double wsum = 0;

    for (size_t i = 0; i < n; i++)
        wsum += s[i].weight;
    if (!(wsum > 0) || !(target > 0))
        return nh_errorf(err, NH_EINVAL,
                         "the weights and the target must be above 0");
    for (size_t i = 0; i < n; i++) {
        struct mix_source *x = &s[i];
        struct order *ord;
        double full, rest, taken;
        uint64_t e;

        x->target = target * x->weight / wsum;
        x->count = calloc(x->ndocs ? x->ndocs : 1, sizeof(*x->count));
        if (!x->count)
            return nh_errorf(err, NH_ENOMEM, "out of memory");
        x->taken = 0;
        if (x->target <= 0)
            continue;
        if (!(x->total > 0))
            return nh_errorf(err, NH_EINVAL, "source '%s' is empty", x->name);
        full = floor(x->target / x->total);
        if (full > 65534)
            return nh_errorf(err, NH_EINVAL,
                             "source '%s' would need %.0f epochs (at most "
                             "65534)",
                             x->name, full);
        e = (uint64_t)full;
        for (uint64_t d = 0; d < x->ndocs; d++)
            x->count[d] = (uint16_t)e;
        taken = full * x->total;
        rest = x->target - taken;
        if (!(ord = malloc((x->ndocs ? x->ndocs : 1) * sizeof(*ord))))
            return nh_errorf(err, NH_ENOMEM, "out of memory");
        for (uint64_t d = 0; d < x->ndocs; d++) {
            uint64_t k = nh_hash64_seed(&d, sizeof(d), seed);

            ord[d].key = nh_hash64_seed(x->name, strlen(x->name), k);
            ord[d].doc = d;
        }
        qsort(ord, x->ndocs, sizeof(*ord), order_cmp);
        /* take documents in key order while they fit in the rest; then
         * the one (not yet taken) that brings the total nearest the
         * target, if any does: the share is then off by less than one
         * document's measure, usually far less */
        {
            uint64_t best = UINT64_MAX;
            double gap;

            for (uint64_t k = 0; k < x->ndocs && rest > 0; k++) {
                double m = x->m[ord[k].doc];

                if (m <= 0 || m > rest)
                    continue;
                x->count[ord[k].doc]++;
                rest -= m;
                taken += m;
            }
            gap = rest;
            for (uint64_t k = 0; k < x->ndocs && rest > 0; k++) {
                double m = x->m[ord[k].doc];

                if (x->count[ord[k].doc] == e && fabs(rest - m) < gap) {
                    gap = fabs(rest - m);
                    best = ord[k].doc;
                }
            }
            if (best != UINT64_MAX) {
                x->count[best]++;
                rest -= x->m[best];
                taken += x->m[best];
            }
        }
        free(ord);
        x->taken = taken;
        x->epochs = taken / x->total;
    }
    return 0;
}

uint64_t
mix_tokens(const char *text, size_t len)
{
    uint64_t n = 0;
    bool inword = false;

    for (size_t i = 0; i < len;) {
        uint32_t cp;
        enum cp_token t;

        i += utf8_decode(text + i, len - i, &cp, NULL);
        t = cp_token_class(cp);
        if (t == CP_WORD) {
            n += !inword;
            inword = true;
            continue;
        }
        inword = false;
        n += t == CP_CJK || t == CP_SEP;
    }
    return n;
}
