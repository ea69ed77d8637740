/*
 * profile_delta.c - increments of cumulative alloc_* counts between two parsed profiles (see
 * profile_delta.h).
 *
 * The samples of prev go into a table keyed by a hash of their stack and labels; each sample of
 * cur subtracts, type by type, what remains of the matching samples of prev (several samples of
 * one profile may share a key: each amount of prev is subtracted once).
 *
 * Thread-safety: no global state; allocates (the CLI).
 */
#include "profile_delta.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The frames of location id: its address, or the names of its functions when it has none. */
static uint64_t hs_profile_delta_loc_hash(const hs_pprof_t *p, uint64_t id)
{
    const hs_pb_location_t *l = hs_pprof_location(p, id);
    if (l->address)
        return hs_mix64(l->address);
    uint64_t h = 0x51ed27u;
    for (size_t i = 0; i < l->n_line; i++) {
        const hs_pb_function_t *f = hs_pprof_function(p, l->line[i]->function_id);
        h = hs_mix64(h ^ (f ? hs_hash_str(hs_pprof_str(p, f->name)) : 0));
    }
    return h;
}

static uint64_t hs_profile_delta_sample_hash(const hs_pprof_t *p, const hs_pb_sample_t *s)
{
    uint64_t h = hs_mix64(s->n_location_id + 1);
    for (size_t i = 0; i < s->n_location_id; i++)
        h = hs_mix64(h ^ hs_profile_delta_loc_hash(p, s->location_id[i]));
    for (size_t i = 0; i < s->n_label; i++) {
        const Perftools__Profiles__Label *l = s->label[i];
        h = hs_mix64(h ^ hs_hash_str(hs_pprof_str(p, l->key)));
        h = hs_mix64(h ^ hs_hash_str(hs_pprof_str(p, l->str)));
        h = hs_mix64(h ^ (uint64_t)l->num);
        h = hs_mix64(h ^ hs_hash_str(hs_pprof_str(p, l->num_unit)));
    }
    return h;
}

static bool hs_profile_delta_loc_equal(const hs_pprof_t *a, uint64_t ida, const hs_pprof_t *b,
                                       uint64_t idb)
{
    const hs_pb_location_t *x = hs_pprof_location(a, ida), *y = hs_pprof_location(b, idb);
    if (x->address || y->address)
        return x->address == y->address;
    if (x->n_line != y->n_line)
        return false;
    for (size_t i = 0; i < x->n_line; i++) {
        const hs_pb_function_t *f = hs_pprof_function(a, x->line[i]->function_id);
        const hs_pb_function_t *g = hs_pprof_function(b, y->line[i]->function_id);
        if (!f || !g || strcmp(hs_pprof_str(a, f->name), hs_pprof_str(b, g->name)) != 0)
            return false;
    }
    return true;
}

static bool hs_profile_delta_sample_equal(const hs_pprof_t *a, const hs_pb_sample_t *x,
                                          const hs_pprof_t *b, const hs_pb_sample_t *y)
{
    if (x->n_location_id != y->n_location_id || x->n_label != y->n_label)
        return false;
    for (size_t i = 0; i < x->n_location_id; i++)
        if (!hs_profile_delta_loc_equal(a, x->location_id[i], b, y->location_id[i]))
            return false;
    for (size_t i = 0; i < x->n_label; i++) {
        const Perftools__Profiles__Label *l = x->label[i], *m = y->label[i];
        if (l->num != m->num || strcmp(hs_pprof_str(a, l->key), hs_pprof_str(b, m->key)) != 0 ||
            strcmp(hs_pprof_str(a, l->str), hs_pprof_str(b, m->str)) != 0 ||
            strcmp(hs_pprof_str(a, l->num_unit), hs_pprof_str(b, m->num_unit)) != 0)
            return false;
    }
    return true;
}

hs_err_t hs_profile_delta_pprof(const hs_pprof_t *prev, hs_pprof_t *cur)
{
    const hs_pb_profile_t *pb = cur->pb;
    /* Which types are cumulative, and where prev keeps them. */
    int cur_idx[8], prev_idx[8];
    size_t ntypes = 0;
    for (size_t t = 0; t < pb->n_sample_type && ntypes < 8; t++) {
        const char *name = hs_pprof_str(cur, pb->sample_type[t]->type);
        if (strncmp(name, "alloc_", 6) != 0)
            continue;
        cur_idx[ntypes] = (int)t;
        prev_idx[ntypes++] = hs_pprof_sample_type(prev, name);
    }
    if (ntypes == 0)
        return HS_OK;

    size_t n = prev->pb->n_sample;
    size_t cap = 16;
    while (cap < n * 2)
        cap *= 2;
    uint64_t *hashes = malloc((n ? n : 1) * sizeof *hashes);
    uint32_t *slots = calloc(cap, sizeof *slots); /* prev sample index + 1, 0 = empty */
    int64_t *left = malloc((n ? n : 1) * ntypes * sizeof *left);
    if (!hashes || !slots || !left) {
        free(hashes);
        free(slots);
        free(left);
        return HS_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const hs_pb_sample_t *s = prev->pb->sample[i];
        hashes[i] = hs_profile_delta_sample_hash(prev, s);
        for (size_t t = 0; t < ntypes; t++)
            left[i * ntypes + t] = prev_idx[t] >= 0 ? s->value[prev_idx[t]] : 0;
        size_t j = hashes[i] & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = (uint32_t)i + 1;
    }
    for (size_t k = 0; k < pb->n_sample; k++) {
        hs_pb_sample_t *s = pb->sample[k];
        uint64_t h = hs_profile_delta_sample_hash(cur, s);
        for (size_t t = 0; t < ntypes; t++)
            if (s->value[cur_idx[t]] < 0)
                s->value[cur_idx[t]] = 0;
        for (size_t j = h & (cap - 1); slots[j]; j = (j + 1) & (cap - 1)) {
            size_t i = slots[j] - 1;
            if (hashes[i] != h || !hs_profile_delta_sample_equal(prev, prev->pb->sample[i], cur, s))
                continue;
            for (size_t t = 0; t < ntypes; t++) {
                int64_t *v = &s->value[cur_idx[t]];
                int64_t *l = &left[i * ntypes + t];
                int64_t d = *l < *v ? *l : *v;
                if (d > 0) {
                    *v -= d;
                    *l -= d;
                }
            }
        }
    }
    free(hashes);
    free(slots);
    free(left);
    return HS_OK;
}
