#include "wb.h"
static int
o(struct view *v, const cJSON *a)
{
    (void)v;
    (void)a;
    return 0;
}
static void
d(struct view *v, int r, int c)
{
    (void)v;
    (void)r;
    (void)c;
}
static void
k(struct view *v, enum action a, int key)
{
    (void)v;
    (void)a;
    (void)key;
}
const struct view_ops view_campaigns = {
    .name = "campaigns", .open = o, .draw = d, .key = k};
const struct view_ops view_campaign = {
    .name = "campaign", .open = o, .draw = d, .key = k};
const struct view_ops view_review = {
    .name = "review", .open = o, .draw = d, .key = k};
