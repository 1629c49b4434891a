/* report.h - `nh-clean dedup-report DIR`: the largest near-duplicate
 * clusters of a finished run, for a human look
 *
 * Reads the removed records of OUT/removed (those carrying "cluster" and
 * "duplicate_of", as dedup.minhash writes them), groups them by cluster,
 * and prints the largest clusters with a few members each; the kept
 * document's text comes from OUT/data.
 */
#ifndef NH_REPORT_H
#define NH_REPORT_H

#include <stdio.h>

#include "err.h"

/* Print the top largest clusters of the run in dir, members removed
 * members of each (and the kept one), to out. 0 or a negative NH_E*. */
int dedup_report(const char *dir, long top, long members, FILE *out,
                 struct nh_error *err);

#endif
