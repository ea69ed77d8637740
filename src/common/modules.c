/*
 * modules.c - lookups in a list of modules (see modules.h).
 *
 * Loaded modules never overlap: a binary search by start finds the one containing an address
 * (the main executable's segments, which come first, are checked one by one). Unloaded modules
 * may overlap anything; they are sorted by start, and none is longer than max_unloaded_len, so
 * the candidates for an address lie in a window just below it, scanned backwards.
 *
 * Which of several modules covering an address is meant (a reused range): for a stack of
 * generation g, the newest record older than g; for a stack without a generation, the oldest
 * record (a frame of an unmarked stack was captured while only one record covered it). Why this
 * is right is argued in runtime/mappings.c, which numbers the records.
 *
 * Thread-safety: pure functions of their arguments; a list is read-only once built.
 */
#include "modules.h"

#include <stdlib.h>

void hs_modules_free(hs_modules_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i].path);
    free(m->v);
    m->v = NULL;
    m->n = 0;
    m->nloaded = 0;
    m->max_unloaded_len = 0;
}

void hs_modules_build_id_hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    if (n > (HS_BUILD_ID_HEX_MAX - 1) / 2)
        n = (HS_BUILD_ID_HEX_MAX - 1) / 2;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 0xf];
    }
    out[2 * n] = '\0';
}

/* The first index in [lo, hi) (sorted by start) whose module starts after addr. */
static size_t hs_modules_upper(const hs_modules_t *m, size_t lo, size_t hi, uintptr_t addr)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->v[mid].start <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The loaded module containing addr, or NULL. */
static const hs_module_t *hs_modules_find_loaded(const hs_modules_t *m, uintptr_t addr)
{
    size_t first = 0;
    while (first < m->nloaded && m->v[first].is_main) {
        if (addr >= m->v[first].start && addr < m->v[first].limit)
            return &m->v[first];
        first++;
    }
    /* Last segment in [first, nloaded) with start <= addr. */
    size_t lo = hs_modules_upper(m, first, m->nloaded, addr);
    if (lo == first)
        return NULL;
    const hs_module_t *mod = &m->v[lo - 1];
    return addr < mod->limit ? mod : NULL;
}

/* Is c a better answer than best for generation gen (see the file comment)? */
static int hs_modules_better(const hs_module_t *c, const hs_module_t *best, uint32_t gen)
{
    if (gen == HS_MODULES_GEN_NONE)
        return !best || c->record < best->record; /* the oldest; unrecorded ones last */
    if (c->record >= gen)
        return 0; /* recorded after the capture (or not at all) */
    return !best || best->record >= gen || c->record > best->record;
}

const hs_module_t *hs_modules_find_gen(const hs_modules_t *m, uintptr_t addr, uint32_t gen)
{
    if (!m || m->n == 0)
        return NULL;
    const hs_module_t *loaded = hs_modules_find_loaded(m, addr);
    if (m->nloaded == m->n)
        return loaded;
    const hs_module_t *best = NULL, *any = loaded;
    if (loaded && hs_modules_better(loaded, best, gen))
        best = loaded;
    /* Unloaded modules covering addr: start in (addr - max_len, addr]. */
    size_t lo = hs_modules_upper(m, m->nloaded, m->n, addr);
    for (size_t i = lo; i > m->nloaded; i--) {
        const hs_module_t *c = &m->v[i - 1];
        if (addr - c->start >= m->max_unloaded_len)
            break;
        if (addr >= c->limit)
            continue;
        if (!any)
            any = c;
        if (hs_modules_better(c, best, gen))
            best = c;
    }
    return best ? best : any;
}

const hs_module_t *hs_modules_find(const hs_modules_t *m, uintptr_t addr)
{
    return hs_modules_find_gen(m, addr, HS_MODULES_GEN_NONE);
}
