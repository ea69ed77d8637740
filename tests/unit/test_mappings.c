/*
 * test_mappings.c - the module list of the test process itself, checked against independent
 * sources: /proc/self/exe (main path), /proc/self/maps (ranges and file offsets of executable
 * mappings), the build-ID note read from the file with libelf, dladdr (which object a function
 * belongs to) and AT_SYSINFO_EHDR (the vDSO).
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "mappings.h"

int hs_test_mappings_global_function(int x);
HS_NOINLINE int hs_test_mappings_global_function(int x)
{
    return x * 3 + 1;
}

static int some_data = 42;

static void exe_path(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    cr_assert_gt(n, 0);
    buf[n] = '\0';
}

/* The GNU build ID of a file, as lower-case hex, read from its sections with libelf. */
static void file_build_id(const char *path, char *out, size_t len)
{
    out[0] = '\0';
    cr_assert_neq(elf_version(EV_CURRENT), EV_NONE);
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0);
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    cr_assert_not_null(elf);
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(elf, scn)) != NULL) {
        GElf_Shdr sh;
        gelf_getshdr(scn, &sh);
        if (sh.sh_type != SHT_NOTE)
            continue;
        Elf_Data *data = elf_getdata(scn, NULL);
        size_t off = 0, name_off, desc_off;
        GElf_Nhdr nh;
        while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
            if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
                memcmp((char *)data->d_buf + name_off, "GNU", 4) == 0) {
                const unsigned char *d = (const unsigned char *)data->d_buf + desc_off;
                for (size_t i = 0; i < nh.n_descsz && 2 * i + 2 < len; i++)
                    sprintf(out + 2 * i, "%02x", d[i]);
                goto done;
            }
        }
    }
done:
    elf_end(elf);
    close(fd);
}

static hs_modules_t mods;

static void read_mods(void)
{
    cr_assert_eq(hs_mappings_read(&mods), HS_OK);
    cr_assert_gt(mods.n, 1);
}

static void free_mods(void)
{
    hs_modules_free(&mods);
}

TestSuite(mappings, .init = read_mods, .fini = free_mods);

Test(mappings, main_executable_first)
{
    char exe[4096];
    exe_path(exe, sizeof exe);
    cr_assert(mods.v[0].is_main);
    cr_assert_str_eq(mods.v[0].path, exe);
    cr_assert_not(mods.v[0].is_vdso);
    size_t nmain = 0;
    while (nmain < mods.n && mods.v[nmain].is_main)
        nmain++;
    for (size_t i = nmain; i < mods.n; i++)
        cr_assert_not(mods.v[i].is_main, "main segments are contiguous at the front");
}

Test(mappings, order_and_ranges)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t nmain = 0;
    while (nmain < mods.n && mods.v[nmain].is_main)
        nmain++;
    for (size_t i = 0; i < mods.n; i++) {
        const hs_module_t *m = &mods.v[i];
        cr_assert_lt(m->start, m->limit, "%s", m->path);
        cr_assert_eq(m->start % (uintptr_t)page, 0, "%s", m->path);
        cr_assert_eq(m->file_offset % (uint64_t)page, 0, "%s", m->path);
        cr_assert_not_null(m->path);
        cr_assert_gt(strlen(m->path), 0);
        if (i > 0 && i != nmain) {
            cr_assert_gt(m->start, mods.v[i - 1].start, "sorted by start");
            cr_assert_geq(m->start, mods.v[i - 1].limit, "no overlap");
        }
        for (const char *c = m->build_id; *c; c++)
            cr_assert(strchr("0123456789abcdef", *c), "lower-case hex: %s", m->build_id);
    }
}

Test(mappings, build_id_matches_the_file)
{
    char exe[4096], expect[HS_BUILD_ID_HEX_MAX];
    exe_path(exe, sizeof exe);
    file_build_id(exe, expect, sizeof expect);
    cr_assert_gt(strlen(expect), 0, "the test binary is linked with --build-id");
    cr_assert_str_eq(mods.v[0].build_id, expect);

    /* Same for the library holding fopen (libc). */
    Dl_info info;
    void *fn = dlsym(RTLD_DEFAULT, "fopen");
    cr_assert(dladdr(fn, &info));
    const hs_module_t *m = hs_modules_find(&mods, (uintptr_t)fn);
    cr_assert_not_null(m);
    file_build_id(m->path, expect, sizeof expect);
    cr_assert_str_eq(m->build_id, expect, "%s", m->path);
}

Test(mappings, find_own_function_and_library_function)
{
    const hs_module_t *m = hs_modules_find(&mods, (uintptr_t)&hs_test_mappings_global_function);
    cr_assert_not_null(m);
    cr_assert(m->is_main);

    /* From libc itself: in a sanitizer build the default scope finds the interceptor that the
     * sanitizer runtime links into the executable. */
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    cr_assert_not_null(libc);
    void *fn = dlsym(libc, "fopen");
    Dl_info info;
    cr_assert(dladdr(fn, &info));
    m = hs_modules_find(&mods, (uintptr_t)fn);
    cr_assert_not_null(m);
    cr_assert_not(m->is_main);
    cr_assert_eq(m->bias, (uintptr_t)info.dli_fbase, "bias of a shared object = its base");
    /* dladdr names the object as the loader does, which is the path we report. */
    cr_assert_str_eq(m->path, info.dli_fname);
    cr_assert_geq((uintptr_t)fn, m->start);
    cr_assert_lt((uintptr_t)fn, m->limit);
}

Test(mappings, find_misses_outside_code)
{
    int local = 0;
    cr_assert_null(hs_modules_find(&mods, 0));
    cr_assert_null(hs_modules_find(&mods, 1));
    cr_assert_null(hs_modules_find(&mods, UINTPTR_MAX));
    cr_assert_null(hs_modules_find(&mods, (uintptr_t)&local), "the stack is not code");
    cr_assert_null(hs_modules_find(&mods, (uintptr_t)&some_data), "data is not code");
    void *heap = malloc(64);
    cr_assert_null(hs_modules_find(&mods, (uintptr_t)heap));
    free(heap);
    cr_assert_null(hs_modules_find(NULL, (uintptr_t)&hs_test_mappings_global_function));
    hs_modules_t empty = {0};
    cr_assert_null(hs_modules_find(&empty, (uintptr_t)&hs_test_mappings_global_function));
}

Test(mappings, find_every_boundary)
{
    for (size_t i = 0; i < mods.n; i++) {
        const hs_module_t *m = &mods.v[i];
        cr_assert_eq(hs_modules_find(&mods, m->start), m);
        cr_assert_eq(hs_modules_find(&mods, m->limit - 1), m);
        const hs_module_t *after = hs_modules_find(&mods, m->limit);
        cr_assert(after != m);
        if (after)
            cr_assert_eq(after->start, m->limit);
    }
}

/*
 * Every executable file mapping of the dynamic loader's objects in /proc/self/maps lies in a
 * module, at the file offset the module implies. (A segment may span several lines when part of it
 * was mprotect'ed.)
 */
Test(mappings, agrees_with_proc_maps)
{
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert_not_null(f);
    char line[4096];
    int starts = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off;
        char perms[8], path[4096] = "";
        if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %4095s", &lo, &hi, perms, &off, path) < 4)
            continue;
        if (perms[2] != 'x' || path[0] != '/')
            continue;
        Dl_info di;
        if (!dladdr((void *)lo, &di))
            continue; /* not loaded by the dynamic loader (e.g. valgrind's own code) */
        const hs_module_t *m = hs_modules_find(&mods, lo);
        cr_assert_not_null(m, "no module for %s", line);
        /* The loader's name may go through symlinks (/lib -> usr/lib); maps resolves them. */
        char *real = realpath(m->path, NULL);
        cr_assert_not_null(real, "%s", m->path);
        cr_assert_str_eq(real, path, "%s", line);
        free(real);
        cr_assert_eq(m->file_offset + (lo - m->start), off, "%s", line);
        cr_assert_lt(lo, m->limit, "%s", line);
        starts += m->start == lo;
    }
    fclose(f);
    cr_assert_geq(starts, 2, "at least the test binary and libc start a mapping");
}

Test(mappings, vdso)
{
    uintptr_t ehdr = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    if (!ehdr)
        cr_skip("no vDSO in this process");
    int found = 0;
    for (size_t i = 0; i < mods.n; i++) {
        const hs_module_t *m = &mods.v[i];
        if (!m->is_vdso)
            continue;
        found++;
        cr_assert_str_eq(m->path, "[vdso]");
        cr_assert_not(m->is_main);
        /* The image starts at AT_SYSINFO_EHDR; its text follows within a few pages. */
        cr_assert_geq(m->start, ehdr);
        cr_assert_lt(m->start, ehdr + (1u << 20));
        cr_assert_gt(strlen(m->build_id), 0, "the kernel links the vDSO with a build ID");
    }
    cr_assert_eq(found, 1);
}

Test(mappings, free_resets_and_tolerates_null)
{
    hs_modules_t m;
    cr_assert_eq(hs_mappings_read(&m), HS_OK);
    hs_modules_free(&m);
    cr_assert_null(m.v);
    cr_assert_eq(m.n, 0);
    hs_modules_free(&m);
    hs_modules_free(NULL);
}

Test(mappings, dlopen_adds_a_module)
{
    /* A small glibc library the test binary does not link (skipped if all are loaded). */
    const char *candidates[] = {"libpthread.so.0", "librt.so.1", "libutil.so.1", NULL};
    void *h = NULL;
    const char *name = NULL;
    for (int i = 0; candidates[i] && !h; i++) {
        h = dlopen(candidates[i], RTLD_NOW | RTLD_NOLOAD);
        if (h) {
            dlclose(h);
            h = NULL;
            continue; /* already loaded: not a useful check */
        }
        h = dlopen(candidates[i], RTLD_NOW);
        name = candidates[i];
    }
    if (!h)
        cr_skip("no library available to dlopen");
    hs_modules_t after;
    cr_assert_eq(hs_mappings_read(&after), HS_OK);
    int seen = 0;
    for (size_t i = 0; i < after.n; i++)
        seen += strstr(after.v[i].path, name) != NULL;
    cr_assert_geq(seen, 1, "%s", name);
    hs_modules_free(&after);
    dlclose(h);
}

/* ---- the record of unloaded modules --------------------------------------------------------- */

/* build/tests/libhs_plugin_<name>.so, next to this test binary. */
static void plugin_path(const char *name, char *buf, size_t len)
{
    char exe[4096];
    exe_path(exe, sizeof exe);
    char *slash = strrchr(exe, '/');
    cr_assert_not_null(slash);
    *slash = '\0';
    snprintf(buf, len, "%.3900s/libhs_plugin_%.32s.so", exe, name);
    if (access(buf, R_OK) != 0)
        cr_skip("%s is not built", buf);
}

typedef struct loaded {
    void *handle;
    uintptr_t entry; /* plugin_entry's address */
    uintptr_t base;
} loaded_t;

static loaded_t load_plugin(const char *name)
{
    char path[4096];
    plugin_path(name, path, sizeof path);
    loaded_t l;
    l.handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(l.handle, "%s", dlerror());
    l.entry = (uintptr_t)dlsym(l.handle, "plugin_entry");
    cr_assert_neq(l.entry, 0);
    Dl_info info;
    cr_assert(dladdr((void *)l.entry, &info));
    l.base = (uintptr_t)info.dli_fbase;
    return l;
}

/* A return address inside plugin_entry, as a captured stack would hold it. */
static uintptr_t frame_in(const loaded_t *l)
{
    return l->entry + 5;
}

Test(mappings, unloaded_library_stays_recorded)
{
    loaded_t a = load_plugin("a");
    uintptr_t f = frame_in(&a);
    cr_assert_eq(hs_mappings_sync(&f, 1), 0, "nothing reused yet: no mark");
    hs_modules_t before;
    cr_assert_eq(hs_mappings_read(&before), HS_OK);
    const hs_module_t *m = hs_modules_find(&before, f - 1);
    cr_assert_not_null(m);
    cr_assert(m->loaded);
    char build_id[HS_BUILD_ID_HEX_MAX];
    memcpy(build_id, m->build_id, sizeof build_id);
    cr_assert_gt(strlen(build_id), 0);
    uint32_t record = m->record;
    hs_modules_free(&before);

    cr_assert_eq(dlclose(a.handle), 0);
    hs_modules_t after;
    cr_assert_eq(hs_mappings_read(&after), HS_OK);
    m = hs_modules_find(&after, f - 1);
    cr_assert_not_null(m, "an unloaded library keeps its mapping");
    cr_assert_not(m->loaded);
    cr_assert(strstr(m->path, "libhs_plugin_a.so") != NULL, "%s", m->path);
    cr_assert_str_eq(m->build_id, build_id);
    cr_assert_eq(m->record, record);
    cr_assert_geq((size_t)(m - after.v), after.nloaded, "unloaded modules follow loaded ones");
    hs_modules_free(&after);
}

Test(mappings, reloading_the_same_library_reuses_its_record)
{
    loaded_t a = load_plugin("a");
    uintptr_t f = frame_in(&a);
    hs_mappings_sync(&f, 1);
    size_t count = hs_mappings_record_count();
    uintptr_t base = a.base;
    dlclose(a.handle);
    for (int i = 0; i < 20; i++) {
        a = load_plugin("a");
        f = frame_in(&a);
        uintptr_t mark = hs_mappings_sync(&f, 1);
        int same_place = a.base == base;
        dlclose(a.handle);
        if (!same_place)
            cr_skip("the library was loaded elsewhere: nothing to check");
        cr_assert_eq(mark, 0, "the same file at the same place is not ambiguous");
    }
    cr_assert_eq(hs_mappings_record_count(), count, "a reload storm does not grow the record");
}

Test(mappings, reused_range_is_resolved_by_generation)
{
    loaded_t a = load_plugin("a");
    uintptr_t fa = frame_in(&a);
    cr_assert_eq(hs_mappings_sync(&fa, 1), 0);
    dlclose(a.handle);
    loaded_t b = load_plugin("b");
    uintptr_t fb = frame_in(&b);
    uintptr_t mark = hs_mappings_sync(&fb, 1);
    if (b.base != a.base) {
        dlclose(b.handle);
        cr_skip("plugin b was not loaded where plugin a was (%#lx, %#lx)", (unsigned long)a.base,
                (unsigned long)b.base);
    }
    cr_assert_eq(fa, fb, "same code size, same place: the same address");
    cr_assert(HS_MAPPINGS_IS_MARK(mark), "a frame in a reused range needs a mark");
    uint32_t gen = HS_MAPPINGS_MARK_GEN(mark);

    hs_modules_t mods2;
    cr_assert_eq(hs_mappings_read(&mods2), HS_OK);
    const hs_module_t *old = hs_modules_find_gen(&mods2, fa - 1, HS_MODULES_GEN_NONE);
    const hs_module_t *now = hs_modules_find_gen(&mods2, fb - 1, gen);
    cr_assert_not_null(old);
    cr_assert_not_null(now);
    cr_assert(strstr(old->path, "libhs_plugin_a.so"), "unmarked (captured before): %s", old->path);
    cr_assert(strstr(now->path, "libhs_plugin_b.so"), "marked: %s", now->path);
    cr_assert_not(old->loaded);
    cr_assert(now->loaded);
    cr_assert_lt(old->record, now->record);
    /* A mark taken when only a's record existed still means a. */
    cr_assert_eq(hs_modules_find_gen(&mods2, fa - 1, old->record + 1), old);
    hs_modules_free(&mods2);

    /* Once b is gone too, both stay resolvable. */
    dlclose(b.handle);
    cr_assert_eq(hs_mappings_read(&mods2), HS_OK);
    now = hs_modules_find_gen(&mods2, fb - 1, gen);
    cr_assert(now && strstr(now->path, "libhs_plugin_b.so"));
    cr_assert_not(now->loaded);
    hs_modules_free(&mods2);
}

Test(mappings, sync_without_frames_and_memory_is_reported)
{
    cr_assert_eq(hs_mappings_sync(NULL, 0), 0);
    hs_modules_t m;
    cr_assert_eq(hs_mappings_read(&m), HS_OK);
    cr_assert_geq(hs_mappings_record_count(), m.nloaded);
    cr_assert_gt(hs_mappings_memory(), m.nloaded * sizeof(hs_module_t));
    hs_modules_free(&m);
}
