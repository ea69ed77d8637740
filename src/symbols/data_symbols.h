/*
 * data_symbols.h - names of the data objects (global and static variables) that contain given
 * addresses of a file: what the reachability scan says holds a block (`global:<symbol>`).
 *
 * The code symbolizer (symbolize.h) indexes functions only and keeps its index across dumps;
 * data holders are few and asked for once per scan, so this reads a file's symbol tables in one
 * pass per request and keeps nothing.
 */
#ifndef HS_DATA_SYMBOLS_H
#define HS_DATA_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

/*
 * For each vaddrs[i] (an ELF virtual address of the file at path), names[i] = a malloc'd copy
 * of the raw name of the STT_OBJECT, STT_TLS or STT_COMMON symbol of .symtab or .dynsym that
 * contains it, or NULL. A file that cannot be read names nothing (HS_OK); HS_ERR_NOMEM when
 * memory runs out. The caller frees the names.
 */
hs_err_t hs_data_symbols_name(const char *path, const uint64_t *vaddrs, size_t n,
                              char **names) HS_MUST_CHECK;

#endif
