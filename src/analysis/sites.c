/*
 * sites.c - a profile's samples grouped into sites, with sampling errors (see sites.h).
 *
 * Each sample the query's focus keeps is walked once: its frames are named (function name, else
 * system name, else "<module>+0x<file offset>" or "0x<address>" for an unsymbolized address;
 * inlined frames in the order pprof lists them, innermost first), leading allocator frames are
 * skipped to find the site, the values of the query's labels are put in front of its name, and
 * the row's estimate, sample counts and variance are derived from its values, its "bytes"
 * label and the profile's period. A row's identity covers its labels: one stack with two label
 * sets is two rows. Sites are found by name through a keymap.
 * Invariants: every row's site index is valid; a site's value and variance are the sums of
 * its rows'; variance is NAN exactly when some row's error is unknown.
 *
 * Reentrant, no global state; allocates (CLI and tests only).
 */
#include "sites.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "estimate.h"
#include "keymap.h"
#include "label_spec.h"
#include "pprof_file.h"
#include "profile_meta.h"

/* ---- names ------------------------------------------------------------------------------- */

static const char *const by_names[] = {"function", "stack", "file"};

void hs_sites_query_init(hs_sites_query_t *q)
{
    memset(q, 0, sizeof *q);
    q->type = "";
    q->by = HS_SITES_BY_FUNCTION;
    snprintf(q->by_text, sizeof q->by_text, "%s", by_names[q->by]);
}

hs_err_t hs_sites_parse_by(hs_sites_query_t *q, const char *spec, char *why, size_t why_len)
{
    hs_sites_query_t r = *q;
    bool frames = false;
    r.nlabels = 0;
    r.by = HS_SITES_BY_LABELS;
    for (const char *s = spec;;) {
        size_t len = strcspn(s, ",");
        bool known = false;
        for (size_t i = 0; i < HS_ARRAY_LEN(by_names) && !known; i++) {
            if (strlen(by_names[i]) == len && strncmp(s, by_names[i], len) == 0) {
                if (frames) {
                    hs_reason(why, why_len, "at most one of function, stack, file");
                    return HS_ERR_INVALID;
                }
                r.by = (hs_sites_by_t)i;
                frames = known = true;
            }
        }
        if (!known && len > 6 && strncmp(s, "label:", 6) == 0) {
            const char *w = "longer than 64 bytes";
            size_t klen = len - 6;
            if (r.nlabels == HS_SITES_MAX_LABELS) {
                hs_reason(why, why_len, "at most %d labels", HS_SITES_MAX_LABELS);
                return HS_ERR_INVALID;
            }
            char *key = r.labels[r.nlabels];
            if (klen <= HS_LABEL_KEY_MAX) {
                memcpy(key, s + 6, klen);
                key[klen] = '\0';
            }
            if (klen > HS_LABEL_KEY_MAX || hs_label_spec_key(key, &w) != HS_LABEL_OK) {
                hs_reason(why, why_len, "label:%.*s: %s", (int)klen, s + 6, w);
                return HS_ERR_INVALID;
            }
            r.nlabels++;
            known = true;
        }
        if (!known) {
            hs_reason(why, why_len,
                      "not one of function, stack, file, label:KEY, or a list of them "
                      "(label:endpoint,function)");
            return HS_ERR_INVALID;
        }
        if (!s[len])
            break;
        s += len + 1;
    }
    snprintf(r.by_text, sizeof r.by_text, "%s", spec);
    *q = r;
    return HS_OK;
}

hs_err_t hs_sites_add_focus(hs_sites_query_t *q, const char *spec, bool negate, char *why,
                            size_t why_len)
{
    const char *eq = strchr(spec, '=');
    const char *w = "longer than 64 bytes";
    if (!eq || eq == spec || !eq[1]) {
        hs_reason(why, why_len, "not KEY=VALUE (endpoint=/orders; VALUE %s: without it)",
                  HS_SITES_NONE);
        return HS_ERR_INVALID;
    }
    if (q->nfocus == HS_SITES_MAX_FOCUS) {
        hs_reason(why, why_len, "at most %d conditions", HS_SITES_MAX_FOCUS);
        return HS_ERR_INVALID;
    }
    hs_sites_filter_t *f = &q->focus[q->nfocus];
    size_t klen = (size_t)(eq - spec);
    if (klen <= HS_LABEL_KEY_MAX) {
        memcpy(f->key, spec, klen);
        f->key[klen] = '\0';
    }
    if (klen > HS_LABEL_KEY_MAX || hs_label_spec_key(f->key, &w) != HS_LABEL_OK) {
        hs_reason(why, why_len, "%.*s: %s", (int)klen, spec, w);
        return HS_ERR_INVALID;
    }
    f->value = eq + 1;
    f->negate = negate;
    q->nfocus++;
    return HS_OK;
}

bool hs_sites_match(const hs_pprof_t *p, const hs_pb_sample_t *s, const hs_sites_query_t *q)
{
    for (size_t i = 0; i < q->nfocus; i++) {
        const hs_sites_filter_t *f = &q->focus[i];
        const char *v = hs_pprof_label_str(p, s, f->key);
        bool none = strcmp(f->value, HS_SITES_NONE) == 0;
        bool equal = v ? !none && strcmp(v, f->value) == 0 : none;
        if (f->negate ? (!v || equal) : !equal)
            return false;
    }
    return true;
}

/*
 * Allocation functions: a sample's site is its first frame that is none of these. fnmatch(3)
 * patterns on the function's name (demangled for C++ and Rust), grouped by who defines them;
 * README.md ("Allocator wrappers") lists the same. A pattern only ever meets the frames at the
 * top of a stack (what called malloc, what called that, ...): a function that allocates
 * nothing directly never reaches the test, so a prefix pattern is safe where a name would be
 * common.
 */
static const char *const builtin_allocators[] = {
    /* the C library: the malloc family, its aliases, functions that return malloc'd memory */
    "malloc",
    "calloc",
    "realloc",
    "reallocarray",
    "free",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "__libc_malloc",
    "__libc_calloc",
    "__libc_realloc",
    "__libc_memalign",
    "strdup",
    "strndup",
    "__strdup",
    "__strndup",
    "wcsdup",
    "asprintf",
    "vasprintf",
    "__asprintf",
    "___asprintf",
    "__asprintf_chk",
    "__vasprintf_chk",
    "__vasprintf_internal",
    "heapsampler_record_alloc",
    /* C++: operator new and the standard allocators */
    "operator new*",
    "_Znw*",
    "_Zna*",
    "std::allocator<*>::allocate*",
    "std::__new_allocator<*>::allocate*",
    "__gnu_cxx::new_allocator<*>::allocate*",
    "std::allocator_traits<*>::allocate*",
    /* Rust: the global allocator's entry points */
    "__rust_alloc",
    "__rust_alloc_zeroed",
    "__rust_realloc",
    "__rdl_alloc",
    "__rdl_alloc_zeroed",
    "__rdl_realloc",
    "alloc::alloc::*",
    "<alloc::alloc::Global as core::alloc::Allocator>::*",
    "alloc::raw_vec::finish_grow*",
    /* redis (zmalloc.c) */
    "zmalloc",
    "zmalloc_usable",
    "zmalloc_no_tcache",
    "zcalloc",
    "zcalloc_usable",
    "zrealloc",
    "zrealloc_usable",
    "ztrymalloc",
    "ztrymalloc_usable*",
    "ztrycalloc",
    "ztrycalloc_usable*",
    "ztryrealloc",
    "ztryrealloc_usable*",
    "zstrdup",
    /* nginx (ngx_alloc.c, ngx_palloc.c) */
    "ngx_alloc",
    "ngx_calloc",
    "ngx_memalign",
    "ngx_palloc",
    "ngx_palloc_small",
    "ngx_palloc_large",
    "ngx_palloc_block",
    "ngx_pnalloc",
    "ngx_pcalloc",
    "ngx_pmemalign",
    "ngx_create_pool",
    "ngx_pstrdup",
    /* CPython (obmalloc.c, gcmodule.c, object.c) */
    "PyMem_Malloc",
    "PyMem_Calloc",
    "PyMem_Realloc",
    "PyMem_RawMalloc",
    "PyMem_RawCalloc",
    "PyMem_RawRealloc",
    "_PyMem_RawMalloc",
    "_PyMem_RawCalloc",
    "_PyMem_RawRealloc",
    "_PyMem_Debug*",
    "PyObject_Malloc",
    "PyObject_Calloc",
    "PyObject_Realloc",
    "_PyObject_Malloc",
    "_PyObject_Calloc",
    "_PyObject_Realloc",
    "pymalloc_alloc",
    "pymalloc_realloc",
    "allocate_from_new_pool",
    "new_arena",
    "_PyObject_GC_Malloc",
    "_PyObject_GC_New",
    "_PyObject_GC_NewVar",
    "gc_alloc",
    "_PyObject_New",
    "_PyObject_NewVar",
    "PyType_GenericAlloc",
    "_PyType_AllocNoTrack",
    /* PostgreSQL (mcxt.c, aset.c, generation.c, slab.c, fe_memutils.c) */
    "palloc",
    "palloc0",
    "palloc_extended",
    "palloc_aligned",
    "repalloc",
    "repalloc0",
    "repalloc_extended",
    "repalloc_huge",
    "MemoryContextAlloc*",
    "MemoryContextStrdup",
    "pstrdup",
    "pnstrdup",
    "AllocSetAlloc*",
    "AllocSetRealloc",
    "AllocSetContextCreate*",
    "GenerationAlloc*",
    "GenerationRealloc",
    "GenerationContextCreate",
    "SlabAlloc*",
    "SlabContextCreate",
    "BumpAlloc*",
    "BumpContextCreate",
    "pg_malloc*",
    "pg_realloc",
    "pg_strdup",
    "guc_malloc",
    "guc_realloc",
    "guc_strdup",
    /* GLib */
    "g_malloc*",
    "g_realloc*",
    "g_try_malloc*",
    "g_try_realloc*",
    "g_slice_alloc*",
    "g_slice_copy",
    "g_memdup*",
    "g_strdup",
    "g_strndup",
    "g_aligned_alloc*",
    /* xmalloc and friends (gnulib, libiberty, git, binutils) */
    "xmalloc",
    "xcalloc",
    "xrealloc",
    "xzalloc",
    "xmallocz",
    "xmallocz_gently",
    "xnmalloc",
    "xnrealloc",
    "x2realloc",
    "x2nrealloc",
    "xcharalloc",
    "xreallocarray",
    "ximalloc",
    "xicalloc",
    "xirealloc",
    "xizalloc",
    "xireallocarray",
    "xstrdup",
    "xstrndup",
    "xmemdup",
    "xmemdupz",
    /* OpenSSL */
    "CRYPTO_malloc",
    "CRYPTO_zalloc",
    "CRYPTO_realloc",
    "CRYPTO_clear_realloc",
    "CRYPTO_strdup",
    "CRYPTO_strndup",
    "CRYPTO_memdup",
    /* SQLite */
    "sqlite3_malloc",
    "sqlite3_malloc64",
    "sqlite3_realloc",
    "sqlite3_realloc64",
    "sqlite3Malloc",
    "sqlite3MallocZero",
    "sqlite3Realloc",
    "sqlite3MemMalloc",
    "sqlite3MemRealloc",
    "mallocWithAlarm",
    "sqlite3DbMalloc*",
    "sqlite3DbRealloc",
    "sqlite3DbReallocOrFree",
    "dbMallocRawFinish",
    "dbReallocFinish",
    "sqlite3DbStrDup",
    "sqlite3DbStrNDup",
    /* Lua */
    "l_alloc",
    "luaM_malloc_",
    "luaM_realloc_",
    "luaM_growaux_",
    "luaM_saferealloc_",
};

const char *const *hs_sites_builtin_allocators(size_t *n)
{
    *n = HS_ARRAY_LEN(builtin_allocators);
    return builtin_allocators;
}

static bool hs_sites_builtin_match(const char *name)
{
    for (size_t i = 0; i < HS_ARRAY_LEN(builtin_allocators); i++)
        if (fnmatch(builtin_allocators[i], name, FNM_NOESCAPE) == 0)
            return true;
    return false;
}

bool hs_sites_is_allocator(const char *name)
{
    if (hs_sites_builtin_match(name))
        return true;
    /* A C function's clone keeps its name before a dot: palloc.part.0, gc_alloc.lto_priv.0,
     * _PyObject_Calloc.isra.0 (GCC's partial inlining, LTO, interprocedural optimisation). */
    size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
    char base[128];
    if (n == 0 || name[n] != '.' || n >= sizeof base)
        return false;
    memcpy(base, name, n);
    base[n] = '\0';
    return hs_sites_builtin_match(base);
}

/* ---- --skip ----------------------------------------------------------------------------- */

hs_err_t hs_sites_skip_add(hs_sites_skip_t *s, const char *pattern, char *why, size_t why_len)
{
    if (hs_array_reserve((void **)&s->re, &s->cap, s->n + 1, sizeof *s->re, 4) != HS_OK) {
        hs_reason(why, why_len, "out of memory");
        return HS_ERR_NOMEM;
    }
    int rc = regcomp(&s->re[s->n], pattern, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[128];
        regerror(rc, &s->re[s->n], msg, sizeof msg);
        hs_reason(why, why_len, "not a regular expression: %s", msg);
        return rc == REG_ESPACE ? HS_ERR_NOMEM : HS_ERR_INVALID;
    }
    s->n++;
    return HS_OK;
}

bool hs_sites_skip_match(const hs_sites_skip_t *s, const char *name)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (regexec(&s->re[i], name, 0, NULL, 0) == 0)
            return true;
    return false;
}

void hs_sites_skip_free(hs_sites_skip_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        regfree(&s->re[i]);
    free(s->re);
    memset(s, 0, sizeof *s);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

/* ---- frames of one sample ---------------------------------------------------------------- */

typedef struct frames {
    char *text; /* NUL-separated names */
    size_t len, cap;
    size_t *name_at; /* offset of frame i's name in text */
    size_t *file_at; /* offset of frame i's file (or module) in text */
    size_t n, ncap;
    bool *unnamed; /* frame i has no symbol: "<module>+0x<offset>" */
    size_t ucap;
} frames_t;

static hs_err_t frames_text(frames_t *f, const char *s, size_t *at)
{
    size_t n = strlen(s) + 1;
    if (hs_array_reserve((void **)&f->text, &f->cap, f->len + n, 1, 256) != HS_OK)
        return HS_ERR_NOMEM;
    memcpy(f->text + f->len, s, n);
    *at = f->len;
    f->len += n;
    return HS_OK;
}

static hs_err_t frames_push(frames_t *f, const char *name, const char *file, bool unnamed)
{
    size_t cap = f->ncap;
    if (hs_array_reserve((void **)&f->name_at, &cap, f->n + 1, sizeof(size_t), 32) != HS_OK ||
        hs_array_reserve((void **)&f->file_at, &f->ncap, f->n + 1, sizeof(size_t), 32) != HS_OK ||
        hs_array_reserve((void **)&f->unnamed, &f->ucap, f->n + 1, sizeof(bool), 32) != HS_OK)
        return HS_ERR_NOMEM;
    f->unnamed[f->n] = unnamed;
    hs_err_t err = frames_text(f, name, &f->name_at[f->n]);
    if (err == HS_OK)
        err = frames_text(f, file, &f->file_at[f->n]);
    if (err == HS_OK)
        f->n++;
    return err;
}

/* Name every frame of s, innermost first; *addr_hash gets a hash of the addresses. */
static hs_err_t frames_of(const hs_pprof_t *p, const hs_pb_sample_t *s, frames_t *f,
                          uint64_t *addr_hash)
{
    f->len = 0;
    f->n = 0;
    uint64_t h = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < s->n_location_id; i++) {
        const hs_pb_location_t *loc = hs_pprof_location(p, s->location_id[i]);
        const hs_pb_mapping_t *map = hs_pprof_mapping(p, loc->mapping_id);
        const char *module = map ? base_name(hs_pprof_str(p, map->filename)) : "";
        h = hs_mix64(h ^ loc->address) + i;
        hs_err_t err;
        if (loc->n_line == 0) {
            char buf[512];
            if (map && module[0])
                snprintf(buf, sizeof buf, "%s+0x%llx", module,
                         (unsigned long long)(loc->address - map->memory_start + map->file_offset));
            else
                snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)loc->address);
            err = frames_push(f, buf, module[0] ? module : "?", true);
            if (err != HS_OK)
                return err;
            continue;
        }
        for (size_t j = 0; j < loc->n_line; j++) {
            const hs_pb_function_t *fn = hs_pprof_function(p, loc->line[j]->function_id);
            const char *name = hs_pprof_str(p, fn->name);
            if (!name[0])
                name = hs_pprof_str(p, fn->system_name);
            if (!name[0])
                name = "?";
            const char *file = hs_pprof_str(p, fn->filename);
            if (!file[0])
                file = module[0] ? module : "?";
            err = frames_push(f, name, file, false);
            if (err != HS_OK)
                return err;
        }
    }
    *addr_hash = h;
    return HS_OK;
}

/* ---- building ---------------------------------------------------------------------------- */

typedef struct builder {
    hs_sites_t *out;
    size_t sites_cap, rows_cap;
    hs_keymap_t map;
} builder_t;

static hs_err_t site_index(builder_t *b, const char *name, size_t *index)
{
    bool added;
    return hs_keymap_named(&b->map, (void **)&b->out->sites, &b->out->nsites, &b->sites_cap,
                           sizeof *b->out->sites, name, index, &added);
}

/* The frames every stack ends with (the C library's entry points, a thread's start). */
static bool hs_sites_is_root(const char *name)
{
    static const char *const roots[] = {
        "_start",  "__libc_start_main", "__libc_start_call_main", "start_thread", "clone", "clone3",
        "__clone", "__clone3",          "__clone_internal"};
    for (size_t i = 0; i < HS_ARRAY_LEN(roots); i++)
        if (strcmp(name, roots[i]) == 0)
            return true;
    return false;
}

/* What counts as an allocation function for one profile: built in, --skip, its own record. */
typedef struct skipper {
    const hs_sites_skip_t *user, *recorded;
} skipper_t;

static bool hs_sites_skips(const skipper_t *k, const char *name)
{
    return hs_sites_is_allocator(name) || hs_sites_skip_match(k->user, name) ||
           hs_sites_skip_match(k->recorded, name);
}

/*
 * The site name of a sample whose frames are f: the first frame that is not an allocation
 * function (the innermost when all are) nor a frame without a symbol between two of them, its
 * file, or the path from it to the root without the entry points every stack ends with.
 */
static hs_err_t site_name(const frames_t *f, hs_sites_by_t by, const skipper_t *k, char **buf,
                          size_t *cap, const char **name)
{
    if (f->n == 0) {
        *name = "[no stack]";
        return HS_OK;
    }
    size_t leaf = 0;
    for (;;) {
        while (leaf < f->n && hs_sites_skips(k, f->text + f->name_at[leaf]))
            leaf++;
        /* Frames without a symbol that an allocation function called on its way to malloc
         * are its insides (a stripped server's static AllocSetAlloc under palloc). */
        size_t next = leaf;
        while (next < f->n && f->unnamed[next])
            next++;
        if (next == leaf || next == f->n || !hs_sites_skips(k, f->text + f->name_at[next]))
            break;
        leaf = next;
    }
    if (leaf == f->n)
        leaf = 0; /* nothing but allocator frames: name the innermost */
    if (by == HS_SITES_BY_FUNCTION) {
        *name = f->text + f->name_at[leaf];
        return HS_OK;
    }
    if (by == HS_SITES_BY_FILE) {
        *name = f->text + f->file_at[leaf];
        return HS_OK;
    }
    size_t end = f->n;
    while (end > leaf + 1 && hs_sites_is_root(f->text + f->name_at[end - 1]))
        end--;
    size_t len = 0;
    for (size_t i = leaf; i < end; i++) {
        const char *s = f->text + f->name_at[i];
        size_t n = strlen(s);
        if (hs_array_reserve((void **)buf, cap, len + n + 4, 1, 256) != HS_OK)
            return HS_ERR_NOMEM;
        if (i > leaf) {
            memcpy(*buf + len, " < ", 3);
            len += 3;
        }
        memcpy(*buf + len, s, n);
        len += n;
    }
    (*buf)[len] = '\0';
    *name = *buf;
    return HS_OK;
}

/* Append s to *buf at *len, '%'-encoding spaces, '%' and control characters (a label value in
 * a site's name, whose parts are separated by spaces). */
static hs_err_t append_encoded(char **buf, size_t *cap, size_t *len, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (hs_array_reserve((void **)buf, cap, *len + 4, 1, 256) != HS_OK)
            return HS_ERR_NOMEM;
        if (*c > ' ' && *c != '%' && *c != 0x7f) {
            (*buf)[(*len)++] = (char)*c;
        } else {
            (*buf)[(*len)++] = '%';
            (*buf)[(*len)++] = hex[*c >> 4];
            (*buf)[(*len)++] = hex[*c & 15];
        }
    }
    return HS_OK;
}

/*
 * The site name with the query's labels first: "endpoint=/orders tenant=(none) <frames>", the
 * frames part left out when grouping by labels alone. *name points into *buf.
 */
static hs_err_t labelled_name(const hs_pprof_t *p, const hs_pb_sample_t *smp,
                              const hs_sites_query_t *q, const char *frames_name, char **buf,
                              size_t *cap, const char **name)
{
    size_t len = 0;
    for (size_t i = 0; i < q->nlabels; i++) {
        const char *v = hs_pprof_label_str(p, smp, q->labels[i]);
        size_t klen = strlen(q->labels[i]);
        if (hs_array_reserve((void **)buf, cap, len + klen + 3, 1, 256) != HS_OK)
            return HS_ERR_NOMEM;
        if (i)
            (*buf)[len++] = ' ';
        memcpy(*buf + len, q->labels[i], klen);
        len += klen;
        (*buf)[len++] = '=';
        hs_err_t err = append_encoded(buf, cap, &len, v ? v : HS_SITES_NONE);
        if (err != HS_OK)
            return err;
    }
    size_t flen = q->by == HS_SITES_BY_LABELS ? 0 : strlen(frames_name);
    if (hs_array_reserve((void **)buf, cap, len + flen + 2, 1, 256) != HS_OK)
        return HS_ERR_NOMEM;
    if (flen) {
        (*buf)[len++] = ' ';
        memcpy(*buf + len, frames_name, flen);
        len += flen;
    }
    (*buf)[len] = '\0';
    *name = *buf;
    return HS_OK;
}

/* A hash of a sample's string labels: samples that differ only by labels are other rows
 * (but for the reachability scan's). */
static uint64_t labels_hash(const hs_pprof_t *p, const hs_pb_sample_t *smp)
{
    uint64_t h = 0;
    for (size_t i = 0; i < smp->n_label; i++) {
        const Perftools__Profiles__Label *l = smp->label[i];
        const char *key = hs_pprof_str(p, l->key);
        /* The reachability scan splits a row at the dump (reach, held_by): the same
         * allocations as the row of the other profiles, which keep one identity. */
        if (l->str && strcmp(key, "reach") != 0 && strcmp(key, "held_by") != 0)
            h = hs_mix64(h ^ hs_hash_str(key)) ^ hs_hash_str(hs_pprof_str(p, l->str));
    }
    return h;
}

const char *hs_sites_short_name(const char *name, size_t width, char *buf, size_t len)
{
    static const char sep[] = " < ", gap[] = " < ... < ";
    size_t n = strlen(name);
    if (n <= width || width < 16 || len <= width) {
        snprintf(buf, len, "%s", name);
        return buf;
    }
    /* Whole frames from the leaf on, then the outermost one, while they fit. */
    const char *last = name, *p;
    while ((p = strstr(last, sep)) != NULL)
        last = p + 3;
    size_t tail = last != name ? strlen(last) : 0, head = 0;
    for (const char *q = name; (p = strstr(q, sep)) != NULL && p < last; q = p + 3) {
        if ((size_t)(p - name) + sizeof gap - 1 + tail > width)
            break;
        head = (size_t)(p - name);
    }
    if (head && tail) {
        snprintf(buf, len, "%.*s%s%s", (int)head, name, gap, last);
        return buf;
    }
    /* Not even the leaf and the outermost frame fit: the leaf's start, and an ellipsis. */
    snprintf(buf, len, "%.*s...", (int)(width - 3), name);
    return buf;
}

/* The sampling model of the chosen type: which values give sample counts and variances. */
typedef struct model {
    int value;      /* index of the chosen type */
    int objects;    /* index of the matching objects type (for n), -1 = none */
    int allocs;     /* index of alloc_objects, -1 = none */
    bool space;     /* bytes variance (else objects variance) */
    bool known;     /* a sampling model applies */
    bool live_type; /* inuse_* */
} model_t;

static void choose_model(const hs_pprof_t *p, const char *type, int value, model_t *m,
                         const char **unknown)
{
    memset(m, 0, sizeof *m);
    m->value = value;
    m->objects = m->allocs = -1;
    m->allocs = hs_pprof_sample_type(p, "alloc_objects");
    const hs_pb_profile_t *pb = p->pb;
    bool period_ok = pb->period > 0 && pb->period_type &&
                     strcmp(hs_pprof_str(p, pb->period_type->type), "space") == 0 &&
                     strcmp(hs_pprof_str(p, pb->period_type->unit), "bytes") == 0;
    if (strcmp(type, "inuse_space") == 0 || strcmp(type, "inuse_objects") == 0) {
        m->objects = hs_pprof_sample_type(p, "inuse_objects");
        m->space = type[6] == 's';
        m->live_type = true;
    } else if (strcmp(type, "alloc_space") == 0 || strcmp(type, "alloc_objects") == 0) {
        m->objects = m->allocs;
        m->space = type[6] == 's';
    } else {
        *unknown = "its sample type has no known sampling model (only alloc_objects, "
                   "alloc_space, inuse_objects and inuse_space have one)";
        return;
    }
    if (!period_ok) {
        *unknown = "the profile has no sampling period (a space/bytes period type)";
        return;
    }
    if (m->objects < 0) {
        *unknown = "the profile has no object counts to go with its sample type";
        return;
    }
    m->known = true;
}

static uint32_t to_count(double x)
{
    if (!(x > 0))
        return 0;
    if (x >= (double)(UINT32_MAX - 1))
        return UINT32_MAX - 1;
    return (uint32_t)llround(x);
}

static hs_err_t add_row(builder_t *b, const hs_pprof_t *p, const hs_pb_sample_t *smp,
                        const model_t *m, size_t site, uint64_t addr_hash, const char *names,
                        const char **unknown)
{
    hs_sites_t *s = b->out;
    if (hs_array_reserve((void **)&s->rows, &b->rows_cap, s->nrows + 1, sizeof *s->rows, 256) !=
        HS_OK)
        return HS_ERR_NOMEM;
    hs_sites_row_t *r = &s->rows[s->nrows++];
    memset(r, 0, sizeof *r);
    r->site = site;
    r->value = (double)smp->value[m->value];
    r->variance = NAN;
    r->unit_var = NAN;
    r->allocs = UINT32_MAX;

    int64_t size = 0;
    bool has_size = hs_pprof_label_num(p, smp, "bytes", &size) && size > 0;
    r->key = hs_mix64(hs_hash_str(names) ^ addr_hash ^ hs_mix64((uint64_t)size + 1));
    if (!m->known)
        return HS_OK;
    if (!has_size && smp->value[m->objects] == 0 && (m->allocs < 0 || smp->value[m->allocs] == 0)) {
        /* No sample at all (Go writes such rows without a size): nothing to estimate. */
        r->variance = r->unit_var = 0;
        r->allocs = m->allocs >= 0 ? 0 : UINT32_MAX;
        return HS_OK;
    }
    if (!has_size) {
        if (!*unknown)
            *unknown = "some rows carry no allocation size (a numeric \"bytes\" label)";
        return HS_OK;
    }
    uint64_t rate = p->pb->period;
    double prob = hs_estimate_prob((uint64_t)size, rate);
    r->live = to_count((double)smp->value[m->objects] * prob);
    if (m->allocs >= 0)
        r->allocs = to_count((double)smp->value[m->allocs] * prob);
    if (!m->live_type)
        r->allocs = r->live;
    r->unit_var = m->space ? hs_estimate_bytes_variance(rate, (uint64_t)size, 1)
                           : hs_estimate_objects_variance(rate, (uint64_t)size, 1);
    r->variance = r->unit_var * r->live;
    return HS_OK;
}

/*
 * What the profile says of itself in its metadata (out->meta, profile_meta.h): the allocation
 * functions it records (HEAPSAMPLER_SKIP, its "skip" key), compiled into *recorded, with
 * out->skip_recorded and, if glibc refuses the expression, out->skip_error; and its program
 * (the "program" key, else the file of its first mapping: the main executable, by pprof's
 * convention). HS_ERR_NOMEM only.
 */
static hs_err_t hs_sites_metadata(const hs_pprof_t *p, hs_sites_t *out, hs_sites_skip_t *recorded)
{
    const hs_profile_meta_t *meta = &out->meta; /* read by hs_sites_build */
    hs_err_t err = HS_OK;
    const char *value = hs_profile_meta_get(meta, "skip");
    if (value && value[0]) {
        out->skip_recorded = strdup(value);
        if (!out->skip_recorded)
            err = HS_ERR_NOMEM;
        else if (hs_sites_skip_add(recorded, value, out->skip_error, sizeof out->skip_error) ==
                 HS_ERR_NOMEM)
            err = HS_ERR_NOMEM;
    }
    const char *program = hs_profile_meta_get(meta, "program");
    if ((!program || !program[0]) && p->pb->n_mapping > 0)
        program = base_name(hs_pprof_str(p, p->pb->mapping[0]->filename));
    if (err == HS_OK && program && program[0] && !(out->program = strdup(program)))
        err = HS_ERR_NOMEM;
    return err;
}

hs_err_t hs_sites_build(const hs_pprof_t *p, const hs_sites_query_t *q, hs_sites_t *out, char *why,
                        size_t why_len)
{
    memset(out, 0, sizeof *out);
    const hs_pb_profile_t *pb = p->pb;
    const char *type = q->type;
    int ti = (type && type[0]) ? hs_pprof_sample_type(p, type) : p->default_type;
    if (ti < 0) {
        char have[256] = "";
        for (size_t i = 0; i < pb->n_sample_type; i++) {
            size_t n = strlen(have);
            snprintf(have + n, sizeof have - n, "%s%s", i ? ", " : "",
                     hs_pprof_str(p, pb->sample_type[i]->type));
        }
        if (type && type[0])
            hs_reason(why, why_len, "no sample type \"%s\" (the profile has: %s)", type,
                      have[0] ? have : "none");
        else
            hs_reason(why, why_len, "the profile has no sample types");
        return HS_ERR_INVALID;
    }
    out->type = strdup(hs_pprof_str(p, pb->sample_type[ti]->type));
    out->unit = strdup(hs_pprof_str(p, pb->sample_type[ti]->unit));
    if (!out->type || !out->unit)
        goto fail_nomem;
    out->cumulative = strncmp(out->type, "alloc_", 6) == 0;
    out->time_nanos = pb->time_nanos;
    out->duration_nanos = pb->duration_nanos;
    if (hs_profile_meta_read(p, &out->meta) != HS_OK)
        goto fail_nomem;

    const char *unknown = NULL;
    model_t m;
    choose_model(p, out->type, ti, &m, &unknown);
    if (m.known)
        out->period = (uint64_t)pb->period;

    builder_t b = {.out = out};
    frames_t f = {0};
    char *stack = NULL, *all = NULL, *named = NULL;
    size_t stack_cap = 0, all_cap = 0, named_cap = 0;
    hs_sites_by_t by = q->by == HS_SITES_BY_LABELS ? HS_SITES_BY_FUNCTION : q->by;
    hs_sites_skip_t recorded = {0};
    skipper_t skipper = {.user = q->skip, .recorded = &recorded};
    hs_err_t err = hs_sites_metadata(p, out, &recorded);
    out->nsamples = pb->n_sample;
    for (size_t i = 0; i < pb->n_sample && err == HS_OK; i++) {
        const hs_pb_sample_t *smp = pb->sample[i];
        uint64_t addr_hash = 0;
        const char *name = NULL;
        if (!hs_sites_match(p, smp, q))
            continue;
        err = frames_of(p, smp, &f, &addr_hash);
        addr_hash ^= labels_hash(p, smp);
        if (err == HS_OK)
            err = site_name(&f, by, &skipper, &stack, &stack_cap, &name);
        if (err == HS_OK && (q->nlabels || q->by == HS_SITES_BY_LABELS))
            err = labelled_name(p, smp, q, name, &named, &named_cap, &name);
        /* Every frame's name, for the row's identity. */
        size_t len = 0;
        for (size_t k = 0; k < f.n && err == HS_OK; k++) {
            const char *s = f.text + f.name_at[k];
            size_t n = strlen(s);
            if (hs_array_reserve((void **)&all, &all_cap, len + n + 2, 1, 256) != HS_OK) {
                err = HS_ERR_NOMEM;
                break;
            }
            memcpy(all + len, s, n);
            len += n;
            all[len++] = ';';
        }
        if (err == HS_OK && hs_array_reserve((void **)&all, &all_cap, len + 1, 1, 256) != HS_OK)
            err = HS_ERR_NOMEM;
        if (err != HS_OK)
            break;
        all[len] = '\0';
        size_t site;
        err = site_index(&b, name, &site);
        if (err == HS_OK)
            err = add_row(&b, p, smp, &m, site, addr_hash, all, &unknown);
    }
    free(f.text);
    free(f.name_at);
    free(f.file_at);
    free(f.unnamed);
    free(stack);
    free(all);
    free(named);
    hs_sites_skip_free(&recorded);
    hs_keymap_free(&b.map);
    if (err != HS_OK)
        goto fail_nomem;

    out->unknown_why = unknown;
    for (size_t i = 0; i < out->nrows; i++) {
        const hs_sites_row_t *r = &out->rows[i];
        hs_site_t *site = &out->sites[r->site];
        site->value += r->value;
        site->variance += unknown ? NAN : r->variance;
        site->nrows++;
        out->total += r->value;
    }
    out->total_variance = 0;
    for (size_t i = 0; i < out->nsites; i++)
        out->total_variance += out->sites[i].variance;
    if (unknown) {
        out->total_variance = NAN;
        for (size_t i = 0; i < out->nrows; i++)
            out->rows[i].variance = out->rows[i].unit_var = NAN;
    }
    return HS_OK;

fail_nomem:
    hs_sites_free(out);
    hs_reason(why, why_len, "out of memory");
    return HS_ERR_NOMEM;
}

hs_err_t hs_sites_load(const char *path, const hs_sites_query_t *q, hs_sites_t *out, char *why,
                       size_t why_len)
{
    hs_pprof_t p;
    hs_err_t err = hs_pprof_read_file(path, &p, why, why_len);
    if (err != HS_OK)
        return err;
    err = hs_sites_build(&p, q, out, why, why_len);
    hs_pprof_free(&p);
    return err;
}

void hs_sites_origin(const hs_sites_t *s, hs_sites_origin_t *out)
{
    memset(out, 0, sizeof *out);
    const hs_profile_meta_t *m = &s->meta;
    if (!m->heapsampler)
        return;
    snprintf(out->reason, sizeof out->reason, "%s", m->reason);
    snprintf(out->detail, sizeof out->detail, "%s", m->detail);
    if (!hs_profile_meta_get_u64(m, "memory.limit", &out->limit) ||
        !hs_profile_meta_get_u64(m, "memory.usage", &out->usage))
        out->limit = out->usage = 0;
    const char *ls = hs_profile_meta_get(m, "memory.limit_source");
    const char *us = hs_profile_meta_get(m, "memory.usage_source");
    snprintf(out->limit_source, sizeof out->limit_source, "%s", out->limit && ls ? ls : "");
    snprintf(out->usage_source, sizeof out->usage_source, "%s", out->usage && us ? us : "");
}

/* ---- order and lookup -------------------------------------------------------------------- */

static int site_cmp(const void *a, const void *b)
{
    const hs_site_t *x = *(const hs_site_t *const *)a, *y = *(const hs_site_t *const *)b;
    if (x->value != y->value)
        return x->value > y->value ? -1 : 1;
    return strcmp(x->name, y->name);
}

hs_err_t hs_sites_sort(hs_sites_t *s)
{
    if (s->nsites < 2)
        return HS_OK;
    hs_site_t **order = malloc(s->nsites * sizeof *order);
    size_t *new_index = malloc(s->nsites * sizeof *new_index);
    hs_site_t *sorted = malloc(s->nsites * sizeof *sorted);
    if (!order || !new_index || !sorted) {
        free(order);
        free(new_index);
        free(sorted);
        return HS_ERR_NOMEM;
    }
    for (size_t i = 0; i < s->nsites; i++)
        order[i] = &s->sites[i];
    qsort(order, s->nsites, sizeof *order, site_cmp);
    for (size_t i = 0; i < s->nsites; i++) {
        sorted[i] = *order[i];
        new_index[order[i] - s->sites] = i;
    }
    for (size_t i = 0; i < s->nrows; i++)
        s->rows[i].site = new_index[s->rows[i].site];
    free(s->sites);
    s->sites = sorted;
    free(order);
    free(new_index);
    return HS_OK;
}

const hs_site_t *hs_sites_find(const hs_sites_t *s, const char *name)
{
    for (size_t i = 0; i < s->nsites; i++)
        if (strcmp(s->sites[i].name, name) == 0)
            return &s->sites[i];
    return NULL;
}

void hs_sites_free(hs_sites_t *s)
{
    hs_profile_meta_free(&s->meta);
    for (size_t i = 0; i < s->nsites; i++)
        free(s->sites[i].name);
    free(s->sites);
    free(s->rows);
    free(s->type);
    free(s->unit);
    free(s->skip_recorded);
    free(s->program);
    memset(s, 0, sizeof *s);
}
