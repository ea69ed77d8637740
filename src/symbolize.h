/*
 * symbolize.h - function names for addresses, in-process, in the writer thread only.
 *
 * Symbols come from the ELF files of the loaded modules (.symtab and .dynsym, so static
 * functions are named too), read with libelf once per file and cached across dumps. Never call
 * from an allocating thread: reading an ELF file allocates and takes time.
 */
#ifndef HS_SYMBOLIZE_H
#define HS_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "mappings.h"

typedef struct hs_symbolizer hs_symbolizer_t;

hs_err_t hs_symbolizer_new(hs_symbolizer_t **out) HS_MUST_CHECK;
void hs_symbolizer_free(hs_symbolizer_t *s);

/*
 * Name of the function containing the runtime address addr of module m, or NULL if unknown.
 * The string lives as long as the symbolizer. *offset (may be NULL) gets addr - symbol start.
 */
const char *hs_symbolize(hs_symbolizer_t *s, const hs_module_t *m, uintptr_t addr,
                         uint64_t *offset);

/* Bytes the symbolizer's caches hold. */
size_t hs_symbolizer_memory(const hs_symbolizer_t *s);

#endif
