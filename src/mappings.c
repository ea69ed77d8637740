/*
 * mappings.c - the executable segments of the loaded modules, for pprof Mappings and for the
 * symbolizer.
 *
 * One hs_module_t per executable (PF_X) PT_LOAD segment reported by dl_iterate_phdr:
 *   start       = bias + p_vaddr, rounded down to the page (the first byte of the mapping);
 *   limit       = bias + p_vaddr + p_memsz;
 *   file_offset = p_offset, rounded down to the page: the file offset of `start`, which is what
 *                 pprof's Mapping.file_offset means (p_vaddr and p_offset are congruent modulo
 *                 the page size, so both round down by the same amount);
 *   bias        = dlpi_addr (runtime address = ELF virtual address + bias).
 * The GNU build ID is read from the module's PT_NOTE segments in memory (they are part of a
 * loaded, readable segment), never from the file. The main executable is the first object
 * dl_iterate_phdr reports, with an empty name; its path comes from /proc/self/exe. The vDSO has
 * no file: it is recognised by its program headers lying in the image the kernel announced in
 * AT_SYSINFO_EHDR (or by its soname) and is called "[vdso]".
 *
 * Order of hs_modules_t.v: the main executable's segments first, then every other segment; each
 * group sorted by start. hs_mappings_find scans the (one or two) main segments and binary
 * searches the rest. Executable segments of different modules never overlap.
 *
 * Thread-safety: dl_iterate_phdr takes the loader lock, so hs_mappings_read runs only in the
 * writer thread with no profiler lock held (an allocating thread may hold the loader lock while
 * it waits for a profiler lock). It allocates with malloc (the reentrancy guard is held there).
 * The result is private to the caller. No global state; nothing to do at fork.
 */
#include "mappings.h"

#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#define HS_MAPPINGS_NOTE_MAX (1u << 20) /* ignore absurd PT_NOTE sizes */

typedef struct hs_mappings_ctx {
    hs_modules_t *out;
    size_t cap;
    size_t seen;        /* objects reported so far */
    uintptr_t page;     /* page size */
    uintptr_t vdso_hdr; /* AT_SYSINFO_EHDR, 0 if none */
    char *exe;          /* readlink("/proc/self/exe"), malloc'd, or NULL */
    hs_err_t err;
} hs_mappings_ctx_t;

static void hs_mappings_hex(const uint8_t *p, size_t n, char *out)
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

/*
 * Look for NT_GNU_BUILD_ID in one PT_NOTE segment in memory. Notes are aligned to 4 bytes, or
 * to 8 in segments whose p_align is 8 (the layout SHT_NOTE sections with 8-byte alignment use).
 */
static int hs_mappings_note_build_id(const uint8_t *p, size_t len, size_t align, char *out)
{
    size_t off = 0;
    while (len - off >= sizeof(ElfW(Nhdr))) {
        ElfW(Nhdr) nh;
        memcpy(&nh, p + off, sizeof nh);
        off += sizeof nh;
        size_t name_len = ((size_t)nh.n_namesz + align - 1) & ~(align - 1);
        size_t desc_len = ((size_t)nh.n_descsz + align - 1) & ~(align - 1);
        if (name_len > len - off || desc_len > len - off - name_len)
            return 0;
        const uint8_t *name = p + off;
        const uint8_t *desc = p + off + name_len;
        off += name_len + desc_len;
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
            nh.n_descsz > 0) {
            hs_mappings_hex(desc, nh.n_descsz, out);
            return 1;
        }
    }
    return 0;
}

static void hs_mappings_build_id(const struct dl_phdr_info *info, char *out)
{
    out[0] = '\0';
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE || ph->p_memsz == 0 || ph->p_memsz > HS_MAPPINGS_NOTE_MAX)
            continue;
        size_t align = ph->p_align == 8 ? 8 : 4;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
        if (hs_mappings_note_build_id(p, ph->p_memsz, align, out))
            return;
    }
}

static int hs_mappings_is_vdso(const struct dl_phdr_info *info, const hs_mappings_ctx_t *ctx)
{
    if (ctx->vdso_hdr) {
        const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)ctx->vdso_hdr;
        if ((uintptr_t)info->dlpi_phdr == ctx->vdso_hdr + eh->e_phoff)
            return 1;
    }
    const char *name = info->dlpi_name;
    return name && (strncmp(name, "linux-vdso", 10) == 0 || strncmp(name, "linux-gate", 10) == 0);
}

static int hs_mappings_push(hs_mappings_ctx_t *ctx, const hs_module_t *mod)
{
    hs_modules_t *out = ctx->out;
    if (hs_array_reserve((void **)&out->v, &ctx->cap, out->n + 1, sizeof *out->v, 32) != HS_OK)
        return -1;
    out->v[out->n++] = *mod;
    return 0;
}

static int hs_mappings_callback(struct dl_phdr_info *info, size_t size, void *data)
{
    hs_mappings_ctx_t *ctx = data;
    (void)size;
    size_t index = ctx->seen++;
    int is_vdso = hs_mappings_is_vdso(info, ctx);
    int is_main = !is_vdso && index == 0 && (!info->dlpi_name || !info->dlpi_name[0]);
    const char *path;
    if (is_vdso)
        path = "[vdso]";
    else if (is_main)
        path = ctx->exe ? ctx->exe : "";
    else if (info->dlpi_name && info->dlpi_name[0])
        path = info->dlpi_name;
    else
        return 0; /* an unnamed object that is neither: nothing pprof could use */

    char build_id[HS_BUILD_ID_HEX_MAX];
    int have_build_id = 0;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X) || ph->p_memsz == 0)
            continue;
        if (!have_build_id) {
            hs_mappings_build_id(info, build_id);
            have_build_id = 1;
        }
        hs_module_t mod;
        memset(&mod, 0, sizeof mod);
        uintptr_t vaddr = info->dlpi_addr + ph->p_vaddr;
        mod.bias = info->dlpi_addr;
        mod.start = vaddr & ~(ctx->page - 1);
        mod.limit = vaddr + ph->p_memsz;
        mod.file_offset = ph->p_offset & ~((uint64_t)ctx->page - 1);
        memcpy(mod.build_id, build_id, sizeof build_id);
        mod.is_main = is_main;
        mod.is_vdso = is_vdso;
        mod.path = strdup(path);
        if (!mod.path || hs_mappings_push(ctx, &mod) != 0) {
            free(mod.path);
            ctx->err = HS_ERR_NOMEM;
            return 1; /* stop iterating */
        }
    }
    return 0;
}

static int hs_mappings_cmp(const void *a, const void *b)
{
    const hs_module_t *x = a, *y = b;
    if (x->is_main != y->is_main)
        return x->is_main ? -1 : 1;
    return (x->start > y->start) - (x->start < y->start);
}

static char *hs_mappings_exe_path(void)
{
    size_t cap = 256;
    for (;;) {
        char *buf = malloc(cap);
        if (!buf)
            return NULL;
        ssize_t n = readlink("/proc/self/exe", buf, cap);
        if (n < 0) {
            free(buf);
            return NULL;
        }
        if ((size_t)n < cap) {
            buf[n] = '\0';
            return buf;
        }
        free(buf);
        if (cap >= 65536)
            return NULL;
        cap *= 2;
    }
}

hs_err_t hs_mappings_read(hs_modules_t *out)
{
    out->v = NULL;
    out->n = 0;
    hs_mappings_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.out = out;
    long page = sysconf(_SC_PAGESIZE);
    ctx.page = page > 0 ? (uintptr_t)page : 4096;
    ctx.vdso_hdr = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    ctx.exe = hs_mappings_exe_path(); /* NULL (path "") if /proc is not mounted */
    ctx.err = HS_OK;

    dl_iterate_phdr(hs_mappings_callback, &ctx);
    free(ctx.exe);
    if (ctx.err != HS_OK)
        goto fail_iterate;
    if (out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, hs_mappings_cmp);
    return HS_OK;

fail_iterate:
    hs_mappings_free(out);
    return ctx.err;
}

void hs_mappings_free(hs_modules_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i].path);
    free(m->v);
    m->v = NULL;
    m->n = 0;
}

const hs_module_t *hs_mappings_find(const hs_modules_t *m, uintptr_t addr)
{
    if (!m || m->n == 0)
        return NULL;
    size_t first = 0;
    while (first < m->n && m->v[first].is_main) {
        if (addr >= m->v[first].start && addr < m->v[first].limit)
            return &m->v[first];
        first++;
    }
    /* Last segment in [first, n) with start <= addr. */
    size_t lo = first, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->v[mid].start <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == first)
        return NULL;
    const hs_module_t *mod = &m->v[lo - 1];
    return addr < mod->limit ? mod : NULL;
}
