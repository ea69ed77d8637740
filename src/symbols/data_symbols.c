/*
 * data_symbols.c - the data objects that contain addresses of a file (see data_symbols.h).
 *
 * One pass over the symbol sections (.symtab first, then .dynsym, so a static variable of an
 * unstripped file and an exported one of a stripped file are both found), each symbol checked
 * against the sorted query addresses by binary search: O(symbols * log n). A symbol of size 0
 * names only its own address. The file is opened O_NONBLOCK and must be a regular file (a FIFO
 * or a device never blocks the caller), read with ELF_C_READ, not mapped (a file truncated in
 * place would raise SIGBUS in the host).
 *
 * Thread-safety: none needed (no state). Allocates with malloc: in the profiled process, only
 * under the reentrancy guard (the writer thread).
 */
#include "data_symbols.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Index of the first of ord[0..n) whose address is >= v (ord sorted by address). */
static size_t hs_data_symbols_lower(const uint64_t *vaddrs, const size_t *ord, size_t n, uint64_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (vaddrs[ord[mid]] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int hs_data_symbols_cmp(const void *a, const void *b, void *keys)
{
    const uint64_t *k = keys;
    uint64_t x = k[*(const size_t *)a], y = k[*(const size_t *)b];
    return x < y ? -1 : x > y;
}

static hs_err_t hs_data_symbols_section(Elf *elf, Elf_Scn *scn, const GElf_Shdr *shdr,
                                        const uint64_t *vaddrs, const size_t *ord, size_t n,
                                        char **names)
{
    Elf_Data *data = elf_getdata(scn, NULL);
    if (!data || shdr->sh_entsize == 0)
        return HS_OK;
    size_t count = shdr->sh_size / shdr->sh_entsize;
    for (size_t i = 1; i < count; i++) {
        GElf_Sym sym;
        if (!gelf_getsym(data, (int)i, &sym))
            break;
        unsigned type = GELF_ST_TYPE(sym.st_info);
        if (type != STT_OBJECT && type != STT_TLS && type != STT_COMMON)
            continue;
        if (sym.st_shndx == SHN_UNDEF || sym.st_value == 0)
            continue;
        uint64_t end = sym.st_value + (sym.st_size ? sym.st_size : 1);
        for (size_t k = hs_data_symbols_lower(vaddrs, ord, n, sym.st_value);
             k < n && vaddrs[ord[k]] < end; k++) {
            if (names[ord[k]])
                continue;
            const char *name = elf_strptr(elf, shdr->sh_link, sym.st_name);
            if (!name || !name[0])
                break;
            if (!(names[ord[k]] = strdup(name)))
                return HS_ERR_NOMEM;
        }
    }
    return HS_OK;
}

hs_err_t hs_data_symbols_name(const char *path, const uint64_t *vaddrs, size_t n, char **names)
{
    for (size_t i = 0; i < n; i++)
        names[i] = NULL;
    if (n == 0 || elf_version(EV_CURRENT) == EV_NONE)
        return HS_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return HS_OK;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return HS_OK;
    }
    size_t *ord = malloc(n * sizeof *ord);
    if (!ord) {
        close(fd);
        return HS_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        ord[i] = i;
    qsort_r(ord, n, sizeof *ord, hs_data_symbols_cmp, (void *)vaddrs);

    hs_err_t err = HS_OK;
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    for (int pass = 0; elf && pass < 2 && err == HS_OK; pass++) {
        Elf_Scn *scn = NULL;
        while ((scn = elf_nextscn(elf, scn)) != NULL && err == HS_OK) {
            GElf_Shdr shdr;
            if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != (pass == 0 ? SHT_SYMTAB : SHT_DYNSYM))
                continue;
            err = hs_data_symbols_section(elf, scn, &shdr, vaddrs, ord, n, names);
        }
    }
    if (elf)
        elf_end(elf);
    close(fd);
    free(ord);
    if (err != HS_OK)
        for (size_t i = 0; i < n; i++) {
            free(names[i]);
            names[i] = NULL;
        }
    return err;
}
