/*
 * profile_meta.c - a profile's metadata in its comments (see profile_meta.h for the format).
 *
 * Writing: percent-encoding into a caller's buffer, no allocation, all or nothing per token
 * (a comment never ends with half a value). Reading: the header is recognised by its first
 * word, "heapsampler"; a comment that is not the header is split at single spaces and each
 * token with a well-formed key and a '=' becomes a pair, its value decoded (a '%' not followed
 * by two hex digits is kept as it is: the reader takes what older or foreign writers left).
 * Input comes from files the user gives the CLI: every length is bounded by the string itself,
 * nothing is trusted to be terminated by anything but its own NUL.
 */
#include "profile_meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hs_profile_meta_plain(unsigned char c)
{
    return c > 0x20 && c != 0x7f && c != '%' && c != '=';
}

static int hs_profile_meta_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

hs_err_t hs_profile_meta_append(char *buf, size_t len, const char *key, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!len)
        return HS_ERR_FULL;
    size_t at = strnlen(buf, len);
    if (at == len)
        return HS_ERR_INVALID;
    size_t i = at;
    if (at > 0) {
        if (i + 1 >= len)
            return HS_ERR_FULL;
        buf[i++] = ' ';
    }
    for (const char *k = key; *k; k++) {
        if (i + 1 >= len)
            goto full;
        buf[i++] = *k;
    }
    if (i + 1 >= len)
        goto full;
    buf[i++] = '=';
    for (const unsigned char *v = (const unsigned char *)value; *v; v++) {
        if (hs_profile_meta_plain(*v)) {
            if (i + 1 >= len)
                goto full;
            buf[i++] = (char)*v;
        } else {
            if (i + 3 >= len)
                goto full;
            buf[i++] = '%';
            buf[i++] = hex[*v >> 4];
            buf[i++] = hex[*v & 15];
        }
    }
    buf[i] = '\0';
    return HS_OK;
full:
    buf[at] = '\0';
    return HS_ERR_FULL;
}

hs_err_t hs_profile_meta_append_u64(char *buf, size_t len, const char *key, uint64_t value)
{
    char num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)value);
    return hs_profile_meta_append(buf, len, key, num);
}

void hs_profile_meta_header(char *buf, size_t len, const char *version, const char *reason,
                            const char *detail)
{
    if (detail && *detail)
        snprintf(buf, len, "heapsampler %s (%s, %s)", version, reason, detail);
    else
        snprintf(buf, len, "heapsampler %s (%s)", version, reason);
}

/* ---- reading ------------------------------------------------------------------------------ */

static char *hs_profile_meta_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        /* %00 stays as it is: a NUL would end the value. */
        if (s[i] == '%' && i + 2 < n && (hi = hs_hex_digit(s[i + 1])) >= 0 &&
            (lo = hs_hex_digit(s[i + 2])) >= 0 && (hi || lo)) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* "heapsampler <version> (<reason>[, <detail>])" */
static void hs_profile_meta_parse_header(const char *c, hs_profile_meta_t *out)
{
    const char *p = c + strlen("heapsampler ");
    size_t vlen = strcspn(p, " ");
    if (vlen >= sizeof out->version)
        vlen = sizeof out->version - 1;
    memcpy(out->version, p, vlen);
    out->version[vlen] = '\0';
    p += strcspn(p, " ");
    if (p[0] != ' ' || p[1] != '(')
        return;
    p += 2;
    const char *close = strrchr(p, ')');
    if (!close)
        return;
    size_t rlen = strcspn(p, ",)");
    if (p + rlen > close)
        rlen = (size_t)(close - p);
    snprintf(out->reason, sizeof out->reason, "%.*s", (int)rlen, p);
    p += rlen;
    if (p[0] == ',' && p[1] == ' ' && p + 2 <= close)
        snprintf(out->detail, sizeof out->detail, "%.*s", (int)(close - (p + 2)), p + 2);
}

static hs_err_t hs_profile_meta_add(hs_profile_meta_t *m, size_t *cap, const char *tok, size_t n)
{
    size_t klen = 0;
    while (klen < n && hs_profile_meta_key_char(tok[klen]))
        klen++;
    if (klen == 0 || klen == n || tok[klen] != '=')
        return HS_OK; /* not a key=value token: skipped */
    if (hs_array_reserve((void **)&m->pairs, cap, m->npairs + 1, sizeof *m->pairs, 8) != HS_OK)
        return HS_ERR_NOMEM;
    char *key = malloc(klen + 1);
    char *value = hs_profile_meta_decode(tok + klen + 1, n - klen - 1);
    if (!key || !value) {
        free(key);
        free(value);
        return HS_ERR_NOMEM;
    }
    memcpy(key, tok, klen);
    key[klen] = '\0';
    m->pairs[m->npairs].key = key;
    m->pairs[m->npairs].value = value;
    m->npairs++;
    return HS_OK;
}

hs_err_t hs_profile_meta_parse(const char *const *comments, size_t n, hs_profile_meta_t *out)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        const char *c = comments[i];
        if (!c)
            continue;
        if (!out->heapsampler && strncmp(c, "heapsampler ", 12) == 0) {
            out->heapsampler = true;
            hs_profile_meta_parse_header(c, out);
            continue;
        }
        for (const char *t = c; *t;) {
            size_t len = strcspn(t, " ");
            if (hs_profile_meta_add(out, &cap, t, len) != HS_OK) {
                hs_profile_meta_free(out);
                return HS_ERR_NOMEM;
            }
            t += len;
            while (*t == ' ')
                t++;
        }
    }
    return HS_OK;
}

hs_err_t hs_profile_meta_read(const hs_pprof_t *p, hs_profile_meta_t *out)
{
    size_t n = p->pb->n_comment;
    const char **list = calloc(n ? n : 1, sizeof *list);
    if (!list) {
        memset(out, 0, sizeof *out);
        return HS_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        list[i] = hs_pprof_str(p, p->pb->comment[i]);
    hs_err_t err = hs_profile_meta_parse(list, n, out);
    free(list);
    return err;
}

void hs_profile_meta_free(hs_profile_meta_t *m)
{
    for (size_t i = 0; i < m->npairs; i++) {
        free(m->pairs[i].key);
        free(m->pairs[i].value);
    }
    free(m->pairs);
    m->pairs = NULL;
    m->npairs = 0;
}

const char *hs_profile_meta_get(const hs_profile_meta_t *m, const char *key)
{
    for (size_t i = m->npairs; i-- > 0;)
        if (strcmp(m->pairs[i].key, key) == 0)
            return m->pairs[i].value;
    return NULL;
}

int hs_profile_meta_get_u64(const hs_profile_meta_t *m, const char *key, uint64_t *out)
{
    const char *v = hs_profile_meta_get(m, key);
    if (!v || !*v)
        return 0;
    uint64_t x = 0;
    for (const char *s = v; *s; s++) {
        if (*s < '0' || *s > '9' || x > (UINT64_MAX - 9) / 10)
            return 0;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    *out = x;
    return 1;
}
