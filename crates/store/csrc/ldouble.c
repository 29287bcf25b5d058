/*
 * long double helpers for INCRBYFLOAT / HINCRBYFLOAT.
 *
 * Redis does this arithmetic in C `long double` (80-bit extended on x86-64) and prints the result
 * with "%.17Lf" minus trailing zeros. Rust has no such type, and a 64-bit double gives visibly
 * different answers (10.5 + 0.1 prints 10.59999999999999964 instead of 10.6), so the few lines
 * that must be bit-exact are done by the platform's own C library.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASALT_LD_MAX_CHARS (5 * 1024)

/* Parse like Redis's string2ld: no leading space, the whole string (an embedded NUL byte is not
 * the end of it), no overflow, not NaN. */
static int parse_ld(const char *s, size_t len, long double *out) {
    char buf[BASALT_LD_MAX_CHARS];
    char *end;
    long double v;
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtold(buf, &end);
    if (isspace((unsigned char)buf[0]) || end[0] != '\0' || (size_t)(end - buf) != len ||
        (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) ||
        errno == EINVAL || isnan(v))
        return 0;
    *out = v;
    return 1;
}

/*
 * out = a + b, formatted as Redis's ld2string(LD_STR_HUMAN).
 * Returns the length written (0 if it does not fit, as Redis then stores an empty string),
 * -1 if a is not a valid float, -2 if b is not, -3 if the sum is NaN or infinite.
 */
int basalt_ld_add(const char *a, size_t alen, const char *b, size_t blen, char *out, size_t cap) {
    long double x, y, v;
    int l;
    char *p;
    if (!parse_ld(a, alen, &x)) return -1;
    if (!parse_ld(b, blen, &y)) return -2;
    v = x + y;
    if (isnan(v) || isinf(v)) return -3;
    l = snprintf(out, cap, "%.17Lf", v);
    if (l < 0 || (size_t)l + 1 > cap) return 0;
    if (strchr(out, '.') != NULL) {
        p = out + l - 1;
        while (*p == '0') {
            p--;
            l--;
        }
        if (*p == '.') l--;
    }
    if (l == 2 && out[0] == '-' && out[1] == '0') {
        out[0] = '0';
        l = 1;
    }
    return l;
}

/* 1 if s parses as a long double the way Redis accepts it. */
int basalt_ld_valid(const char *s, size_t len) {
    long double v;
    return parse_ld(s, len, &v);
}

/* Classify s as Redis's string2ld sees it: 0 not a valid float, 1 finite, 2 infinite. */
int basalt_ld_classify(const char *s, size_t len) {
    long double v;
    if (!parse_ld(s, len, &v)) return 0;
    return isinf(v) ? 2 : 1;
}

/*
 * SORT's numeric parse: strtod over the value as a C string (it ends at a NUL byte), which must
 * be consumed whole, without overflow, and not be NaN. Returns 1 and sets *out on success.
 */
int basalt_sort_strtod(const char *s, size_t len, double *out) {
    char buf[BASALT_LD_MAX_CHARS];
    char *end;
    double v;
    if (len >= sizeof(buf)) len = sizeof(buf) - 1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtod(buf, &end);
    if (end[0] != '\0' || errno == ERANGE || isnan(v)) return 0;
    *out = v;
    return 1;
}

/*
 * Redis's getDoubleFromObject (ZADD scores, ZINCRBY, WEIGHTS): strtod over the whole string
 * (an embedded NUL byte is not the end of it), no leading space, no overflow or underflow to
 * zero, not NaN. Returns 1 and sets *out on success.
 */
int basalt_double_strict(const char *s, size_t len, double *out) {
    char buf[BASALT_LD_MAX_CHARS];
    char *end;
    double v;
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtod(buf, &end);
    if (isspace((unsigned char)buf[0]) || (size_t)(end - buf) != len ||
        (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL || fpclassify(v) == FP_ZERO)) ||
        isnan(v))
        return 0;
    *out = v;
    return 1;
}

/*
 * Redis's score-range item parse (zslParseRange): strtod over the argument as a C string (it
 * ends at a NUL byte, leading space is skipped, an empty string is 0), which must be consumed
 * to that end and not be NaN; overflow is accepted as +-inf.
 */
int basalt_double_range(const char *s, size_t len, double *out) {
    char buf[BASALT_LD_MAX_CHARS];
    char *end;
    double v;
    if (len >= sizeof(buf)) len = sizeof(buf) - 1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    v = strtod(buf, &end);
    if (end[0] != '\0' || isnan(v)) return 0;
    *out = v;
    return 1;
}

/*
 * A blocking command's timeout in milliseconds as Redis 7.0's getTimeoutFromObjectOrReply
 * computes it: string2ld, then (long long) ceill(v * 1000.0) in long double, so -0.001 comes
 * out as 0 (wait forever) and -0.002 as -1 (negative). A product outside long long's range
 * converts to LLONG_MIN on x86-64, which Redis then reports as negative; that is made explicit
 * here rather than left to the conversion. Returns 0 if s is not a valid float, else 1 with
 * *out set.
 */
int basalt_timeout_ms(const char *s, size_t len, long long *out) {
    long double v, ms;
    if (!parse_ld(s, len, &v)) return 0;
    ms = ceill(v * 1000.0);
    if (!(ms >= -9223372036854775808.0L && ms < 9223372036854775808.0L)) {
        *out = (-9223372036854775807LL - 1);
        return 1;
    }
    *out = (long long)ms;
    return 1;
}
