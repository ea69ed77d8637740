/*
 * symbolize.c - names, lines and inlined callers for code addresses (see symbolize.h).
 *
 * Symbol indexes. Each file is indexed once per symbolizer with libelf (elf_begin with
 * ELF_C_READ on a read-only descriptor; not ELF_C_READ_MMAP, because a file truncated in place
 * while mapped would raise SIGBUS in the host): .symtab (static functions, present unless the
 * file is stripped; taken from the separate debug file when the file has none) and .dynsym
 * (exported functions) contribute STT_FUNC and STT_GNU_IFUNC symbols that are defined
 * (st_shndx != SHN_UNDEF) and have a non-zero address. The index is sorted by address; entries
 * sharing an address (aliases such as `fopen` and `_IO_fopen`, or the same symbol in both
 * tables) are reduced to one, preferring GLOBAL over WEAK over LOCAL binding, then .symtab over
 * .dynsym, then fewer leading underscores (the public name of an alias pair), then the first name
 * in strcmp order, so the choice is deterministic. A size-0 symbol (assembly such as _fini)
 * covers up to the next symbol and at most to the end of its section.
 *
 * Memory. An index entry is 16 bytes (start, size, and where the name is: which string table,
 * at which offset); names are not copied at indexing time but read back (pread) from the string
 * table when an address first resolves to the symbol, then demangled and kept, deduplicated, in a
 * string set. A program with a million symbols costs 16 MB of index, not the hundreds of MB its
 * names would. The file is re-opened for those reads and must still be the indexed one (device,
 * inode, size, mtime), else its names are unavailable. The vDSO has no file: its image (at
 * AT_SYSINFO_EHDR, a few pages) is copied to the heap (libelf's in-memory reader may write to
 * its image, and the vDSO is not writable) and kept.
 *
 * Files are keyed by (path, build ID) and checked against the build ID: a file whose build ID
 * differs from the module's (replaced on disk; an unloaded library whose path now holds another
 * build) is indexed as empty. The main executable of this process is read through
 * /proc/self/exe, which is the running image even if its path was replaced. Only regular files
 * are opened (O_NONBLOCK at open, then fstat), so a FIFO or a device never blocks the caller.
 * Files that cannot be read are remembered as empty: one failed attempt per process. A failure
 * for want of memory or descriptors is not remembered: the file is tried again later.
 *
 * Cache. Every address resolved is cached as its list of frames (key: file, ELF virtual
 * address), so a dump only does work for addresses it has not seen before. At level lines, the
 * misses of one batch are sorted by file; for each file one libdw session is opened, serves all
 * of that file's misses and is closed (debuginfo.c): libdw's memory is transient, ours is the
 * cache. The budget bounds everything the symbolizer keeps (indexes, strings, cache). Past it,
 * new addresses are resolved to function names only (no DWARF), into a scratch area that is
 * reset at the next batch, and counted; a new file is then not indexed at all (its frames keep
 * their mapping and build ID for offline symbolization).
 *
 * Thread-safety: none; a symbolizer belongs to one thread at a time (the writer thread under the
 * dump lock, or the CLI). Allocates with malloc (the reentrancy guard is held in the writer
 * thread). Fork: the caches stay valid in the child (same files, same vDSO).
 */
#include "symbolize.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "debuginfo.h"
#include "demangle.h"
#include "log.h"

#define HS_SYMBOLIZE_CHUNK     (64 * 1024)
#define HS_SYMBOLIZE_VDSO_MAX  (16u << 20) /* sanity bound on the vDSO image size */
#define HS_SYMBOLIZE_NAME_MAX  16384       /* longest symbol name read back */
#define HS_SYMBOLIZE_TABS      3           /* string tables: .strtab, .dynstr, debug .strtab */
#define HS_SYMBOLIZE_TAB_SHIFT 30
#define HS_SYMBOLIZE_OFF_MASK  ((1u << HS_SYMBOLIZE_TAB_SHIFT) - 1)
#define HS_SYMBOLIZE_NO_REF    UINT32_MAX
#define HS_SYMBOLIZE_SCRATCH   0x80000000u /* a ref into the scratch area */

static const char *const hs_symbolize_default_dirs[] = {"/usr/lib/debug", NULL};

typedef struct hs_sym {
    uint64_t start; /* ELF virtual address */
    uint32_t size;  /* 0 = unknown: covers up to the next symbol */
    uint32_t name;  /* string table index << 30 | offset */
} hs_sym_t;

typedef struct hs_srcfile {
    char *path; /* NULL: the vDSO image */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    int fd;  /* open while names are read, -1 otherwise */
    int bad; /* changed since it was indexed */
} hs_srcfile_t;

typedef struct hs_strtab {
    int file;          /* index into hs_symfile_t.files */
    uint64_t off, len; /* in the file (or image) */
} hs_strtab_t;

typedef struct hs_symfile {
    char *path; /* the module's path (the key, with build_id) */
    char build_id[HS_BUILD_ID_HEX_MAX];
    uint64_t hash;
    uint32_t id;
    hs_sym_t *syms; /* sorted by start, unique starts */
    size_t n;
    hs_srcfile_t files[2]; /* the file itself, its separate debug file */
    int nfiles;
    hs_strtab_t tabs[HS_SYMBOLIZE_TABS];
    int ntabs;
    char *image; /* vDSO copy */
    size_t image_len;
    int dwarf; /* 0 not tried, 1 found, -1 none or too large */
} hs_symfile_t;

typedef struct hs_chunk {
    struct hs_chunk *next;
    size_t size;
    char data[];
} hs_chunk_t;

typedef struct hs_arena {
    hs_chunk_t *chunks; /* chunks->data + used is the free space */
    size_t used;
    size_t bytes;
} hs_arena_t;

typedef struct hs_strslot {
    const char *s;
    uint64_t hash;
} hs_strslot_t;

typedef struct hs_namepair {
    uint64_t key; /* (file id + 1) << 32 | symbol index; 0 = empty */
    const char *raw, *name;
} hs_namepair_t;

typedef struct hs_entry {
    uint64_t vaddr;
    uint32_t file;
    uint32_t first; /* index of the first frame */
    uint32_t n;
} hs_entry_t;

/* Resolved addresses: entries and their frames (the cache, or one batch's scratch). */
typedef struct hs_store {
    hs_entry_t *entries;
    size_t nentries, entries_cap;
    hs_symframe_t *frames;
    size_t nframes, frames_cap;
} hs_store_t;

struct hs_symbolizer {
    int level;
    char **dirs; /* NULL-terminated copy */
    size_t budget;
    size_t dwarf_max;
    size_t dwarf_room; /* for now (hs_symbolizer_set_dwarf_room); SIZE_MAX: dwarf_max */
    int warned_dwarf;

    hs_symfile_t **files; /* by id */
    size_t nfiles, files_cap;
    uint32_t *file_slots; /* id + 1, by (path, build ID) hash */
    size_t file_slots_cap;
    hs_symfile_t *last;
    const hs_module_t *last_mod; /* the module last looked up in this batch (last's) */

    hs_arena_t arena; /* persistent strings */
    hs_strslot_t *str_slots;
    size_t nstrs, str_cap;

    hs_namepair_t *names; /* (file, symbol) -> names */
    size_t nnames, names_cap;

    hs_store_t cache;
    uint32_t *cache_slots; /* entry index + 1, by (file, vaddr) */
    size_t cache_slots_cap;

    hs_store_t scratch; /* reset at every batch */
    hs_arena_t scratch_arena;

    char *namebuf; /* HS_SYMBOLIZE_NAME_MAX + 1 */
    char *dmbuf;   /* HS_SYMBOLIZE_NAME_MAX */

    size_t bytes; /* persistent memory */
    int warned_budget;
    hs_symbolizer_stats_t stats;
};

/* A candidate symbol while a file is read. */
typedef struct hs_rawsym {
    uint64_t start;
    uint64_t size;
    const char *name; /* in libelf's string table, valid until elf_end */
    uint32_t ref;
    unsigned rank; /* lower is preferred: binding * 2 + (from .dynsym) */
} hs_rawsym_t;

typedef struct hs_rawsyms {
    hs_rawsym_t *v;
    size_t n, cap;
} hs_rawsyms_t;

static uint64_t hs_symbolize_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- memory --------------------------------------------------------------------------------- */

static char *hs_symbolize_arena_alloc(hs_arena_t *a, size_t len)
{
    if (!a->chunks || a->chunks->size - a->used < len) {
        size_t size = len > HS_SYMBOLIZE_CHUNK ? len : HS_SYMBOLIZE_CHUNK;
        hs_chunk_t *c = malloc(sizeof *c + size);
        if (!c)
            return NULL;
        c->next = a->chunks;
        c->size = size;
        a->chunks = c;
        a->used = 0;
        a->bytes += sizeof *c + size;
    }
    char *p = a->chunks->data + a->used;
    a->used += len;
    return p;
}

static void hs_symbolize_arena_free(hs_arena_t *a)
{
    hs_chunk_t *c = a->chunks;
    while (c) {
        hs_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    memset(a, 0, sizeof *a);
}

/* hs_array_reserve that counts the growth in *bytes. */
static hs_err_t hs_symbolize_reserve(size_t *bytes, void **array, size_t *cap, size_t need,
                                     size_t elem)
{
    size_t before = *cap;
    hs_err_t err = hs_array_reserve(array, cap, need, elem, 64);
    if (err == HS_OK && bytes)
        *bytes += (*cap - before) * elem;
    return err;
}

static void hs_symbolize_store_free(hs_store_t *st)
{
    free(st->entries);
    free(st->frames);
    memset(st, 0, sizeof *st);
}

/* ---- strings -------------------------------------------------------------------------------- */

static hs_err_t hs_symbolize_str_grow(hs_symbolizer_t *s)
{
    size_t cap = s->str_cap ? s->str_cap * 2 : 1024;
    hs_strslot_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return HS_ERR_NOMEM;
    for (size_t i = 0; i < s->str_cap; i++) {
        if (!s->str_slots[i].s)
            continue;
        size_t j = s->str_slots[i].hash & (cap - 1);
        while (slots[j].s)
            j = (j + 1) & (cap - 1);
        slots[j] = s->str_slots[i];
    }
    free(s->str_slots);
    s->bytes += (cap - s->str_cap) * sizeof *slots;
    s->str_slots = slots;
    s->str_cap = cap;
    return HS_OK;
}

/* A copy of str that lives as long as the symbolizer (persistent) or the batch. */
static const char *hs_symbolize_intern(hs_symbolizer_t *s, const char *str, int persistent)
{
    size_t len = strlen(str) + 1;
    if (!persistent) {
        char *p = hs_symbolize_arena_alloc(&s->scratch_arena, len);
        if (p)
            memcpy(p, str, len);
        return p;
    }
    if ((s->nstrs + 1) * 2 > s->str_cap && hs_symbolize_str_grow(s) != HS_OK)
        return NULL;
    uint64_t h = hs_hash_str(str);
    size_t j = h & (s->str_cap - 1);
    for (; s->str_slots[j].s; j = (j + 1) & (s->str_cap - 1))
        if (s->str_slots[j].hash == h && strcmp(s->str_slots[j].s, str) == 0)
            return s->str_slots[j].s;
    size_t before = s->arena.bytes;
    char *p = hs_symbolize_arena_alloc(&s->arena, len);
    if (!p)
        return NULL;
    s->bytes += s->arena.bytes - before;
    memcpy(p, str, len);
    s->str_slots[j].s = p;
    s->str_slots[j].hash = h;
    s->nstrs++;
    return p;
}

/* ---- creation ------------------------------------------------------------------------------- */

hs_err_t hs_symbolizer_new_config(const hs_symbolizer_config_t *cfg, hs_symbolizer_t **out)
{
    *out = NULL;
    /* Idempotent; the library is shared with anything else in the process that uses libelf. */
    if (elf_version(EV_CURRENT) == EV_NONE)
        return HS_ERR_STATE;
    hs_symbolizer_t *s = calloc(1, sizeof *s);
    if (!s)
        return HS_ERR_NOMEM;
    s->level = cfg && cfg->level ? cfg->level : HS_SYMBOLIZE_FUNCTIONS;
    s->budget = cfg && cfg->budget ? cfg->budget : HS_SYMBOLIZE_BUDGET;
    s->dwarf_max = cfg && cfg->dwarf_max ? cfg->dwarf_max : HS_SYMBOLIZE_DWARF_MAX;
    s->dwarf_room = SIZE_MAX;
    const char *const *dirs = cfg && cfg->debug_dirs ? cfg->debug_dirs : hs_symbolize_default_dirs;
    size_t ndirs = 0;
    while (dirs[ndirs])
        ndirs++;
    s->dirs = calloc(ndirs + 1, sizeof *s->dirs);
    s->file_slots_cap = 64;
    s->file_slots = calloc(s->file_slots_cap, sizeof *s->file_slots);
    s->namebuf = malloc(HS_SYMBOLIZE_NAME_MAX + 1);
    s->dmbuf = malloc(HS_SYMBOLIZE_NAME_MAX);
    if (!s->dirs || !s->file_slots || !s->namebuf || !s->dmbuf)
        goto fail;
    for (size_t i = 0; i < ndirs; i++)
        if (!(s->dirs[i] = strdup(dirs[i])))
            goto fail;
    s->bytes =
        sizeof *s + s->file_slots_cap * sizeof *s->file_slots + 2 * HS_SYMBOLIZE_NAME_MAX + 1;
    *out = s;
    return HS_OK;

fail:
    hs_symbolizer_free(s);
    return HS_ERR_NOMEM;
}

hs_err_t hs_symbolizer_new(hs_symbolizer_t **out)
{
    return hs_symbolizer_new_config(NULL, out);
}

static void hs_symbolize_close_files(hs_symfile_t *f)
{
    for (int i = 0; i < f->nfiles; i++) {
        if (f->files[i].fd >= 0)
            close(f->files[i].fd);
        f->files[i].fd = -1;
    }
}

void hs_symbolizer_free(hs_symbolizer_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nfiles; i++) {
        hs_symfile_t *f = s->files[i];
        hs_symbolize_close_files(f);
        for (int k = 0; k < f->nfiles; k++)
            free(f->files[k].path);
        free(f->path);
        free(f->syms);
        free(f->image);
        free(f);
    }
    free(s->files);
    free(s->file_slots);
    for (size_t i = 0; s->dirs && s->dirs[i]; i++)
        free(s->dirs[i]);
    free(s->dirs);
    hs_symbolize_arena_free(&s->arena);
    hs_symbolize_arena_free(&s->scratch_arena);
    free(s->str_slots);
    free(s->names);
    hs_symbolize_store_free(&s->cache);
    free(s->cache_slots);
    hs_symbolize_store_free(&s->scratch);
    free(s->namebuf);
    free(s->dmbuf);
    free(s);
}

size_t hs_symbolizer_memory(const hs_symbolizer_t *s)
{
    return s ? s->bytes : 0;
}

void hs_symbolizer_set_dwarf_room(hs_symbolizer_t *s, size_t bytes)
{
    if (s)
        s->dwarf_room = bytes;
}

void hs_symbolizer_get_stats(const hs_symbolizer_t *s, hs_symbolizer_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (!s)
        return;
    *out = s->stats;
    out->memory = s->bytes;
    out->budget = s->budget;
    out->files = s->nfiles;
    out->cached = s->cache.nentries;
}

/* ---- indexing a file ------------------------------------------------------------------------ */

static int hs_symbolize_push(hs_rawsyms_t *raw, const hs_rawsym_t *sym)
{
    if (hs_array_reserve((void **)&raw->v, &raw->cap, raw->n + 1, sizeof *raw->v, 1024) != HS_OK)
        return -1;
    raw->v[raw->n++] = *sym;
    return 0;
}

static unsigned hs_symbolize_binding_rank(unsigned bind)
{
    switch (bind) {
    case STB_GLOBAL:
        return 0;
    case STB_WEAK:
        return 1;
    default:
        return 2;
    }
}

/*
 * A symbol without a size (hand-written assembly such as _init/_fini) covers up to the next
 * symbol, but never beyond its own section: the bytes from value to the section's end, or 0
 * (unbounded) if the section is unknown.
 */
static uint64_t hs_symbolize_section_rest(Elf *elf, unsigned shndx, uint64_t value)
{
    if (shndx == SHN_UNDEF || shndx >= SHN_LORESERVE)
        return 0;
    Elf_Scn *scn = elf_getscn(elf, shndx);
    GElf_Shdr shdr;
    if (!scn || !gelf_getshdr(scn, &shdr) || !(shdr.sh_flags & SHF_ALLOC))
        return 0;
    if (value < shdr.sh_addr || value >= shdr.sh_addr + shdr.sh_size)
        return 0;
    return shdr.sh_addr + shdr.sh_size - value;
}

/* Register the string table of a symbol section; its index, or -1. */
static int hs_symbolize_strtab(Elf *elf, hs_symfile_t *f, int file, unsigned link)
{
    Elf_Scn *scn = elf_getscn(elf, link);
    GElf_Shdr sh;
    if (!scn || !gelf_getshdr(scn, &sh) || sh.sh_type != SHT_STRTAB ||
        f->ntabs >= HS_SYMBOLIZE_TABS)
        return -1;
    hs_strtab_t *t = &f->tabs[f->ntabs];
    t->file = file;
    t->off = sh.sh_offset;
    t->len = sh.sh_size;
    return f->ntabs++;
}

/* A failure that says nothing of the file: out of memory or of descriptors now. The file is then
 * not remembered (as empty) but tried again at the next lookup, so a process that ran out of
 * memory once still gets names when memory is back. */
static int hs_symbolize_transient(int err)
{
    return err == ENOMEM || err == EMFILE || err == ENFILE || err == EINTR;
}

/*
 * Collect the function symbols of the SHT_SYMTAB (and, if want_dynsym, SHT_DYNSYM) sections of
 * elf, whose names are read back from file. *have_symtab: a .symtab was found.
 */
static hs_err_t hs_symbolize_collect(Elf *elf, hs_symfile_t *f, int file, int want_dynsym,
                                     hs_rawsyms_t *raw, int *have_symtab)
{
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(elf, scn)) != NULL) {
        GElf_Shdr shdr;
        if (!gelf_getshdr(scn, &shdr))
            continue;
        if (shdr.sh_type != SHT_SYMTAB && (shdr.sh_type != SHT_DYNSYM || !want_dynsym))
            continue;
        if (shdr.sh_entsize == 0)
            continue;
        errno = 0;
        Elf_Data *data = elf_getdata(scn, NULL);
        if (!data && hs_symbolize_transient(errno))
            return HS_ERR_NOMEM;
        if (!data)
            continue;
        int tab = hs_symbolize_strtab(elf, f, file, shdr.sh_link);
        if (tab < 0)
            continue;
        size_t count = shdr.sh_size / shdr.sh_entsize;
        unsigned from_dynsym = shdr.sh_type == SHT_DYNSYM;
        if (!from_dynsym && count > 1)
            *have_symtab = 1;
        for (size_t i = 1; i < count; i++) {
            GElf_Sym sym;
            if (!gelf_getsym(data, (int)i, &sym))
                break;
            unsigned type = GELF_ST_TYPE(sym.st_info);
            if (type != STT_FUNC && type != STT_GNU_IFUNC)
                continue;
            if (sym.st_shndx == SHN_UNDEF || sym.st_value == 0 ||
                sym.st_name > HS_SYMBOLIZE_OFF_MASK)
                continue;
            const char *name = elf_strptr(elf, shdr.sh_link, sym.st_name);
            if (!name || !name[0])
                continue;
            uint64_t size = sym.st_size;
            if (size == 0)
                size = hs_symbolize_section_rest(elf, sym.st_shndx, sym.st_value);
            hs_rawsym_t r = {
                .start = sym.st_value,
                .size = size,
                .name = name,
                .ref = (uint32_t)tab << HS_SYMBOLIZE_TAB_SHIFT | (uint32_t)sym.st_name,
                .rank = hs_symbolize_binding_rank(GELF_ST_BIND(sym.st_info)) * 2 + from_dynsym,
            };
            if (hs_symbolize_push(raw, &r) != 0)
                return HS_ERR_NOMEM;
        }
    }
    return HS_OK;
}

static int hs_symbolize_rawcmp(const void *a, const void *b)
{
    const hs_rawsym_t *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    /* Among equals, the public spelling: `printf` rather than `_IO_printf`; then by name
     * (without a version suffix: "fopen@@GLIBC_2.2.5" is "fopen"). */
    size_t ux = strspn(x->name, "_"), uy = strspn(y->name, "_");
    if (ux != uy)
        return ux < uy ? -1 : 1;
    size_t lx = strcspn(x->name + (x->name[0] != 0), "@") + (x->name[0] != 0);
    size_t ly = strcspn(y->name + (y->name[0] != 0), "@") + (y->name[0] != 0);
    int c = strncmp(x->name, y->name, lx < ly ? lx : ly);
    if (c != 0 || lx != ly)
        return c != 0 ? c : (lx < ly ? -1 : 1);
    return strcmp(x->name, y->name);
}

/*
 * Order ord[0..n) as a stable sort by hs_symbolize_rawcmp would: a stable radix sort on the
 * start address (8-bit digits; digits that every start shares are skipped), then a stable
 * insertion sort of each run of equal starts (aliases: a handful) by the whole order. qsort
 * with the comparator cost some 500 instructions per symbol, most of the first profile of a
 * process (the exit dump of every short-lived program reads its symbol tables); this is
 * about 40.
 */
static hs_err_t hs_symbolize_sort(const hs_rawsym_t **ord, size_t n)
{
    const hs_rawsym_t **tmp = malloc(n * sizeof *tmp);
    if (!tmp)
        return HS_ERR_NOMEM;
    uint64_t any = 0, all = ~(uint64_t)0;
    for (size_t i = 0; i < n; i++) {
        any |= ord[i]->start;
        all &= ord[i]->start;
    }
    const hs_rawsym_t **src = ord, **dst = tmp;
    for (unsigned shift = 0; shift < 64; shift += 8) {
        if ((((any ^ all) >> shift) & 0xff) == 0)
            continue;
        size_t at[257] = {0};
        for (size_t i = 0; i < n; i++)
            at[((src[i]->start >> shift) & 0xff) + 1]++;
        for (unsigned d = 1; d < 257; d++)
            at[d] += at[d - 1];
        for (size_t i = 0; i < n; i++)
            dst[at[(src[i]->start >> shift) & 0xff]++] = src[i];
        const hs_rawsym_t **t = src;
        src = dst;
        dst = t;
    }
    if (src != ord)
        memcpy(ord, src, n * sizeof *ord);
    free(tmp);
    for (size_t lo = 0, hi; lo < n; lo = hi) {
        for (hi = lo + 1; hi < n && ord[hi]->start == ord[lo]->start; hi++)
            ;
        for (size_t j = lo + 1; j < hi; j++) {
            const hs_rawsym_t *key = ord[j];
            size_t k = j;
            for (; k > lo && hs_symbolize_rawcmp(ord[k - 1], key) > 0; k--)
                ord[k] = ord[k - 1];
            ord[k] = key;
        }
    }
    return HS_OK;
}

/* Sort (hs_symbolize_sort moves pointers to the records) and dedupe into f's index. */
static hs_err_t hs_symbolize_finish(hs_symbolizer_t *s, hs_rawsyms_t *raw, hs_symfile_t *f)
{
    if (raw->n == 0)
        return HS_OK;
    const hs_rawsym_t **ord = malloc(raw->n * sizeof *ord);
    if (!ord)
        return HS_ERR_NOMEM;
    for (size_t i = 0; i < raw->n; i++)
        ord[i] = &raw->v[i];
    if (hs_symbolize_sort(ord, raw->n) != HS_OK) {
        free(ord);
        return HS_ERR_NOMEM;
    }
    size_t unique = 1;
    for (size_t i = 1; i < raw->n; i++)
        unique += ord[i]->start != ord[i - 1]->start;
    hs_sym_t *syms = malloc(unique * sizeof *syms);
    if (!syms) {
        free(ord);
        return HS_ERR_NOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < raw->n; i++) {
        const hs_rawsym_t *r = ord[i];
        uint32_t size = r->size > UINT32_MAX ? UINT32_MAX : (uint32_t)r->size;
        if (n > 0 && syms[n - 1].start == r->start) {
            /* An alias: keep the preferred name, but learn a size if it had none. */
            if (syms[n - 1].size == 0)
                syms[n - 1].size = size;
            continue;
        }
        syms[n].start = r->start;
        syms[n].size = size;
        syms[n].name = r->ref;
        n++;
    }
    free(ord);
    f->syms = syms;
    f->n = n;
    s->bytes += n * sizeof *syms;
    s->stats.symbols += n;
    return HS_OK;
}

/* The vDSO image: start from AT_SYSINFO_EHDR, size from its headers. */
static hs_err_t hs_symbolize_vdso_image(const char **image, size_t *size)
{
    uintptr_t base = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    if (!base)
        return HS_ERR_NOTFOUND;
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)base;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
        return HS_ERR_INVALID;
    size_t end = (size_t)eh->e_shoff + (size_t)eh->e_shnum * eh->e_shentsize;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(base + eh->e_phoff);
    for (size_t i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && ph[i].p_offset + ph[i].p_filesz > end)
            end = ph[i].p_offset + ph[i].p_filesz;
    }
    if (end < sizeof *eh || end > HS_SYMBOLIZE_VDSO_MAX)
        return HS_ERR_INVALID;
    *image = (const char *)base;
    *size = end;
    return HS_OK;
}

static hs_err_t hs_symbolize_srcfile_init(hs_srcfile_t *sf, const char *path, const struct stat *st)
{
    memset(sf, 0, sizeof *sf);
    sf->fd = -1;
    sf->path = strdup(path);
    if (!sf->path)
        return HS_ERR_NOMEM;
    sf->dev = st->st_dev;
    sf->ino = st->st_ino;
    sf->size = st->st_size;
    sf->mtime = st->st_mtim;
    return HS_OK;
}

/* The separate debug file's .symtab, for a file that has none. */
static hs_err_t hs_symbolize_debug_symtab(hs_symbolizer_t *s, Elf *elf, const hs_module_t *m,
                                          hs_symfile_t *f, hs_rawsyms_t *raw)
{
    char *debug = NULL;
    if (hs_debuginfo_find(elf, m->path, m->build_id, (const char *const *)s->dirs, &debug) != HS_OK)
        return HS_OK;
    struct stat st;
    int fd = hs_debuginfo_open(debug, &st);
    hs_err_t err = HS_OK;
    Elf *delf = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
    if (delf && elf_kind(delf) == ELF_K_ELF) {
        err = hs_symbolize_srcfile_init(&f->files[1], debug, &st);
        if (err == HS_OK) {
            f->nfiles = 2;
            int have = 0;
            err = hs_symbolize_collect(delf, f, 1, 0, raw, &have);
            s->bytes += strlen(debug) + 1;
        }
    }
    /* The raw names point into the debug file's tables: sort while it is open. */
    if (err == HS_OK && raw->n)
        err = hs_symbolize_finish(s, raw, f);
    raw->n = 0;
    if (delf)
        elf_end(delf);
    if (fd >= 0)
        close(fd);
    free(debug);
    return err;
}

/* Index m's file into f; a file that cannot be opened, parsed or verified gives no symbols. */
static hs_err_t hs_symbolize_index(hs_symbolizer_t *s, const hs_module_t *m, hs_symfile_t *f)
{
    int fd = -1;
    Elf *elf = NULL;
    hs_err_t err = HS_OK;
    if (m->is_vdso) {
        const char *image;
        size_t size;
        if (hs_symbolize_vdso_image(&image, &size) == HS_OK) {
            f->image = malloc(size);
            if (!f->image)
                return HS_ERR_NOMEM;
            memcpy(f->image, image, size);
            f->image_len = size;
            s->bytes += size;
            f->files[0].fd = -1;
            f->nfiles = 1;
            elf = elf_memory(f->image, size);
        }
    } else {
        /* This process's executable: the running image, even if its path was replaced. */
        const char *open_path = m->is_main && m->loaded ? "/proc/self/exe" : m->path;
        struct stat st;
        errno = 0;
        fd = hs_debuginfo_open(open_path, &st);
        if (fd < 0 && hs_symbolize_transient(errno))
            return HS_ERR_NOMEM;
        if (fd >= 0) {
            errno = 0;
            elf = elf_begin(fd, ELF_C_READ, NULL);
            if (!elf && hs_symbolize_transient(errno)) {
                close(fd);
                return HS_ERR_NOMEM;
            }
            err = hs_symbolize_srcfile_init(&f->files[0], open_path, &st);
            if (err == HS_OK) {
                f->nfiles = 1;
                s->bytes += strlen(open_path) + 1;
            }
        }
    }
    if (err != HS_OK || !elf || elf_kind(elf) != ELF_K_ELF)
        goto out;

    if (!m->is_vdso && m->build_id[0]) {
        char bid[HS_BUILD_ID_HEX_MAX];
        hs_debuginfo_build_id(elf, bid);
        if (strcmp(bid, m->build_id) != 0) {
            hs_debug(1, "%s: build ID %s, not the module's %s: no names from this file", m->path,
                     bid[0] ? bid : "(none)", m->build_id);
            goto out;
        }
    }
    hs_rawsyms_t raw = {0};
    int have_symtab = 0;
    err = hs_symbolize_collect(elf, f, 0, 1, &raw, &have_symtab);
    /* Stripped: the debug file's .symtab, merged with this file's .dynsym (and sorted then). */
    if (err == HS_OK && !have_symtab && !m->is_vdso)
        err = hs_symbolize_debug_symtab(s, elf, m, f, &raw);
    if (err == HS_OK && raw.n)
        err = hs_symbolize_finish(s, &raw, f);
    free(raw.v);

out:
    if (elf)
        elf_end(elf);
    if (fd >= 0)
        close(fd);
    return err;
}

static uint64_t hs_symbolize_file_hash(const char *path, const char *build_id)
{
    return hs_hash_str(path) ^ hs_mix64(hs_hash_str(build_id));
}

static hs_symfile_t *hs_symbolize_find_file(const hs_symbolizer_t *s, const hs_module_t *m,
                                            uint64_t hash)
{
    for (size_t i = hash & (s->file_slots_cap - 1);; i = (i + 1) & (s->file_slots_cap - 1)) {
        uint32_t id = s->file_slots[i];
        if (!id)
            return NULL;
        hs_symfile_t *f = s->files[id - 1];
        if (f->hash == hash && strcmp(f->path, m->path) == 0 &&
            strcmp(f->build_id, m->build_id) == 0)
            return f;
    }
}

static hs_err_t hs_symbolize_insert_file(hs_symbolizer_t *s, hs_symfile_t *f)
{
    hs_err_t err = hs_symbolize_reserve(&s->bytes, (void **)&s->files, &s->files_cap, s->nfiles + 1,
                                        sizeof *s->files);
    if (err != HS_OK)
        return err;
    if ((s->nfiles + 1) * 2 > s->file_slots_cap) {
        size_t cap = s->file_slots_cap * 2;
        uint32_t *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return HS_ERR_NOMEM;
        for (size_t i = 0; i < s->nfiles; i++) {
            size_t j = s->files[i]->hash & (cap - 1);
            while (slots[j])
                j = (j + 1) & (cap - 1);
            slots[j] = (uint32_t)i + 1;
        }
        free(s->file_slots);
        s->bytes += (cap - s->file_slots_cap) * sizeof *slots;
        s->file_slots = slots;
        s->file_slots_cap = cap;
    }
    f->id = (uint32_t)s->nfiles;
    s->files[s->nfiles++] = f;
    size_t j = f->hash & (s->file_slots_cap - 1);
    while (s->file_slots[j])
        j = (j + 1) & (s->file_slots_cap - 1);
    s->file_slots[j] = f->id + 1;
    return HS_OK;
}

/* The indexed file of module m (indexing it if new), or NULL when out of memory. */
static hs_symfile_t *hs_symbolize_file(hs_symbolizer_t *s, const hs_module_t *m, int budgeted)
{
    hs_symfile_t *f = s->last;
    if (f && strcmp(f->path, m->path) == 0 && strcmp(f->build_id, m->build_id) == 0)
        return f;
    uint64_t hash = hs_symbolize_file_hash(m->path, m->build_id);
    f = hs_symbolize_find_file(s, m, hash);
    if (f) {
        s->last = f;
        return f;
    }
    f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->hash = hash;
    f->files[0].fd = f->files[1].fd = -1;
    f->path = strdup(m->path);
    snprintf(f->build_id, sizeof f->build_id, "%s", m->build_id);
    hs_err_t err = f->path ? HS_OK : HS_ERR_NOMEM;
    if (err == HS_OK && budgeted && s->bytes >= s->budget) {
        hs_warn_once(&s->warned_budget,
                     "symbolizer memory budget (%zu MiB) reached: further files are not read, "
                     "new addresses get function names only",
                     s->budget >> 20);
    } else if (err == HS_OK) {
        err = hs_symbolize_index(s, m, f);
    }
    if (err == HS_OK)
        err = hs_symbolize_insert_file(s, f);
    if (err != HS_OK) {
        s->bytes -= f->n * sizeof *f->syms;
        for (int k = 0; k < 2; k++)
            free(f->files[k].path);
        free(f->image);
        free(f->syms);
        free(f->path);
        free(f);
        return NULL;
    }
    s->bytes += sizeof *f + strlen(f->path) + 1;
    s->last = f;
    return f;
}

/* ---- lookups -------------------------------------------------------------------------------- */

/* Index of the symbol containing vaddr, or -1. */
static ptrdiff_t hs_symbolize_lookup(const hs_symfile_t *f, uint64_t vaddr)
{
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->syms[mid].start <= vaddr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return -1;
    const hs_sym_t *sym = &f->syms[lo - 1];
    if (sym->size > 0 && vaddr - sym->start >= sym->size)
        return -1;
    return (ptrdiff_t)(lo - 1);
}

/* A descriptor on source file sf, checked to be the file that was indexed; -1 if not. */
static int hs_symbolize_src_fd(hs_srcfile_t *sf)
{
    if (sf->fd >= 0 || sf->bad)
        return sf->bad ? -1 : sf->fd;
    struct stat st;
    errno = 0;
    int fd = hs_debuginfo_open(sf->path, &st);
    if (fd < 0 && hs_symbolize_transient(errno))
        return -1; /* not marked bad: tried again later */
    if (fd < 0 || st.st_dev != sf->dev || st.st_ino != sf->ino || st.st_size != sf->size ||
        st.st_mtim.tv_sec != sf->mtime.tv_sec || st.st_mtim.tv_nsec != sf->mtime.tv_nsec) {
        if (fd >= 0)
            close(fd);
        sf->bad = 1;
        return -1;
    }
    sf->fd = fd;
    return fd;
}

/*
 * A .symtab names versioned definitions "fopen@@GLIBC_2.2.5" (or "@GLIBC_..." for old
 * versions): the function is "fopen", as the dynamic symbol table and every tool call it.
 */
static char *hs_symbolize_unversion(char *name)
{
    char *at = name[0] ? strchr(name + 1, '@') : NULL;
    if (at)
        *at = '\0';
    return name;
}

/* The name of symbol sym of f, read back from its string table (into s->namebuf), or NULL. */
static const char *hs_symbolize_read_name(hs_symbolizer_t *s, hs_symfile_t *f, const hs_sym_t *sym)
{
    unsigned tab = sym->name >> HS_SYMBOLIZE_TAB_SHIFT;
    uint64_t off = sym->name & HS_SYMBOLIZE_OFF_MASK;
    if ((int)tab >= f->ntabs || off >= f->tabs[tab].len)
        return NULL;
    const hs_strtab_t *t = &f->tabs[tab];
    size_t max =
        t->len - off < HS_SYMBOLIZE_NAME_MAX ? (size_t)(t->len - off) : HS_SYMBOLIZE_NAME_MAX;
    if (f->image && t->file == 0) {
        if (t->off + t->len > f->image_len)
            return NULL;
        const char *p = f->image + t->off + off;
        size_t len = strnlen(p, max);
        if (len == max)
            return NULL;
        memcpy(s->namebuf, p, len + 1);
        return hs_symbolize_unversion(s->namebuf);
    }
    int fd = hs_symbolize_src_fd(&f->files[t->file]);
    if (fd < 0)
        return NULL;
    size_t got = 0;
    while (got < max) {
        size_t want = max - got < 256 ? max - got : 256;
        ssize_t r = pread(fd, s->namebuf + got, want, (off_t)(t->off + off + got));
        if (r <= 0)
            return NULL;
        void *nul = memchr(s->namebuf + got, '\0', (size_t)r);
        got += (size_t)r;
        if (nul)
            return hs_symbolize_unversion(s->namebuf);
    }
    return NULL; /* longer than we read back */
}

static hs_err_t hs_symbolize_names_grow(hs_symbolizer_t *s)
{
    size_t cap = s->names_cap ? s->names_cap * 2 : 1024;
    hs_namepair_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return HS_ERR_NOMEM;
    for (size_t i = 0; i < s->names_cap; i++) {
        if (!s->names[i].key)
            continue;
        size_t j = hs_mix64(s->names[i].key) & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = s->names[i];
    }
    free(s->names);
    s->bytes += (cap - s->names_cap) * sizeof *slots;
    s->names = slots;
    s->names_cap = cap;
    return HS_OK;
}

/*
 * Raw and readable names of symbol idx of f (persistent: kept in the name table; else in the
 * batch's scratch). Returns 0 if the name cannot be had, -1 if memory ran out (then nothing
 * about the symbol may be remembered).
 */
static int hs_symbolize_sym_names(hs_symbolizer_t *s, hs_symfile_t *f, size_t idx, int persistent,
                                  const char **raw, const char **name)
{
    uint64_t key = ((uint64_t)f->id + 1) << 32 | (uint64_t)idx;
    size_t j = 0;
    if (s->names_cap) {
        for (j = hs_mix64(key) & (s->names_cap - 1); s->names[j].key;
             j = (j + 1) & (s->names_cap - 1)) {
            if (s->names[j].key == key) {
                *raw = s->names[j].raw;
                *name = s->names[j].name;
                return 1;
            }
        }
    }
    const char *r = hs_symbolize_read_name(s, f, &f->syms[idx]);
    if (!r)
        return 0;
    const char *ri = hs_symbolize_intern(s, r, persistent);
    if (!ri)
        return -1;
    const char *ni = ri;
    if (hs_demangle(ri, s->dmbuf, HS_SYMBOLIZE_NAME_MAX))
        ni = hs_symbolize_intern(s, s->dmbuf, persistent);
    if (!ni)
        return -1;
    *raw = ri;
    *name = ni;
    if (!persistent)
        return 1;
    if ((s->nnames + 1) * 2 > s->names_cap) {
        if (hs_symbolize_names_grow(s) != HS_OK)
            return 1; /* named, just not remembered */
        for (j = hs_mix64(key) & (s->names_cap - 1); s->names[j].key;
             j = (j + 1) & (s->names_cap - 1))
            ;
    }
    s->names[j].key = key;
    s->names[j].raw = ri;
    s->names[j].name = ni;
    s->nnames++;
    return 1;
}

const char *hs_symbolize(hs_symbolizer_t *s, const hs_module_t *m, uintptr_t addr, uint64_t *offset)
{
    if (!s || !m || !m->path)
        return NULL;
    hs_symfile_t *f = hs_symbolize_file(s, m, 0);
    if (!f || f->n == 0)
        return NULL;
    uint64_t vaddr = (uint64_t)addr - (uint64_t)m->bias;
    ptrdiff_t idx = hs_symbolize_lookup(f, vaddr);
    const char *raw = NULL, *name = NULL;
    int ok = idx >= 0 && hs_symbolize_sym_names(s, f, (size_t)idx, 1, &raw, &name) > 0;
    hs_symbolize_close_files(f);
    if (!ok)
        return NULL;
    if (offset)
        *offset = vaddr - f->syms[idx].start;
    return raw;
}

/* ---- the address cache ---------------------------------------------------------------------- */

static uint64_t hs_symbolize_addr_hash(uint32_t file, uint64_t vaddr)
{
    return hs_mix64(vaddr ^ ((uint64_t)file << 40) ^ file);
}

static uint32_t hs_symbolize_cache_find(const hs_symbolizer_t *s, uint32_t file, uint64_t vaddr)
{
    if (!s->cache_slots_cap)
        return HS_SYMBOLIZE_NO_REF;
    size_t mask = s->cache_slots_cap - 1;
    for (size_t j = hs_symbolize_addr_hash(file, vaddr) & mask; s->cache_slots[j];
         j = (j + 1) & mask) {
        const hs_entry_t *e = &s->cache.entries[s->cache_slots[j] - 1];
        if (e->vaddr == vaddr && e->file == file)
            return s->cache_slots[j] - 1;
    }
    return HS_SYMBOLIZE_NO_REF;
}

static hs_err_t hs_symbolize_cache_rehash(hs_symbolizer_t *s)
{
    size_t cap = s->cache_slots_cap ? s->cache_slots_cap * 2 : 4096;
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return HS_ERR_NOMEM;
    for (size_t i = 0; i < s->cache.nentries; i++) {
        const hs_entry_t *e = &s->cache.entries[i];
        size_t j = hs_symbolize_addr_hash(e->file, e->vaddr) & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = (uint32_t)i + 1;
    }
    free(s->cache_slots);
    s->bytes += (cap - s->cache_slots_cap) * sizeof *slots;
    s->cache_slots = slots;
    s->cache_slots_cap = cap;
    return HS_OK;
}

/* Store a result (frames[0, n)) for (file, vaddr); *ref gets its reference. */
static hs_err_t hs_symbolize_store(hs_symbolizer_t *s, uint32_t file, uint64_t vaddr,
                                   const hs_symframe_t *frames, uint32_t n, int persistent,
                                   uint32_t *ref)
{
    hs_store_t *st = persistent ? &s->cache : &s->scratch;
    size_t *bytes = persistent ? &s->bytes : NULL;
    if (persistent && (s->cache.nentries + 1) * 2 > s->cache_slots_cap) {
        hs_err_t err = hs_symbolize_cache_rehash(s);
        if (err != HS_OK)
            return err;
    }
    hs_err_t err = hs_symbolize_reserve(bytes, (void **)&st->entries, &st->entries_cap,
                                        st->nentries + 1, sizeof *st->entries);
    if (err == HS_OK)
        err = hs_symbolize_reserve(bytes, (void **)&st->frames, &st->frames_cap, st->nframes + n,
                                   sizeof *st->frames);
    if (err != HS_OK || st->nentries >= HS_SYMBOLIZE_SCRATCH - 1 || st->nframes + n >= UINT32_MAX)
        return err != HS_OK ? err : HS_ERR_FULL;
    hs_entry_t *e = &st->entries[st->nentries];
    e->vaddr = vaddr;
    e->file = file;
    e->first = (uint32_t)st->nframes;
    e->n = n;
    if (n) /* an unknown address has no frames (and the pool may not exist yet) */
        memcpy(&st->frames[st->nframes], frames, n * sizeof *frames);
    st->nframes += n;
    uint32_t idx = (uint32_t)st->nentries++;
    if (persistent) {
        size_t mask = s->cache_slots_cap - 1;
        size_t j = hs_symbolize_addr_hash(file, vaddr) & mask;
        while (s->cache_slots[j])
            j = (j + 1) & mask;
        s->cache_slots[j] = idx + 1;
        *ref = idx;
    } else {
        *ref = idx | HS_SYMBOLIZE_SCRATCH;
        size_t scratch = s->scratch_arena.bytes + s->scratch.entries_cap * sizeof *e +
                         s->scratch.frames_cap * sizeof *frames;
        if (scratch > s->stats.peak_scratch)
            s->stats.peak_scratch = scratch;
    }
    return HS_OK;
}

/* Fill one frame from DWARF names (linkage name preferred for system_name). */
static int hs_symbolize_dwarf_names(hs_symbolizer_t *s, const hs_dwarf_frame_t *d, int persistent,
                                    hs_symframe_t *o)
{
    const char *sys = d->linkage ? d->linkage : d->name;
    if (!sys)
        return 0;
    o->system_name = hs_symbolize_intern(s, sys, persistent);
    o->name = o->system_name;
    if (o->system_name && hs_demangle(sys, s->dmbuf, HS_SYMBOLIZE_NAME_MAX))
        o->name = hs_symbolize_intern(s, s->dmbuf, persistent);
    return o->name && o->system_name;
}

/* A frame's source file, absolute when the compilation directory makes it so (s->namebuf). */
static const char *hs_symbolize_path(hs_symbolizer_t *s, const hs_dwarf_frame_t *d)
{
    if (d->file[0] == '/' || !d->comp_dir || !d->comp_dir[0])
        return d->file;
    size_t a = strlen(d->comp_dir), b = strlen(d->file);
    if (a + b + 2 > HS_SYMBOLIZE_NAME_MAX + 1)
        return d->file;
    memcpy(s->namebuf, d->comp_dir, a);
    s->namebuf[a] = '/';
    memcpy(s->namebuf + a + 1, d->file, b + 1);
    return s->namebuf;
}

/* Resolve vaddr of f (with DWARF session dw, may be NULL) and store the result. */
static hs_err_t hs_symbolize_resolve(hs_symbolizer_t *s, hs_symfile_t *f, uint64_t vaddr,
                                     hs_dwarf_t *dw, int persistent, uint32_t *ref)
{
    hs_symframe_t frames[HS_SYMBOLIZE_MAX_FRAMES];
    uint32_t k = 0;
    const char *raw = NULL, *name = NULL;
    ptrdiff_t idx = hs_symbolize_lookup(f, vaddr);
    int named = idx >= 0 ? hs_symbolize_sym_names(s, f, (size_t)idx, persistent, &raw, &name) : 0;
    if (named < 0)
        return HS_ERR_NOMEM; /* not cached as nameless: tried again at the next batch */
    if (named == 0)
        raw = name = NULL;
    if (dw) {
        hs_dwarf_frame_t df[HS_SYMBOLIZE_MAX_FRAMES];
        int nd = hs_dwarf_frames(dw, vaddr, df, HS_SYMBOLIZE_MAX_FRAMES);
        for (int i = 0; i < nd; i++) {
            hs_symframe_t *o = &frames[k];
            memset(o, 0, sizeof *o);
            int outermost = i == nd - 1 && !df[i].is_inline;
            if (outermost && raw) {
                /* The symbol names the code (clones such as foo.cold included). */
                o->system_name = raw;
                o->name = name;
            } else if (!hs_symbolize_dwarf_names(s, &df[i], persistent, o)) {
                continue; /* an unnamed scope: no frame */
            }
            if (df[i].file &&
                !(o->file = hs_symbolize_intern(s, hs_symbolize_path(s, &df[i]), persistent)))
                return HS_ERR_NOMEM;
            o->line = df[i].line;
            k++;
        }
    }
    if (k == 0 && raw) {
        frames[0] = (hs_symframe_t){.name = name, .system_name = raw};
        k = 1;
    }
    return hs_symbolize_store(s, f->id, vaddr, frames, k, persistent, ref);
}

/* ---- batches -------------------------------------------------------------------------------- */

typedef struct hs_miss {
    uint32_t file;
    uint32_t i; /* index into the batch */
    uint64_t vaddr;
} hs_miss_t;

static int hs_symbolize_misscmp(const void *a, const void *b)
{
    const hs_miss_t *x = a, *y = b;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->vaddr != y->vaddr)
        return x->vaddr < y->vaddr ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

static void hs_symbolize_scratch_reset(hs_symbolizer_t *s)
{
    hs_symbolize_arena_free(&s->scratch_arena);
    hs_symbolize_store_free(&s->scratch);
}

/* Resolve the misses [first, last) of one file. */
static hs_err_t hs_symbolize_file_misses(hs_symbolizer_t *s, hs_symfile_t *f, const hs_miss_t *miss,
                                         size_t first, size_t last, uint32_t *refs)
{
    int persistent = s->bytes < s->budget;
    int want_lines = s->level >= HS_SYMBOLIZE_LINES && !f->image && f->dwarf >= 0;
    hs_dwarf_t *dw = NULL;
    if (want_lines && persistent) {
        uint64_t est = 0;
        size_t cap = s->dwarf_room < s->dwarf_max ? s->dwarf_room : s->dwarf_max;
        hs_err_t derr = hs_dwarf_open(f->nfiles ? f->files[0].path : f->path, f->path, f->build_id,
                                      (const char *const *)s->dirs, cap, &est, &dw);
        if (derr == HS_ERR_FULL && est <= s->dwarf_max) {
            /* Over the room of this batch only: names now, not cached, so that a batch with
             * room adds the lines (counted as past the budget: uncached, lines_fallback). */
            s->stats.dwarf_deferred++;
            persistent = 0;
        } else if (derr == HS_OK) {
            if (f->dwarf == 0)
                s->stats.dwarf_files++;
            f->dwarf = 1;
            if (est > s->stats.dwarf_largest)
                s->stats.dwarf_largest = est;
        } else {
            if (derr == HS_ERR_FULL) {
                s->stats.dwarf_refused++;
                hs_warn_once(&s->warned_dwarf,
                             "%s: debug information too large to read in-process (about "
                             "%.1f MiB > %.1f MiB): function names only for it (`heapsampler "
                             "symbolize` adds lines offline)",
                             f->path, (double)est / 1048576.0, (double)s->dwarf_max / 1048576.0);
            }
            f->dwarf = -1;
            want_lines = 0;
        }
    }
    hs_err_t err = HS_OK;
    uint32_t ref = HS_SYMBOLIZE_NO_REF;
    for (size_t k = first; k < last && err == HS_OK; k++) {
        if (k == first || miss[k].vaddr != miss[k - 1].vaddr) {
            /* Past the budget: not kept, and no DWARF (it would be read again every batch). */
            persistent = persistent && s->bytes < s->budget;
            err =
                hs_symbolize_resolve(s, f, miss[k].vaddr, persistent ? dw : NULL, persistent, &ref);
            if (err == HS_OK && !persistent) {
                s->stats.uncached++;
                s->stats.lines_fallback += want_lines;
            }
        }
        refs[miss[k].i] = ref;
    }
    hs_dwarf_close(dw);
    hs_symbolize_close_files(f);
    return err;
}

hs_err_t hs_symbolize_batch(hs_symbolizer_t *s, const hs_module_t *const *mods,
                            const uintptr_t *addrs, size_t n, hs_symloc_t *out)
{
    for (size_t i = 0; i < n; i++) {
        out[i].frames = NULL;
        out[i].n = 0;
    }
    if (!s || n == 0 || s->level == HS_SYMBOLIZE_NONE)
        return HS_OK;
    uint64_t t0 = hs_symbolize_now_ns();
    s->last_mod = NULL; /* module arrays change between batches */
    hs_symbolize_scratch_reset(s);
    s->stats.uncached = 0;
    s->stats.lines_fallback = 0;
    hs_err_t err = HS_ERR_NOMEM;
    uint32_t *refs = malloc(n * sizeof *refs);
    hs_miss_t *miss = malloc(n * sizeof *miss);
    size_t nmiss = 0;
    if (!refs || !miss)
        goto out;
    for (size_t i = 0; i < n; i++) {
        refs[i] = HS_SYMBOLIZE_NO_REF;
        const hs_module_t *m = mods[i];
        if (!m || !m->path)
            continue;
        /* Consecutive addresses mostly lie in one module: skip even comparing its path. */
        hs_symfile_t *f = m == s->last_mod && s->last ? s->last : hs_symbolize_file(s, m, 1);
        if (!f) /* out of memory or descriptors: no name now, the file is tried again later */
            continue;
        s->last_mod = m;
        if (f->n == 0)
            continue;
        uint64_t vaddr = (uint64_t)addrs[i] - (uint64_t)m->bias;
        refs[i] = hs_symbolize_cache_find(s, f->id, vaddr);
        if (refs[i] == HS_SYMBOLIZE_NO_REF)
            miss[nmiss++] = (hs_miss_t){.file = f->id, .i = (uint32_t)i, .vaddr = vaddr};
    }
    qsort(miss, nmiss, sizeof *miss, hs_symbolize_misscmp);
    err = HS_OK;
    for (size_t first = 0; first < nmiss && err == HS_OK;) {
        size_t last = first + 1;
        while (last < nmiss && miss[last].file == miss[first].file)
            last++;
        err = hs_symbolize_file_misses(s, s->files[miss[first].file], miss, first, last, refs);
        first = last;
    }
    /* Pointers only now: the stores may have moved while they grew. */
    for (size_t i = 0; err == HS_OK && i < n; i++) {
        uint32_t r = refs[i];
        if (r == HS_SYMBOLIZE_NO_REF)
            continue;
        const hs_store_t *st = r & HS_SYMBOLIZE_SCRATCH ? &s->scratch : &s->cache;
        const hs_entry_t *e = &st->entries[r & ~HS_SYMBOLIZE_SCRATCH];
        out[i].n = e->n;
        out[i].frames = e->n ? &st->frames[e->first] : NULL;
    }
out:
    free(refs);
    free(miss);
    s->stats.batch_ns = hs_symbolize_now_ns() - t0;
    s->stats.total_ns += s->stats.batch_ns;
    if (err != HS_OK) {
        for (size_t i = 0; i < n; i++)
            out[i].n = 0;
    }
    return err;
}
