/*
 * symbolize.h - names (and optionally source lines with inlined callers) for code addresses,
 * in the writer thread or the CLI only.
 *
 * Function names come from the ELF symbol tables of the modules' files (.symtab and .dynsym, so
 * static functions are named too; .symtab of the separate debug file when the file itself is
 * stripped), demangled (C++, Rust legacy and v0) into `name`, the symbol as written kept in
 * `system_name`. At level `lines`, DWARF adds file:line and the inlined callers (libdw). Files
 * are checked against the module's build ID, so a library replaced on disk (or an unloaded one
 * whose path now holds another build) gives no names rather than wrong ones.
 *
 * Results are cached across calls; the caches' memory is bounded by a budget. Past it, new
 * addresses are still resolved, to function names only, without being cached (counted in the
 * stats). DWARF is read through libdw sessions that live for one batch, one at a time, each
 * refused beforehand when its estimated memory is over a limit (dwarf_max): that file then gets
 * function names only (counted). Never call from an allocating thread: reading files allocates
 * and takes time.
 */
#ifndef HS_SYMBOLIZE_H
#define HS_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "modules.h"

#define HS_SYMBOLIZE_BUDGET     ((size_t)32 << 20) /* default cache budget, bytes */
#define HS_SYMBOLIZE_DWARF_MAX  ((size_t)96 << 20) /* default limit of one libdw session */
#define HS_SYMBOLIZE_MAX_FRAMES 32                 /* inlined frames kept per address */

/* HEAPSAMPLER_SYMBOLIZE: what the profile names (the order of the option's choices in
 * config.c). */
typedef enum hs_symbolize_level {
    HS_SYMBOLIZE_NONE = 0,  /* addresses, mappings and build IDs only */
    HS_SYMBOLIZE_FUNCTIONS, /* function names from the ELF symbol tables, demangled */
    HS_SYMBOLIZE_LINES,     /* + file:line and inlined callers from DWARF (libdw) */
} hs_symbolize_level_t;

typedef struct hs_symbolizer hs_symbolizer_t;

typedef struct hs_symbolizer_config {
    int level;                     /* hs_symbolize_level_t: FUNCTIONS or LINES */
    const char *const *debug_dirs; /* NULL-terminated; NULL = {"/usr/lib/debug"} */
    size_t budget;                 /* bytes the caches may hold; 0 = HS_SYMBOLIZE_BUDGET */
    size_t dwarf_max; /* a file's DWARF is read if its estimated libdw memory is at most this;
                         0 = HS_SYMBOLIZE_DWARF_MAX */
} hs_symbolizer_config_t;

/* Level FUNCTIONS, default debug directory and budget. */
hs_err_t hs_symbolizer_new(hs_symbolizer_t **out) HS_MUST_CHECK;
hs_err_t hs_symbolizer_new_config(const hs_symbolizer_config_t *cfg,
                                  hs_symbolizer_t **out) HS_MUST_CHECK;
void hs_symbolizer_free(hs_symbolizer_t *s);

typedef struct hs_symframe {
    const char *name;        /* readable: demangled */
    const char *system_name; /* as the symbol table or DWARF writes it (mangled) */
    const char *file;        /* source file, or NULL */
    uint32_t line;           /* line in file, 0 if unknown */
} hs_symframe_t;

typedef struct hs_symloc {
    const hs_symframe_t *frames; /* innermost (inlined) first; the last is the function */
    uint32_t n;                  /* 0: unknown */
} hs_symloc_t;

/*
 * Resolve n addresses: addrs[i] lies in module mods[i] (NULL: unknown). The address is taken as
 * is (pass return address - 1 for a call site). Fills out[i]. The results stay valid until the
 * next call or hs_symbolizer_free. Fails only when memory runs out (out[] then all unknown).
 */
hs_err_t hs_symbolize_batch(hs_symbolizer_t *s, const hs_module_t *const *mods,
                            const uintptr_t *addrs, size_t n, hs_symloc_t *out) HS_MUST_CHECK;

/*
 * The raw name of the symbol containing addr in m, or NULL; *offset (may be NULL) gets
 * addr - symbol start. The string lives as long as the symbolizer. (Single lookups, for tests
 * and tools; not subject to the budget.)
 */
const char *hs_symbolize(hs_symbolizer_t *s, const hs_module_t *m, uintptr_t addr,
                         uint64_t *offset);

typedef struct hs_symbolizer_stats {
    size_t memory;           /* bytes held now: symbol indexes, cache, strings */
    size_t budget;           /* the bound on memory */
    size_t peak_scratch;     /* most bytes a batch held for uncached results */
    uint64_t files;          /* files indexed */
    uint64_t symbols;        /* symbols in the indexes */
    uint64_t cached;         /* addresses in the cache */
    uint64_t uncached;       /* addresses of the last batch resolved without caching */
    uint64_t lines_fallback; /* of those, resolved to function names only (level lines) */
    uint64_t dwarf_files;    /* files whose DWARF was found (level lines) */
    uint64_t dwarf_refused;  /* files whose DWARF was over dwarf_max: function names only */
    uint64_t dwarf_largest;  /* largest estimated libdw memory of a session opened, bytes */
    uint64_t dwarf_deferred; /* sessions not opened for want of room (set_dwarf_room), so far */
    uint64_t batch_ns;       /* time of the last batch */
    uint64_t total_ns;       /* time of all batches */
} hs_symbolizer_stats_t;

void hs_symbolizer_get_stats(const hs_symbolizer_t *s, hs_symbolizer_stats_t *out);

/*
 * The memory a libdw session may take from now on (SIZE_MAX, the initial value: up to
 * dwarf_max). A file whose session would need more than that, but not more than dwarf_max,
 * gets function names only for now, its addresses not cached, so that a later batch with more
 * room adds its lines; nothing is reported but the stats. A dump near a memory limit sets it
 * to what is left.
 */
void hs_symbolizer_set_dwarf_room(hs_symbolizer_t *s, size_t bytes);
/* Bytes the symbolizer's caches hold (stats.memory). */
size_t hs_symbolizer_memory(const hs_symbolizer_t *s);

#endif
