/* args.h - whole and decimal numbers from command-line options
 *
 * The tools' option parsers check every numeric value the same way: the
 * whole string is a number (no trailing junk, no overflow, finite) within
 * [min, max]; the caller names the option in its message.
 */
#ifndef NH_ARGS_H
#define NH_ARGS_H

#include <stdbool.h>

/* A base-10 integer in [min, max] into *out; false (and *out untouched)
 * otherwise. */
bool nh_parse_long(const char *s, long min, long max, long *out);
/* A finite decimal number in [min, max] into *out. */
bool nh_parse_double(const char *s, double min, double max, double *out);

#endif
