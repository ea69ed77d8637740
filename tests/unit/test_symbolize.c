/*
 * test_symbolize.c - names for addresses of the test process itself: global and static
 * functions of the test binary (.symtab), exported functions of libc (.dynsym, checked by
 * resolving the name back with dlsym), the preference among aliases, the vDSO (read from
 * memory), misses (data, unreadable files, FIFOs, devices, non-ELF files) and the per-file
 * cache.
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mappings.h"
#include "symbolize.h"

int hs_test_symbolize_global(int x);
HS_NOINLINE int hs_test_symbolize_global(int x)
{
    return x * 7 + 3;
}

static HS_NOINLINE int hs_test_symbolize_static(int x)
{
    return x * 11 - 5;
}

/* Aliases at one address: a global definition with a weak alias (named to sort first). */
int hs_test_symbolize_strong(int x);
HS_NOINLINE int hs_test_symbolize_strong(int x)
{
    return x ^ 0x5a5a;
}
int aaa_hs_test_weak_alias(int x) __attribute__((weak, alias("hs_test_symbolize_strong")));

/* A local function with a weak alias: WEAK beats LOCAL. */
static HS_NOINLINE int aaa_hs_test_local(int x)
{
    return x + 1234567;
}
int hs_test_weak_of_local(int x) __attribute__((weak, alias("aaa_hs_test_local")));

static int some_data[64] = {1};

/* Keep the static functions (their addresses escape through a volatile). */
static int (*volatile keep[])(int) = {hs_test_symbolize_static, aaa_hs_test_local};

static hs_modules_t mods;
static hs_symbolizer_t *sym;

static void setup(void)
{
    cr_assert_eq(hs_mappings_read(&mods), HS_OK);
    cr_assert_eq(hs_symbolizer_new(&sym), HS_OK);
    cr_assert_not_null(sym);
}

static void teardown(void)
{
    hs_symbolizer_free(sym);
    hs_mappings_free(&mods);
}

TestSuite(symbolize, .init = setup, .fini = teardown, .timeout = 30);

static const char *name_of(uintptr_t addr, uint64_t *offset)
{
    const hs_module_t *m = hs_mappings_find(&mods, addr);
    cr_assert_not_null(m, "no module for %#lx", (unsigned long)addr);
    return hs_symbolize(sym, m, addr, offset);
}

Test(symbolize, global_function_of_the_executable)
{
    uint64_t off = 99;
    const char *name = name_of((uintptr_t)&hs_test_symbolize_global + 1, &off);
    cr_assert_not_null(name);
    cr_assert_str_eq(name, "hs_test_symbolize_global");
    cr_assert_eq(off, 1);
    name = name_of((uintptr_t)&hs_test_symbolize_global, &off);
    cr_assert_str_eq(name, "hs_test_symbolize_global");
    cr_assert_eq(off, 0);
    cr_assert_str_eq(name_of((uintptr_t)&hs_test_symbolize_global + 2, NULL),
                     "hs_test_symbolize_global");
}

Test(symbolize, static_function_from_symtab)
{
    cr_assert_eq(keep[0](1), 6);
    const char *name = name_of((uintptr_t)keep[0] + 1, NULL);
    cr_assert_not_null(name, "static functions are named (.symtab is read)");
    cr_assert_str_eq(name, "hs_test_symbolize_static");
}

Test(symbolize, alias_preference)
{
    cr_assert_str_eq(name_of((uintptr_t)&hs_test_symbolize_strong + 1, NULL),
                     "hs_test_symbolize_strong", "GLOBAL is preferred over WEAK");
    cr_assert_str_eq(name_of((uintptr_t)keep[1] + 1, NULL), "hs_test_weak_of_local",
                     "WEAK is preferred over LOCAL");
}

Test(symbolize, library_functions_from_dynsym)
{
    static const char *const fns[] = {"qsort", "fopen", "getpid", "strtol", "fork", "dlopen"};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        void *fn = dlsym(RTLD_DEFAULT, fns[i]);
        cr_assert_not_null(fn, "%s", fns[i]);
        uint64_t off = 99;
        const char *name = name_of((uintptr_t)fn + 4, &off);
        cr_assert_not_null(name, "%s", fns[i]);
        cr_assert_eq(off, 4, "%s -> %s", fns[i], name);
        /* The name may be another alias of the same function: it must resolve back. */
        cr_assert_eq(dlsym(RTLD_DEFAULT, name), fn, "%s -> %s", fns[i], name);
    }
}

Test(symbolize, public_name_among_equal_aliases)
{
    /* glibc defines fopen and _IO_fopen, both GLOBAL, at one address. */
    void *fopen_fn = dlsym(RTLD_DEFAULT, "fopen");
    void *io_fopen = dlsym(RTLD_DEFAULT, "_IO_fopen");
    if (!io_fopen || io_fopen != fopen_fn)
        cr_skip("this libc has no _IO_fopen alias");
    cr_assert_str_eq(name_of((uintptr_t)fopen_fn + 1, NULL), "fopen");
}

Test(symbolize, data_is_not_a_function)
{
    /* Beyond the last function (with or without a size, like _fini): a miss. */
    const hs_module_t *main_mod = &mods.v[0];
    cr_assert(main_mod->is_main);
    cr_assert_null(hs_symbolize(sym, main_mod, (uintptr_t)&some_data[8], NULL));
    cr_assert_null(hs_symbolize(sym, main_mod, main_mod->bias, NULL), "the ELF header");
}

Test(symbolize, vdso_from_memory)
{
    const hs_module_t *vdso = NULL;
    for (size_t i = 0; i < mods.n; i++)
        if (mods.v[i].is_vdso)
            vdso = &mods.v[i];
    if (!vdso)
        cr_skip("no vDSO");
    int named = 0, time_fn = 0;
    for (uintptr_t a = vdso->start; a < vdso->limit; a += 4) {
        const char *name = hs_symbolize(sym, vdso, a, NULL);
        if (!name)
            continue;
        named++;
        time_fn += strstr(name, "time") != NULL;
    }
    cr_assert_gt(named, 0);
    cr_assert_gt(time_fn, 0, "clock_gettime, gettimeofday or time are in the vDSO");
}

Test(symbolize, unreadable_files_are_misses)
{
    char fifo[64];
    snprintf(fifo, sizeof fifo, "/tmp/hs_test_fifo.%d", (int)getpid());
    unlink(fifo);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    char text[64];
    snprintf(text, sizeof text, "/tmp/hs_test_text.%d", (int)getpid());
    FILE *f = fopen(text, "w");
    cr_assert_not_null(f);
    fputs("not an ELF file\n", f);
    fclose(f);

    const char *paths[] = {"/nonexistent/lib.so", fifo, "/dev/zero", "/dev/null", text, "/tmp", ""};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        hs_module_t m = {0};
        m.path = (char *)paths[i];
        m.start = 0x1000;
        m.limit = 0x2000;
        /* Opening the FIFO would block for ever without O_NONBLOCK (the suite's timeout). */
        cr_assert_null(hs_symbolize(sym, &m, 0x1100, NULL), "%s", paths[i]);
        cr_assert_null(hs_symbolize(sym, &m, 0x1100, NULL), "%s (cached)", paths[i]);
    }
    unlink(fifo);
    unlink(text);
    cr_assert_null(hs_symbolize(sym, NULL, 0x1100, NULL));
    cr_assert_null(hs_symbolize(NULL, &mods.v[0], (uintptr_t)&hs_test_symbolize_global, NULL));
}

Test(symbolize, bias_is_applied)
{
    /* The same file described as loaded elsewhere: names follow the bias. */
    hs_module_t moved = mods.v[0];
    uintptr_t delta = 0x10000000;
    moved.bias += delta;
    moved.start += delta;
    moved.limit += delta;
    cr_assert_str_eq(
        hs_symbolize(sym, &moved, (uintptr_t)&hs_test_symbolize_global + delta + 1, NULL),
        "hs_test_symbolize_global");
}

Test(symbolize, files_are_read_once)
{
    cr_assert_gt(hs_symbolizer_memory(sym), 0);
    cr_assert_not_null(name_of((uintptr_t)&hs_test_symbolize_global, NULL));
    size_t after_main = hs_symbolizer_memory(sym);
    /* From libc itself: in a sanitizer build the default scope finds the interceptor that the
     * sanitizer runtime links into the executable. */
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    cr_assert_not_null(libc);
    void *qs = dlsym(libc, "qsort");
    cr_assert_not_null(name_of((uintptr_t)qs, NULL));
    size_t after_libc = hs_symbolizer_memory(sym);
    cr_assert_gt(after_libc, after_main, "libc's table was added");
    /* The strings stay where they are: the same pointer comes back. */
    const char *a = name_of((uintptr_t)&hs_test_symbolize_global, NULL);
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq(name_of((uintptr_t)&hs_test_symbolize_global, NULL), a);
        cr_assert_not_null(name_of((uintptr_t)qs, NULL));
    }
    cr_assert_eq(hs_symbolizer_memory(sym), after_libc, "nothing read again");
    hs_symbolizer_free(NULL);
    cr_assert_eq(hs_symbolizer_memory(NULL), 0);
}

/* Every module of the process: lookups at many addresses never crash, names are non-empty. */
Test(symbolize, sweep_all_modules)
{
    size_t named = 0;
    for (size_t i = 0; i < mods.n; i++) {
        const hs_module_t *m = &mods.v[i];
        uintptr_t step = (m->limit - m->start) / 512 + 1;
        for (uintptr_t a = m->start; a < m->limit; a += step) {
            uint64_t off = 0;
            const char *name = hs_symbolize(sym, m, a, &off);
            if (name) {
                cr_assert_gt(strlen(name), 0);
                cr_assert_lt(off, m->limit - m->start);
                named++;
            }
        }
    }
    cr_assert_gt(named, 100);
}
