/*
 * modules.h - a list of the code modules of a process as plain data: the executable segments
 * of its loaded (and once loaded) objects, with file names, load addresses and build IDs, and
 * lookups by address. The running process's own list comes from its module record
 * (runtime/mappings.h); the CLI builds one from a saved profile's mappings. The pprof writer
 * turns a list into Mapping messages, the symbolizer reads the modules' files.
 *
 * Record numbers and generations: every module of a process's record carries its number in
 * that record (the order it was first seen; never reused). An address range can be reused (A
 * unloaded, B loaded at the same address): a stack captured while one of its frames lay in
 * such a range carries a generation, the number of records when it was captured, and
 * hs_modules_find_gen resolves its frames to the modules loaded there at that moment
 * (runtime/mappings.c gives the argument).
 */
#ifndef HS_MODULES_H
#define HS_MODULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define HS_BUILD_ID_HEX_MAX 129 /* 64 bytes as hex + NUL */

/* "No generation": a stack captured when no frame lay in a reused range. */
#define HS_MODULES_GEN_NONE 0u
/* A module that is in no record (a list read without one, or one made from a profile). */
#define HS_MODULES_NO_RECORD UINT32_MAX

typedef struct hs_module {
    char *path;      /* file name; "[vdso]" for the vDSO */
    uintptr_t bias;  /* runtime address = ELF virtual address + bias */
    uintptr_t start; /* runtime range [start, limit) of the executable segment */
    uintptr_t limit;
    uint64_t file_offset;               /* file offset corresponding to start */
    char build_id[HS_BUILD_ID_HEX_MAX]; /* lower-case hex, "" if none */
    bool is_main;
    bool is_vdso;
    bool loaded;     /* loaded when the list was read; false: unloaded since it was recorded */
    uint32_t record; /* number in the process's record (first-seen order), or NO_RECORD */
} hs_module_t;

typedef struct hs_modules {
    /*
     * v[0, nloaded): the loaded modules, the main executable's segments first, then the others
     * sorted by start; they never overlap. v[nloaded, n): unloaded modules, sorted by start; they
     * may overlap each other and loaded ones (reused address ranges).
     */
    hs_module_t *v;
    size_t n;
    size_t nloaded;
    uintptr_t max_unloaded_len; /* longest unloaded range, bounds the backward scan */
} hs_modules_t;

/* Free the paths and the array of a list whose paths are malloc'd; m is left empty. */
void hs_modules_free(hs_modules_t *m);

/* The loaded module whose range contains addr, or an unloaded one (the first recorded). */
const hs_module_t *hs_modules_find(const hs_modules_t *m, uintptr_t addr);
/*
 * The module that contained addr when a stack of generation gen (HS_MODULES_GEN_NONE for a
 * stack without one) was captured, or NULL.
 */
const hs_module_t *hs_modules_find_gen(const hs_modules_t *m, uintptr_t addr, uint32_t gen);

/* A build ID's n bytes as lower-case hex into out (at most HS_BUILD_ID_HEX_MAX with the NUL). */
void hs_modules_build_id_hex(const uint8_t *p, size_t n, char *out);

#endif
