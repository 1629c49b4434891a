#include "stage.h"
int
main(void)
{
    return stage_find("pii") ? 0 : 1;
}
