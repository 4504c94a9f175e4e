/* Strict parsing of the example programs' numeric options (attn-train, attn-play): the whole argument must be a
 * number, and it must lie in the option's range, else a message naming the option goes to stderr and the
 * program stops. Nothing out of range is ever cast (a double outside an integer type's range converted to it is
 * undefined behaviour: `--frames 1e30` was). Header-only, so both programs and the option fuzzer
 * (fuzz/fuzz_options.c) share the one definition. */
#ifndef OPTION_NUMBERS_H
#define OPTION_NUMBERS_H

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* `text` as a finite double with nothing around it (no spaces: "1 " is a mistake, not 1), or -1. */
static inline int option_parse_double(const char *text, double *out)
{
    if (!text[0] || isspace((unsigned char)text[0])) return -1;
    char *end;
    errno = 0;
    const double x = strtod(text, &end);
    if (*end || !isfinite(x)) return -1;
    *out = x;
    return 0;
}

static inline void option_complain(const char *prog, const char *option, const char *text, const char *problem)
{
    fprintf(stderr, "%s: %s: \"%s\" %s\n", prog, option, text, problem);
}

/* A double in [lo, hi]. Returns 0, or -1 with a message. */
static inline int option_double(const char *prog, const char *option, const char *text, double lo, double hi,
                                double *out)
{
    double x;
    char range[96];
    if (option_parse_double(text, &x)) {
        option_complain(prog, option, text, "is not a number");
        return -1;
    }
    if (!(x >= lo && x <= hi)) {
        snprintf(range, sizeof range, "is out of range (%g to %g)", lo, hi);
        option_complain(prog, option, text, range);
        return -1;
    }
    *out = x;
    return 0;
}

/* An integer in [lo, hi]: decimal digits with an optional sign, or a number in any notation strtod reads that is
 * exactly an integer ("1e6", "2.5e3"), so the run lengths the documentation writes as 1e6 still work. */
static inline int option_int64(const char *prog, const char *option, const char *text, int64_t lo, int64_t hi,
                               int64_t *out)
{
    char range[96];
    snprintf(range, sizeof range, "is out of range (%" PRId64 " to %" PRId64 ")", lo, hi);
    if (!text[0] || isspace((unsigned char)text[0])) {
        option_complain(prog, option, text, "is not a number");
        return -1;
    }
    char *end;
    errno = 0;
    const long long v = strtoll(text, &end, 10);
    if (!*end) {
        if (errno == ERANGE || v < lo || v > hi) {
            option_complain(prog, option, text, range);
            return -1;
        }
        *out = (int64_t)v;
        return 0;
    }
    double x;
    if (option_parse_double(text, &x)) {
        option_complain(prog, option, text, "is not a number");
        return -1;
    }
    if (x != floor(x)) {
        option_complain(prog, option, text, "is not a whole number");
        return -1;
    }
    /* Compared as doubles first (exactly: ±2^63 are doubles), so the conversion below is always defined. */
    if (!(x >= -9223372036854775808.0 && x < 9223372036854775808.0) || (int64_t)x < lo || (int64_t)x > hi) {
        option_complain(prog, option, text, range);
        return -1;
    }
    *out = (int64_t)x;
    return 0;
}

static inline int option_int(const char *prog, const char *option, const char *text, int lo, int hi, int *out)
{
    int64_t v;
    if (option_int64(prog, option, text, lo, hi, &v)) return -1;
    *out = (int)v;
    return 0;
}

/* An unsigned 64-bit integer (a seed): every value 0 to 2^64 − 1, written in decimal, or an integral number
 * below 2^64 in another notation. A minus sign is refused (strtoull would wrap "-1" to 2^64 − 1). */
static inline int option_uint64(const char *prog, const char *option, const char *text, uint64_t *out)
{
    const char *range = "is out of range (0 to 18446744073709551615)";
    if (!text[0] || isspace((unsigned char)text[0])) {
        option_complain(prog, option, text, "is not a number");
        return -1;
    }
    if (text[0] == '-') {
        double x;
        option_complain(prog, option, text, option_parse_double(text, &x) ? "is not a number" : range);
        return -1;
    }
    char *end;
    errno = 0;
    const unsigned long long v = strtoull(text, &end, 10);
    if (!*end) {
        if (errno == ERANGE) {
            option_complain(prog, option, text, range);
            return -1;
        }
        *out = (uint64_t)v;
        return 0;
    }
    double x;
    if (option_parse_double(text, &x)) {
        option_complain(prog, option, text, "is not a number");
        return -1;
    }
    if (x != floor(x)) {
        option_complain(prog, option, text, "is not a whole number");
        return -1;
    }
    if (!(x >= 0.0 && x < 18446744073709551616.0)) {
        option_complain(prog, option, text, range);
        return -1;
    }
    *out = (uint64_t)x;
    return 0;
}

#endif
