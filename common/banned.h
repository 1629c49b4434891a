/* banned.h - functions naohai code must not call
 *
 * Included into every translation unit by the Makefile (-include), after
 * which a call to one of these is a compile error. Each has a bounded or
 * growable replacement: strbuf_add*, snprintf, strtok_r.
 */
#ifndef NH_BANNED_H
#define NH_BANNED_H

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef gets
#define gets(x) BANNED(gets)

#endif
