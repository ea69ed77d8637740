/*
 * pprof_writer.c - neutral rows as an encoded pprof Profile (Go's heap profile layout).
 *
 * The encoder first builds its own compact tables, then the protobuf-c message in one go, then
 * packs it:
 *   - strings: interned by content in an open-addressing hash table; the table stores pointers
 *     to the caller's strings (constants, module paths and build IDs, the namer's names,
 *     comments), all of which outlive the encode, so nothing is copied. Index 0 is "".
 *   - locations: one per distinct return address (hash table (address, generation) -> id), at
 *     address - 1, which lies inside the call instruction, so that a call site resolves to the
 *     calling line and not the next one. A row with a generation (modules.h) resolves its
 *     frames with that generation; a frame that resolves to the same module as without the
 *     generation shares the location of the frame without one, so generations only split
 *     locations in reused address ranges.
 *   - names: once every location is known, all of them go to the namer in one batch; each
 *     frame it emits becomes a Line, inlined functions first and the function containing the
 *     code last (pprof's order), each with its file's line when known.
 *   - functions: one per distinct (name, system_name, file), through a hash table of those three
 *     string indices; name is the readable (demangled) name, system_name the symbol's.
 *   - mappings: every loaded module in the order of hs_modules_t (main executable first), then
 *     the unloaded modules that some location lies in; ids from 1. has_functions,
 *     has_filenames, has_line_numbers and has_inline_frames say what the namer found, so
 *     that pprof symbolizes the others itself when given the binaries.
 * Ids of mappings, locations and functions are dense, start at 1 and are therefore unique and
 * non-zero; 0 means "none" (a location outside every mapping has mapping_id 0).
 *
 * Labels: every sample has the numeric label "bytes" (the row's allocation size, which readers
 * need to know the sampling probability) and then the row's string labels, in the row's order;
 * keys and values go through the string table like every other string.
 *
 * Values: per row, hs_estimate_row() of (rate, size, allocs) gives alloc_objects/alloc_space and
 * of (rate, size, live) gives inuse_objects/inuse_space, each rounded to the nearest integer.
 * Rows whose four rounded values are all 0 are left out. A zero frame (never a real return
 * address) is skipped, and a stack without frames gives a sample without locations, so that a
 * damaged stack costs its call path but never the totals.
 *
 * Thread-safety: reentrant; no global state. Runs in the writer thread or the CLI (it mallocs,
 * and a namer may read files). Every allocation is released on every path.
 */
#include "pprof_writer.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "estimate.h"
#include "profile.pb-c.h"

#define HS_PW_NVALUES 4

/* A location while the tables are built; becomes a Perftools__Profiles__Location at the end. */
typedef struct hs_pw_loc {
    uint64_t address;
    const hs_module_t *module; /* NULL = none */
    uint32_t first_line;       /* into hs_pw_t.lines */
    uint32_t nlines;
} hs_pw_loc_t;

typedef struct hs_pw_slot {
    uintptr_t frame;
    uint32_t gen;
    uint32_t id;
} hs_pw_slot_t;

typedef struct hs_pw_line {
    uint64_t function_id;
    int64_t line;
} hs_pw_line_t;

/* A function: the string indices of its name, system name and file. */
typedef struct hs_pw_func {
    int64_t name, system_name, filename;
} hs_pw_func_t;

/* A resolved frame's strings (pointers) and its function id; id 0 = empty slot. */
typedef struct hs_pw_fptr {
    const char *name, *system_name, *file;
    uint64_t id;
} hs_pw_fptr_t;

typedef struct hs_pw {
    /* strings: strs[i] is string index i; str_slots holds index + 1, 0 = empty */
    const char **strs;
    uint64_t *str_hash;
    size_t nstrs, strs_cap;
    uint32_t *str_slots;
    size_t str_slots_cap; /* power of two */

    /* locations: (frame, generation) and its location id; frame 0 = empty slot */
    hs_pw_slot_t *loc_slots;
    size_t loc_slots_cap; /* power of two */
    hs_pw_loc_t *locs;
    size_t nlocs, locs_cap;

    /* lines of all locations */
    hs_pw_line_t *lines;
    size_t nlines, lines_cap;

    /* functions: id i + 1 is funcs[i]; func_slots holds id, 0 = empty */
    hs_pw_func_t *funcs;
    size_t nfuncs, funcs_cap;
    uint32_t *func_slots;
    size_t func_slots_cap; /* power of two */
    /* the same, by the namer's string pointers (stable when it interns its strings) */
    hs_pw_fptr_t *fptr_slots;
    size_t fptr_slots_cap, nfptrs; /* power of two */

    const hs_modules_t *modules;
    /* per module */
    uint64_t *map_id;   /* mapping id, 0 = not emitted */
    uint8_t *map_flags; /* HS_PW_HAS_* */
    uint32_t *canon;    /* the first module with the same content (same file, place, build) */
} hs_pw_t;

enum {
    HS_PW_HAS_FUNCTIONS = 1,
    HS_PW_HAS_FILENAMES = 2,
    HS_PW_HAS_LINES = 4,
    HS_PW_HAS_INLINES = 8,
    HS_PW_USED = 16,
};

static hs_err_t hs_pprof_writer_str_rehash(hs_pw_t *w, size_t cap)
{
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return HS_ERR_NOMEM;
    for (size_t i = 0; i < w->nstrs; i++) {
        size_t j = w->str_hash[i] & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = (uint32_t)i + 1;
    }
    free(w->str_slots);
    w->str_slots = slots;
    w->str_slots_cap = cap;
    return HS_OK;
}

/* The string-table index of s, adding it if new. s must outlive the encode. */
static hs_err_t hs_pprof_writer_intern(hs_pw_t *w, const char *s, int64_t *idx)
{
    if (!s)
        s = "";
    uint64_t h = hs_hash_str(s);
    size_t j = h & (w->str_slots_cap - 1);
    for (; w->str_slots[j]; j = (j + 1) & (w->str_slots_cap - 1)) {
        uint32_t i = w->str_slots[j] - 1;
        if (w->str_hash[i] == h && strcmp(w->strs[i], s) == 0) {
            *idx = i;
            return HS_OK;
        }
    }
    if (w->nstrs >= UINT32_MAX - 1)
        return HS_ERR_FULL;
    size_t cap = w->strs_cap;
    if (w->nstrs == cap) {
        size_t c1 = cap, c2 = cap;
        if (hs_array_reserve((void **)&w->strs, &c1, w->nstrs + 1, sizeof *w->strs, 64) ||
            hs_array_reserve((void **)&w->str_hash, &c2, w->nstrs + 1, sizeof *w->str_hash, 64))
            return HS_ERR_NOMEM;
        /* The two grew to the same size unless one failed (then we returned). */
        w->strs_cap = c1;
    }
    size_t i = w->nstrs++;
    w->strs[i] = s;
    w->str_hash[i] = h;
    w->str_slots[j] = (uint32_t)i + 1;
    if (w->nstrs * 2 > w->str_slots_cap) {
        hs_err_t err = hs_pprof_writer_str_rehash(w, w->str_slots_cap * 2);
        if (err != HS_OK)
            return err;
    }
    *idx = (int64_t)i;
    return HS_OK;
}

static uint64_t hs_pprof_writer_loc_hash(uintptr_t frame, uint32_t gen)
{
    return hs_mix64((uint64_t)frame ^ ((uint64_t)gen << 47));
}

static hs_err_t hs_pprof_writer_loc_rehash(hs_pw_t *w, size_t cap)
{
    hs_pw_slot_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return HS_ERR_NOMEM;
    for (size_t i = 0; i < w->loc_slots_cap; i++) {
        if (!w->loc_slots[i].frame)
            continue;
        size_t j = hs_pprof_writer_loc_hash(w->loc_slots[i].frame, w->loc_slots[i].gen) & (cap - 1);
        while (slots[j].frame)
            j = (j + 1) & (cap - 1);
        slots[j] = w->loc_slots[i];
    }
    free(w->loc_slots);
    w->loc_slots = slots;
    w->loc_slots_cap = cap;
    return HS_OK;
}

/* Remember (frame, gen) -> id. */
static hs_err_t hs_pprof_writer_loc_insert(hs_pw_t *w, uintptr_t frame, uint32_t gen, uint32_t id)
{
    size_t j = hs_pprof_writer_loc_hash(frame, gen) & (w->loc_slots_cap - 1);
    while (w->loc_slots[j].frame)
        j = (j + 1) & (w->loc_slots_cap - 1);
    w->loc_slots[j] = (hs_pw_slot_t){.frame = frame, .gen = gen, .id = id};
    if (w->nlocs * 2 > w->loc_slots_cap)
        return hs_pprof_writer_loc_rehash(w, w->loc_slots_cap * 2);
    return HS_OK;
}

/*
 * A library loaded again and again at one place (with others in between) has one record per
 * load: they are one mapping, and the same code at the same address one location.
 */
static const hs_module_t *hs_pprof_writer_canon(const hs_pw_t *w, const hs_module_t *m)
{
    return m ? &w->modules->v[w->canon[m - w->modules->v]] : NULL;
}

static uint64_t hs_pprof_writer_module_hash(const hs_module_t *m)
{
    return hs_mix64(m->start ^ (uint64_t)m->limit << 17 ^ m->file_offset << 31 ^ m->bias) ^
           hs_hash_str(m->path) ^ hs_mix64(hs_hash_str(m->build_id));
}

static int hs_pprof_writer_module_same(const hs_module_t *a, const hs_module_t *b)
{
    return a->start == b->start && a->limit == b->limit && a->file_offset == b->file_offset &&
           a->bias == b->bias && strcmp(a->path, b->path) == 0 &&
           strcmp(a->build_id, b->build_id) == 0;
}

/* canon[i]: the first module identical to module i (loaded modules never repeat). */
static hs_err_t hs_pprof_writer_canonicalize(hs_pw_t *w, size_t nmodules)
{
    size_t cap = 16;
    while (cap < nmodules * 2)
        cap *= 2;
    uint32_t *slots = calloc(cap, sizeof *slots); /* module index + 1 */
    if (!slots)
        return HS_ERR_NOMEM;
    for (size_t i = 0; i < nmodules; i++) {
        const hs_module_t *m = &w->modules->v[i];
        w->canon[i] = (uint32_t)i;
        size_t j = hs_pprof_writer_module_hash(m) & (cap - 1);
        for (; slots[j]; j = (j + 1) & (cap - 1)) {
            if (hs_pprof_writer_module_same(&w->modules->v[slots[j] - 1], m)) {
                w->canon[i] = slots[j] - 1;
                break;
            }
        }
        if (!slots[j])
            slots[j] = (uint32_t)i + 1;
    }
    free(slots);
    return HS_OK;
}

/*
 * The location id of return address frame in a stack of generation gen (non-zero), creating
 * the location if new.
 */
static hs_err_t hs_pprof_writer_location(hs_pw_t *w, uintptr_t frame, uint32_t gen, uint64_t *id)
{
    size_t j = hs_pprof_writer_loc_hash(frame, gen) & (w->loc_slots_cap - 1);
    for (; w->loc_slots[j].frame; j = (j + 1) & (w->loc_slots_cap - 1)) {
        if (w->loc_slots[j].frame == frame && w->loc_slots[j].gen == gen) {
            *id = w->loc_slots[j].id;
            return HS_OK;
        }
    }
    const hs_module_t *m =
        hs_pprof_writer_canon(w, hs_modules_find_gen(w->modules, frame - 1, gen));
    if (gen != HS_MODULES_GEN_NONE &&
        m == hs_pprof_writer_canon(
                 w, hs_modules_find_gen(w->modules, frame - 1, HS_MODULES_GEN_NONE))) {
        /* Not in a reused range, or resolved the same way: share the unmarked location. */
        hs_err_t err = hs_pprof_writer_location(w, frame, HS_MODULES_GEN_NONE, id);
        if (err == HS_OK)
            err = hs_pprof_writer_loc_insert(w, frame, gen, (uint32_t)*id);
        return err;
    }
    if (w->nlocs >= UINT32_MAX - 1)
        return HS_ERR_FULL;
    hs_err_t err =
        hs_array_reserve((void **)&w->locs, &w->locs_cap, w->nlocs + 1, sizeof *w->locs, 64);
    if (err != HS_OK)
        return err;
    hs_pw_loc_t *loc = &w->locs[w->nlocs++];
    memset(loc, 0, sizeof *loc);
    loc->address = (uint64_t)frame - 1;
    loc->module = m;
    if (m)
        w->map_flags[m - w->modules->v] |= HS_PW_USED;
    *id = w->nlocs;
    return hs_pprof_writer_loc_insert(w, frame, gen, (uint32_t)w->nlocs);
}

static hs_err_t hs_pprof_writer_func_rehash(hs_pw_t *w, size_t cap)
{
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return HS_ERR_NOMEM;
    for (size_t i = 0; i < w->nfuncs; i++) {
        const hs_pw_func_t *f = &w->funcs[i];
        size_t j = hs_mix64((uint64_t)f->name ^ (uint64_t)f->system_name << 21 ^
                            (uint64_t)f->filename << 42) &
                   (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = (uint32_t)i + 1;
    }
    free(w->func_slots);
    w->func_slots = slots;
    w->func_slots_cap = cap;
    return HS_OK;
}

static uint64_t hs_pprof_writer_fptr_hash(const hs_pprof_frame_t *f)
{
    return hs_mix64((uint64_t)(uintptr_t)f->name ^ (uint64_t)(uintptr_t)f->system_name << 7 ^
                    (uint64_t)(uintptr_t)f->file << 13);
}

static hs_err_t hs_pprof_writer_fptr_rehash(hs_pw_t *w, size_t cap)
{
    hs_pw_fptr_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return HS_ERR_NOMEM;
    for (size_t i = 0; i < w->fptr_slots_cap; i++) {
        if (!w->fptr_slots[i].id)
            continue;
        hs_pprof_frame_t f = {.name = w->fptr_slots[i].name,
                              .system_name = w->fptr_slots[i].system_name,
                              .file = w->fptr_slots[i].file};
        size_t j = hs_pprof_writer_fptr_hash(&f) & (cap - 1);
        while (slots[j].id)
            j = (j + 1) & (cap - 1);
        slots[j] = w->fptr_slots[i];
    }
    free(w->fptr_slots);
    w->fptr_slots = slots;
    w->fptr_slots_cap = cap;
    return HS_OK;
}

static hs_err_t hs_pprof_writer_function_by_content(hs_pw_t *w, const hs_pprof_frame_t *f,
                                                    uint64_t *id);

/*
 * The function id of a named frame, creating the function if new. A namer that interns its
 * strings (the symbolizer does) gives the same function with the same pointers: those are looked
 * up first, and only a new triple of pointers pays for hashing the strings' contents.
 */
static hs_err_t hs_pprof_writer_function(hs_pw_t *w, const hs_pprof_frame_t *f, uint64_t *id)
{
    size_t mask = w->fptr_slots_cap - 1;
    size_t j = hs_pprof_writer_fptr_hash(f) & mask;
    for (; w->fptr_slots[j].id; j = (j + 1) & mask) {
        const hs_pw_fptr_t *p = &w->fptr_slots[j];
        if (p->name == f->name && p->system_name == f->system_name && p->file == f->file) {
            *id = p->id;
            return HS_OK;
        }
    }
    hs_err_t err = hs_pprof_writer_function_by_content(w, f, id);
    if (err != HS_OK)
        return err;
    w->fptr_slots[j] = (hs_pw_fptr_t){f->name, f->system_name, f->file, *id};
    if (++w->nfptrs * 2 > w->fptr_slots_cap)
        return hs_pprof_writer_fptr_rehash(w, w->fptr_slots_cap * 2);
    return HS_OK;
}

static hs_err_t hs_pprof_writer_function_by_content(hs_pw_t *w, const hs_pprof_frame_t *f,
                                                    uint64_t *id)
{
    hs_pw_func_t key;
    hs_err_t err = hs_pprof_writer_intern(w, f->name, &key.name);
    if (err == HS_OK)
        err = hs_pprof_writer_intern(w, f->system_name, &key.system_name);
    if (err == HS_OK)
        err = hs_pprof_writer_intern(w, f->file, &key.filename);
    if (err != HS_OK)
        return err;
    size_t mask = w->func_slots_cap - 1;
    size_t j = hs_mix64((uint64_t)key.name ^ (uint64_t)key.system_name << 21 ^
                        (uint64_t)key.filename << 42) &
               mask;
    for (; w->func_slots[j]; j = (j + 1) & mask) {
        const hs_pw_func_t *g = &w->funcs[w->func_slots[j] - 1];
        if (g->name == key.name && g->system_name == key.system_name &&
            g->filename == key.filename) {
            *id = w->func_slots[j];
            return HS_OK;
        }
    }
    if (w->nfuncs >= UINT32_MAX - 1)
        return HS_ERR_FULL;
    err = hs_array_reserve((void **)&w->funcs, &w->funcs_cap, w->nfuncs + 1, sizeof *w->funcs, 64);
    if (err != HS_OK)
        return err;
    w->funcs[w->nfuncs++] = key;
    w->func_slots[j] = (uint32_t)w->nfuncs;
    *id = w->nfuncs;
    if (w->nfuncs * 2 > w->func_slots_cap)
        return hs_pprof_writer_func_rehash(w, w->func_slots_cap * 2);
    return HS_OK;
}

/* The namer's frames of location i become its Lines (and Functions). */
static hs_err_t hs_pprof_writer_emit(void *sink, size_t i, const hs_pprof_frame_t *frames,
                                     uint32_t n)
{
    hs_pw_t *w = sink;
    if (i >= w->nlocs)
        return HS_ERR_INVALID; /* not a location of the batch */
    hs_pw_loc_t *loc = &w->locs[i];
    if (n == 0 || !loc->module)
        return HS_OK; /* nothing to name, or a pseudo-frame (named already) */
    if (loc->nlines)
        return HS_ERR_INVALID; /* named twice */
    hs_err_t err =
        hs_array_reserve((void **)&w->lines, &w->lines_cap, w->nlines + n, sizeof *w->lines, 256);
    loc->first_line = (uint32_t)w->nlines;
    uint8_t *flags = &w->map_flags[loc->module - w->modules->v];
    for (uint32_t k = 0; k < n && err == HS_OK; k++) {
        const hs_pprof_frame_t *f = &frames[k];
        hs_pw_line_t *line = &w->lines[w->nlines];
        err = hs_pprof_writer_function(w, f, &line->function_id);
        line->line = f->line;
        *flags |= HS_PW_HAS_FUNCTIONS | (f->file ? HS_PW_HAS_FILENAMES : 0) |
                  (f->line ? HS_PW_HAS_LINES | HS_PW_HAS_INLINES : 0);
        w->nlines++;
        loc->nlines++;
    }
    return err;
}

/* Name every location in one batch. */
static hs_err_t hs_pprof_writer_name(hs_pw_t *w, hs_pprof_namer_fn namer, void *arg)
{
    size_t n = w->nlocs;
    const hs_module_t **mods = malloc((n ? n : 1) * sizeof *mods);
    uintptr_t *addrs = malloc((n ? n : 1) * sizeof *addrs);
    hs_err_t err = HS_ERR_NOMEM;
    if (mods && addrs) {
        for (size_t i = 0; i < n; i++) {
            mods[i] = w->locs[i].module;
            addrs[i] = (uintptr_t)w->locs[i].address;
        }
        err = namer(arg, mods, addrs, n, hs_pprof_writer_emit, w);
    }
    free(mods);
    free(addrs);
    return err;
}

/* A new location for a pseudo-frame row: no address, no mapping, one line naming it. */
static hs_err_t hs_pprof_writer_pseudo(hs_pw_t *w, const char *name, uint64_t *id)
{
    if (w->nlocs >= UINT32_MAX - 1)
        return HS_ERR_FULL;
    hs_err_t err =
        hs_array_reserve((void **)&w->locs, &w->locs_cap, w->nlocs + 1, sizeof *w->locs, 64);
    if (err == HS_OK)
        err = hs_array_reserve((void **)&w->lines, &w->lines_cap, w->nlines + 1, sizeof *w->lines,
                               256);
    if (err != HS_OK)
        return err;
    hs_pw_loc_t *loc = &w->locs[w->nlocs++];
    memset(loc, 0, sizeof *loc);
    loc->first_line = (uint32_t)w->nlines;
    loc->nlines = 1;
    hs_pw_line_t *line = &w->lines[w->nlines++];
    memset(line, 0, sizeof *line);
    hs_pprof_frame_t f = {.name = name, .system_name = name};
    *id = w->nlocs;
    return hs_pprof_writer_function(w, &f, &line->function_id);
}

static void hs_pprof_writer_values(uint64_t rate, const hs_pprof_row_t *row, int64_t *v)
{
    if (row->pseudo) {
        v[0] = v[1] = v[2] = 0;
        v[3] = row->size > INT64_MAX ? INT64_MAX : (int64_t)row->size;
        return;
    }
    double objects, bytes;
    hs_estimate_row(rate, row->size, row->allocs, &objects, &bytes);
    v[0] = llround(objects);
    v[1] = llround(bytes);
    hs_estimate_row(rate, row->size, row->live, &objects, &bytes);
    v[2] = llround(objects);
    v[3] = llround(bytes);
}

static void hs_pprof_writer_release(hs_pw_t *w)
{
    free(w->strs);
    free(w->str_hash);
    free(w->str_slots);
    free(w->loc_slots);
    free(w->locs);
    free(w->lines);
    free(w->funcs);
    free(w->func_slots);
    free(w->fptr_slots);
    free(w->map_id);
    free(w->map_flags);
    free(w->canon);
}

/* Everything of the protobuf-c message that is not part of hs_pw_t. */
typedef struct hs_pw_msg {
    Perftools__Profiles__ValueType types[HS_PW_NVALUES + 1]; /* + period type */
    Perftools__Profiles__ValueType *type_ptrs[HS_PW_NVALUES];
    Perftools__Profiles__Sample *samples;
    Perftools__Profiles__Sample **sample_ptrs;
    Perftools__Profiles__Label *labels;
    Perftools__Profiles__Label **label_ptrs;
    int64_t *values;
    uint64_t *loc_ids;
    Perftools__Profiles__Location *locs;
    Perftools__Profiles__Location **loc_ptrs;
    Perftools__Profiles__Line *lines;
    Perftools__Profiles__Line **line_ptrs;
    Perftools__Profiles__Function *funcs;
    Perftools__Profiles__Function **func_ptrs;
    Perftools__Profiles__Mapping *maps;
    Perftools__Profiles__Mapping **map_ptrs;
    int64_t *comments;
} hs_pw_msg_t;

static void hs_pprof_writer_msg_release(hs_pw_msg_t *g)
{
    free(g->samples);
    free(g->sample_ptrs);
    free(g->labels);
    free(g->label_ptrs);
    free(g->values);
    free(g->loc_ids);
    free(g->locs);
    free(g->loc_ptrs);
    free(g->lines);
    free(g->line_ptrs);
    free(g->funcs);
    free(g->func_ptrs);
    free(g->maps);
    free(g->map_ptrs);
    free(g->comments);
}

/* The labels of a sample: "bytes" = its size, then the row's string labels. */
static hs_err_t hs_pprof_writer_labels(hs_pw_t *w, hs_pw_msg_t *g, const hs_pprof_row_t *row,
                                       int64_t bytes_key, size_t at)
{
    Perftools__Profiles__Label *label;
    if (!row->pseudo) { /* a pseudo-frame row is no allocation: it has no size */
        label = &g->labels[at];
        perftools__profiles__label__init(label);
        label->key = bytes_key;
        label->num = row->size > INT64_MAX ? INT64_MAX : (int64_t)row->size;
        g->label_ptrs[at] = label;
        at++;
    }
    uint32_t n = row->labels ? row->nlabels : 0;
    for (uint32_t i = 0; i < n; i++) {
        label = &g->labels[at + i];
        perftools__profiles__label__init(label);
        hs_err_t err = hs_pprof_writer_intern(w, row->labels[i].key, &label->key);
        if (err == HS_OK)
            err = hs_pprof_writer_intern(w, row->labels[i].value, &label->str);
        if (err != HS_OK)
            return err;
        g->label_ptrs[at + i] = label;
    }
    return HS_OK;
}

/* Samples: values, location ids and labels of every non-empty row. */
static hs_err_t hs_pprof_writer_samples(hs_pw_t *w, hs_pw_msg_t *g,
                                        const hs_pprof_profile_t *profile, int64_t bytes_key,
                                        size_t *nsamples)
{
    size_t nframes = 0, nlabels = 0;
    for (size_t r = 0; r < profile->nrows; r++) {
        if (profile->rows[r].pseudo)
            nframes += 1;
        else if (profile->rows[r].frames)
            nframes += profile->rows[r].depth;
        nlabels += 1 + (profile->rows[r].labels ? profile->rows[r].nlabels : 0);
    }
    size_t nrows = profile->nrows ? profile->nrows : 1;
    g->samples = malloc(nrows * sizeof *g->samples);
    g->sample_ptrs = malloc(nrows * sizeof *g->sample_ptrs);
    g->labels = malloc((nlabels ? nlabels : 1) * sizeof *g->labels);
    g->label_ptrs = malloc((nlabels ? nlabels : 1) * sizeof *g->label_ptrs);
    g->values = malloc(nrows * HS_PW_NVALUES * sizeof *g->values);
    g->loc_ids = malloc((nframes ? nframes : 1) * sizeof *g->loc_ids);
    if (!g->samples || !g->sample_ptrs || !g->labels || !g->label_ptrs || !g->values || !g->loc_ids)
        return HS_ERR_NOMEM;

    size_t n = 0, used = 0, labels_used = 0;
    for (size_t r = 0; r < profile->nrows; r++) {
        const hs_pprof_row_t *row = &profile->rows[r];
        int64_t *v = &g->values[n * HS_PW_NVALUES];
        hs_pprof_writer_values(profile->rate, row, v);
        if (!v[0] && !v[1] && !v[2] && !v[3])
            continue;
        uint64_t *ids = &g->loc_ids[used];
        size_t depth = 0;
        uint32_t nframes_row = row->frames && !row->pseudo ? row->depth : 0; /* none: empty */
        if (row->pseudo) {
            hs_err_t err = hs_pprof_writer_pseudo(w, row->pseudo, &ids[depth]);
            if (err != HS_OK)
                return err;
            depth++;
        }
        for (uint32_t k = 0; k < nframes_row; k++) {
            if (!row->frames[k])
                continue;
            hs_err_t err = hs_pprof_writer_location(w, row->frames[k], row->gen, &ids[depth]);
            if (err != HS_OK)
                return err;
            depth++;
        }
        used += depth;
        size_t nl = (row->pseudo ? 0 : 1) + (row->labels ? row->nlabels : 0);
        hs_err_t err = hs_pprof_writer_labels(w, g, row, bytes_key, labels_used);
        if (err != HS_OK)
            return err;

        Perftools__Profiles__Sample *s = &g->samples[n];
        perftools__profiles__sample__init(s);
        s->n_location_id = depth;
        s->location_id = ids;
        s->n_value = HS_PW_NVALUES;
        s->value = v;
        s->n_label = nl;
        s->label = &g->label_ptrs[labels_used];
        labels_used += nl;
        g->sample_ptrs[n] = s;
        n++;
    }
    *nsamples = n;
    return HS_OK;
}

/* Mapping ids: every loaded module, then the unloaded ones some location lies in. */
static size_t hs_pprof_writer_mapping_ids(hs_pw_t *w, size_t nmodules)
{
    size_t n = 0;
    for (size_t i = 0; i < nmodules; i++)
        if (w->modules->v[i].loaded || (w->map_flags[i] & HS_PW_USED))
            w->map_id[i] = ++n;
    return n;
}

/* Locations, functions and mappings from the finished tables. */
static hs_err_t hs_pprof_writer_tables(hs_pw_t *w, hs_pw_msg_t *g, size_t nmodules,
                                       size_t *nmappings)
{
    size_t nl = w->nlocs ? w->nlocs : 1;
    size_t nlines = w->nlines ? w->nlines : 1;
    size_t nf = w->nfuncs ? w->nfuncs : 1;
    size_t nm = nmodules ? nmodules : 1;
    g->locs = malloc(nl * sizeof *g->locs);
    g->loc_ptrs = malloc(nl * sizeof *g->loc_ptrs);
    g->lines = malloc(nlines * sizeof *g->lines);
    g->line_ptrs = malloc(nlines * sizeof *g->line_ptrs);
    g->funcs = malloc(nf * sizeof *g->funcs);
    g->func_ptrs = malloc(nf * sizeof *g->func_ptrs);
    g->maps = malloc(nm * sizeof *g->maps);
    g->map_ptrs = malloc(nm * sizeof *g->map_ptrs);
    if (!g->locs || !g->loc_ptrs || !g->lines || !g->line_ptrs || !g->funcs || !g->func_ptrs ||
        !g->maps || !g->map_ptrs)
        return HS_ERR_NOMEM;

    *nmappings = hs_pprof_writer_mapping_ids(w, nmodules);
    for (size_t i = 0; i < w->nlines; i++) {
        Perftools__Profiles__Line *line = &g->lines[i];
        perftools__profiles__line__init(line);
        line->function_id = w->lines[i].function_id;
        line->line = w->lines[i].line;
        g->line_ptrs[i] = line;
    }
    for (size_t i = 0; i < w->nlocs; i++) {
        const hs_pw_loc_t *loc = &w->locs[i];
        Perftools__Profiles__Location *l = &g->locs[i];
        perftools__profiles__location__init(l);
        l->id = i + 1;
        l->mapping_id = loc->module ? w->map_id[loc->module - w->modules->v] : 0;
        l->address = loc->address;
        if (loc->nlines) {
            l->n_line = loc->nlines;
            l->line = &g->line_ptrs[loc->first_line];
        }
        g->loc_ptrs[i] = l;
    }
    for (size_t i = 0; i < w->nfuncs; i++) {
        Perftools__Profiles__Function *f = &g->funcs[i];
        perftools__profiles__function__init(f);
        f->id = i + 1;
        f->name = w->funcs[i].name;
        f->system_name = w->funcs[i].system_name;
        f->filename = w->funcs[i].filename;
        g->func_ptrs[i] = f;
    }
    for (size_t i = 0; i < nmodules; i++) {
        if (!w->map_id[i])
            continue;
        const hs_module_t *mod = &w->modules->v[i];
        Perftools__Profiles__Mapping *m = &g->maps[w->map_id[i] - 1];
        perftools__profiles__mapping__init(m);
        m->id = w->map_id[i];
        m->memory_start = mod->start;
        m->memory_limit = mod->limit;
        m->file_offset = mod->file_offset;
        hs_err_t err = hs_pprof_writer_intern(w, mod->path, &m->filename);
        if (err == HS_OK)
            err = hs_pprof_writer_intern(w, mod->build_id, &m->build_id);
        if (err != HS_OK)
            return err;
        uint8_t flags = w->map_flags[i];
        m->has_functions = (flags & HS_PW_HAS_FUNCTIONS) != 0;
        m->has_filenames = (flags & HS_PW_HAS_FILENAMES) != 0;
        m->has_line_numbers = (flags & HS_PW_HAS_LINES) != 0;
        m->has_inline_frames = (flags & HS_PW_HAS_INLINES) != 0;
        g->map_ptrs[m->id - 1] = m;
    }
    return HS_OK;
}

/* Strings of the fixed header: sample types, period type, default sample type. */
static hs_err_t hs_pprof_writer_header(hs_pw_t *w, hs_pw_msg_t *g, int64_t *bytes_key)
{
    static const char *const type_names[HS_PW_NVALUES][2] = {
        {"alloc_objects", "count"},
        {"alloc_space", "bytes"},
        {"inuse_objects", "count"},
        {"inuse_space", "bytes"},
    };
    int64_t empty;
    hs_err_t err = hs_pprof_writer_intern(w, "", &empty); /* index 0 */
    for (int i = 0; err == HS_OK && i < HS_PW_NVALUES; i++) {
        Perftools__Profiles__ValueType *vt = &g->types[i];
        perftools__profiles__value_type__init(vt);
        err = hs_pprof_writer_intern(w, type_names[i][0], &vt->type);
        if (err == HS_OK)
            err = hs_pprof_writer_intern(w, type_names[i][1], &vt->unit);
        g->type_ptrs[i] = vt;
    }
    Perftools__Profiles__ValueType *period_type = &g->types[HS_PW_NVALUES];
    perftools__profiles__value_type__init(period_type);
    if (err == HS_OK)
        err = hs_pprof_writer_intern(w, "space", &period_type->type);
    if (err == HS_OK)
        err = hs_pprof_writer_intern(w, "bytes", &period_type->unit);
    if (err == HS_OK)
        err = hs_pprof_writer_intern(w, "bytes", bytes_key);
    return err;
}

static hs_err_t hs_pprof_writer_comments(hs_pw_t *w, hs_pw_msg_t *g, const char *const *comments,
                                         size_t *ncomments)
{
    size_t n = 0;
    while (comments && comments[n])
        n++;
    g->comments = malloc((n ? n : 1) * sizeof *g->comments);
    if (!g->comments)
        return HS_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        hs_err_t err = hs_pprof_writer_intern(w, comments[i], &g->comments[i]);
        if (err != HS_OK)
            return err;
    }
    *ncomments = n;
    return HS_OK;
}

/* Build every table and fill *p, whose arrays point into w and g. */
static hs_err_t hs_pprof_writer_build(hs_pw_t *w, hs_pw_msg_t *g, const hs_pprof_profile_t *profile,
                                      Perftools__Profiles__Profile *p)
{
    size_t nmodules = profile->modules ? profile->modules->n : 0;
    w->modules = profile->modules;
    /* Start small: distinct addresses are far fewer than frames, and a table sized for the
     * frames would cost page faults and cache misses. It doubles at half full. */
    w->loc_slots_cap = 4096;
    w->loc_slots = calloc(w->loc_slots_cap, sizeof *w->loc_slots);
    w->str_slots_cap = 1024;
    w->str_slots = calloc(w->str_slots_cap, sizeof *w->str_slots);
    w->func_slots_cap = 1024;
    w->func_slots = calloc(w->func_slots_cap, sizeof *w->func_slots);
    w->fptr_slots_cap = 1024;
    w->fptr_slots = calloc(w->fptr_slots_cap, sizeof *w->fptr_slots);
    w->map_id = calloc(nmodules ? nmodules : 1, sizeof *w->map_id);
    w->map_flags = calloc(nmodules ? nmodules : 1, sizeof *w->map_flags);
    w->canon = calloc(nmodules ? nmodules : 1, sizeof *w->canon);
    if (!w->loc_slots || !w->str_slots || !w->func_slots || !w->fptr_slots || !w->map_id ||
        !w->map_flags || !w->canon)
        return HS_ERR_NOMEM;
    if (hs_pprof_writer_canonicalize(w, nmodules) != HS_OK)
        return HS_ERR_NOMEM;

    int64_t bytes_key;
    size_t nsamples = 0, ncomments = 0, nmappings = 0;
    hs_err_t err = hs_pprof_writer_header(w, g, &bytes_key);
    if (err == HS_OK)
        err = hs_pprof_writer_samples(w, g, profile, bytes_key, &nsamples);
    if (err == HS_OK && profile->namer)
        err = hs_pprof_writer_name(w, profile->namer, profile->namer_arg);
    if (err == HS_OK)
        err = hs_pprof_writer_tables(w, g, nmodules, &nmappings);
    if (err == HS_OK)
        err = hs_pprof_writer_comments(w, g, profile->comments, &ncomments);
    if (err != HS_OK)
        return err;

    perftools__profiles__profile__init(p);
    p->n_sample_type = HS_PW_NVALUES;
    p->sample_type = g->type_ptrs;
    p->n_sample = nsamples;
    p->sample = g->sample_ptrs;
    p->n_mapping = nmappings;
    p->mapping = g->map_ptrs;
    p->n_location = w->nlocs;
    p->location = g->loc_ptrs;
    p->n_function = w->nfuncs;
    p->function = g->func_ptrs;
    /* protobuf-c only reads the strings while packing. */
    p->n_string_table = w->nstrs;
    p->string_table = (char **)w->strs;
    p->time_nanos = (int64_t)profile->time_ns;
    p->duration_nanos =
        profile->time_ns > profile->start_ns ? (int64_t)(profile->time_ns - profile->start_ns) : 0;
    p->period_type = &g->types[HS_PW_NVALUES];
    p->period = profile->rate > INT64_MAX ? INT64_MAX : (int64_t)profile->rate;
    p->n_comment = ncomments;
    p->comment = g->comments;
    p->default_sample_type = g->types[HS_PW_NVALUES - 1].type; /* "inuse_space" */
    return HS_OK;
}

hs_err_t hs_pprof_encode(const hs_pprof_profile_t *profile, uint8_t **out, size_t *out_len)
{
    if (!out || !out_len)
        return HS_ERR_INVALID;
    *out = NULL;
    *out_len = 0;
    if (!profile || (profile->nrows && !profile->rows))
        return HS_ERR_INVALID;

    hs_pw_t w;
    hs_pw_msg_t g;
    Perftools__Profiles__Profile p;
    uint8_t *buf = NULL;
    size_t len = 0;
    memset(&w, 0, sizeof w);
    memset(&g, 0, sizeof g);
    hs_err_t err = hs_pprof_writer_build(&w, &g, profile, &p);
    if (err != HS_OK)
        goto fail_build;

    len = perftools__profiles__profile__get_packed_size(&p);
    buf = malloc(len ? len : 1);
    err = HS_ERR_NOMEM;
    if (!buf)
        goto fail_alloc;
    err = HS_ERR_INVALID;
    if (perftools__profiles__profile__pack(&p, buf) != len)
        goto fail_pack;
    hs_pprof_writer_msg_release(&g);
    hs_pprof_writer_release(&w);
    *out = buf;
    *out_len = len;
    return HS_OK;

fail_pack:
    free(buf);
fail_alloc:
fail_build:
    hs_pprof_writer_msg_release(&g);
    hs_pprof_writer_release(&w);
    return err;
}
