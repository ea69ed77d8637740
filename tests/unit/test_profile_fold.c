/*
 * test_profile_fold.c - folding the lightest samples into "[other]": every sample type's total
 * is unchanged, the sample and byte limits hold, what is kept is the heaviest, all-zero samples
 * go, unused locations, functions, mappings and strings are not written, and the result reads
 * back as a valid profile.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "mappings.h"
#include "pprof_file.h"
#include "pprof_writer.h"
#include "profile_fold.h"
#include "symbolize.h"

/* A profile of n rows, each with its own stack of depth distinct return addresses. */
typedef struct synth {
    hs_pprof_profile_t profile;
    hs_pprof_row_t *rows;
    uintptr_t *frames;
} synth_t;

static void synth_init(synth_t *s, size_t n, uint32_t depth)
{
    memset(s, 0, sizeof *s);
    s->rows = calloc(n, sizeof *s->rows);
    s->frames = calloc(n * depth, sizeof *s->frames);
    for (size_t i = 0; i < n; i++) {
        for (uint32_t k = 0; k < depth; k++)
            s->frames[i * depth + k] = 0x100001 + 16 * (i * depth + k);
        uint64_t allocs = 1 + (i * 7919) % 97;
        s->rows[i] = (hs_pprof_row_t){&s->frames[i * depth], depth,  HS_MODULES_GEN_NONE,
                                      16 + 8 * (i % 11),     allocs, i % 3 == 0 ? allocs / 2 : 0};
    }
    s->profile.rate = 1;
    s->profile.time_ns = 5000000000;
    s->profile.start_ns = 1000000000;
    s->profile.rows = s->rows;
    s->profile.nrows = n;
}

static void synth_free(synth_t *s)
{
    free(s->rows);
    free(s->frames);
}

static void parse(const uint8_t *buf, size_t len, hs_pprof_t *p)
{
    char why[256];
    cr_assert_eq(hs_pprof_parse(buf, len, p, why, sizeof why), HS_OK, "%s", why);
}

static void encode(const hs_pprof_profile_t *profile, hs_pprof_t *p, size_t *len_out)
{
    uint8_t *buf;
    size_t len;
    cr_assert_eq(hs_pprof_encode(profile, &buf, &len), HS_OK);
    parse(buf, len, p);
    if (len_out)
        *len_out = len;
    free(buf);
}

static void totals(const hs_pprof_t *p, int64_t t[4])
{
    memset(t, 0, 4 * sizeof *t);
    for (size_t i = 0; i < p->pb->n_sample; i++)
        for (int k = 0; k < 4; k++)
            t[k] += p->pb->sample[i]->value[k];
}

/* The function names of a sample's leaf location ("" for an address-only location). */
static const char *leaf_name(const hs_pprof_t *p, const hs_pb_sample_t *s)
{
    const hs_pb_location_t *l = hs_pprof_location(p, s->location_id[0]);
    if (!l->n_line)
        return "";
    return hs_pprof_str(p, hs_pprof_function(p, l->line[0]->function_id)->name);
}

/* Fold in, check the limits and the totals, return the parsed result. */
static void fold(const hs_pprof_t *in, size_t max_samples, size_t max_bytes, hs_pprof_t *out,
                 size_t *folded)
{
    uint8_t *buf;
    size_t len;
    cr_assert_eq(hs_profile_fold_pack(in, max_samples, max_bytes, &buf, &len, folded), HS_OK);
    cr_assert_leq(len, max_bytes);
    parse(buf, len, out);
    free(buf);
    cr_assert_leq(out->pb->n_sample, max_samples);
    int64_t a[4], b[4];
    totals(in, a);
    totals(out, b);
    for (int k = 0; k < 4; k++)
        cr_assert_eq(a[k], b[k], "type %d: %lld before, %lld after", k, (long long)a[k],
                     (long long)b[k]);
    cr_assert_eq(out->pb->time_nanos, in->pb->time_nanos);
    cr_assert_eq(out->pb->period, in->pb->period);
    cr_assert_str_eq(hs_pprof_str(out, out->pb->default_sample_type), "inuse_space");
}

Test(profile_fold, within_the_limits_nothing_is_folded)
{
    synth_t s;
    synth_init(&s, 100, 4);
    hs_pprof_t in, out;
    encode(&s.profile, &in, NULL);
    size_t folded = 99;
    fold(&in, 16000, 4 << 20, &out, &folded);
    cr_assert_eq(folded, 0);
    cr_assert_eq(out.pb->n_sample, 100);
    for (size_t i = 0; i < 100; i++) {
        cr_assert_str_eq(leaf_name(&out, out.pb->sample[i]), "");
        cr_assert_eq(memcmp(out.pb->sample[i]->value, in.pb->sample[i]->value, 4 * 8), 0);
    }
    cr_assert_eq(out.pb->n_location, in.pb->n_location);
    hs_pprof_free(&in);
    hs_pprof_free(&out);
    synth_free(&s);
}

/* Weight of a sample as the folder ranks it: its largest share of any type's total. */
static double weight(const hs_pb_sample_t *s, const int64_t t[4])
{
    double w = 0;
    for (int k = 0; k < 4; k++)
        if (t[k] && (double)s->value[k] / (double)t[k] > w)
            w = (double)s->value[k] / (double)t[k];
    return w;
}

Test(profile_fold, over_the_sample_limit_the_lightest_are_folded)
{
    synth_t s;
    synth_init(&s, 20000, 3);
    hs_pprof_t in, out;
    encode(&s.profile, &in, NULL);
    size_t folded = 0;
    fold(&in, 16000, 4 << 20, &out, &folded);
    cr_assert_eq(out.pb->n_sample, 16000);
    cr_assert_eq(folded, 20000 - 15999);
    /* One [other] sample, with one location of that name and no mapping. */
    size_t others = 0;
    const hs_pb_sample_t *other = NULL;
    for (size_t i = 0; i < out.pb->n_sample; i++) {
        if (strcmp(leaf_name(&out, out.pb->sample[i]), HS_PROFILE_FOLD_FRAME) == 0) {
            other = out.pb->sample[i];
            others++;
        }
    }
    cr_assert_eq(others, 1);
    cr_assert_eq(other->n_location_id, 1);
    cr_assert_eq(hs_pprof_location(&out, other->location_id[0])->mapping_id, 0);
    cr_assert_eq(other->n_label, 0);
    /* Every kept sample weighs at least as much as every folded one. */
    int64_t t[4];
    totals(&in, t);
    double lightest_kept = 1e9, heaviest_folded = 0;
    char *kept = calloc(in.pb->n_location + 1, 1);
    for (size_t i = 0; i < out.pb->n_sample; i++) {
        const hs_pb_sample_t *o = out.pb->sample[i];
        if (o == other)
            continue;
        double w = weight(o, t);
        if (w < lightest_kept)
            lightest_kept = w;
        uint64_t addr = hs_pprof_location(&out, o->location_id[0])->address;
        kept[(addr - 0x100000) / 16 / 3] = 1; /* the input row of this leaf */
    }
    for (size_t i = 0; i < in.pb->n_sample; i++) {
        uint64_t addr = hs_pprof_location(&in, in.pb->sample[i]->location_id[0])->address;
        if (!kept[(addr - 0x100000) / 16 / 3] && weight(in.pb->sample[i], t) > heaviest_folded)
            heaviest_folded = weight(in.pb->sample[i], t);
    }
    cr_assert_geq(lightest_kept, heaviest_folded);
    /* Locations of folded stacks are gone. */
    cr_assert_eq(out.pb->n_location, 15999 * 3 + 1);
    free(kept);
    hs_pprof_free(&in);
    hs_pprof_free(&out);
    synth_free(&s);
}

Test(profile_fold, over_the_byte_limit)
{
    synth_t s;
    synth_init(&s, 3000, 100);
    hs_pprof_t in, out;
    size_t len;
    encode(&s.profile, &in, &len);
    cr_assert_gt(len, 1 << 20);
    size_t folded = 0;
    fold(&in, 16000, 64 << 10, &out, &folded);
    cr_assert_gt(folded, 0);
    cr_assert_lt(out.pb->n_sample, 3000);
    cr_assert_lt(out.pb->n_location, in.pb->n_location);
    hs_pprof_free(&in);
    hs_pprof_free(&out);
    synth_free(&s);
}

Test(profile_fold, all_zero_samples_are_dropped)
{
    synth_t s;
    synth_init(&s, 50, 2);
    hs_pprof_t in, out;
    encode(&s.profile, &in, NULL);
    for (size_t i = 0; i < in.pb->n_sample; i += 2)
        memset(in.pb->sample[i]->value, 0, 4 * sizeof(int64_t));
    size_t folded = 1;
    fold(&in, 16000, 4 << 20, &out, &folded);
    cr_assert_eq(out.pb->n_sample, 25);
    cr_assert_eq(folded, 0);
    cr_assert_eq(out.pb->n_location, 50);
    hs_pprof_free(&in);
    hs_pprof_free(&out);
    synth_free(&s);
}

Test(profile_fold, a_stack_heavy_in_one_type_is_kept)
{
    synth_t s;
    synth_init(&s, 200, 2);
    /* Row 7: almost nothing allocated, but it holds most of the live memory. */
    s.rows[7].size = 1 << 20;
    s.rows[7].live = 1;
    for (size_t i = 0; i < 200; i++)
        if (i != 7)
            s.rows[i].live = 0;
    s.rows[7].allocs = 1;
    hs_pprof_t in, out;
    encode(&s.profile, &in, NULL);
    fold(&in, 10, 4 << 20, &out, NULL);
    int found = 0;
    for (size_t i = 0; i < out.pb->n_sample; i++)
        found |= out.pb->sample[i]->value[3] == 1 << 20;
    cr_assert(found, "the live stack was folded");
    hs_pprof_free(&in);
    hs_pprof_free(&out);
    synth_free(&s);
}

Test(profile_fold, impossible_limit)
{
    synth_t s;
    synth_init(&s, 10, 2);
    hs_pprof_t in;
    encode(&s.profile, &in, NULL);
    uint8_t *buf = (uint8_t *)1;
    size_t len = 1;
    cr_assert_eq(hs_profile_fold_pack(&in, 16000, 16, &buf, &len, NULL), HS_ERR_FULL);
    cr_assert_null(buf);
    cr_assert_eq(hs_profile_fold_pack(&in, 0, 1 << 20, &buf, &len, NULL), HS_ERR_INVALID);
    hs_pprof_free(&in);
    synth_free(&s);
}

int hs_test_fold_heavy(int x);
int hs_test_fold_light(int x);

HS_NOINLINE int hs_test_fold_heavy(int x)
{
    return x * 3 + 1;
}

HS_NOINLINE int hs_test_fold_light(int x)
{
    return x * 7 + 2;
}

Test(profile_fold, unused_functions_mappings_and_strings_are_not_written)
{
    /* Three symbolized rows: the heavy one in this binary, two light ones in libc. */
    uintptr_t heavy[] = {(uintptr_t)hs_test_fold_heavy + 1};
    uintptr_t light[] = {(uintptr_t)qsort + 1};
    uintptr_t light2[] = {(uintptr_t)bsearch + 1};
    hs_pprof_row_t rows[] = {{heavy, 1, HS_MODULES_GEN_NONE, 4096, 100, 100},
                             {light, 1, HS_MODULES_GEN_NONE, 8, 1, 0},
                             {light2, 1, HS_MODULES_GEN_NONE, 8, 1, 0}};
    hs_pprof_profile_t profile = {.rate = 1, .time_ns = 2, .start_ns = 1, .rows = rows, .nrows = 3};
    hs_modules_t mods;
    hs_symbolizer_t *sym;
    cr_assert_eq(hs_mappings_read(&mods), HS_OK);
    cr_assert_eq(hs_symbolizer_new(&sym), HS_OK);
    profile.modules = &mods;
    profile.namer = hs_dump_name;
    profile.namer_arg = sym;
    hs_pprof_t in, out;
    encode(&profile, &in, NULL);
    cr_assert_eq(in.pb->n_function, 3);
    size_t folded;
    fold(&in, 2, 4 << 20, &out, &folded);
    cr_assert_eq(folded, 2);
    cr_assert_eq(out.pb->n_sample, 2);
    cr_assert_eq(out.pb->n_function, 2);
    bool has_heavy = false, has_other = false;
    for (size_t i = 0; i < out.pb->n_function; i++) {
        const char *n = hs_pprof_str(&out, out.pb->function[i]->name);
        has_heavy |= strcmp(n, "hs_test_fold_heavy") == 0;
        has_other |= strcmp(n, HS_PROFILE_FOLD_FRAME) == 0;
    }
    cr_assert(has_heavy && has_other);
    for (size_t i = 0; i < out.pb->n_string_table; i++) {
        cr_assert_null(strstr(out.pb->string_table[i], "libc"), "%s", out.pb->string_table[i]);
        cr_assert_neq(strcmp(out.pb->string_table[i], "qsort"), 0);
    }
    cr_assert_eq(out.pb->n_mapping, 1);
    cr_assert_eq(hs_test_fold_light(1), 9); /* keep it linked */
    hs_pprof_free(&in);
    hs_pprof_free(&out);
    hs_symbolizer_free(sym);
    hs_modules_free(&mods);
}

/* The string label of key in sample s, or NULL. */
static const char *label_of(const hs_pprof_t *p, const hs_pb_sample_t *s, const char *key)
{
    return hs_pprof_label_str(p, s, key);
}

/*
 * Labels as a server that makes series of them takes them: labels named in drop go, a sample
 * keeps at most max_names string labels, the heaviest max_sets sets keep their values and the
 * others become "other"; numeric labels and every total stay.
 */
Test(profile_fold, labels_restricted_for_a_server)
{
    synth_t s;
    synth_init(&s, 40, 3);
    static const char *const endpoints[] = {"/a", "/b", "/c", "/d"};
    hs_label_t labels[40][3];
    for (size_t i = 0; i < 40; i++) {
        labels[i][0] = (hs_label_t){"endpoint", endpoints[i % 4]};
        labels[i][1] = (hs_label_t){"region", "eu"};
        labels[i][2] = (hs_label_t){"tenant", i % 2 ? "t1" : "t2"};
        s.rows[i].labels = labels[i];
        s.rows[i].nlabels = 3;
        s.rows[i].allocs = (i % 4 == 2) ? 1000 : (i % 4 == 0) ? 500 : 1; /* /c, then /a */
        s.rows[i].live = 0;
    }
    hs_pprof_t in, out;
    encode(&s.profile, &in, NULL);
    const char *drop[] = {"region"};
    hs_profile_fold_labels_t lp = {.drop = drop, .ndrop = 1, .max_names = 1, .max_sets = 2};
    uint8_t *buf;
    size_t len;
    cr_assert_eq(hs_profile_fold_pack_labels(&in, 16000, 4 << 20, &lp, &buf, &len, NULL), HS_OK);
    parse(buf, len, &out);
    free(buf);
    int64_t a[4], b[4];
    totals(&in, a);
    totals(&out, b);
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
    cr_assert_eq(out.pb->n_sample, 40);
    size_t other = 0;
    for (size_t i = 0; i < out.pb->n_sample; i++) {
        const hs_pb_sample_t *smp = out.pb->sample[i];
        int64_t size;
        cr_assert(hs_pprof_label_num(&out, smp, "bytes", &size));
        cr_assert_null(label_of(&out, smp, "region"), "dropped");
        cr_assert_null(label_of(&out, smp, "tenant"), "beyond max_names");
        const char *e = label_of(&out, smp, "endpoint");
        cr_assert_not_null(e);
        if (strcmp(e, "other") == 0)
            other++;
        else
            cr_assert(strcmp(e, "/c") == 0 || strcmp(e, "/a") == 0, "%s: not among the heaviest", e);
    }
    cr_assert_eq(other, 20, "/b and /d folded");
    hs_pprof_free(&out);

    /* No room for names: no string label at all. */
    lp.max_names = 0;
    cr_assert_eq(hs_profile_fold_pack_labels(&in, 16000, 4 << 20, &lp, &buf, &len, NULL), HS_OK);
    parse(buf, len, &out);
    free(buf);
    for (size_t i = 0; i < out.pb->n_sample; i++)
        cr_assert_eq(out.pb->sample[i]->n_label, 1, "only bytes");
    hs_pprof_free(&out);
    hs_pprof_free(&in);
    synth_free(&s);
}
