/*
 * symbolize.c - function names for addresses, from the ELF symbol tables of the loaded files.
 *
 * Each file is read once per process with libelf (elf_begin with ELF_C_READ on a read-only
 * descriptor; not ELF_C_READ_MMAP, because a file truncated in place while mapped would raise
 * SIGBUS in the host): both .symtab (static functions, present unless the file is stripped) and
 * .dynsym (exported functions, always present in a shared object) contribute STT_FUNC and
 * STT_GNU_IFUNC symbols that are defined (st_shndx != SHN_UNDEF) and have a non-zero address.
 * The table is sorted by address; entries sharing an address (aliases such as `fopen` and
 * `_IO_fopen`, or the same symbol in both tables) are reduced to one, preferring GLOBAL over
 * WEAK over LOCAL binding, then .symtab over .dynsym, then fewer leading underscores (the public
 * name of an alias pair), then the first name in strcmp order, so the choice is deterministic.
 * Names are copied into an arena, so the ELF file is closed as soon as it has been
 * read.
 *
 * Lookup: vaddr = addr - bias; the symbol is the last one starting at or below vaddr; it misses
 * if the symbol has a size and vaddr lies beyond it. A size-0 symbol (assembly such as _fini)
 * covers up to the next symbol and at most to the end of its section, so that an address past
 * the last function of .text or .fini is a miss rather than a wild guess.
 *
 * Only regular files are opened (O_NONBLOCK at open, then fstat), so a path that names a FIFO or
 * a device can never block the writer thread. Files that cannot be read are remembered as empty,
 * so they cost one failed open per process, not one per dump. The vDSO has no file: its image is
 * at getauxval(AT_SYSINFO_EHDR); it is copied to the heap (libelf's in-memory reader may write
 * to its image, and the vDSO is not writable) and read with elf_memory.
 *
 * Caches are keyed by path and live as long as the symbolizer (names are handed out as
 * pointers into the arena). A file replaced on disk under the same path keeps its old symbols.
 *
 * Thread-safety: none; a symbolizer belongs to one thread at a time (the writer thread, under
 * the dump lock). Allocates with malloc (the reentrancy guard is held in the writer thread).
 * Fork: the caches stay valid in the child (same files, same vDSO).
 */
#include "symbolize.h"

#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#define HS_SYMBOLIZE_CHUNK    (64 * 1024)
#define HS_SYMBOLIZE_VDSO_MAX (16u << 20) /* sanity bound on the vDSO image size */

typedef struct hs_sym {
    uint64_t start; /* ELF virtual address */
    uint64_t size;  /* 0 = unknown: covers up to the next symbol */
    const char *name;
} hs_sym_t;

typedef struct hs_symfile {
    char *path;
    uint64_t hash;
    hs_sym_t *syms; /* sorted by start, unique starts */
    size_t n;
} hs_symfile_t;

typedef struct hs_chunk {
    struct hs_chunk *next;
    size_t size;
    char data[];
} hs_chunk_t;

struct hs_symbolizer {
    hs_symfile_t **slots; /* open addressing by path hash; NULL = empty */
    size_t cap;           /* power of two */
    size_t count;
    hs_chunk_t *chunks; /* name arena; chunks->data + used is the free space */
    size_t used;
    size_t bytes;             /* memory held */
    const hs_symfile_t *last; /* the file of the previous lookup */
};

/* A candidate symbol while a file is read. */
typedef struct hs_rawsym {
    uint64_t start;
    uint64_t size;
    const char *name; /* in libelf's string table, valid until elf_end */
    unsigned rank;    /* lower is preferred: binding * 2 + (from .dynsym) */
} hs_rawsym_t;

typedef struct hs_rawsyms {
    hs_rawsym_t *v;
    size_t n, cap;
} hs_rawsyms_t;

hs_err_t hs_symbolizer_new(hs_symbolizer_t **out)
{
    *out = NULL;
    /* Idempotent; the library is shared with anything else in the process that uses libelf. */
    if (elf_version(EV_CURRENT) == EV_NONE)
        return HS_ERR_STATE;
    hs_symbolizer_t *s = calloc(1, sizeof *s);
    if (!s)
        goto fail_alloc;
    s->cap = 64;
    s->slots = calloc(s->cap, sizeof *s->slots);
    if (!s->slots)
        goto fail_slots;
    s->bytes = sizeof *s + s->cap * sizeof *s->slots;
    *out = s;
    return HS_OK;

fail_slots:
    free(s);
fail_alloc:
    return HS_ERR_NOMEM;
}

void hs_symbolizer_free(hs_symbolizer_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->cap; i++) {
        hs_symfile_t *f = s->slots[i];
        if (!f)
            continue;
        free(f->path);
        free(f->syms);
        free(f);
    }
    free(s->slots);
    hs_chunk_t *c = s->chunks;
    while (c) {
        hs_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    free(s);
}

size_t hs_symbolizer_memory(const hs_symbolizer_t *s)
{
    return s ? s->bytes : 0;
}

static const char *hs_symbolize_strdup(hs_symbolizer_t *s, const char *str)
{
    size_t len = strlen(str) + 1;
    if (!s->chunks || s->chunks->size - s->used < len) {
        size_t size = len > HS_SYMBOLIZE_CHUNK ? len : HS_SYMBOLIZE_CHUNK;
        hs_chunk_t *c = malloc(sizeof *c + size);
        if (!c)
            return NULL;
        c->next = s->chunks;
        c->size = size;
        s->chunks = c;
        s->used = 0;
        s->bytes += sizeof *c + size;
    }
    char *p = s->chunks->data + s->used;
    memcpy(p, str, len);
    s->used += len;
    return p;
}

static hs_symfile_t *hs_symbolize_find_file(const hs_symbolizer_t *s, const char *path,
                                            uint64_t hash)
{
    for (size_t i = hash & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        hs_symfile_t *f = s->slots[i];
        if (!f)
            return NULL;
        if (f->hash == hash && strcmp(f->path, path) == 0)
            return f;
    }
}

static hs_err_t hs_symbolize_insert_file(hs_symbolizer_t *s, hs_symfile_t *f)
{
    if ((s->count + 1) * 2 > s->cap) {
        size_t cap = s->cap * 2;
        hs_symfile_t **slots = calloc(cap, sizeof *slots);
        if (!slots)
            return HS_ERR_NOMEM;
        for (size_t i = 0; i < s->cap; i++) {
            hs_symfile_t *g = s->slots[i];
            if (!g)
                continue;
            size_t j = g->hash & (cap - 1);
            while (slots[j])
                j = (j + 1) & (cap - 1);
            slots[j] = g;
        }
        free(s->slots);
        s->bytes += (cap - s->cap) * sizeof *slots;
        s->slots = slots;
        s->cap = cap;
    }
    size_t j = f->hash & (s->cap - 1);
    while (s->slots[j])
        j = (j + 1) & (s->cap - 1);
    s->slots[j] = f;
    s->count++;
    return HS_OK;
}

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

/* Collect the function symbols of every SHT_SYMTAB and SHT_DYNSYM section. */
static hs_err_t hs_symbolize_collect(Elf *elf, hs_rawsyms_t *raw)
{
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(elf, scn)) != NULL) {
        GElf_Shdr shdr;
        if (!gelf_getshdr(scn, &shdr))
            continue;
        if (shdr.sh_type != SHT_SYMTAB && shdr.sh_type != SHT_DYNSYM)
            continue;
        if (shdr.sh_entsize == 0)
            continue;
        Elf_Data *data = elf_getdata(scn, NULL);
        if (!data)
            continue;
        size_t count = shdr.sh_size / shdr.sh_entsize;
        unsigned from_dynsym = shdr.sh_type == SHT_DYNSYM;
        for (size_t i = 1; i < count; i++) {
            GElf_Sym sym;
            if (!gelf_getsym(data, (int)i, &sym))
                break;
            unsigned type = GELF_ST_TYPE(sym.st_info);
            if (type != STT_FUNC && type != STT_GNU_IFUNC)
                continue;
            if (sym.st_shndx == SHN_UNDEF || sym.st_value == 0)
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
    /* Among equals, the public spelling: `printf` rather than `_IO_printf`; then by name. */
    size_t ux = strspn(x->name, "_"), uy = strspn(y->name, "_");
    if (ux != uy)
        return ux < uy ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Sort, dedupe and copy the names into the arena. On success f owns its table. */
static hs_err_t hs_symbolize_finish(hs_symbolizer_t *s, hs_rawsyms_t *raw, hs_symfile_t *f)
{
    if (raw->n == 0)
        return HS_OK;
    qsort(raw->v, raw->n, sizeof *raw->v, hs_symbolize_rawcmp);
    size_t unique = 1;
    for (size_t i = 1; i < raw->n; i++)
        unique += raw->v[i].start != raw->v[i - 1].start;
    hs_sym_t *syms = malloc(unique * sizeof *syms);
    if (!syms)
        return HS_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < raw->n; i++) {
        const hs_rawsym_t *r = &raw->v[i];
        if (n > 0 && syms[n - 1].start == r->start) {
            /* An alias: keep the preferred name, but learn a size if it had none. */
            if (syms[n - 1].size == 0)
                syms[n - 1].size = r->size;
            continue;
        }
        const char *name = hs_symbolize_strdup(s, r->name);
        if (!name) {
            free(syms);
            return HS_ERR_NOMEM;
        }
        syms[n].start = r->start;
        syms[n].size = r->size;
        syms[n].name = name;
        n++;
    }
    f->syms = syms;
    f->n = n;
    s->bytes += n * sizeof *syms;
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

/* Read the symbols of m into f; a file that cannot be opened or parsed gives an empty table. */
static hs_err_t hs_symbolize_read(hs_symbolizer_t *s, const hs_module_t *m, hs_symfile_t *f)
{
    int fd = -1;
    char *copy = NULL;
    Elf *elf = NULL;
    if (m->is_vdso) {
        const char *image;
        size_t size;
        if (hs_symbolize_vdso_image(&image, &size) == HS_OK) {
            copy = malloc(size);
            if (!copy)
                return HS_ERR_NOMEM;
            memcpy(copy, image, size);
            elf = elf_memory(copy, size);
        }
    } else {
        /* O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then rejects it. */
        fd = open(m->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
            elf = elf_begin(fd, ELF_C_READ, NULL);
    }

    hs_rawsyms_t raw = {0};
    hs_err_t err = HS_OK;
    if (elf && elf_kind(elf) == ELF_K_ELF)
        err = hs_symbolize_collect(elf, &raw);
    if (err == HS_OK)
        err = hs_symbolize_finish(s, &raw, f);
    free(raw.v);
    if (elf)
        elf_end(elf);
    free(copy);
    if (fd >= 0)
        close(fd);
    return err;
}

/* Read one module's symbols into a new cache entry. */
static hs_err_t hs_symbolize_load(hs_symbolizer_t *s, const hs_module_t *m, uint64_t hash,
                                  hs_symfile_t **out)
{
    hs_err_t err = HS_ERR_NOMEM;
    hs_symfile_t *f = calloc(1, sizeof *f);
    if (!f)
        goto fail_file;
    f->hash = hash;
    f->path = strdup(m->path);
    if (!f->path)
        goto fail_path;
    err = hs_symbolize_read(s, m, f);
    if (err != HS_OK)
        goto fail_read;
    err = hs_symbolize_insert_file(s, f);
    if (err != HS_OK)
        goto fail_insert;
    s->bytes += sizeof *f + strlen(f->path) + 1;
    *out = f;
    return HS_OK;

fail_insert:
    /* The names stay in the arena (still counted); only the table goes. */
    s->bytes -= f->n * sizeof *f->syms;
    free(f->syms);
fail_read:
    free(f->path);
fail_path:
    free(f);
fail_file:
    return err;
}

static const hs_sym_t *hs_symbolize_lookup(const hs_symfile_t *f, uint64_t vaddr)
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
        return NULL;
    const hs_sym_t *sym = &f->syms[lo - 1];
    if (sym->size > 0 && vaddr - sym->start >= sym->size)
        return NULL;
    return sym;
}

const char *hs_symbolize(hs_symbolizer_t *s, const hs_module_t *m, uintptr_t addr, uint64_t *offset)
{
    if (!s || !m || !m->path)
        return NULL;
    const hs_symfile_t *f = s->last;
    /* Consecutive lookups mostly hit the same file: skip hashing the path then. */
    if (!f || strcmp(f->path, m->path) != 0) {
        uint64_t hash = hs_hash_str(m->path);
        hs_symfile_t *found = hs_symbolize_find_file(s, m->path, hash);
        if (!found && hs_symbolize_load(s, m, hash, &found) != HS_OK)
            return NULL; /* out of memory: try again next time */
        f = found;
        s->last = f;
    }
    if (f->n == 0)
        return NULL;
    uint64_t vaddr = (uint64_t)addr - (uint64_t)m->bias;
    const hs_sym_t *sym = hs_symbolize_lookup(f, vaddr);
    if (!sym)
        return NULL;
    if (offset)
        *offset = vaddr - sym->start;
    return sym->name;
}
