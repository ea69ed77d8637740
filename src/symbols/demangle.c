/*
 * demangle.c - C++ and Rust demangling through libiberty (see demangle.h).
 *
 * Rust first: a legacy Rust symbol is also a valid Itanium C++ name (_ZN...17h<hash>E), and only
 * the Rust demangler knows to drop the hash. rust_demangle_callback recognises both the legacy
 * and the v0 (_R...) schemes and declines anything else. Then C++, for names starting with _Z
 * (cplus_demangle_v3_callback also handles clone suffixes: "f(int) [clone .cold]"). Parameters
 * and qualifiers are kept (DMGL_PARAMS | DMGL_ANSI), as c++filt prints them: they tell overloads
 * apart.
 *
 * Both demanglers are pure functions of their input, allocation-free in their callback form
 * (cp-demangle sizes its work arrays on the stack from the input length: hence the input limit).
 * Thread-safe, no state, nothing to do at fork.
 */
#include "demangle.h"

#include <string.h>

#include <libiberty/demangle.h>

typedef struct hs_demangle_out {
    char *buf;
    size_t len, used;
    int overflow;
} hs_demangle_out_t;

static void hs_demangle_append(const char *s, size_t n, void *opaque)
{
    hs_demangle_out_t *o = opaque;
    if (o->overflow || n >= o->len - o->used) {
        o->overflow = 1;
        return;
    }
    memcpy(o->buf + o->used, s, n);
    o->used += n;
    o->buf[o->used] = '\0';
}

static int hs_demangle_done(hs_demangle_out_t *o, int ok)
{
    return ok && !o->overflow && o->used > 0;
}

int hs_demangle(const char *name, char *buf, size_t len)
{
    if (!name || !buf || len < 2 || name[0] != '_' || (name[1] != 'Z' && name[1] != 'R'))
        return 0;
    if (strnlen(name, HS_DEMANGLE_MAX_INPUT + 1) > HS_DEMANGLE_MAX_INPUT)
        return 0;
    hs_demangle_out_t o = {.buf = buf, .len = len};
    buf[0] = '\0';
    if (hs_demangle_done(
            &o, rust_demangle_callback(name, DMGL_PARAMS | DMGL_ANSI, hs_demangle_append, &o)))
        return 1;
    if (name[1] != 'Z')
        return 0;
    o.used = 0;
    o.overflow = 0;
    buf[0] = '\0';
    return hs_demangle_done(
        &o, cplus_demangle_v3_callback(name, DMGL_PARAMS | DMGL_ANSI, hs_demangle_append, &o));
}
