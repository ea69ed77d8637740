/*
 * test_pprof_writer.c - rows built by hand from return addresses of this test binary and libc,
 * named by the symbolizer (through the dumps' namer), encoded, decoded with protobuf-c and
 * checked field by field against Go's heap profile layout and the estimator; then the same profile,
 * gzipped, read by `go tool pprof` (the reference consumer; skipped when go is not installed); and
 * a 10,000-stack dump, timed (printed, not asserted).
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "compress.h"
#include "dump.h"
#include "estimate.h"
#include "mappings.h"
#include "output.h"
#include "pprof_writer.h"
#include "profile.pb-c.h"
#include "symbolize.h"

int hs_test_pw_leaf(int x);
int hs_test_pw_middle(int x);

HS_NOINLINE int hs_test_pw_leaf(int x)
{
    return x * 5 + 2;
}

HS_NOINLINE int hs_test_pw_middle(int x)
{
    return hs_test_pw_leaf(x) + 1;
}

/* Only in .symtab: proves static functions are named. */
static HS_NOINLINE int hs_test_pw_static_caller(int x)
{
    return hs_test_pw_middle(x) * 2;
}

static int (*volatile keep_static)(int) = hs_test_pw_static_caller;

#define NO_MAPPING_FRAME ((uintptr_t)0x11) /* address 0x10: no module there */

/* The test profile: 3 stacks, 5 rows (one all-zero, to be skipped). */
typedef struct fixture {
    uintptr_t f0[3], f1[2], f2[3];
    hs_pprof_row_t rows[5];
    hs_pprof_profile_t profile;
    uintptr_t qsort_fn;
} fixture_t;

static void fixture_init(fixture_t *fx, uint64_t rate)
{
    memset(fx, 0, sizeof *fx);
    cr_assert_eq(keep_static(1), 16);
    uintptr_t leaf = (uintptr_t)&hs_test_pw_leaf + 1;
    uintptr_t middle = (uintptr_t)&hs_test_pw_middle + 1;
    uintptr_t stat = (uintptr_t)keep_static + 1;
    fx->qsort_fn = (uintptr_t)dlsym(RTLD_DEFAULT, "qsort");
    cr_assert_neq(fx->qsort_fn, 0);
    uintptr_t f0[] = {leaf, middle, stat};
    uintptr_t f1[] = {middle, stat};
    uintptr_t f2[] = {leaf, NO_MAPPING_FRAME, fx->qsort_fn + 1};
    memcpy(fx->f0, f0, sizeof f0);
    memcpy(fx->f1, f1, sizeof f1);
    memcpy(fx->f2, f2, sizeof f2);
    fx->rows[0] = (hs_pprof_row_t){fx->f0, 3, HS_MODULES_GEN_NONE, 100, 10, 4};
    fx->rows[1] = (hs_pprof_row_t){fx->f1, 2, HS_MODULES_GEN_NONE, 1 << 20, 3, 0};
    fx->rows[2] = (hs_pprof_row_t){fx->f2, 3, HS_MODULES_GEN_NONE, 64, 1, 1};
    fx->rows[3] = (hs_pprof_row_t){fx->f1, 2, HS_MODULES_GEN_NONE, 8, 0, 0};
    fx->rows[4] = (hs_pprof_row_t){fx->f0, 3, HS_MODULES_GEN_NONE, 4096, 2, 2};
    fx->profile.rate = rate;
    fx->profile.start_ns = 1700000000000000000ull;
    fx->profile.time_ns = fx->profile.start_ns + 2500000000ull;
    fx->profile.rows = fx->rows;
    fx->profile.nrows = 5;
}

static hs_modules_t mods;
static hs_symbolizer_t *sym;
static char go_file[128]; /* removed by teardown, even when a test fails */

static void setup(void)
{
    cr_assert_eq(hs_mappings_read(&mods), HS_OK);
    cr_assert_eq(hs_symbolizer_new(&sym), HS_OK);
}

static void teardown(void)
{
    if (go_file[0])
        unlink(go_file);
    hs_symbolizer_free(sym);
    hs_modules_free(&mods);
}

TestSuite(pprof_writer, .init = setup, .fini = teardown, .timeout = 120);

static const char *const comments[] = {"heapsampler test", "rate=1", NULL};

/* With modules, names and comments, as a dump writes them. */
static void name_all(hs_pprof_profile_t *profile)
{
    profile->modules = &mods;
    profile->namer = hs_dump_name;
    profile->namer_arg = sym;
    profile->comments = comments;
}

static Perftools__Profiles__Profile *encode(const hs_pprof_profile_t *profile, int named)
{
    hs_pprof_profile_t copy = *profile;
    if (named)
        name_all(&copy);
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(hs_pprof_encode(&copy, &buf, &len), HS_OK);
    cr_assert_not_null(buf);
    Perftools__Profiles__Profile *p = perftools__profiles__profile__unpack(NULL, len, buf);
    cr_assert_not_null(p, "the output decodes as a Profile");
    free(buf);
    return p;
}

static const char *str(const Perftools__Profiles__Profile *p, int64_t i)
{
    cr_assert_geq(i, 0);
    cr_assert_lt((size_t)i, p->n_string_table, "string index %lld", (long long)i);
    return p->string_table[i];
}

static const Perftools__Profiles__Location *location(const Perftools__Profiles__Profile *p,
                                                     uint64_t id)
{
    for (size_t i = 0; i < p->n_location; i++)
        if (p->location[i]->id == id)
            return p->location[i];
    cr_assert_fail("no location %llu", (unsigned long long)id);
    return NULL;
}

static const Perftools__Profiles__Function *function(const Perftools__Profiles__Profile *p,
                                                     uint64_t id)
{
    for (size_t i = 0; i < p->n_function; i++)
        if (p->function[i]->id == id)
            return p->function[i];
    cr_assert_fail("no function %llu", (unsigned long long)id);
    return NULL;
}

/* The function name at a location, or NULL when it has no line. */
static const char *loc_name(const Perftools__Profiles__Profile *p,
                            const Perftools__Profiles__Location *l)
{
    if (l->n_line == 0)
        return NULL;
    cr_assert_eq(l->n_line, 1);
    cr_assert_eq(l->line[0]->line, 0);
    const Perftools__Profiles__Function *f = function(p, l->line[0]->function_id);
    cr_assert_eq(f->name, f->system_name, "C names: nothing to demangle");
    return str(p, f->name);
}

/* Structural invariants of every profile we write. */
static void check_invariants(const Perftools__Profiles__Profile *p)
{
    cr_assert_geq(p->n_string_table, 1);
    cr_assert_str_eq(p->string_table[0], "");
    for (size_t i = 0; i < p->n_mapping; i++) {
        cr_assert_neq(p->mapping[i]->id, 0);
        for (size_t j = 0; j < i; j++)
            cr_assert_neq(p->mapping[i]->id, p->mapping[j]->id);
        str(p, p->mapping[i]->filename);
        str(p, p->mapping[i]->build_id);
    }
    for (size_t i = 0; i < p->n_location; i++) {
        const Perftools__Profiles__Location *l = p->location[i];
        cr_assert_neq(l->id, 0);
        for (size_t j = 0; j < i; j++) {
            cr_assert_neq(l->id, p->location[j]->id);
            cr_assert_neq(l->address, p->location[j]->address, "one location per address");
        }
        if (l->mapping_id) {
            int found = 0;
            for (size_t j = 0; j < p->n_mapping; j++)
                found += p->mapping[j]->id == l->mapping_id;
            cr_assert_eq(found, 1);
        }
        for (size_t k = 0; k < l->n_line; k++)
            function(p, l->line[k]->function_id);
    }
    for (size_t i = 0; i < p->n_function; i++) {
        cr_assert_neq(p->function[i]->id, 0);
        for (size_t j = 0; j < i; j++) {
            cr_assert_neq(p->function[i]->id, p->function[j]->id);
            cr_assert_neq(p->function[i]->name, p->function[j]->name, "deduplicated by name");
        }
        str(p, p->function[i]->name);
    }
    for (size_t i = 0; i < p->n_sample; i++) {
        cr_assert_eq(p->sample[i]->n_value, p->n_sample_type);
        for (size_t k = 0; k < p->sample[i]->n_location_id; k++)
            location(p, p->sample[i]->location_id[k]);
    }
    for (size_t i = 0; i < p->n_comment; i++)
        str(p, p->comment[i]);
}

static void check_layout(const Perftools__Profiles__Profile *p, uint64_t rate)
{
    static const char *const types[4][2] = {
        {"alloc_objects", "count"},
        {"alloc_space", "bytes"},
        {"inuse_objects", "count"},
        {"inuse_space", "bytes"},
    };
    cr_assert_eq(p->n_sample_type, 4);
    for (int i = 0; i < 4; i++) {
        cr_assert_str_eq(str(p, p->sample_type[i]->type), types[i][0]);
        cr_assert_str_eq(str(p, p->sample_type[i]->unit), types[i][1]);
    }
    cr_assert_not_null(p->period_type);
    cr_assert_str_eq(str(p, p->period_type->type), "space");
    cr_assert_str_eq(str(p, p->period_type->unit), "bytes");
    cr_assert_eq(p->period, (int64_t)rate);
    cr_assert_str_eq(str(p, p->default_sample_type), "inuse_space");
}

/* The estimator's numbers for one row, rounded as the writer must round them. */
static void expected_values(uint64_t rate, const hs_pprof_row_t *r, int64_t v[4])
{
    double objects, bytes;
    hs_estimate_row(rate, r->size, r->allocs, &objects, &bytes);
    v[0] = llround(objects);
    v[1] = llround(bytes);
    hs_estimate_row(rate, r->size, r->live, &objects, &bytes);
    v[2] = llround(objects);
    v[3] = llround(bytes);
}

static void check_fixture(uint64_t rate)
{
    fixture_t fx;
    fixture_init(&fx, rate);
    Perftools__Profiles__Profile *p = encode(&fx.profile, 1);
    check_invariants(p);
    check_layout(p, rate);
    cr_assert_eq(p->time_nanos, (int64_t)fx.profile.time_ns);
    cr_assert_eq(p->duration_nanos, 2500000000ll);

    /* Samples: rows 0, 1, 2, 4 in order (row 3 is all zero). */
    static const size_t kept[] = {0, 1, 2, 4};
    cr_assert_eq(p->n_sample, 4);
    for (size_t i = 0; i < 4; i++) {
        const hs_pprof_row_t *row = &fx.rows[kept[i]];
        const Perftools__Profiles__Sample *s = p->sample[i];
        int64_t v[4];
        expected_values(rate, row, v);
        for (int k = 0; k < 4; k++)
            cr_assert_eq(s->value[k], v[k], "row %zu value %d: %lld != %lld", kept[i], k,
                         (long long)s->value[k], (long long)v[k]);
        cr_assert_eq(s->n_label, 1);
        cr_assert_str_eq(str(p, s->label[0]->key), "bytes");
        cr_assert_eq(s->label[0]->num, (int64_t)row->size);
        cr_assert_eq(s->label[0]->num_unit, 0, "no unit, as Go writes it");
        cr_assert_eq(s->label[0]->str, 0);
        cr_assert_eq(s->n_location_id, row->depth);
        for (uint32_t k = 0; k < row->depth; k++) {
            const Perftools__Profiles__Location *l = location(p, s->location_id[k]);
            cr_assert_eq(l->address, row->frames[k] - 1, "address = return address - 1");
        }
    }
    if (rate == 1) {
        /* Exact mode: the raw counts. */
        cr_assert_eq(p->sample[0]->value[0], 10);
        cr_assert_eq(p->sample[0]->value[1], 1000);
        cr_assert_eq(p->sample[0]->value[2], 4);
        cr_assert_eq(p->sample[0]->value[3], 400);
    } else {
        /* Small allocations are scaled up, big ones barely. */
        cr_assert_gt(p->sample[0]->value[1], 1000 * 1000);
        cr_assert_lt(p->sample[1]->value[1], 4 * (1 << 20));
    }

    /* Names: leaf first, the static function from .symtab, qsort from libc's .dynsym. */
    const Perftools__Profiles__Sample *s0 = p->sample[0];
    cr_assert_str_eq(loc_name(p, location(p, s0->location_id[0])), "hs_test_pw_leaf");
    cr_assert_str_eq(loc_name(p, location(p, s0->location_id[1])), "hs_test_pw_middle");
    cr_assert_str_eq(loc_name(p, location(p, s0->location_id[2])), "hs_test_pw_static_caller");
    const Perftools__Profiles__Sample *s2 = p->sample[2];
    const Perftools__Profiles__Location *nomap = location(p, s2->location_id[1]);
    cr_assert_eq(nomap->mapping_id, 0);
    cr_assert_eq(nomap->n_line, 0);
    const char *qs = loc_name(p, location(p, s2->location_id[2]));
    cr_assert_not_null(qs);
    cr_assert_eq((uintptr_t)dlsym(RTLD_DEFAULT, qs), fx.qsort_fn, "%s", qs);

    /* 5 distinct addresses, 4 distinct function names. */
    cr_assert_eq(p->n_location, 5);
    cr_assert_eq(p->n_function, 4);

    /* Mappings: all modules, main first with a build ID, has_functions where names came from. */
    cr_assert_eq(p->n_mapping, mods.n);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    cr_assert_gt(n, 0);
    exe[n] = '\0';
    const Perftools__Profiles__Mapping *main_map = p->mapping[0];
    cr_assert_eq(main_map->id, 1);
    cr_assert_str_eq(str(p, main_map->filename), exe);
    cr_assert_gt(strlen(str(p, main_map->build_id)), 0);
    cr_assert_str_eq(str(p, main_map->build_id), mods.v[0].build_id);
    cr_assert_eq(main_map->memory_start, mods.v[0].start);
    cr_assert_eq(main_map->memory_limit, mods.v[0].limit);
    cr_assert_eq(main_map->file_offset, mods.v[0].file_offset);
    cr_assert(main_map->has_functions);
    const Perftools__Profiles__Location *leaf = location(p, s0->location_id[0]);
    cr_assert_eq(leaf->mapping_id, main_map->id);
    const Perftools__Profiles__Location *qsl = location(p, s2->location_id[2]);
    const Perftools__Profiles__Mapping *libc_map = NULL;
    size_t with_functions = 0;
    for (size_t i = 0; i < p->n_mapping; i++) {
        if (p->mapping[i]->id == qsl->mapping_id)
            libc_map = p->mapping[i];
        with_functions += p->mapping[i]->has_functions;
        cr_assert_eq(p->mapping[i]->id, i + 1);
        cr_assert_str_eq(str(p, p->mapping[i]->filename), mods.v[i].path);
    }
    cr_assert_not_null(libc_map);
    cr_assert(libc_map->has_functions);
    cr_assert_leq(qsl->address, libc_map->memory_limit);
    cr_assert_geq(qsl->address, libc_map->memory_start);
    cr_assert_eq(with_functions, libc_map == main_map ? 1 : 2,
                 "only the modules with resolved names");

    cr_assert_eq(p->n_comment, 2);
    cr_assert_str_eq(str(p, p->comment[0]), "heapsampler test");
    cr_assert_str_eq(str(p, p->comment[1]), "rate=1");
    perftools__profiles__profile__free_unpacked(p, NULL);
}

Test(pprof_writer, exact_mode)
{
    check_fixture(1);
}

Test(pprof_writer, default_rate)
{
    check_fixture(524288);
}

Test(pprof_writer, without_modules_or_namer_addresses_only)
{
    fixture_t fx;
    fixture_init(&fx, 1);
    Perftools__Profiles__Profile *p = encode(&fx.profile, 0);
    check_invariants(p);
    check_layout(p, 1);
    cr_assert_eq(p->n_sample, 4);
    cr_assert_eq(p->n_mapping, 0);
    cr_assert_eq(p->n_function, 0);
    cr_assert_eq(p->n_comment, 0);
    cr_assert_eq(p->n_location, 5);
    for (size_t i = 0; i < p->n_location; i++) {
        cr_assert_eq(p->location[i]->mapping_id, 0);
        cr_assert_eq(p->location[i]->n_line, 0);
    }
    perftools__profiles__profile__free_unpacked(p, NULL);
}

Test(pprof_writer, empty_profile)
{
    hs_pprof_profile_t profile = {.rate = 524288, .time_ns = 5, .start_ns = 9};
    Perftools__Profiles__Profile *p = encode(&profile, 1);
    check_invariants(p);
    check_layout(p, 524288);
    cr_assert_eq(p->n_sample, 0);
    cr_assert_eq(p->n_location, 0);
    cr_assert_eq(p->duration_nanos, 0, "a clock that went backwards gives 0, not negative");
    perftools__profiles__profile__free_unpacked(p, NULL);
}

Test(pprof_writer, missing_frames_keep_the_totals)
{
    fixture_t fx;
    fixture_init(&fx, 1);
    fx.rows[1].frames = fx.rows[3].frames = NULL; /* depth 2, but no frames */
    fx.f0[1] = 0;                                 /* a zero frame inside stack 0 */
    Perftools__Profiles__Profile *p = encode(&fx.profile, 1);
    check_invariants(p);
    cr_assert_eq(p->n_sample, 4);
    cr_assert_eq(p->sample[1]->n_location_id, 0);
    cr_assert_eq(p->sample[1]->value[1], 3 << 20);
    cr_assert_eq(p->sample[0]->n_location_id, 2, "the zero frame is left out");
    cr_assert_eq(location(p, p->sample[0]->location_id[1])->address, fx.f0[2] - 1);
    perftools__profiles__profile__free_unpacked(p, NULL);
}

Test(pprof_writer, bad_profile_is_rejected)
{
    fixture_t fx;
    fixture_init(&fx, 1);
    fx.profile.rows = NULL; /* 5 rows */
    uint8_t *buf = (uint8_t *)1;
    size_t len = 1;
    cr_assert_eq(hs_pprof_encode(&fx.profile, &buf, &len), HS_ERR_INVALID);
    cr_assert_null(buf);
    cr_assert_eq(len, 0);
    cr_assert_eq(hs_pprof_encode(NULL, &buf, &len), HS_ERR_INVALID);
}

/* A namer that names one address twice breaks the writer's contract: refused, not trusted. */
static hs_err_t name_twice(void *arg, const hs_module_t *const *in, const uintptr_t *addrs,
                           size_t n, hs_pprof_emit_fn emit, void *sink)
{
    (void)arg;
    (void)in;
    (void)addrs;
    static const hs_pprof_frame_t f = {"f", "f", NULL, 0};
    hs_err_t err = HS_OK;
    for (size_t i = 0; i < n && err == HS_OK; i++)
        err = emit(sink, i, &f, 1);
    return err == HS_OK && n ? emit(sink, 0, &f, 1) : err;
}

Test(pprof_writer, namer_naming_an_address_twice_is_refused)
{
    fixture_t fx;
    fixture_init(&fx, 1);
    fx.profile.modules = &mods;
    fx.profile.namer = name_twice;
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(hs_pprof_encode(&fx.profile, &buf, &len), HS_ERR_INVALID);
    cr_assert_null(buf);
}

static int have_go(void)
{
    return system("go version >/dev/null 2>&1") == 0;
}

/*
 * Run a command, capture its stdout (up to cap - 1 bytes) with every run of blanks squeezed to
 * one space (pprof aligns columns), return its exit status.
 */
static int run_capture(const char *cmd, char *out, size_t cap)
{
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    size_t len = 0;
    int c, blank = 0;
    while ((c = fgetc(f)) != EOF) {
        if (c == ' ' || c == '\t') {
            blank = 1;
            continue;
        }
        if (blank && len + 1 < cap && len > 0 && out[len - 1] != '\n')
            out[len++] = ' ';
        blank = 0;
        if (len + 1 < cap)
            out[len++] = (char)c;
    }
    out[len] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(pprof_writer, go_tool_pprof_reads_it)
{
    if (!have_go())
        cr_skip("go is not installed");
    fixture_t fx;
    fixture_init(&fx, 1);
    name_all(&fx.profile);
    uint8_t *pb = NULL, *gz = NULL;
    size_t pb_len = 0, gz_len = 0;
    cr_assert_eq(hs_pprof_encode(&fx.profile, &pb, &pb_len), HS_OK);
    cr_assert_eq(hs_compress(HS_COMPRESSION_GZIP, pb, pb_len, &gz, &gz_len), HS_OK);
    char *path = go_file;
    snprintf(go_file, sizeof go_file, "/tmp/hs_test_pprof.%d.pb.gz", (int)getpid());
    cr_assert_eq(hs_output_write_atomic(path, gz, gz_len), HS_OK);
    free(pb);
    free(gz);

    char cmd[512];
    static char out[1 << 16];
    snprintf(cmd, sizeof cmd, "go tool pprof -raw -symbolize=none %s 2>&1", path);
    int rc = run_capture(cmd, out, sizeof out);
    cr_log_info("go tool pprof -raw:\n%s", out);
    cr_assert_eq(rc, 0, "pprof failed: %s", out);
    cr_assert(strstr(out, "PeriodType: space bytes"), "%s", out);
    cr_assert(strstr(out, "Period: 1"), "%s", out);
    cr_assert(strstr(out, "alloc_objects/count alloc_space/bytes inuse_objects/count "
                          "inuse_space/bytes"),
              "%s", out);
    cr_assert(strstr(out, "hs_test_pw_leaf"), "%s", out);
    cr_assert(strstr(out, "hs_test_pw_middle"), "%s", out);
    cr_assert(strstr(out, "hs_test_pw_static_caller"), "%s", out);
    /* Row 0's values and its stack (locations are numbered as pprof renumbers them). */
    cr_assert(strstr(out, "\n10 1000 4 400: 1 2 3"), "row 0: %s", out);
    cr_assert(strstr(out, "\n3 3145728 0 0: 2 3"), "row 1: %s", out);
    cr_assert(strstr(out, "\n2 8192 2 8192: 1 2 3"), "row 4: %s", out);
    cr_assert(strstr(out, "bytes:[100]"), "the numeric label: %s", out);

    /* The default sample type is inuse_space: -top shows it without being asked. */
    snprintf(cmd, sizeof cmd, "go tool pprof -top -symbolize=none %s 2>&1", path);
    rc = run_capture(cmd, out, sizeof out);
    cr_log_info("go tool pprof -top:\n%s", out);
    cr_assert_eq(rc, 0, "pprof failed: %s", out);
    cr_assert(strstr(out, "Type: inuse_space"), "%s", out);
    /* inuse: 400 + 64 + 8192 bytes. */
    cr_assert(strstr(out, "8.45kB total") || strstr(out, "8656B total"), "%s", out);
}

/*
 * String labels: after the numeric "bytes" label, each row's (key, value) pairs as string
 * labels, strings shared through the table; `go tool pprof -tagfocus` selects by them and
 * `-tags` lists them.
 */
Test(pprof_writer, string_labels)
{
    fixture_t fx;
    fixture_init(&fx, 1);
    const hs_label_t orders[] = {{"endpoint", "/orders"}, {"tenant", "acme"}};
    const hs_label_t users[] = {{"endpoint", "/users"}};
    fx.rows[0].labels = orders;
    fx.rows[0].nlabels = 2;
    fx.rows[1].labels = users;
    fx.rows[1].nlabels = 1;
    fx.rows[4].labels = orders;
    fx.rows[4].nlabels = 1;
    Perftools__Profiles__Profile *p = encode(&fx.profile, 1);
    check_invariants(p);
    cr_assert_eq(p->n_sample, 4);
    static const size_t nlabels[] = {3, 2, 1, 2}; /* rows 0, 1, 2, 4 */
    for (size_t i = 0; i < 4; i++) {
        const Perftools__Profiles__Sample *s = p->sample[i];
        cr_assert_eq(s->n_label, nlabels[i], "sample %zu", i);
        cr_assert_str_eq(str(p, s->label[0]->key), "bytes");
        for (size_t k = 1; k < s->n_label; k++) {
            cr_assert_eq(s->label[k]->num, 0);
            cr_assert_neq(s->label[k]->str, 0);
        }
    }
    cr_assert_str_eq(str(p, p->sample[0]->label[1]->key), "endpoint");
    cr_assert_str_eq(str(p, p->sample[0]->label[1]->str), "/orders");
    cr_assert_str_eq(str(p, p->sample[0]->label[2]->key), "tenant");
    cr_assert_str_eq(str(p, p->sample[0]->label[2]->str), "acme");
    cr_assert_str_eq(str(p, p->sample[1]->label[1]->str), "/users");
    cr_assert_eq(p->sample[3]->label[1]->key, p->sample[0]->label[1]->key, "one string");
    cr_assert_eq(p->sample[3]->label[1]->str, p->sample[0]->label[1]->str, "one string");
    perftools__profiles__profile__free_unpacked(p, NULL);

    if (!have_go())
        return;
    name_all(&fx.profile);
    uint8_t *pb = NULL, *gz = NULL;
    size_t pb_len = 0, gz_len = 0;
    cr_assert_eq(hs_pprof_encode(&fx.profile, &pb, &pb_len), HS_OK);
    cr_assert_eq(hs_compress(HS_COMPRESSION_GZIP, pb, pb_len, &gz, &gz_len), HS_OK);
    snprintf(go_file, sizeof go_file, "/tmp/hs_test_pprof_labels.%d.pb.gz", (int)getpid());
    cr_assert_eq(hs_output_write_atomic(go_file, gz, gz_len), HS_OK);
    free(pb);
    free(gz);
    char cmd[512];
    static char out[1 << 16];
    /* inuse_space of the /orders rows: row 0 (400 B) and row 4 (8192 B) of 8656 B. */
    snprintf(cmd, sizeof cmd,
             "go tool pprof -top -symbolize=none -tagfocus endpoint=/orders %s 2>&1", go_file);
    int rc = run_capture(cmd, out, sizeof out);
    cr_log_info("go tool pprof -tagfocus:\n%s", out);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "accounting for 8.39kB, 99.26% of 8.45kB total"), "%s", out);
    snprintf(cmd, sizeof cmd, "go tool pprof -tags -symbolize=none %s 2>&1", go_file);
    rc = run_capture(cmd, out, sizeof out);
    cr_log_info("go tool pprof -tags:\n%s", out);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "endpoint:"), "%s", out);
    cr_assert(strstr(out, "/orders"), "%s", out);
    cr_assert(strstr(out, "tenant:"), "%s", out);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * 10,000 distinct stacks of 64 frames over 20,000 distinct addresses in this binary's code,
 * each symbolized. Times are printed for the record (the benchmark script owns the bar, 50 ms);
 * the assertions check the result.
 */
Test(pprof_writer, ten_thousand_stacks)
{
    enum { NSTACKS = 10000, DEPTH = 64, NADDR = 20000 };
    const hs_module_t *m = &mods.v[0];
    uintptr_t *pool = malloc(NADDR * sizeof *pool);
    uintptr_t *frames = malloc((size_t)NSTACKS * DEPTH * sizeof *frames);
    hs_pprof_row_t *rows = malloc(NSTACKS * sizeof *rows);
    cr_assert(pool && frames && rows);
    uint64_t x = 0x243f6a8885a308d3ull;
    for (size_t i = 0; i < NADDR; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* Distinct by construction: i spreads them, x jitters inside the module. */
        pool[i] = m->start + 1 + (i * (m->limit - m->start - 2)) / NADDR;
    }
    for (size_t s = 0; s < NSTACKS; s++) {
        for (size_t d = 0; d < DEPTH; d++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            frames[s * DEPTH + d] = pool[x % NADDR];
        }
        frames[s * DEPTH] = pool[s % NADDR]; /* and distinct stacks */
        frames[s * DEPTH + 1] = pool[(s / NADDR + 7) % NADDR];
        rows[s] = (hs_pprof_row_t){.frames = &frames[s * DEPTH],
                                   .depth = DEPTH,
                                   .size = 16 + s % 4096,
                                   .allocs = 1 + s % 7,
                                   .live = s % 3};
    }
    hs_pprof_profile_t profile = {
        .rate = 524288, .time_ns = 2000, .start_ns = 1000, .rows = rows, .nrows = NSTACKS};
    name_all(&profile);

    double ms[3];
    uint8_t *buf = NULL;
    size_t len = 0;
    for (int run = 0; run < 3; run++) {
        double t0 = now_ms();
        cr_assert_eq(hs_pprof_encode(&profile, &buf, &len), HS_OK);
        ms[run] = now_ms() - t0;
        if (run < 2)
            free(buf);
    }
    uint8_t *gz = NULL;
    size_t gz_len = 0;
    double t0 = now_ms();
    cr_assert_eq(hs_compress(HS_COMPRESSION_GZIP, buf, len, &gz, &gz_len), HS_OK);
    double gz_ms = now_ms() - t0;
    t0 = now_ms();
    uint8_t *zs = NULL;
    size_t zs_len = 0;
    cr_assert_eq(hs_compress(HS_COMPRESSION_ZSTD, buf, len, &zs, &zs_len), HS_OK);
    double zs_ms = now_ms() - t0;
    fprintf(stderr,
            "ten_thousand_stacks: encode %.1f ms cold, %.1f ms warm, %zu bytes; gzip %.1f ms "
            "(%zu bytes); zstd %.1f ms (%zu bytes)\n",
            ms[0], ms[2], len, gz_ms, gz_len, zs_ms, zs_len);

    Perftools__Profiles__Profile *p = perftools__profiles__profile__unpack(NULL, len, buf);
    cr_assert_not_null(p);
    size_t nonzero = 0;
    for (size_t s = 0; s < NSTACKS; s++) {
        int64_t v[4];
        expected_values(profile.rate, &rows[s], v);
        nonzero += v[0] || v[1] || v[2] || v[3];
    }
    cr_assert_eq(p->n_sample, nonzero);
    cr_assert_leq(p->n_location, NADDR);
    cr_assert_gt(p->n_location, NADDR / 2);
    cr_assert_gt(p->n_function, 10, "the addresses fall in many functions");
    for (size_t i = 0; i < p->n_sample; i++)
        cr_assert_eq(p->sample[i]->n_location_id, DEPTH);
    /* Spot-check location ids against the frames of row 0. */
    for (size_t d = 0; d < DEPTH; d++) {
        const Perftools__Profiles__Location *l = location(p, p->sample[0]->location_id[d]);
        cr_assert_eq(l->address, frames[d] - 1);
    }
    perftools__profiles__profile__free_unpacked(p, NULL);
    free(buf);
    free(gz);
    free(zs);
    free(pool);
    free(frames);
    free(rows);
}

/*
 * A reused address range: two unloaded modules X (record 1) and Y (record 2) at the same place.
 * A stack without a generation resolves to X (the first recorded), a stack of a generation after
 * Y was recorded to Y, one of a generation before that to X, sharing the first stack's location.
 * X loaded again later (a third record, the same content) is the same mapping and location.
 * Unloaded modules are mappings only when a location lies in them.
 */
Test(pprof_writer, generations_split_reused_ranges)
{
    hs_module_t v[5];
    memset(v, 0, sizeof v);
    v[0] = (hs_module_t){.path = (char *)"/main",
                         .start = 0x10000,
                         .limit = 0x20000,
                         .loaded = true,
                         .is_main = true,
                         .record = 0};
    v[1] = (hs_module_t){.path = (char *)"/x.so", .start = 0x30000, .limit = 0x31000, .record = 1};
    v[2] = (hs_module_t){.path = (char *)"/y.so", .start = 0x30000, .limit = 0x31000, .record = 2};
    /* X loaded again after Y: another record, the same mapping (unloaded: sorted by start). */
    v[3] = (hs_module_t){.path = (char *)"/x.so", .start = 0x30000, .limit = 0x31000, .record = 4};
    v[4] = (hs_module_t){.path = (char *)"/z.so", .start = 0x50000, .limit = 0x51000, .record = 3};
    hs_modules_t m = {.v = v, .n = 5, .nloaded = 1, .max_unloaded_len = 0x1000};
    uintptr_t stack[] = {0x30101, 0x10101};
    static const uint32_t gens[4] = {HS_MODULES_GEN_NONE, 4, 2, 5};
    hs_pprof_row_t rows[4];
    for (uint32_t i = 0; i < 4; i++)
        rows[i] = (hs_pprof_row_t){stack, 2, gens[i], 100 + i, 1, 1};
    hs_pprof_profile_t profile = {.rate = 1, .rows = rows, .nrows = 4, .modules = &m};
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(hs_pprof_encode(&profile, &buf, &len), HS_OK);
    Perftools__Profiles__Profile *p = perftools__profiles__profile__unpack(NULL, len, buf);
    free(buf);
    cr_assert_not_null(p);
    cr_assert_eq(p->n_sample, 4);
    cr_assert_eq(p->n_location, 3, "X's, main's and Y's");
    cr_assert_eq(p->n_mapping, 3, "main, then X (twice: one mapping) and Y (used); not Z");
    cr_assert_eq(p->sample[3]->location_id[0], p->sample[0]->location_id[0], "X again: shared");
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(p->sample[i]->n_location_id, 2);
        cr_assert_eq(location(p, p->sample[i]->location_id[0])->address, 0x30100);
    }
    const char *names[3];
    for (size_t i = 0; i < 3; i++) {
        uint64_t mid = location(p, p->sample[i]->location_id[0])->mapping_id;
        names[i] = NULL;
        for (size_t k = 0; k < p->n_mapping; k++)
            if (p->mapping[k]->id == mid)
                names[i] = str(p, p->mapping[k]->filename);
    }
    cr_assert_str_eq(names[0], "/x.so");
    cr_assert_str_eq(names[1], "/y.so");
    cr_assert_str_eq(names[2], "/x.so");
    cr_assert_eq(p->sample[2]->location_id[0], p->sample[0]->location_id[0], "shared");
    cr_assert_eq(p->sample[1]->location_id[1], p->sample[0]->location_id[1], "main's frame too");
    perftools__profiles__profile__free_unpacked(p, NULL);
}
