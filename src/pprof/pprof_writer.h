/*
 * pprof_writer.h - a heap profile as a pprof Profile message (protobuf-c), uncompressed.
 *
 * The input is neutral: rows of (call stack, allocation size, sampled counts), the profile's
 * times and sampling rate, the process's code modules as plain data (modules.h) and a namer, a
 * callback that names code addresses. The writer knows neither where the rows come from (the
 * running profiler's tables, a test) nor how addresses are named (the symbolizer, nothing).
 *
 * Layout (Go's heap profile): sample types alloc_objects/count, alloc_space/bytes,
 * inuse_objects/count, inuse_space/bytes; period_type space/bytes; period = rate;
 * default_sample_type = inuse_space; one Sample per row with a numeric "bytes" label (the row's
 * allocation size) and the row's string labels (`go tool pprof -tagfocus endpoint=/orders`
 * selects by them); Locations at return address - 1 with their Mapping and, when named, one
 * Line per frame (inlined functions first, then the function the code is in), each naming a
 * Function (readable name, symbol as system_name, source file when known).
 */
#ifndef HS_PPROF_WRITER_H
#define HS_PPROF_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "label_spec.h"
#include "modules.h"

/* Sampled allocations of one size from one call stack. */
typedef struct hs_pprof_row {
    const uintptr_t *frames; /* return addresses, leaf (the caller of malloc) first; 0s skipped */
    uint32_t depth;          /* 0 or frames NULL: a sample without locations */
    uint32_t gen;    /* generation of the stack (modules.h), HS_MODULES_GEN_NONE if it has none */
    uint64_t size;   /* bytes of each allocation */
    uint64_t allocs; /* sampled allocations: alloc_* */
    uint64_t live;   /* of those, still live: inuse_* */
    /* String labels of the row's samples, each key once ("bytes" is the writer's own); the
     * strings must live until hs_pprof_encode returns. NULL when nlabels is 0. */
    const hs_label_t *labels;
    uint32_t nlabels;
    /* A pseudo-frame row (not a sampled allocation): one location without an address or a
     * mapping whose function is named pseudo ("[allocator free]"), inuse_space = size exactly
     * (no unbiasing), no "bytes" label; frames, allocs and live are ignored. NULL: an ordinary
     * row. The string must live until hs_pprof_encode returns. */
    const char *pseudo;
} hs_pprof_row_t;

/* One frame at a code address, as a namer gives it. */
typedef struct hs_pprof_frame {
    const char *name;        /* readable: demangled */
    const char *system_name; /* as the symbol table or DWARF writes it (mangled) */
    const char *file;        /* source file, or NULL */
    uint32_t line;           /* line in file, 0 if unknown */
} hs_pprof_frame_t;

/* Give address i of the batch its frames: innermost (inlined) first, the function last. */
typedef hs_err_t (*hs_pprof_emit_fn)(void *sink, size_t i, const hs_pprof_frame_t *frames,
                                     uint32_t n);

/*
 * A namer names n code addresses at once (a batch lets it read each file once): addrs[i] is a
 * call site (return address - 1) in module mods[i] (NULL: in no known module). For each address
 * it can name it calls emit(sink, i, ...) once, and returns emit's error if emit fails; an
 * address it cannot name it leaves out. The strings must live until hs_pprof_encode returns;
 * pointers that repeat (interned strings) make the encoding faster.
 */
typedef hs_err_t (*hs_pprof_namer_fn)(void *arg, const hs_module_t *const *mods,
                                      const uintptr_t *addrs, size_t n, hs_pprof_emit_fn emit,
                                      void *sink);

typedef struct hs_pprof_profile {
    const hs_pprof_row_t *rows;
    size_t nrows;
    uint64_t rate;               /* sampling rate in bytes (1 = exact): period, and unbiasing */
    uint64_t time_ns;            /* time_nanos, wall clock */
    uint64_t start_ns;           /* duration_nanos = time_ns - start_ns (0 if not after) */
    const hs_modules_t *modules; /* NULL: no mappings */
    /* NULL: addresses only. Called once per encode (n may be 0), after every location is known
     * and before the comments are read: it may complete them (its own figures, say). */
    hs_pprof_namer_fn namer;
    void *namer_arg;
    const char *const *comments; /* NULL-terminated, may be NULL */
} hs_pprof_profile_t;

/* Encode; *out is malloc'd (caller frees). HS_ERR_INVALID for rows == NULL with nrows != 0. */
hs_err_t hs_pprof_encode(const hs_pprof_profile_t *profile, uint8_t **out,
                         size_t *out_len) HS_MUST_CHECK;

#endif
