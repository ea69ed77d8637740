/*
 * common.c - error names, small hashing, hex digit and array helpers, the debug assertion
 * handler.
 */
#include "common.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

const char *hs_err_str(hs_err_t err)
{
    switch (err) {
    case HS_OK:
        return "ok";
    case HS_ERR_NOMEM:
        return "out of memory";
    case HS_ERR_FULL:
        return "table full";
    case HS_ERR_NOTFOUND:
        return "not found";
    case HS_ERR_INVALID:
        return "invalid input";
    case HS_ERR_IO:
        return "I/O error";
    case HS_ERR_STATE:
        return "profiler not running";
    case HS_ERR_TIMEOUT:
        return "timed out";
    }
    return "unknown error";
}

uint64_t hs_hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

int hs_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

hs_err_t hs_array_reserve(void **array, size_t *cap, size_t need, size_t elem, size_t min_cap)
{
    if (need <= *cap)
        return HS_OK;
    size_t c = *cap ? *cap : min_cap;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem)
            return HS_ERR_NOMEM;
        c *= 2;
    }
    void *p = realloc(*array, c * elem);
    if (!p)
        return HS_ERR_NOMEM;
    *array = p;
    *cap = c;
    return HS_OK;
}

void hs_reason(char *why, size_t why_len, const char *fmt, ...)
{
    if (!why || !why_len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}
