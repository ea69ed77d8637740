/*
 * profile_fold.c - fold the lightest samples of a profile into "[other]" (see profile_fold.h).
 *
 * The input is a validated profile (hs_pprof_t: every reference exists). The output message is
 * built beside it: new arrays of samples, labels, mappings and functions (copies whose string
 * indices point into a new, compacted string table), the input's own Location messages (they
 * hold no strings, and ids are kept as they are), plus one synthetic function and location for
 * "[other]" with ids one above the largest in the input. Nothing of the input is modified.
 *
 * Choosing how many samples to keep: samples are ranked by weight; the first attempt keeps as
 * many as the sample limit allows; while the packed size (protobuf-c computes it without
 * packing) is over the byte limit, the number kept shrinks in proportion to the excess, with 5%
 * to spare. Sizes shrink monotonically with the samples kept, so this ends, at the latest with
 * "[other]" alone.
 *
 * Totals: kept samples keep their values; "[other]" gets the sums of the folded ones
 * (saturating at the int64 range, which no real profile approaches), so each sample type's
 * total is unchanged.
 *
 * Labels (hs_profile_fold_pack_labels): before anything else, every sample's string labels are
 * reduced as the policy says (dropped names, at most max_names) and the distinct reduced sets
 * are found by a hash of their contents; the max_sets heaviest keep their values, the samples
 * of the others are marked, and when their labels are copied each value becomes "other" (one
 * more string of the new table). Labels change no value: totals stay exact.
 *
 * Thread-safety: no global state; allocates (writer thread under the guard, CLI).
 */
#include "profile_fold.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct hs_fold_rank {
    double weight;
    size_t index;
} hs_fold_rank_t;

typedef struct hs_fold {
    const hs_pprof_t *p;
    const hs_pb_profile_t *pb;
    hs_fold_rank_t *order; /* non-zero samples, heaviest first */
    size_t nnz;
    uint8_t *kept; /* per sample */
    uint64_t other_loc_id, other_fn_id;

    /* Rebuilt on every attempt. */
    int64_t *str_map; /* old string index -> new, -1 = unused */
    char **strs;
    size_t nstrs;
    uint8_t *loc_used, *fn_used, *map_used;
    Perftools__Profiles__Profile msg;
    Perftools__Profiles__ValueType *types, period_type;
    Perftools__Profiles__ValueType **type_ptrs;
    Perftools__Profiles__Sample *samples;
    Perftools__Profiles__Sample **sample_ptrs;
    Perftools__Profiles__Label *labels;
    Perftools__Profiles__Label **label_ptrs;
    Perftools__Profiles__Mapping *maps;
    Perftools__Profiles__Mapping **map_ptrs;
    Perftools__Profiles__Location **loc_ptrs;
    Perftools__Profiles__Location other_loc;
    Perftools__Profiles__Line other_line;
    Perftools__Profiles__Line *other_line_ptr;
    Perftools__Profiles__Function *funcs;
    Perftools__Profiles__Function **func_ptrs;
    int64_t *comments;
    int64_t *other_values;

    /* The label policy (NULL: labels as they are) and its verdicts, per sample. */
    const hs_profile_fold_labels_t *lp;
    uint8_t *label_other; /* the sample's set lost its values */
    int64_t other_value;  /* "other" in the new string table; -1 until used */
} hs_fold_t;

static int hs_profile_fold_cmp(const void *a, const void *b)
{
    const hs_fold_rank_t *x = a, *y = b;
    if (x->weight != y->weight)
        return x->weight > y->weight ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* The new index of string old, adding it to the new table on first use. */
static int64_t hs_profile_fold_str(hs_fold_t *f, int64_t old)
{
    if (old <= 0 || (uint64_t)old >= f->pb->n_string_table)
        return 0;
    if (f->str_map[old] < 0) {
        f->str_map[old] = (int64_t)f->nstrs;
        f->strs[f->nstrs++] = f->pb->string_table[old];
    }
    return f->str_map[old];
}

static int64_t hs_profile_fold_add_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* Rank the non-zero samples. */
static hs_err_t hs_profile_fold_rank(hs_fold_t *f)
{
    const hs_pb_profile_t *pb = f->pb;
    size_t nt = pb->n_sample_type;
    double *total = calloc(nt ? nt : 1, sizeof *total);
    f->order = malloc((pb->n_sample ? pb->n_sample : 1) * sizeof *f->order);
    if (!total || !f->order) {
        free(total);
        return HS_ERR_NOMEM;
    }
    for (size_t i = 0; i < pb->n_sample; i++)
        for (size_t t = 0; t < nt; t++)
            total[t] += fabs((double)pb->sample[i]->value[t]);
    f->nnz = 0;
    for (size_t i = 0; i < pb->n_sample; i++) {
        double w = 0;
        bool any = false;
        for (size_t t = 0; t < nt; t++) {
            int64_t v = pb->sample[i]->value[t];
            any |= v != 0;
            if (total[t] > 0 && fabs((double)v) / total[t] > w)
                w = fabs((double)v) / total[t];
        }
        if (any)
            f->order[f->nnz++] = (hs_fold_rank_t){w, i};
    }
    free(total);
    qsort(f->order, f->nnz, sizeof *f->order, hs_profile_fold_cmp);
    return HS_OK;
}

static hs_err_t hs_profile_fold_alloc(hs_fold_t *f)
{
    const hs_pb_profile_t *pb = f->pb;
    size_t nlabels = 0;
    for (size_t i = 0; i < pb->n_sample; i++)
        nlabels += pb->sample[i]->n_label;
#define HS_FOLD_ALLOC(field, n) ((f->field = calloc((n) ? (n) : 1, sizeof *f->field)) != NULL)
    bool ok =
        HS_FOLD_ALLOC(kept, pb->n_sample) && HS_FOLD_ALLOC(str_map, pb->n_string_table) &&
        HS_FOLD_ALLOC(strs, pb->n_string_table + 3) && HS_FOLD_ALLOC(loc_used, pb->n_location) &&
        HS_FOLD_ALLOC(fn_used, pb->n_function) && HS_FOLD_ALLOC(map_used, pb->n_mapping) &&
        HS_FOLD_ALLOC(types, pb->n_sample_type) && HS_FOLD_ALLOC(type_ptrs, pb->n_sample_type) &&
        HS_FOLD_ALLOC(samples, pb->n_sample + 1) && HS_FOLD_ALLOC(sample_ptrs, pb->n_sample + 1) &&
        HS_FOLD_ALLOC(labels, nlabels) && HS_FOLD_ALLOC(label_ptrs, nlabels) &&
        HS_FOLD_ALLOC(maps, pb->n_mapping) && HS_FOLD_ALLOC(map_ptrs, pb->n_mapping) &&
        HS_FOLD_ALLOC(loc_ptrs, pb->n_location + 1) && HS_FOLD_ALLOC(funcs, pb->n_function + 1) &&
        HS_FOLD_ALLOC(func_ptrs, pb->n_function + 1) && HS_FOLD_ALLOC(comments, pb->n_comment) &&
        HS_FOLD_ALLOC(other_values, pb->n_sample_type);
#undef HS_FOLD_ALLOC
    return ok ? HS_OK : HS_ERR_NOMEM;
}

static void hs_profile_fold_release(hs_fold_t *f)
{
    free(f->order);
    free(f->kept);
    free(f->str_map);
    free(f->strs);
    free(f->loc_used);
    free(f->fn_used);
    free(f->map_used);
    free(f->types);
    free(f->type_ptrs);
    free(f->samples);
    free(f->sample_ptrs);
    free(f->labels);
    free(f->label_ptrs);
    free(f->maps);
    free(f->map_ptrs);
    free(f->loc_ptrs);
    free(f->funcs);
    free(f->func_ptrs);
    free(f->comments);
    free(f->other_values);
    free(f->label_other);
}

/* Mark what sample s refers to. */
static void hs_profile_fold_mark(hs_fold_t *f, const hs_pb_sample_t *s)
{
    for (size_t j = 0; j < s->n_location_id; j++) {
        ptrdiff_t li = hs_pprof_location_index(f->p, s->location_id[j]);
        if (li < 0 || f->loc_used[li])
            continue;
        f->loc_used[li] = 1;
        const hs_pb_location_t *l = f->pb->location[li];
        ptrdiff_t mi = l->mapping_id ? hs_pprof_mapping_index(f->p, l->mapping_id) : -1;
        if (mi >= 0)
            f->map_used[mi] = 1;
        for (size_t k = 0; k < l->n_line; k++) {
            ptrdiff_t fi = hs_pprof_function_index(f->p, l->line[k]->function_id);
            if (fi >= 0)
                f->fn_used[fi] = 1;
        }
    }
}

/* Forget the previous attempt: nothing kept, nothing used, only "" in the new string table. */
static void hs_profile_fold_reset(hs_fold_t *f)
{
    const hs_pb_profile_t *pb = f->pb;
    memset(f->kept, 0, pb->n_sample);
    memset(f->loc_used, 0, pb->n_location);
    memset(f->fn_used, 0, pb->n_function);
    memset(f->map_used, 0, pb->n_mapping);
    for (size_t i = 0; i < pb->n_string_table; i++)
        f->str_map[i] = -1;
    f->str_map[0] = 0;
    f->strs[0] = pb->n_string_table ? pb->string_table[0] : (char *)"";
    f->nstrs = 1;
    f->other_value = -1;
}

/* Keep the `keep` heaviest samples; the others' values add up in other_values. */
static void hs_profile_fold_choose(hs_fold_t *f, size_t keep)
{
    const hs_pb_profile_t *pb = f->pb;
    for (size_t r = 0; r < keep; r++)
        f->kept[f->order[r].index] = 1;
    memset(f->other_values, 0, pb->n_sample_type * sizeof *f->other_values);
    for (size_t r = keep; r < f->nnz; r++)
        for (size_t t = 0; t < pb->n_sample_type; t++)
            f->other_values[t] = hs_profile_fold_add_sat(f->other_values[t],
                                                         pb->sample[f->order[r].index]->value[t]);
}

/* What does not depend on the samples: types, period, times, frame filters, comments. */
static void hs_profile_fold_header(hs_fold_t *f)
{
    const hs_pb_profile_t *pb = f->pb;
    Perftools__Profiles__Profile *m = &f->msg;
    for (size_t t = 0; t < pb->n_sample_type; t++) {
        f->types[t] = *pb->sample_type[t];
        f->types[t].type = hs_profile_fold_str(f, pb->sample_type[t]->type);
        f->types[t].unit = hs_profile_fold_str(f, pb->sample_type[t]->unit);
        f->type_ptrs[t] = &f->types[t];
    }
    m->n_sample_type = pb->n_sample_type;
    m->sample_type = f->type_ptrs;
    if (pb->period_type) {
        f->period_type = *pb->period_type;
        f->period_type.type = hs_profile_fold_str(f, pb->period_type->type);
        f->period_type.unit = hs_profile_fold_str(f, pb->period_type->unit);
        m->period_type = &f->period_type;
    }
    m->period = pb->period;
    m->time_nanos = pb->time_nanos;
    m->duration_nanos = pb->duration_nanos;
    m->drop_frames = hs_profile_fold_str(f, pb->drop_frames);
    m->keep_frames = hs_profile_fold_str(f, pb->keep_frames);
    m->default_sample_type = hs_profile_fold_str(f, pb->default_sample_type);
    for (size_t c = 0; c < pb->n_comment; c++)
        f->comments[c] = hs_profile_fold_str(f, pb->comment[c]);
    m->n_comment = pb->n_comment;
    m->comment = f->comments;
}

/* Is label j of sample s one the policy keeps? *names counts the string labels kept so far. */
static bool hs_profile_fold_label_kept(const hs_fold_t *f, const hs_pb_sample_t *s, size_t j,
                                       size_t *names)
{
    const Perftools__Profiles__Label *l = s->label[j];
    if (!f->lp || l->str == 0)
        return true; /* numeric labels are kept */
    const char *key = hs_pprof_str(f->p, l->key);
    for (size_t d = 0; d < f->lp->ndrop; d++)
        if (strcmp(f->lp->drop[d], key) == 0)
            return false;
    if (*names >= f->lp->max_names)
        return false;
    (*names)++;
    return true;
}

/* The value of a kept label in the new table: "other" for a sample whose set was folded. */
static int64_t hs_profile_fold_label_value(hs_fold_t *f, size_t sample, int64_t str)
{
    if (str == 0 || !f->label_other || !f->label_other[sample])
        return hs_profile_fold_str(f, str);
    if (f->other_value < 0) {
        f->other_value = (int64_t)f->nstrs;
        f->strs[f->nstrs++] = (char *)HS_PROFILE_FOLD_LABEL_OTHER;
    }
    return f->other_value;
}

/* The kept samples, in the input's order, with their labels; marks what they use. */
static size_t hs_profile_fold_samples(hs_fold_t *f)
{
    const hs_pb_profile_t *pb = f->pb;
    size_t ns = 0, nl = 0;
    for (size_t i = 0; i < pb->n_sample; i++) {
        if (!f->kept[i])
            continue;
        const hs_pb_sample_t *s = pb->sample[i];
        hs_profile_fold_mark(f, s);
        f->samples[ns] = *s;
        f->samples[ns].label = &f->label_ptrs[nl];
        f->samples[ns].n_label = 0;
        size_t names = 0;
        for (size_t j = 0; j < s->n_label; j++) {
            if (!hs_profile_fold_label_kept(f, s, j, &names))
                continue;
            f->labels[nl] = *s->label[j];
            f->labels[nl].key = hs_profile_fold_str(f, s->label[j]->key);
            f->labels[nl].str = hs_profile_fold_label_value(f, i, s->label[j]->str);
            f->labels[nl].num_unit = hs_profile_fold_str(f, s->label[j]->num_unit);
            f->label_ptrs[nl] = &f->labels[nl];
            f->samples[ns].n_label++;
            nl++;
        }
        if (!f->samples[ns].n_label)
            f->samples[ns].label = NULL;
        f->sample_ptrs[ns] = &f->samples[ns];
        ns++;
    }
    return ns;
}

/* A set of string labels and its weight, while the sets are ranked. */
typedef struct hs_fold_set {
    uint64_t hash;
    double weight;
    size_t first; /* first sample of the set (the ranking's tie-break) */
} hs_fold_set_t;

static int hs_profile_fold_set_cmp(const void *a, const void *b)
{
    const hs_fold_set_t *x = a, *y = b;
    if (x->weight != y->weight)
        return x->weight > y->weight ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* A hash of the string labels the policy keeps of sample s; 0 when it keeps none. */
static uint64_t hs_profile_fold_set_hash(const hs_fold_t *f, const hs_pb_sample_t *s)
{
    uint64_t h = 0;
    size_t names = 0;
    for (size_t j = 0; j < s->n_label; j++) {
        if (s->label[j]->str == 0 || !hs_profile_fold_label_kept(f, s, j, &names))
            continue;
        h = hs_mix64(h ^ hs_hash_str(hs_pprof_str(f->p, s->label[j]->key))) ^
            hs_hash_str(hs_pprof_str(f->p, s->label[j]->str)) ^ 1;
    }
    return h;
}

/* Mark the samples of every set beyond the max_sets heaviest (f->order: the samples' weights). */
static hs_err_t hs_profile_fold_label_sets(hs_fold_t *f)
{
    const hs_pb_profile_t *pb = f->pb;
    size_t n = pb->n_sample, nsets = 0, cap = 16;
    uint64_t *hash = malloc((n ? n : 1) * sizeof *hash);
    double *weight = calloc(n ? n : 1, sizeof *weight);
    f->label_other = calloc(n ? n : 1, 1);
    if (!hash || !weight || !f->label_other)
        goto fail_nomem;
    for (size_t r = 0; r < f->nnz; r++)
        weight[f->order[r].index] = f->order[r].weight;
    while (cap < 2 * n)
        cap *= 2;
    hs_fold_set_t *sets = malloc(n ? n * sizeof *sets : 1);
    size_t *slots = calloc(cap, sizeof *slots); /* set index + 1 */
    if (!sets || !slots) {
        free(sets);
        free(slots);
        goto fail_nomem;
    }
    for (size_t i = 0; i < n; i++) {
        hash[i] = hs_profile_fold_set_hash(f, pb->sample[i]);
        if (!hash[i])
            continue;
        size_t j = hs_mix64(hash[i]) & (cap - 1);
        while (slots[j] && sets[slots[j] - 1].hash != hash[i])
            j = (j + 1) & (cap - 1);
        if (!slots[j]) {
            sets[nsets] = (hs_fold_set_t){hash[i], 0, i};
            slots[j] = ++nsets;
        }
        sets[slots[j] - 1].weight += weight[i];
    }
    if (nsets > f->lp->max_sets) {
        qsort(sets, nsets, sizeof *sets, hs_profile_fold_set_cmp);
        /* The folded sets' hashes, back into the index, marked by a set index of 0. */
        memset(slots, 0, cap * sizeof *slots);
        for (size_t k = f->lp->max_sets; k < nsets; k++) {
            size_t j = hs_mix64(sets[k].hash) & (cap - 1);
            while (slots[j])
                j = (j + 1) & (cap - 1);
            slots[j] = k + 1;
        }
        for (size_t i = 0; i < n; i++) {
            if (!hash[i])
                continue;
            size_t j = hs_mix64(hash[i]) & (cap - 1);
            while (slots[j] && sets[slots[j] - 1].hash != hash[i])
                j = (j + 1) & (cap - 1);
            f->label_other[i] = slots[j] != 0;
        }
    }
    free(sets);
    free(slots);
    free(hash);
    free(weight);
    return HS_OK;

fail_nomem:
    free(hash);
    free(weight);
    return HS_ERR_NOMEM;
}

/* The mappings, locations and functions the kept samples use, in the input's order. */
static void hs_profile_fold_tables(hs_fold_t *f, size_t *nm, size_t *nloc, size_t *nfn)
{
    const hs_pb_profile_t *pb = f->pb;
    *nm = *nloc = *nfn = 0;
    for (size_t i = 0; i < pb->n_mapping; i++) {
        if (!f->map_used[i])
            continue;
        Perftools__Profiles__Mapping *m = &f->maps[*nm];
        *m = *pb->mapping[i];
        m->filename = hs_profile_fold_str(f, pb->mapping[i]->filename);
        m->build_id = hs_profile_fold_str(f, pb->mapping[i]->build_id);
        f->map_ptrs[(*nm)++] = m;
    }
    for (size_t i = 0; i < pb->n_location; i++)
        if (f->loc_used[i])
            f->loc_ptrs[(*nloc)++] = pb->location[i];
    for (size_t i = 0; i < pb->n_function; i++) {
        if (!f->fn_used[i])
            continue;
        Perftools__Profiles__Function *fn = &f->funcs[*nfn];
        *fn = *pb->function[i];
        fn->name = hs_profile_fold_str(f, pb->function[i]->name);
        fn->system_name = hs_profile_fold_str(f, pb->function[i]->system_name);
        fn->filename = hs_profile_fold_str(f, pb->function[i]->filename);
        f->func_ptrs[(*nfn)++] = fn;
    }
}

/* The "[other]" sample, its location and its function, after the kept ones. */
static void hs_profile_fold_other(hs_fold_t *f, size_t *ns, size_t *nloc, size_t *nfn)
{
    int64_t name = (int64_t)f->nstrs;
    f->strs[f->nstrs++] = (char *)HS_PROFILE_FOLD_FRAME;
    Perftools__Profiles__Function *fn = &f->funcs[*nfn];
    perftools__profiles__function__init(fn);
    fn->id = f->other_fn_id;
    fn->name = fn->system_name = name;
    f->func_ptrs[(*nfn)++] = fn;
    perftools__profiles__line__init(&f->other_line);
    f->other_line.function_id = f->other_fn_id;
    f->other_line_ptr = &f->other_line;
    perftools__profiles__location__init(&f->other_loc);
    f->other_loc.id = f->other_loc_id;
    f->other_loc.n_line = 1;
    f->other_loc.line = &f->other_line_ptr;
    f->loc_ptrs[(*nloc)++] = &f->other_loc;
    Perftools__Profiles__Sample *s = &f->samples[*ns];
    perftools__profiles__sample__init(s);
    s->n_location_id = 1;
    s->location_id = &f->other_loc_id;
    s->n_value = f->pb->n_sample_type;
    s->value = f->other_values;
    f->sample_ptrs[(*ns)++] = s;
}

/* Build f->msg keeping the `keep` heaviest samples (and "[other]" for the rest, if any). */
static void hs_profile_fold_build(hs_fold_t *f, size_t keep)
{
    hs_profile_fold_reset(f);
    hs_profile_fold_choose(f, keep);
    Perftools__Profiles__Profile *m = &f->msg;
    perftools__profiles__profile__init(m);
    hs_profile_fold_header(f);
    size_t ns = hs_profile_fold_samples(f), nm, nloc, nfn;
    hs_profile_fold_tables(f, &nm, &nloc, &nfn);
    if (keep < f->nnz)
        hs_profile_fold_other(f, &ns, &nloc, &nfn);
    m->n_sample = ns;
    m->sample = f->sample_ptrs;
    m->n_mapping = nm;
    m->mapping = f->map_ptrs;
    m->n_location = nloc;
    m->location = f->loc_ptrs;
    m->n_function = nfn;
    m->function = f->func_ptrs;
    m->n_string_table = f->nstrs;
    m->string_table = f->strs;
}

hs_err_t hs_profile_fold_pack(const hs_pprof_t *p, size_t max_samples, size_t max_bytes,
                              uint8_t **out, size_t *out_len, size_t *folded)
{
    return hs_profile_fold_pack_labels(p, max_samples, max_bytes, NULL, out, out_len, folded);
}

hs_err_t hs_profile_fold_pack_labels(const hs_pprof_t *p, size_t max_samples, size_t max_bytes,
                                     const hs_profile_fold_labels_t *labels, uint8_t **out,
                                     size_t *out_len, size_t *folded)
{
    *out = NULL;
    *out_len = 0;
    if (max_samples == 0)
        return HS_ERR_INVALID;
    hs_fold_t f;
    memset(&f, 0, sizeof f);
    f.p = p;
    f.pb = p->pb;
    f.lp = labels;
    for (size_t i = 0; i < f.pb->n_location; i++)
        if (f.pb->location[i]->id >= f.other_loc_id)
            f.other_loc_id = f.pb->location[i]->id + 1;
    for (size_t i = 0; i < f.pb->n_function; i++)
        if (f.pb->function[i]->id >= f.other_fn_id)
            f.other_fn_id = f.pb->function[i]->id + 1;
    if (!f.other_loc_id)
        f.other_loc_id = 1;
    if (!f.other_fn_id)
        f.other_fn_id = 1;

    hs_err_t err = hs_profile_fold_rank(&f);
    if (err == HS_OK)
        err = hs_profile_fold_alloc(&f);
    if (err == HS_OK && labels)
        err = hs_profile_fold_label_sets(&f);
    if (err != HS_OK)
        goto done;

    size_t keep = f.nnz <= max_samples ? f.nnz : max_samples - 1;
    size_t size;
    for (;;) {
        hs_profile_fold_build(&f, keep);
        size = perftools__profiles__profile__get_packed_size(&f.msg);
        if (size <= max_bytes)
            break;
        if (keep == 0) {
            err = HS_ERR_FULL;
            goto done;
        }
        size_t next = (size_t)((double)keep * ((double)max_bytes / (double)size) * 0.95);
        keep = next < keep ? next : keep - 1;
    }
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        err = HS_ERR_NOMEM;
        goto done;
    }
    if (perftools__profiles__profile__pack(&f.msg, buf) != size) {
        free(buf);
        err = HS_ERR_INVALID;
        goto done;
    }
    *out = buf;
    *out_len = size;
    if (folded)
        *folded = f.nnz - keep;
done:
    hs_profile_fold_release(&f);
    return err;
}
