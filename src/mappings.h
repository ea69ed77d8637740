/*
 * mappings.h - the loaded code of this process, for pprof Mapping messages and symbolization.
 *
 * Read with dl_iterate_phdr (takes the loader lock: call only from the writer thread, never
 * with a profiler lock held). One hs_module_t per executable PT_LOAD segment, with its load
 * bias, file offset and GNU build ID (read from the in-memory PT_NOTE). The main executable's
 * path comes from /proc/self/exe.
 */
#ifndef HS_MAPPINGS_H
#define HS_MAPPINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define HS_BUILD_ID_HEX_MAX 129 /* 64 bytes as hex + NUL */

typedef struct hs_module {
    char *path;      /* file name; "[vdso]" for the vDSO */
    uintptr_t bias;  /* runtime address = ELF virtual address + bias */
    uintptr_t start; /* runtime range [start, limit) of the executable segment */
    uintptr_t limit;
    uint64_t file_offset;               /* file offset corresponding to start */
    char build_id[HS_BUILD_ID_HEX_MAX]; /* lower-case hex, "" if none */
    bool is_main;
    bool is_vdso;
} hs_module_t;

typedef struct hs_modules {
    hs_module_t *v; /* sorted by start; the main executable's segments first in pprof order */
    size_t n;
} hs_modules_t;

hs_err_t hs_mappings_read(hs_modules_t *out) HS_MUST_CHECK;
void hs_mappings_free(hs_modules_t *m);
/* The module whose executable range contains addr, or NULL. */
const hs_module_t *hs_mappings_find(const hs_modules_t *m, uintptr_t addr);

#endif
