/*
 * test_symbolize.c - names for addresses of the test process itself: global and static
 * functions of the test binary (.symtab), exported functions of libc (.dynsym, checked by
 * resolving the name back with dlsym), the preference among aliases, the vDSO (read from
 * memory), misses (data, unreadable files, FIFOs, devices, non-ELF files), files tried again
 * after descriptors ran out, and the per-file cache.
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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
    hs_modules_free(&mods);
}

TestSuite(symbolize, .init = setup, .fini = teardown, .timeout = 30);

static const char *name_of(uintptr_t addr, uint64_t *offset)
{
    const hs_module_t *m = hs_modules_find(&mods, addr);
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

/* A file that could not be opened for want of descriptors (or memory) is not remembered as empty:
 * once they are back, its names are. */
Test(symbolize, files_are_tried_again_after_running_out_of_descriptors)
{
    struct rlimit saved, low;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
    low = saved;
    low.rlim_cur = 256;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fds[256], n = 0;
    for (int fd; n < 256 && (fd = dup(0)) >= 0;)
        fds[n++] = fd;
    cr_assert_lt(n, 256, "descriptors ran out");
    cr_assert_null(name_of((uintptr_t)&hs_test_symbolize_global, NULL));
    while (n > 0)
        close(fds[--n]);
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
    const char *name = name_of((uintptr_t)&hs_test_symbolize_global, NULL);
    cr_assert_not_null(name, "the executable is read once descriptors are back");
    cr_assert_str_eq(name, "hs_test_symbolize_global");
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

/* ---- batches: names, lines, inlined callers, the cache and its budget ------------------------ */

#include "config.h"

static HS_NOINLINE uintptr_t hs_test_callee(void)
{
    return (uintptr_t)__builtin_return_address(0);
}

static int caller_line;

/* Returns the return address of its call to hs_test_callee; caller_line is that call's line. */
static HS_NOINLINE uintptr_t hs_test_line_caller(void)
{
    caller_line = __LINE__ + 1;
    volatile uintptr_t r = hs_test_callee();
    return r;
}

static int inline_line, outer_line;

static inline __attribute__((always_inline)) uintptr_t hs_test_inlined(void)
{
    inline_line = __LINE__ + 1;
    volatile uintptr_t r = hs_test_callee();
    return r;
}

static HS_NOINLINE uintptr_t hs_test_inline_caller(void)
{
    outer_line = __LINE__ + 1;
    volatile uintptr_t r = hs_test_inlined();
    return r;
}

static hs_symbolizer_t *new_symbolizer(int level, size_t budget)
{
    hs_symbolizer_t *s = NULL;
    hs_symbolizer_config_t cfg = {.level = level, .budget = budget};
    cr_assert_eq(hs_symbolizer_new_config(&cfg, &s), HS_OK);
    return s;
}

/* Resolve one call site (return address ret) of this binary. */
static hs_symloc_t resolve(hs_symbolizer_t *s, uintptr_t ret)
{
    const hs_module_t *m = hs_modules_find(&mods, ret - 1);
    cr_assert_not_null(m);
    uintptr_t addr = ret - 1;
    hs_symloc_t out;
    cr_assert_eq(hs_symbolize_batch(s, &m, &addr, 1, &out), HS_OK);
    return out;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

Test(symbolize, batch_functions_level_names_without_lines)
{
    hs_symbolizer_t *s = new_symbolizer(HS_SYMBOLIZE_FUNCTIONS, 0);
    hs_symloc_t loc = resolve(s, hs_test_line_caller());
    cr_assert_eq(loc.n, 1);
    cr_assert_str_eq(loc.frames[0].name, "hs_test_line_caller");
    cr_assert_str_eq(loc.frames[0].system_name, "hs_test_line_caller");
    cr_assert_null(loc.frames[0].file);
    cr_assert_eq(loc.frames[0].line, 0);
    hs_symbolizer_free(s);
}

Test(symbolize, batch_lines_level_gives_the_calling_line)
{
    hs_symbolizer_t *s = new_symbolizer(HS_SYMBOLIZE_LINES, 0);
    hs_symloc_t loc = resolve(s, hs_test_line_caller());
    cr_assert_eq(loc.n, 1);
    cr_assert_str_eq(loc.frames[0].name, "hs_test_line_caller");
    cr_assert_not_null(loc.frames[0].file);
    cr_assert(ends_with(loc.frames[0].file, "test_symbolize.c"), "%s", loc.frames[0].file);
    cr_assert_eq(loc.frames[0].line, (uint32_t)caller_line, "the call's line, not the next");
    hs_symbolizer_stats_t st;
    hs_symbolizer_get_stats(s, &st);
    cr_assert_eq(st.dwarf_files, 1);
    hs_symbolizer_free(s);
}

Test(symbolize, batch_lines_level_lists_inlined_callers)
{
    hs_symbolizer_t *s = new_symbolizer(HS_SYMBOLIZE_LINES, 0);
    hs_symloc_t loc = resolve(s, hs_test_inline_caller());
    cr_assert_eq(loc.n, 2, "the inlined function, then the one it was inlined into");
    cr_assert_str_eq(loc.frames[0].name, "hs_test_inlined");
    cr_assert_eq(loc.frames[0].line, (uint32_t)inline_line);
    cr_assert_str_eq(loc.frames[1].name, "hs_test_inline_caller");
    cr_assert_eq(loc.frames[1].line, (uint32_t)outer_line);
    cr_assert(ends_with(loc.frames[1].file, "test_symbolize.c"));
    hs_symbolizer_free(s);
}

Test(symbolize, batch_results_are_cached)
{
    hs_symbolizer_t *s = new_symbolizer(HS_SYMBOLIZE_LINES, 0);
    uintptr_t rets[3] = {hs_test_line_caller(), hs_test_inline_caller(), hs_test_line_caller()};
    const hs_module_t *m[3];
    uintptr_t addrs[3];
    for (int i = 0; i < 3; i++) {
        m[i] = hs_modules_find(&mods, rets[i] - 1);
        addrs[i] = rets[i] - 1;
    }
    hs_symloc_t first[3], again[3];
    cr_assert_eq(hs_symbolize_batch(s, m, addrs, 3, first), HS_OK);
    cr_assert_eq(first[0].frames, first[2].frames, "one entry per distinct address");
    const char *name0 = first[0].frames[0].name;
    size_t mem = hs_symbolizer_memory(s);
    hs_symbolizer_stats_t st;
    hs_symbolizer_get_stats(s, &st);
    cr_assert_eq(st.cached, 2);
    cr_assert_eq(hs_symbolize_batch(s, m, addrs, 3, again), HS_OK);
    cr_assert_eq(again[0].frames[0].name, name0, "the same strings come back");
    cr_assert_eq(hs_symbolizer_memory(s), mem, "nothing added for known addresses");
    hs_symbolizer_get_stats(s, &st);
    cr_assert_eq(st.cached, 2);
    cr_assert_eq(st.uncached, 0);
    hs_symbolizer_free(s);
}

Test(symbolize, batch_unknown_addresses)
{
    hs_symbolizer_t *s = new_symbolizer(HS_SYMBOLIZE_LINES, 0);
    const hs_module_t *m[3] = {NULL, &mods.v[0], &mods.v[0]};
    uintptr_t addrs[3] = {0x1234, (uintptr_t)&some_data[8], mods.v[0].bias};
    hs_symloc_t out[3];
    cr_assert_eq(hs_symbolize_batch(s, m, addrs, 3, out), HS_OK);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(out[i].n, 0, "address %d", i);
    cr_assert_eq(hs_symbolize_batch(s, m, addrs, 0, out), HS_OK);
    cr_assert_eq(hs_symbolize_batch(NULL, m, addrs, 3, out), HS_OK);
    hs_symbolizer_free(s);
}

/*
 * Past the budget, nothing more is kept: new addresses still get function names, without
 * lines, and are counted; memory stops growing.
 */
Test(symbolize, budget_bounds_memory_and_falls_back_to_function_names)
{
    /* How much indexing the test binary costs. */
    hs_symbolizer_t *probe = new_symbolizer(HS_SYMBOLIZE_FUNCTIONS, 0);
    resolve(probe, hs_test_line_caller());
    size_t indexed = hs_symbolizer_memory(probe);
    hs_symbolizer_free(probe);

    size_t budget = indexed + 1; /* room for the index, not for the names and lines */
    hs_symbolizer_t *s = new_symbolizer(HS_SYMBOLIZE_LINES, budget);
    /* Many addresses of this binary's functions. */
    const hs_module_t *main_mod = &mods.v[0];
    enum { N = 256 };
    const hs_module_t *m[N];
    uintptr_t addrs[N];
    for (int i = 0; i < N; i++) {
        m[i] = main_mod;
        addrs[i] = main_mod->start + (uintptr_t)i * ((main_mod->limit - main_mod->start) / N);
    }
    hs_symloc_t out[N];
    cr_assert_eq(hs_symbolize_batch(s, m, addrs, N, out), HS_OK);
    hs_symbolizer_stats_t st;
    hs_symbolizer_get_stats(s, &st);
    cr_assert_gt(st.uncached, 0);
    cr_assert_gt(st.lines_fallback, 0);
    int named = 0;
    for (int i = 0; i < N; i++) {
        if (out[i].n == 0)
            continue;
        if (!out[i].frames[0].file)
            named++; /* a fallback: a name, no line */
    }
    cr_assert_gt(named, 0, "over the budget, names still come");
    size_t mem = hs_symbolizer_memory(s);
    cr_assert_lt(mem, budget + 128 * 1024, "memory %zu, budget %zu", mem, budget);
    /* A second batch of other addresses does not grow it either. */
    for (int i = 0; i < N; i++)
        addrs[i] += 3;
    cr_assert_eq(hs_symbolize_batch(s, m, addrs, N, out), HS_OK);
    cr_assert_eq(hs_symbolizer_memory(s), mem);
    hs_symbolizer_free(s);
}

/* A file whose DWARF would cost more than dwarf_max is not read: names only, counted. */
Test(symbolize, dwarf_over_its_limit_falls_back_to_function_names)
{
    hs_symbolizer_t *s = NULL;
    hs_symbolizer_config_t cfg = {.level = HS_SYMBOLIZE_LINES, .dwarf_max = 1};
    cr_assert_eq(hs_symbolizer_new_config(&cfg, &s), HS_OK);
    hs_symloc_t loc = resolve(s, hs_test_inline_caller());
    cr_assert_eq(loc.n, 1, "no inlined frames without DWARF");
    cr_assert_str_eq(loc.frames[0].name, "hs_test_inline_caller");
    cr_assert_null(loc.frames[0].file);
    hs_symbolizer_stats_t st;
    hs_symbolizer_get_stats(s, &st);
    cr_assert_eq(st.dwarf_refused, 1);
    cr_assert_eq(st.dwarf_files, 0);
    hs_symbolizer_free(s);

    /* Within the default limit, the same file is read, and its estimate reported. */
    s = new_symbolizer(HS_SYMBOLIZE_LINES, 0);
    loc = resolve(s, hs_test_inline_caller());
    cr_assert_eq(loc.n, 2);
    hs_symbolizer_get_stats(s, &st);
    cr_assert_eq(st.dwarf_refused, 0);
    cr_assert_gt(st.dwarf_largest, 0);
    cr_assert_leq(st.dwarf_largest, HS_SYMBOLIZE_DWARF_MAX);
    hs_symbolizer_free(s);
}

/* Near a memory limit the dump leaves the lines out for now (no room for a libdw session):
 * names only, not cached, not refused for good; with room again, the same address gets them. */
Test(symbolize, dwarf_without_room_defers_the_lines)
{
    hs_symbolizer_t *s = new_symbolizer(HS_SYMBOLIZE_LINES, 0);
    hs_symbolizer_set_dwarf_room(s, 0);
    uintptr_t ret = hs_test_inline_caller();
    hs_symloc_t loc = resolve(s, ret);
    cr_assert_eq(loc.n, 1, "no inlined frames without a session");
    cr_assert_str_eq(loc.frames[0].name, "hs_test_inline_caller");
    cr_assert_null(loc.frames[0].file);
    hs_symbolizer_stats_t st;
    hs_symbolizer_get_stats(s, &st);
    cr_assert_eq(st.dwarf_deferred, 1);
    cr_assert_eq(st.dwarf_refused, 0, "not refused: the file is small enough");
    cr_assert_eq(st.cached, 0, "not cached without its lines");
    cr_assert_eq(st.lines_fallback, 1);

    hs_symbolizer_set_dwarf_room(s, SIZE_MAX);
    loc = resolve(s, ret);
    cr_assert_eq(loc.n, 2, "the lines, once there is room");
    cr_assert_str_eq(loc.frames[0].name, "hs_test_inlined");
    cr_assert_eq(loc.frames[1].line, (uint32_t)outer_line);
    hs_symbolizer_get_stats(s, &st);
    cr_assert_eq(st.dwarf_files, 1);
    cr_assert_eq(st.cached, 1);
    hs_symbolizer_free(s);
}
