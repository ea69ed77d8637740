/*
 * debuginfo.c - build IDs, separate debug files and DWARF lines/inline frames (debuginfo.h).
 *
 * Files: every file is opened with O_NONBLOCK and accepted only if fstat says it is a regular
 * file, so a path naming a FIFO or a device never blocks the writer thread.
 *
 * Separate debug files: build-ID paths first (exact by construction, but the candidate's own
 * build ID is still checked: a stale symlink must not give wrong lines), then .gnu_debuglink.
 * A debuglink candidate is accepted if its build ID equals the file's; when the file has no
 * build ID, only if the CRC-32 of the candidate equals the link's (zlib's crc32 is the CRC the
 * GNU linker writes). A candidate that is the file itself (same inode) is skipped.
 *
 * DWARF: one Dwfl session per file (dwfl_report_offline with a descriptor we opened), with our
 * own find_debuginfo callback, which hands over the debug file our search found (through a
 * thread-local pointer set for the duration of hs_dwarf_open). libdwfl's standard callbacks
 * would also ask debuginfod over the network when DEBUGINFOD_URLS is set: a profiled service
 * must not do that from its writer thread, so they are not used. libdw maps the files it reads
 * (mmap): a debug file truncated in place while mapped would raise SIGBUS; packages are replaced
 * by rename, which keeps the old inode intact, so this is accepted for the opt-in `lines` level.
 *
 * Memory: a session holds libdw's copies of the compressed debug sections (decompressed when
 * the file is opened), CU, abbreviation and line tables: tens of MB for a large program. Before
 * opening, the cost is estimated from the section headers (3x the debug sections' decompressed
 * size, see hs_dwarf_estimate) and a file over the caller's limit is refused (HS_ERR_FULL: the
 * caller falls back to function names). The symbolizer closes each session at the end of its
 * batch, so that memory is transient and one session is open at a time.
 *
 * Lines and inlines, per address: the CU from the address ranges (dwfl_module_addrdie, which
 * reads .debug_aranges; clang does not write that section by default, so for an address it
 * cannot place, an index of every CU's DW_AT_ranges/low_pc-high_pc is built once per session and
 * searched by bisection), the line from the CU's line table (dwarf_getsrc_die), the chain of scopes
 * containing the address (a walk down the CU's DIE tree, see hs_dwarf_scopes), taken innermost
 * first. Each DW_TAG_inlined_subroutine is a frame whose line is the current one; its caller's line
 * is then its DW_AT_call_file:DW_AT_call_line; the first DW_TAG_subprogram ends the chain. Names
 * come through DW_AT_abstract_origin/specification (dwarf_attr_integrate, across units): the
 * linkage name if any (mangled C++ or Rust), else DW_AT_name. File names are as the line table has
 * them (often relative); the CU's DW_AT_comp_dir comes along to make them absolute.
 *
 * Thread-safety: a hs_dwarf_t belongs to one thread at a time. Fork: nothing global but the
 * thread-local debug file name, which is only set inside hs_dwarf_open.
 */
#include "debuginfo.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define HS_DEBUGINFO_NOTE_MAX (1u << 20)

int hs_debuginfo_open(const char *path, struct stat *st)
{
    struct stat tmp;
    if (!st)
        st = &tmp;
    if (!path || !path[0])
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The first NT_GNU_BUILD_ID note in data (a note section or segment). */
static int hs_debuginfo_note_build_id(Elf_Data *data, char *out)
{
    size_t off = 0, name_off, desc_off;
    GElf_Nhdr nh;
    while (data && (off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
        if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 || nh.n_descsz == 0 ||
            memcmp((const char *)data->d_buf + name_off, "GNU", 4) != 0)
            continue;
        hs_modules_build_id_hex((const uint8_t *)data->d_buf + desc_off, nh.n_descsz, out);
        return 1;
    }
    return 0;
}

void hs_debuginfo_build_id(Elf *elf, char out[HS_BUILD_ID_HEX_MAX])
{
    out[0] = '\0';
    if (!elf || elf_kind(elf) != ELF_K_ELF)
        return;
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(elf, scn)) != NULL) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE || sh.sh_size > HS_DEBUGINFO_NOTE_MAX)
            continue;
        if (hs_debuginfo_note_build_id(elf_getdata(scn, NULL), out))
            return;
    }
    /* No section headers (or no note section): the program headers. */
    size_t phnum;
    if (elf_getphdrnum(elf, &phnum) != 0)
        return;
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_NOTE || ph.p_filesz == 0 ||
            ph.p_filesz > HS_DEBUGINFO_NOTE_MAX)
            continue;
        Elf_Data *data = elf_getdata_rawchunk(elf, (int64_t)ph.p_offset, ph.p_filesz, ELF_T_NHDR);
        if (hs_debuginfo_note_build_id(data, out))
            return;
    }
}

/* The build ID of the file at path ("" if none or unreadable); *st gets its identity. */
static int hs_debuginfo_file_build_id(const char *path, char out[HS_BUILD_ID_HEX_MAX],
                                      struct stat *st)
{
    out[0] = '\0';
    int fd = hs_debuginfo_open(path, st);
    if (fd < 0)
        return -1;
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    hs_debuginfo_build_id(elf, out);
    if (elf)
        elf_end(elf);
    close(fd);
    return 0;
}

static int hs_debuginfo_crc_matches(const char *path, uint32_t want)
{
    int fd = hs_debuginfo_open(path, NULL);
    if (fd < 0)
        return 0;
    enum { CHUNK = 64 * 1024 };
    unsigned char *buf = malloc(CHUNK);
    uLong crc = crc32(0L, Z_NULL, 0);
    ssize_t r = -1;
    while (buf && (r = read(fd, buf, CHUNK)) > 0)
        crc = crc32(crc, buf, (uInt)r);
    free(buf);
    close(fd);
    return r == 0 && (uint32_t)crc == want;
}

/* The .gnu_debuglink section: file name and CRC. Returns 1 if present. */
static int hs_debuginfo_debuglink(Elf *elf, const char **name, uint32_t *crc)
{
    size_t shstrndx;
    if (!elf || elf_getshdrstrndx(elf, &shstrndx) != 0)
        return 0;
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(elf, scn)) != NULL) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS)
            continue;
        const char *sname = elf_strptr(elf, shstrndx, sh.sh_name);
        if (!sname || strcmp(sname, ".gnu_debuglink") != 0)
            continue;
        Elf_Data *data = elf_getdata(scn, NULL);
        if (!data || !data->d_buf || data->d_size < 8)
            return 0;
        const char *s = data->d_buf;
        size_t len = strnlen(s, data->d_size);
        size_t crc_off = (len + 4) & ~(size_t)3;
        if (len == 0 || crc_off + 4 > data->d_size)
            return 0;
        memcpy(crc, s + crc_off, 4);
        *name = s;
        return 1;
    }
    return 0;
}

/* Accept candidate if it is a different file whose build ID (or CRC) matches. */
static int hs_debuginfo_accept(const char *candidate, const struct stat *self, const char *build_id,
                               int have_crc, uint32_t crc)
{
    char bid[HS_BUILD_ID_HEX_MAX];
    struct stat st;
    if (hs_debuginfo_file_build_id(candidate, bid, &st) != 0)
        return 0;
    if (self && st.st_dev == self->st_dev && st.st_ino == self->st_ino)
        return 0;
    if (build_id && build_id[0])
        return strcmp(bid, build_id) == 0;
    return have_crc && hs_debuginfo_crc_matches(candidate, crc);
}

static char *hs_debuginfo_join(const char *a, const char *b, const char *c)
{
    size_t len = strlen(a) + strlen(b) + strlen(c) + 1;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s%s%s", a, b, c);
    return p;
}

/* Search with the pieces already extracted (also used by the libdwfl callback). */
static hs_err_t hs_debuginfo_search(const char *path, const char *build_id, const char *link,
                                    int have_crc, uint32_t crc, const char *const *dirs, char **out)
{
    static const char *const default_dirs[] = {"/usr/lib/debug", NULL};
    if (!dirs)
        dirs = default_dirs;
    struct stat self, *selfp = NULL;
    int fd = hs_debuginfo_open(path, &self);
    if (fd >= 0) {
        close(fd);
        selfp = &self;
    }
    size_t bid_len = build_id ? strlen(build_id) : 0;
    if (bid_len > 2) {
        for (size_t i = 0; dirs[i]; i++) {
            char *p = malloc(strlen(dirs[i]) + bid_len + 32);
            if (!p)
                return HS_ERR_NOMEM;
            sprintf(p, "%s/.build-id/%.2s/%s.debug", dirs[i], build_id, build_id + 2);
            if (hs_debuginfo_accept(p, selfp, build_id, 0, 0)) {
                *out = p;
                return HS_OK;
            }
            free(p);
        }
    }
    if (!link || !link[0] || strchr(link, '/'))
        return HS_ERR_NOTFOUND;
    /* The directory of the file, with its trailing slash ("" for a bare name). */
    const char *slash = path ? strrchr(path, '/') : NULL;
    size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
    char *dir = malloc(dlen + 1);
    if (!dir)
        return HS_ERR_NOMEM;
    memcpy(dir, path, dlen);
    dir[dlen] = '\0';
    hs_err_t err = HS_ERR_NOTFOUND;
    char *p = hs_debuginfo_join(dir, "", link);
    if (p && hs_debuginfo_accept(p, selfp, build_id, have_crc, crc))
        goto found;
    free(p);
    p = hs_debuginfo_join(dir, ".debug/", link);
    if (p && hs_debuginfo_accept(p, selfp, build_id, have_crc, crc))
        goto found;
    free(p);
    p = NULL;
    for (size_t i = 0; dirs[i] && dir[0] == '/'; i++) {
        char *sub = hs_debuginfo_join(dirs[i], dir, "");
        p = sub ? hs_debuginfo_join(sub, "", link) : NULL;
        free(sub);
        if (p && hs_debuginfo_accept(p, selfp, build_id, have_crc, crc))
            goto found;
        free(p);
        p = NULL;
    }
    free(dir);
    return err;
found:
    free(dir);
    *out = p;
    return HS_OK;
}

hs_err_t hs_debuginfo_find(Elf *elf, const char *path, const char *build_id,
                           const char *const *dirs, char **out)
{
    *out = NULL;
    const char *link = NULL;
    uint32_t crc = 0;
    int have_link = hs_debuginfo_debuglink(elf, &link, &crc);
    return hs_debuginfo_search(path, build_id, have_link ? link : NULL, have_link, crc, dirs, out);
}

/* ---- DWARF ---------------------------------------------------------------------------------- */

/* One address range of a CU, in libdwfl addresses (for files without .debug_aranges). */
typedef struct hs_dwarf_cu_range {
    Dwarf_Addr lo, hi; /* [lo, hi) */
    Dwarf_Addr bias;   /* of the CU, as dwfl_module_nextcu gives it */
    Dwarf_Die cu;
} hs_dwarf_cu_range_t;

struct hs_dwarf {
    Dwfl *dwfl;
    Dwfl_Module *mod;
    Dwarf_Addr bias;             /* libdwfl address = ELF virtual address + bias */
    hs_dwarf_cu_range_t *ranges; /* sorted by lo; built on the first address aranges miss */
    size_t nranges, ranges_cap;
    int ranges_built;
};

/* The separate debug file found by hs_dwarf_open, handed to libdwfl's callback. */
static __thread const char *hs_dwarf_debug_file;

static int hs_dwarf_find_elf(Dwfl_Module *mod, void **userdata, const char *modname,
                             Dwarf_Addr base, char **file_name, Elf **elfp)
{
    (void)mod, (void)userdata, (void)modname, (void)base, (void)file_name, (void)elfp;
    return -1; /* every module is reported with its descriptor */
}

static int hs_dwarf_find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
                                   Dwarf_Addr base, const char *file_name,
                                   const char *debuglink_file, GElf_Word debuglink_crc,
                                   char **debuginfo_file_name)
{
    (void)mod, (void)userdata, (void)modname, (void)base, (void)file_name;
    (void)debuglink_file, (void)debuglink_crc;
    const char *found = hs_dwarf_debug_file;
    if (!found)
        return -1;
    int fd = hs_debuginfo_open(found, NULL);
    if (fd < 0)
        return -1;
    *debuginfo_file_name = strdup(found); /* libdwfl frees it */
    return fd;
}

static const Dwfl_Callbacks hs_dwarf_callbacks = {
    .find_elf = hs_dwarf_find_elf,
    .find_debuginfo = hs_dwarf_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

/*
 * The size of a section once decompressed: sh_size, or the size in its ELF compression header
 * (SHF_COMPRESSED) or in the GNU ".zdebug" header ("ZLIB" + 8 bytes big-endian).
 */
static uint64_t hs_dwarf_section_size(int fd, Elf *elf, const GElf_Shdr *sh, const char *name)
{
    if (sh->sh_flags & SHF_COMPRESSED) {
        GElf_Chdr ch;
        unsigned char buf[sizeof(Elf64_Chdr)];
        int is64 = gelf_getclass(elf) == ELFCLASS64;
        size_t len = is64 ? sizeof(Elf64_Chdr) : sizeof(Elf32_Chdr);
        if (pread(fd, buf, len, (off_t)sh->sh_offset) != (ssize_t)len)
            return sh->sh_size;
        if (is64) {
            Elf64_Chdr c;
            memcpy(&c, buf, sizeof c);
            ch.ch_size = c.ch_size;
        } else {
            Elf32_Chdr c;
            memcpy(&c, buf, sizeof c);
            ch.ch_size = c.ch_size;
        }
        return ch.ch_size;
    }
    if (strncmp(name, ".zdebug_", 8) == 0) {
        unsigned char buf[12];
        if (pread(fd, buf, sizeof buf, (off_t)sh->sh_offset) != (ssize_t)sizeof buf ||
            memcmp(buf, "ZLIB", 4) != 0)
            return sh->sh_size;
        uint64_t size = 0;
        for (int i = 4; i < 12; i++)
            size = size << 8 | buf[i];
        return size;
    }
    return sh->sh_size;
}

/*
 * What a libdw session on this file's DWARF would hold: its debug sections decompressed (libdw
 * decompresses every compressed one when it opens the file), then CU, abbreviation and line
 * tables and DIE caches. Measured on python3.11 (22 MB of DWARF once decompressed): 21 MB at
 * open, 64 MB at its peak after a few hundred addresses; hence 3x the sections' size.
 * *has_dwarf: the file has a .debug_info section.
 */
static uint64_t hs_dwarf_estimate(int fd, Elf *elf, int *has_dwarf)
{
    size_t shstrndx;
    uint64_t total = 0;
    *has_dwarf = 0;
    if (!elf || elf_kind(elf) != ELF_K_ELF || elf_getshdrstrndx(elf, &shstrndx) != 0)
        return 0;
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(elf, scn)) != NULL) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS)
            continue;
        const char *name = elf_strptr(elf, shstrndx, sh.sh_name);
        if (!name || (strncmp(name, ".debug_", 7) != 0 && strncmp(name, ".zdebug_", 8) != 0))
            continue;
        if (strcmp(name + (name[1] == 'z' ? 8 : 7), "info") == 0)
            *has_dwarf = 1;
        total += hs_dwarf_section_size(fd, elf, &sh, name);
    }
    return 3 * total;
}

/* The DWARF estimate of the file at path (0 and no DWARF if unreadable). */
static uint64_t hs_dwarf_file_estimate(const char *path, int *has_dwarf, Elf **keep, int *keep_fd)
{
    *has_dwarf = 0;
    int fd = hs_debuginfo_open(path, NULL);
    if (fd < 0)
        return 0;
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    uint64_t est = hs_dwarf_estimate(fd, elf, has_dwarf);
    if (keep) {
        *keep = elf;
        *keep_fd = fd;
        return est;
    }
    if (elf)
        elf_end(elf);
    close(fd);
    return est;
}

hs_err_t hs_dwarf_open(const char *open_path, const char *path, const char *build_id,
                       const char *const *dirs, uint64_t max_bytes, uint64_t *estimate,
                       hs_dwarf_t **out)
{
    *out = NULL;
    *estimate = 0;
    /* Where the DWARF is (the file, else its separate debug file), and what it would cost. */
    int has_dwarf = 0, efd = -1;
    Elf *elf = NULL;
    char *debug = NULL;
    uint64_t est = hs_dwarf_file_estimate(open_path, &has_dwarf, &elf, &efd);
    if (!has_dwarf && elf && hs_debuginfo_find(elf, path, build_id, dirs, &debug) == HS_OK)
        est = hs_dwarf_file_estimate(debug, &has_dwarf, NULL, NULL);
    if (elf)
        elf_end(elf);
    if (efd >= 0)
        close(efd);
    *estimate = est;
    hs_err_t err = !has_dwarf ? HS_ERR_NOTFOUND : est > max_bytes ? HS_ERR_FULL : HS_OK;
    int fd = err == HS_OK ? hs_debuginfo_open(open_path, NULL) : -1;
    hs_dwarf_t *d = fd >= 0 ? calloc(1, sizeof *d) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        free(debug);
        return err != HS_OK ? err : fd < 0 ? HS_ERR_NOTFOUND : HS_ERR_NOMEM;
    }
    err = HS_ERR_NOTFOUND;
    d->dwfl = dwfl_begin(&hs_dwarf_callbacks);
    if (!d->dwfl) {
        close(fd);
        goto fail;
    }
    hs_dwarf_debug_file = debug;
    dwfl_report_begin(d->dwfl);
    d->mod = dwfl_report_offline(d->dwfl, path, open_path, fd); /* takes the descriptor */
    int end = dwfl_report_end(d->dwfl, NULL, NULL);
    Dwarf_Addr dbias = 0;
    Dwarf *dw = d->mod && end == 0 ? dwfl_module_getdwarf(d->mod, &dbias) : NULL;
    GElf_Addr ebias = 0;
    Elf *melf = dw ? dwfl_module_getelf(d->mod, &ebias) : NULL;
    hs_dwarf_debug_file = NULL;
    if (!dw || !melf)
        goto fail;
    d->bias = ebias;
    free(debug);
    *out = d;
    return HS_OK;

fail:
    free(debug);
    hs_dwarf_close(d);
    return err;
}

void hs_dwarf_close(hs_dwarf_t *d)
{
    if (!d)
        return;
    if (d->dwfl)
        dwfl_end(d->dwfl);
    free(d->ranges);
    free(d);
}

static int hs_dwarf_cmp_range(const void *a, const void *b)
{
    Dwarf_Addr x = ((const hs_dwarf_cu_range_t *)a)->lo, y = ((const hs_dwarf_cu_range_t *)b)->lo;
    return x < y ? -1 : x > y;
}

/* Every CU's address ranges, sorted (see the file comment). Out of memory: what fitted. */
static void hs_dwarf_index_cus(hs_dwarf_t *d)
{
    d->ranges_built = 1;
    Dwarf_Die *cu = NULL;
    Dwarf_Addr bias;
    while ((cu = dwfl_module_nextcu(d->mod, cu, &bias)) != NULL) {
        Dwarf_Addr base, lo, hi;
        ptrdiff_t off = 0;
        while ((off = dwarf_ranges(cu, off, &base, &lo, &hi)) > 0) {
            if (hi <= lo)
                continue;
            if (hs_array_reserve((void **)&d->ranges, &d->ranges_cap, d->nranges + 1,
                                 sizeof *d->ranges, 64) != HS_OK)
                goto sort;
            d->ranges[d->nranges++] = (hs_dwarf_cu_range_t){lo + bias, hi + bias, bias, *cu};
        }
    }
sort:
    qsort(d->ranges, d->nranges, sizeof *d->ranges, hs_dwarf_cmp_range);
}

/* The CU whose ranges hold addr, from the index; NULL if none. */
static Dwarf_Die *hs_dwarf_cu_from_index(hs_dwarf_t *d, Dwarf_Addr addr, Dwarf_Addr *bias)
{
    if (!d->ranges_built)
        hs_dwarf_index_cus(d);
    size_t lo = 0, hi = d->nranges; /* first range with lo > addr */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->ranges[mid].lo <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Ranges of different CUs do not overlap in a sane file; look back a little anyway. */
    for (size_t i = lo, k = 0; i > 0 && k < 8; i--, k++) {
        hs_dwarf_cu_range_t *r = &d->ranges[i - 1];
        if (addr >= r->lo && addr < r->hi) {
            *bias = r->bias;
            return &r->cu;
        }
    }
    return NULL;
}

static const char *hs_dwarf_attr_string(Dwarf_Die *die, unsigned name)
{
    Dwarf_Attribute mem;
    return dwarf_formstring(dwarf_attr_integrate(die, name, &mem));
}

static void hs_dwarf_names(Dwarf_Die *die, hs_dwarf_frame_t *f)
{
    f->linkage = hs_dwarf_attr_string(die, DW_AT_linkage_name);
    if (!f->linkage)
        f->linkage = hs_dwarf_attr_string(die, DW_AT_MIPS_linkage_name);
    f->name = hs_dwarf_attr_string(die, DW_AT_name);
}

/*
 * The scopes containing pc, outermost first, below die: at each level, the child whose
 * ranges contain pc (namespaces, which have no ranges, are searched through). Returns the
 * depth reached (at most max).
 */
static int hs_dwarf_scopes(Dwarf_Die *die, Dwarf_Addr pc, Dwarf_Die *out, int n, int max)
{
    Dwarf_Die child;
    if (n >= max || dwarf_child(die, &child) != 0)
        return n;
    do {
        int tag = dwarf_tag(&child);
        if (tag == DW_TAG_namespace || tag == DW_TAG_module) {
            int m = hs_dwarf_scopes(&child, pc, out, n, max);
            if (m > n)
                return m;
            continue;
        }
        if (tag != DW_TAG_subprogram && tag != DW_TAG_inlined_subroutine &&
            tag != DW_TAG_lexical_block && tag != DW_TAG_entry_point && tag != DW_TAG_try_block &&
            tag != DW_TAG_catch_block)
            continue;
        if (dwarf_haspc(&child, pc) <= 0)
            continue;
        out[n] = child;
        return hs_dwarf_scopes(&child, pc, out, n + 1, max);
    } while (dwarf_siblingof(&child, &child) == 0);
    return n;
}

int hs_dwarf_frames(hs_dwarf_t *d, uint64_t vaddr, hs_dwarf_frame_t *out, int max)
{
    enum { MAX_SCOPES = 64 };
    if (!d || max <= 0)
        return 0;
    Dwarf_Addr cu_bias = 0;
    Dwarf_Addr addr = (Dwarf_Addr)vaddr + d->bias;
    Dwarf_Die *cu = dwfl_module_addrdie(d->mod, addr, &cu_bias);
    if (!cu)
        cu = hs_dwarf_cu_from_index(d, addr, &cu_bias);
    if (!cu)
        return 0;
    Dwarf_Addr pc = addr - cu_bias;
    Dwarf_Attribute mem;
    const char *comp_dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &mem));
    const char *file = NULL;
    uint32_t line = 0;
    Dwarf_Line *ln = dwarf_getsrc_die(cu, pc);
    int lineno = 0;
    if (ln) {
        file = dwarf_linesrc(ln, NULL, NULL);
        if (dwarf_lineno(ln, &lineno) == 0 && lineno > 0)
            line = (uint32_t)lineno;
    }
    /*
     * The physical nesting of scopes (inlined instance in inlined instance in subprogram),
     * found by walking down from the CU. dwarf_getscopes would do this walk, but finds nothing
     * in the units of link-time-optimised code (elfutils 0.188), whose concrete instances
     * refer to abstract origins in other units.
     */
    Dwarf_Die scopes[MAX_SCOPES];
    int nscopes = hs_dwarf_scopes(cu, pc, scopes, 0, MAX_SCOPES);
    int n = 0, closed = 0;
    Dwarf_Files *files = NULL;
    size_t nfiles = 0;
    for (int i = nscopes - 1; i >= 0 && n < max; i--) {
        Dwarf_Die *scope = &scopes[i];
        int tag = dwarf_tag(scope);
        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram &&
            tag != DW_TAG_entry_point)
            continue;
        hs_dwarf_frame_t *f = &out[n++];
        memset(f, 0, sizeof *f);
        hs_dwarf_names(scope, f);
        f->file = file;
        f->comp_dir = comp_dir;
        f->line = line;
        f->is_inline = tag == DW_TAG_inlined_subroutine;
        if (!f->is_inline) {
            closed = 1;
            break;
        }
        /* The caller's position: where this instance was inlined. */
        Dwarf_Word v;
        file = NULL;
        line = 0;
        if (!files && dwarf_getsrcfiles(cu, &files, &nfiles) != 0)
            files = NULL;
        if (files && dwarf_formudata(dwarf_attr(scope, DW_AT_call_file, &mem), &v) == 0 &&
            v < nfiles)
            file = dwarf_filesrc(files, v, NULL, NULL);
        if (dwarf_formudata(dwarf_attr(scope, DW_AT_call_line, &mem), &v) == 0 && v <= UINT32_MAX)
            line = (uint32_t)v;
    }
    if (!closed && n < max) {
        /* No enclosing subprogram DIE: an unnamed frame the caller names from the symbols. */
        hs_dwarf_frame_t *f = &out[n++];
        memset(f, 0, sizeof *f);
        f->file = file;
        f->comp_dir = comp_dir;
        f->line = line;
    }
    return n;
}
