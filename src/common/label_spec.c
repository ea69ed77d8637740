/*
 * label_spec.c - the grammar of labels and of HEAPSAMPLER_LABELS (see label_spec.h).
 *
 * Values are checked as UTF-8 the way Go's utf8.ValidString does (no overlong forms, no
 * surrogates, nothing above U+10FFFF): pprof and Pyroscope are written in Go, and Pyroscope
 * refuses a whole profile whose string table holds invalid UTF-8. Control characters are
 * refused too: a label is shown in tables, pprof's output and Grafana, where they would do
 * harm and carry no meaning.
 *
 * Pure functions, no allocation, no state: safe in the library's constructor and in any thread.
 */
#include "label_spec.h"

#include <string.h>

static bool hs_label_spec_key_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

/* What keys and values share: not empty, not too long; *n gets the length. */
static hs_label_fault_t hs_label_spec_length(const char *s, size_t max, bool value, const char **w,
                                             size_t *n)
{
    static const char *const empty[] = {"empty key", "empty value"};
    static const char *const too_long[] = {"key longer than 64 bytes",
                                           "value longer than 255 bytes"};
    int v = value;
    *n = s ? strlen(s) : 0;
    *w = *n == 0 ? empty[v] : *n > max ? too_long[v] : NULL;
    return *n > max ? HS_LABEL_TOO_LONG : *w ? HS_LABEL_BAD : HS_LABEL_OK;
}

/* The verdict: a reason found by the checks after the length is a bad character. */
static hs_label_fault_t hs_label_spec_verdict(hs_label_fault_t fault, const char *w,
                                              const char **why)
{
    if (why)
        *why = w;
    return fault != HS_LABEL_OK ? fault : w ? HS_LABEL_BAD : HS_LABEL_OK;
}

hs_label_fault_t hs_label_spec_key(const char *key, const char **why)
{
    static const char *const reserved[] = {"bytes", "service_name", "pyroscope_spy"};
    const char *w;
    size_t n;
    hs_label_fault_t fault = hs_label_spec_length(key, HS_LABEL_KEY_MAX, false, &w, &n);
    if (fault == HS_LABEL_OK && key[0] == '_' && key[1] == '_')
        w = "keys starting with __ are reserved";
    for (size_t i = 0; fault == HS_LABEL_OK && i < n && !w; i++)
        if (!hs_label_spec_key_char(key[i], i == 0))
            w = "a key is a letter or _, then letters, digits and _";
    for (size_t i = 0; fault == HS_LABEL_OK && i < HS_ARRAY_LEN(reserved) && !w; i++)
        if (strcmp(key, reserved[i]) == 0)
            w = "bytes, service_name and pyroscope_spy are reserved keys";
    return hs_label_spec_verdict(fault, w, why);
}

/* Length of the UTF-8 sequence at s (1 to 4), or 0 when it is not valid UTF-8. */
static size_t hs_label_spec_utf8(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp, min;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

hs_label_fault_t hs_label_spec_value(const char *value, const char **why)
{
    const char *w;
    size_t n;
    hs_label_fault_t fault = hs_label_spec_length(value, HS_LABEL_VALUE_MAX, true, &w, &n);
    const unsigned char *s = (const unsigned char *)value;
    for (size_t i = 0; fault == HS_LABEL_OK && i < n && !w;) {
        size_t k = hs_label_spec_utf8(s + i);
        if (k == 0)
            w = "a value must be valid UTF-8";
        else if (s[i] < 0x20 || s[i] == 0x7f)
            w = "a value may not hold control characters";
        i += k ? k : 1;
    }
    return hs_label_spec_verdict(fault, w, why);
}

/* One "key=value" item of length len at s into slot i of out. */
static hs_err_t hs_label_spec_item(const char *s, size_t len, hs_label_spec_t *out, char *why,
                                   size_t why_len)
{
    const char *eq = memchr(s, '=', len);
    const char *w;
    if (!eq) {
        hs_reason(why, why_len, "\"%.*s\" is neither thread nor key=value", (int)len, s);
        return HS_ERR_INVALID;
    }
    if (out->n == HS_LABEL_SPEC_MAX_PAIRS) {
        hs_reason(why, why_len, "more than %d key=value labels", HS_LABEL_SPEC_MAX_PAIRS);
        return HS_ERR_INVALID;
    }
    size_t klen = (size_t)(eq - s);
    char *key = out->keys[out->n], *value = out->values[out->n];
    if (klen > HS_LABEL_KEY_MAX) {
        hs_reason(why, why_len, "key \"%.*s...\": longer than %d bytes", 16, s, HS_LABEL_KEY_MAX);
        return HS_ERR_INVALID;
    }
    memcpy(key, s, klen);
    key[klen] = '\0';
    if (hs_label_spec_key(key, &w) != HS_LABEL_OK) {
        hs_reason(why, why_len, "key \"%s\": %s", key, w);
        return HS_ERR_INVALID;
    }
    for (size_t i = 0; i < out->n; i++) {
        if (strcmp(out->keys[i], key) == 0) {
            hs_reason(why, why_len, "key \"%s\" is given twice", key);
            return HS_ERR_INVALID;
        }
    }
    size_t o = 0;
    for (const char *v = eq + 1; v < s + len; v++) {
        int hi, lo;
        if (o == HS_LABEL_VALUE_MAX) {
            hs_reason(why, why_len, "the value of %s: longer than %d bytes", key,
                      HS_LABEL_VALUE_MAX);
            return HS_ERR_INVALID;
        }
        if (*v != '%') {
            value[o++] = *v;
            continue;
        }
        if (v + 2 >= s + len || (hi = hs_hex_digit(v[1])) < 0 || (lo = hs_hex_digit(v[2])) < 0 ||
            (hi | lo) == 0) {
            hs_reason(why, why_len, "the value of %s: %% must be followed by two hex digits", key);
            return HS_ERR_INVALID;
        }
        value[o++] = (char)(hi << 4 | lo);
        v += 2;
    }
    value[o] = '\0';
    if (hs_label_spec_value(value, &w) != HS_LABEL_OK) {
        hs_reason(why, why_len, "the value of %s: %s", key, w);
        return HS_ERR_INVALID;
    }
    out->n++;
    return HS_OK;
}

hs_err_t hs_label_spec_parse(const char *text, hs_label_spec_t *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    if (!*text)
        return HS_OK;
    for (const char *s = text;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        hs_err_t err = HS_OK;
        if (len == 0) {
            hs_reason(why, why_len, "an empty item (two commas, or one at an end)");
            err = HS_ERR_INVALID;
        } else if (len == sizeof HS_LABEL_THREAD_KEY - 1 &&
                   memcmp(s, HS_LABEL_THREAD_KEY, len) == 0) {
            if (out->thread) {
                hs_reason(why, why_len, "thread is given twice");
                err = HS_ERR_INVALID;
            }
            out->thread = true;
        } else {
            err = hs_label_spec_item(s, len, out, why, why_len);
        }
        if (err != HS_OK) {
            memset(out, 0, sizeof *out);
            return err;
        }
        if (!comma)
            break;
        s = comma + 1;
    }
    for (size_t i = 0; i < out->n; i++) {
        if (out->thread && strcmp(out->keys[i], HS_LABEL_THREAD_KEY) == 0) {
            hs_reason(why, why_len, "thread is both the automatic label and a key");
            memset(out, 0, sizeof *out);
            return HS_ERR_INVALID;
        }
    }
    return HS_OK;
}

hs_err_t hs_label_spec_check(const char *text, char *why, size_t why_len)
{
    hs_label_spec_t spec;
    return hs_label_spec_parse(text, &spec, why, why_len);
}
