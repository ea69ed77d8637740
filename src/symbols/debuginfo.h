/*
 * debuginfo.h - what the symbolizer needs beyond a file's symbol tables: its GNU build ID, its
 * separate debug file, and source lines with inlined callers from DWARF (libdw).
 *
 * Separate debug files are looked up as GDB and elfutils do: <dir>/.build-id/xx/yyyy.debug for
 * each debug directory (the build ID must match), then the .gnu_debuglink name next to the file,
 * in its .debug/ subdirectory and under each debug directory (verified by build ID when the file
 * has one, else by the link's CRC). No network lookups (debuginfod) are ever made.
 *
 * Writer thread or CLI only: everything here opens files, reads them and allocates.
 */
#ifndef HS_DEBUGINFO_H
#define HS_DEBUGINFO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <gelf.h>
#include <libelf.h>

#include "common.h"
#include "modules.h"

/* Open a regular file read-only without ever blocking (FIFOs, devices fail); -1 on failure. */
int hs_debuginfo_open(const char *path, struct stat *st);

/* The GNU build ID of an ELF file as lower-case hex, "" if it has none. */
void hs_debuginfo_build_id(Elf *elf, char out[HS_BUILD_ID_HEX_MAX]);

/*
 * The separate debug file of the ELF file elf (read from path, GNU build ID build_id or "").
 * dirs: debug directories, NULL-terminated. *out: a malloc'd path. HS_ERR_NOTFOUND if none.
 */
hs_err_t hs_debuginfo_find(Elf *elf, const char *path, const char *build_id,
                           const char *const *dirs, char **out) HS_MUST_CHECK;

/* DWARF of one file (its own, or its separate debug file's), through libdw. */
typedef struct hs_dwarf hs_dwarf_t;

/*
 * Open the DWARF of the file read from open_path (e.g. /proc/self/exe), known as path (where its
 * separate debug file is searched). *estimate gets the session's estimated memory (bytes);
 * HS_ERR_FULL when that is over max_bytes (nothing is opened), HS_ERR_NOTFOUND when no DWARF
 * could be found.
 */
hs_err_t hs_dwarf_open(const char *open_path, const char *path, const char *build_id,
                       const char *const *dirs, uint64_t max_bytes, uint64_t *estimate,
                       hs_dwarf_t **out) HS_MUST_CHECK;
void hs_dwarf_close(hs_dwarf_t *d);

typedef struct hs_dwarf_frame {
    const char *linkage;  /* mangled linkage name, or NULL */
    const char *name;     /* DWARF name, or NULL (then the caller names it from the symbols) */
    const char *file;     /* source file of `line`, or NULL; may be relative to comp_dir */
    const char *comp_dir; /* the compilation directory, or NULL */
    uint32_t line;        /* 0 if unknown */
    int is_inline;        /* an inlined instance; the last frame is the enclosing function */
} hs_dwarf_frame_t;

/*
 * Frames at ELF virtual address vaddr, innermost first: each inlined function with the line
 * within it, then the function the code belongs to with the line of the call into the first
 * inlined one (or of vaddr itself). Returns how many (at most max), 0 if DWARF does not cover
 * vaddr. Strings belong to d and live until hs_dwarf_close.
 */
int hs_dwarf_frames(hs_dwarf_t *d, uint64_t vaddr, hs_dwarf_frame_t *out, int max);

#endif
