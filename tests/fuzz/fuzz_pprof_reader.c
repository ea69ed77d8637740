/*
 * fuzz_pprof_reader.c - the strict pprof reader (src/pprof/pprof_reader.c), which the CLI runs on
 * files users point it at: gzip, zstd or plain protobuf.
 *
 * Properties, besides no crash, no leak and no undefined behaviour: a refused input says why; an
 * accepted profile can be walked with no checks of one's own (every location, function and
 * mapping a sample or line names exists, every string index is valid, every sample has one value
 * per sample type, the default sample type is in range), and it packs (plain, gzip and zstd) to
 * bytes the reader accepts again with the same numbers of everything. The metadata in its
 * comments (profile_meta.h) parses to well-formed pairs.
 *
 * Inputs that decompress to more than 64 MiB are skipped: the reader's bound is 1 GiB (tested in
 * tests/unit/test_compress.c), far more than a fuzzing process should allocate per input.
 */
#include <string.h>

#include "compress.h"
#include "decompress.h"
#include "config.h"
#include "fuzz.h"
#include "pprof_file.h"
#include "pprof_reader.h"
#include "profile_meta.h"

#define FUZZ_MAX_RAW ((size_t)64 << 20)

static void walk(const hs_pprof_t *p)
{
    const hs_pb_profile_t *pb = p->pb;
    FUZZ_CHECK(p->default_type >= -1 && p->default_type < (int)pb->n_sample_type);
    FUZZ_CHECK(pb->n_sample_type == 0 || p->default_type >= 0);
    for (size_t i = 0; i < pb->n_sample_type; i++)
        FUZZ_CHECK(hs_pprof_str(p, pb->sample_type[i]->type) != NULL);
    for (size_t i = 0; i < pb->n_comment; i++)
        FUZZ_CHECK(hs_pprof_str(p, pb->comment[i]) != NULL);
    for (size_t i = 0; i < pb->n_sample; i++) {
        const hs_pb_sample_t *s = pb->sample[i];
        FUZZ_CHECK(s->n_value == pb->n_sample_type);
        for (size_t j = 0; j < s->n_location_id; j++) {
            const hs_pb_location_t *l = hs_pprof_location(p, s->location_id[j]);
            FUZZ_CHECK(l != NULL);
            FUZZ_CHECK(l->mapping_id == 0 || hs_pprof_mapping(p, l->mapping_id) != NULL);
            for (size_t k = 0; k < l->n_line; k++) {
                const hs_pb_function_t *f = hs_pprof_function(p, l->line[k]->function_id);
                FUZZ_CHECK(f != NULL);
                FUZZ_CHECK(hs_pprof_str(p, f->name) != NULL);
                FUZZ_CHECK(hs_pprof_str(p, f->system_name) != NULL);
                FUZZ_CHECK(hs_pprof_str(p, f->filename) != NULL);
            }
        }
        for (size_t j = 0; j < s->n_label; j++) {
            FUZZ_CHECK(hs_pprof_str(p, s->label[j]->key) != NULL);
            FUZZ_CHECK(hs_pprof_str(p, s->label[j]->str) != NULL);
        }
        int64_t num;
        (void)hs_pprof_label_num(p, s, "bytes", &num);
    }
    for (size_t i = 0; i < pb->n_mapping; i++)
        FUZZ_CHECK(hs_pprof_mapping(p, pb->mapping[i]->id) == pb->mapping[i]);
    (void)hs_pprof_sample_type(p, "inuse_space");
    /* The metadata in the comments: every pair has a key and a value. */
    hs_profile_meta_t meta;
    if (hs_profile_meta_read(p, &meta) == HS_OK) {
        for (size_t i = 0; i < meta.npairs; i++)
            FUZZ_CHECK(meta.pairs[i].key[0] != '\0' && meta.pairs[i].value != NULL);
        (void)hs_profile_meta_get(&meta, "rate");
        hs_profile_meta_free(&meta);
    }
}

static void round_trip(const hs_pprof_t *p, int compression)
{
    uint8_t *out = NULL;
    size_t len = 0;
    hs_err_t err = hs_pprof_pack(p->pb, compression, &out, &len);
    if (err == HS_ERR_NOMEM)
        return;
    FUZZ_CHECK(err == HS_OK);
    if (len == 0) { /* an empty profile packs to nothing, which no reader takes for a file */
        free(out);
        return;
    }
    hs_pprof_t q;
    char why[256] = "";
    err = hs_pprof_parse(out, len, &q, why, sizeof why);
    free(out);
    if (err == HS_ERR_NOMEM)
        return;
    if (err != HS_OK)
        fprintf(stderr, "re-read failed: %s\n", why);
    FUZZ_CHECK(err == HS_OK);
    FUZZ_CHECK(q.pb->n_sample == p->pb->n_sample);
    FUZZ_CHECK(q.pb->n_location == p->pb->n_location);
    FUZZ_CHECK(q.pb->n_function == p->pb->n_function);
    FUZZ_CHECK(q.pb->n_mapping == p->pb->n_mapping);
    FUZZ_CHECK(q.pb->n_string_table == p->pb->n_string_table);
    FUZZ_CHECK(q.pb->n_sample_type == p->pb->n_sample_type);
    FUZZ_CHECK(q.default_type == p->default_type);
    hs_pprof_free(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    hs_err_t err = hs_decompress(data, size, FUZZ_MAX_RAW, &raw, &raw_len);
    free(raw);
    if (err == HS_ERR_FULL)
        return 0;

    hs_pprof_t p;
    char why[256] = "";
    err = hs_pprof_parse(data, size, &p, why, sizeof why);
    if (err != HS_OK) {
        FUZZ_CHECK(why[0] != '\0');
        FUZZ_CHECK(p.pb == NULL && p.map_ids == NULL && p.loc_ids == NULL && p.fn_ids == NULL);
        return 0;
    }
    walk(&p);
    round_trip(&p, HS_COMPRESSION_NONE);
    round_trip(&p, HS_COMPRESSION_GZIP);
    round_trip(&p, HS_COMPRESSION_ZSTD);
    hs_pprof_free(&p);
    return 0;
}
