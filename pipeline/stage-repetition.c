/* placeholder until the stage lands */
#include "stage.h"
static int
init_(const cJSON *p, const char *w, void **c, struct nh_error *e)
{
    (void)p; (void)w; (void)e;
    *c = NULL;
    return 0;
}
static int
apply_(const void *c, struct stage_ctx *x, struct doc *d, const char **r)
{
    (void)c; (void)x; (void)d; (void)r;
    return STAGE_KEEP;
}
const struct stage_ops stage_repetition = {.name = "repetition", .init = init_, .apply = apply_};
