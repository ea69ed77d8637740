/*
 * pprof_reader.c - strict decoding of pprof profiles (see pprof_reader.h).
 *
 * Decoding of protobuf bytes (decompression and files are pprof_file.c's, which the preloaded
 * library does not need); protobuf-c rejects malformed wire data - except a field numbered 0
 * written as a multi-byte varint, which it keeps as an unknown field and would pack back as bytes
 * it then refuses, so validate() rejects that itself; then validate() checks every reference, so
 * that callers can index string_table and look up ids without checks of their own. Lookups by id
 * use sorted (id, index) arrays and binary search.
 */
#include "pprof_reader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compress.h"

static int cmp_id(const void *a, const void *b)
{
    uint64_t x = ((const hs_pprof_id_t *)a)->id, y = ((const hs_pprof_id_t *)b)->id;
    return x < y ? -1 : x > y;
}

/* Build a sorted id index; reject id 0 and duplicates. */
static hs_err_t index_ids(hs_pprof_id_t **out, size_t n, uint64_t (*id_of)(const void *, size_t),
                          const void *arr, const char *what, char *why, size_t why_len)
{
    *out = NULL;
    if (n == 0)
        return HS_OK;
    hs_pprof_id_t *v = malloc(n * sizeof *v);
    if (!v)
        return HS_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        v[i].id = id_of(arr, i);
        v[i].index = i;
        if (v[i].id == 0) {
            hs_reason(why, why_len, "%s %zu has id 0", what, i);
            free(v);
            return HS_ERR_INVALID;
        }
    }
    qsort(v, n, sizeof *v, cmp_id);
    for (size_t i = 1; i < n; i++) {
        if (v[i].id == v[i - 1].id) {
            hs_reason(why, why_len, "%s id %llu is used twice", what, (unsigned long long)v[i].id);
            free(v);
            return HS_ERR_INVALID;
        }
    }
    *out = v;
    return HS_OK;
}

static uint64_t mapping_id(const void *arr, size_t i)
{
    return ((hs_pb_mapping_t *const *)arr)[i]->id;
}

static uint64_t location_id(const void *arr, size_t i)
{
    return ((hs_pb_location_t *const *)arr)[i]->id;
}

static uint64_t function_id(const void *arr, size_t i)
{
    return ((hs_pb_function_t *const *)arr)[i]->id;
}

static const hs_pprof_id_t *find_id(const hs_pprof_id_t *v, size_t n, uint64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].id < id)
            lo = mid + 1;
        else if (v[mid].id > id)
            hi = mid;
        else
            return &v[mid];
    }
    return NULL;
}

const hs_pb_location_t *hs_pprof_location(const hs_pprof_t *p, uint64_t id)
{
    const hs_pprof_id_t *e = find_id(p->loc_ids, p->pb->n_location, id);
    return e ? p->pb->location[e->index] : NULL;
}

const hs_pb_function_t *hs_pprof_function(const hs_pprof_t *p, uint64_t id)
{
    const hs_pprof_id_t *e = find_id(p->fn_ids, p->pb->n_function, id);
    return e ? p->pb->function[e->index] : NULL;
}

const hs_pb_mapping_t *hs_pprof_mapping(const hs_pprof_t *p, uint64_t id)
{
    const hs_pprof_id_t *e = find_id(p->map_ids, p->pb->n_mapping, id);
    return e ? p->pb->mapping[e->index] : NULL;
}

ptrdiff_t hs_pprof_location_index(const hs_pprof_t *p, uint64_t id)
{
    const hs_pprof_id_t *e = find_id(p->loc_ids, p->pb->n_location, id);
    return e ? (ptrdiff_t)e->index : -1;
}

ptrdiff_t hs_pprof_function_index(const hs_pprof_t *p, uint64_t id)
{
    const hs_pprof_id_t *e = find_id(p->fn_ids, p->pb->n_function, id);
    return e ? (ptrdiff_t)e->index : -1;
}

ptrdiff_t hs_pprof_mapping_index(const hs_pprof_t *p, uint64_t id)
{
    const hs_pprof_id_t *e = find_id(p->map_ids, p->pb->n_mapping, id);
    return e ? (ptrdiff_t)e->index : -1;
}

const char *hs_pprof_str(const hs_pprof_t *p, int64_t index)
{
    if (index <= 0 || (uint64_t)index >= p->pb->n_string_table)
        return "";
    return p->pb->string_table[index];
}

int hs_pprof_sample_type(const hs_pprof_t *p, const char *type)
{
    for (size_t i = 0; i < p->pb->n_sample_type; i++)
        if (strcmp(hs_pprof_str(p, p->pb->sample_type[i]->type), type) == 0)
            return (int)i;
    return -1;
}

int hs_pprof_label_num(const hs_pprof_t *p, const hs_pb_sample_t *s, const char *key, int64_t *num)
{
    for (size_t i = 0; i < s->n_label; i++) {
        const Perftools__Profiles__Label *l = s->label[i];
        if (l->str == 0 && strcmp(hs_pprof_str(p, l->key), key) == 0) {
            *num = l->num;
            return 1;
        }
    }
    return 0;
}

const char *hs_pprof_label_str(const hs_pprof_t *p, const hs_pb_sample_t *s, const char *key)
{
    for (size_t i = 0; i < s->n_label; i++) {
        const Perftools__Profiles__Label *l = s->label[i];
        if (l->str != 0 && strcmp(hs_pprof_str(p, l->key), key) == 0)
            return hs_pprof_str(p, l->str);
    }
    return NULL;
}

/* ---- validation --------------------------------------------------------------------------- */

#define STR_OK(i) ((i) >= 0 && (uint64_t)(i) < nstr)
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            hs_reason(why, why_len, __VA_ARGS__);                                                  \
            return HS_ERR_INVALID;                                                                 \
        }                                                                                          \
    } while (0)

/* 1 if m or a message inside it holds an unknown field numbered 0 (not valid protobuf). */
static int has_field_zero(const ProtobufCMessage *m)
{
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0)
            return 1;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *base = (const char *)m + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n;
            ProtobufCMessage *const *v;
            memcpy(&n, (const char *)m + f->quantifier_offset, sizeof n);
            memcpy(&v, base, sizeof v);
            for (size_t k = 0; k < n; k++)
                if (v[k] && has_field_zero(v[k]))
                    return 1;
        } else {
            const ProtobufCMessage *sub;
            memcpy(&sub, base, sizeof sub);
            if (sub && has_field_zero(sub))
                return 1;
        }
    }
    return 0;
}

static hs_err_t validate(hs_pprof_t *p, char *why, size_t why_len)
{
    const hs_pb_profile_t *pb = p->pb;
    uint64_t nstr = pb->n_string_table;
    CHECK(!has_field_zero(&pb->base), "not a pprof profile (a field is numbered 0)");
    CHECK(nstr == 0 || pb->string_table[0][0] == '\0', "string_table[0] is not empty");
    for (size_t i = 0; i < pb->n_sample_type; i++) {
        CHECK(STR_OK(pb->sample_type[i]->type) && STR_OK(pb->sample_type[i]->unit),
              "sample type %zu refers to a string that does not exist", i);
    }
    if (pb->period_type)
        CHECK(STR_OK(pb->period_type->type) && STR_OK(pb->period_type->unit),
              "the period type refers to a string that does not exist");
    CHECK(STR_OK(pb->drop_frames) && STR_OK(pb->keep_frames) && STR_OK(pb->default_sample_type),
          "a profile field refers to a string that does not exist");
    for (size_t i = 0; i < pb->n_comment; i++)
        CHECK(STR_OK(pb->comment[i]), "comment %zu refers to a string that does not exist", i);

    hs_err_t err;
    if ((err = index_ids(&p->map_ids, pb->n_mapping, mapping_id, pb->mapping, "mapping", why,
                         why_len)) != HS_OK ||
        (err = index_ids(&p->loc_ids, pb->n_location, location_id, pb->location, "location", why,
                         why_len)) != HS_OK ||
        (err = index_ids(&p->fn_ids, pb->n_function, function_id, pb->function, "function", why,
                         why_len)) != HS_OK)
        return err;

    for (size_t i = 0; i < pb->n_mapping; i++) {
        const hs_pb_mapping_t *m = pb->mapping[i];
        CHECK(STR_OK(m->filename) && STR_OK(m->build_id),
              "mapping %llu refers to a string that does not exist", (unsigned long long)m->id);
    }
    for (size_t i = 0; i < pb->n_function; i++) {
        const hs_pb_function_t *f = pb->function[i];
        CHECK(STR_OK(f->name) && STR_OK(f->system_name) && STR_OK(f->filename),
              "function %llu refers to a string that does not exist", (unsigned long long)f->id);
    }
    for (size_t i = 0; i < pb->n_location; i++) {
        const hs_pb_location_t *l = pb->location[i];
        CHECK(l->mapping_id == 0 || hs_pprof_mapping(p, l->mapping_id),
              "location %llu refers to mapping %llu, which does not exist",
              (unsigned long long)l->id, (unsigned long long)l->mapping_id);
        for (size_t j = 0; j < l->n_line; j++)
            CHECK(hs_pprof_function(p, l->line[j]->function_id),
                  "location %llu refers to function %llu, which does not exist",
                  (unsigned long long)l->id, (unsigned long long)l->line[j]->function_id);
    }
    for (size_t i = 0; i < pb->n_sample; i++) {
        const hs_pb_sample_t *s = pb->sample[i];
        CHECK(s->n_value == pb->n_sample_type, "sample %zu has %zu values for %zu sample types", i,
              s->n_value, pb->n_sample_type);
        for (size_t j = 0; j < s->n_location_id; j++)
            CHECK(hs_pprof_location(p, s->location_id[j]),
                  "sample %zu refers to location %llu, which does not exist", i,
                  (unsigned long long)s->location_id[j]);
        for (size_t j = 0; j < s->n_label; j++) {
            const Perftools__Profiles__Label *l = s->label[j];
            CHECK(STR_OK(l->key) && STR_OK(l->str) && STR_OK(l->num_unit),
                  "a label of sample %zu refers to a string that does not exist", i);
        }
    }

    p->default_type = pb->n_sample_type ? (int)pb->n_sample_type - 1 : -1;
    if (pb->default_sample_type) {
        int t = hs_pprof_sample_type(p, hs_pprof_str(p, pb->default_sample_type));
        if (t >= 0)
            p->default_type = t;
    }
    return HS_OK;
}

/* ---- entry points ------------------------------------------------------------------------- */

hs_err_t hs_pprof_decode(const uint8_t *data, size_t len, hs_pprof_t *out, char *why,
                         size_t why_len)
{
    memset(out, 0, sizeof *out);
    out->pb = perftools__profiles__profile__unpack(NULL, len, data);
    if (!out->pb) {
        hs_reason(why, why_len, "not a pprof profile (the protobuf data does not decode)");
        return HS_ERR_INVALID;
    }
    hs_err_t err = validate(out, why, why_len);
    if (err != HS_OK)
        hs_pprof_free(out);
    return err;
}

void hs_pprof_free(hs_pprof_t *p)
{
    if (p->pb)
        perftools__profiles__profile__free_unpacked(p->pb, NULL);
    free(p->map_ids);
    free(p->loc_ids);
    free(p->fn_ids);
    memset(p, 0, sizeof *p);
}

hs_err_t hs_pprof_pack(const hs_pb_profile_t *pb, int compression, uint8_t **out, size_t *out_len)
{
    size_t len = perftools__profiles__profile__get_packed_size(pb);
    uint8_t *raw = malloc(len ? len : 1);
    if (!raw)
        return HS_ERR_NOMEM;
    perftools__profiles__profile__pack(pb, raw);
    hs_err_t err = hs_compress(compression, raw, len, out, out_len);
    free(raw);
    return err;
}
