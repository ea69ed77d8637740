/*
 * mappings.c - the executable segments of the loaded (and once loaded) modules, for pprof
 * Mappings and for the symbolizer.
 *
 * Segments. One hs_module_t per executable (PF_X) PT_LOAD segment reported by dl_iterate_phdr:
 *   start       = bias + p_vaddr, rounded down to the page (the first byte of the mapping);
 *   limit       = bias + p_vaddr + p_memsz;
 *   file_offset = p_offset, rounded down to the page: the file offset of `start`, which is what
 *                 pprof's Mapping.file_offset means (p_vaddr and p_offset are congruent modulo
 *                 the page size, so both round down by the same amount);
 *   bias        = dlpi_addr (runtime address = ELF virtual address + bias).
 * The GNU build ID is read from the module's PT_NOTE segments in memory (they are part of a
 * loaded, readable segment), never from the file. The main executable is the first object
 * dl_iterate_phdr reports, with an empty name; its path is the one it was executed by when that
 * still leads to it (program.h: /usr/bin/redis-server rather than the redis-check-rdb it links
 * to), else /proc/self/exe's. The vDSO has
 * no file: it is recognised by its program headers lying in the image the kernel announced in
 * AT_SYSINFO_EHDR (or by its soname) and is called "[vdso]".
 *
 * The record. A dump-time dl_iterate_phdr never sees a library that was dlopen'ed, sampled in
 * and dlclose'd between two dumps, so segments are kept in a process-wide record, numbered in
 * the order they were first seen (record ids, never reused). It is refreshed from a "snapshot"
 * (one complete dl_iterate_phdr pass, copied under the loader lock) whenever the loader's
 * counters moved. gen = dlpi_adds + dlpi_subs identifies a state of the loader's list: both
 * counters only grow, so equal sums mean equal counters. A snapshot is merged only if its gen
 * is newer than the last merged one (a stale snapshot may name a library unloaded since then
 * and must not resurrect it).
 *
 * Why a sampled library is always recorded: the sampling path (hs_mappings_sync) reads gen (a
 * dl_iterate_phdr that stops at the first object); if it equals the last merged gen, nothing
 * was loaded or unloaded since that snapshot, and the library the stack runs in was loaded then,
 * so it is in the record. Otherwise it takes a snapshot and merges it; if that snapshot turns
 * out stale, a newer one was merged, taken while the library was still loaded (it cannot be
 * unloaded while its code is on the sampling thread's stack), so it is in the record too.
 *
 * Reused ranges. Merging a segment that overlaps the newest record of its range either finds an
 * identical segment (same file, build ID, addresses: the same library loaded again at the same
 * place, whose symbols are the same; the record is reused, so reload storms do not grow it) or
 * creates a new record, which supersedes the old one in `layout` (the newest record of every
 * range, sorted, never overlapping); the whole range of every superseded record is added to the
 * ambiguous ranges. Claim: an address covered by two records lies in an ambiguous range (the
 * older one was superseded at some point, and its whole range was marked then). A stack with a
 * frame in an ambiguous range gets a generation mark g = the number of records at capture. At
 * dump time a frame of a marked stack belongs to the newest record older than g that covers it
 * (the module loaded there at capture was recorded before the mark was computed, and nothing
 * covering that address can be recorded while it stays loaded); a frame of an unmarked stack
 * was captured when only one record covered it, so it belongs to the oldest record covering it
(hs_modules_find_gen, common/modules.c, applies this rule to the list hs_mappings_read returns).
 * Ambiguous ranges live in a small array read without a lock (ranges only grow, each word is
 * an atomic); when it is full, every stack is marked (correct, only more stacks).
 *
 * Capacity: at most HS_MAPPINGS_RECORD_MAX records (reported once when reached). Past it, new
 * segments are not recorded: their frames may then be resolved to nothing, or to an older
 * module of the same range (a documented limit of programs that load more than that many
 * distinct library instances).
 *
 * Thread-safety: dl_iterate_phdr takes the loader lock, so snapshots are taken with no profiler
 * lock held and inside the loader gate (sampling path and dump). The record's mutex is taken only
 * after dl_iterate_phdr returned and is never held while calling the loader; its holders only
 * compute and malloc (the reentrancy guard is held). Fork: the record's mutex is held only
 * inside loader-gate sections (hs_mappings_sync and hs_mappings_read; the counters read for
 * reports are atomics); fork.c takes it once the gate has closed, when it is free.
 */
#include "mappings.h"

#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "log.h"
#include "program.h"

#define HS_MAPPINGS_NOTE_MAX   (1u << 20) /* ignore absurd PT_NOTE sizes */
#define HS_MAPPINGS_RECORD_MAX 16384u
#define HS_MAPPINGS_AMBIG_MAX  64u

/* ---- snapshots: one dl_iterate_phdr pass ------------------------------------------------- */

typedef struct hs_mappings_ctx {
    hs_modules_t *out;
    size_t cap;
    size_t seen;        /* objects reported so far */
    uintptr_t page;     /* page size */
    uintptr_t vdso_hdr; /* AT_SYSINFO_EHDR, 0 if none */
    char *exe;          /* readlink("/proc/self/exe"), malloc'd, or NULL */
    uint64_t gen;       /* dlpi_adds + dlpi_subs, 0 if the loader does not say */
    hs_err_t err;
} hs_mappings_ctx_t;

/*
 * Look for NT_GNU_BUILD_ID in one PT_NOTE segment in memory. Notes are aligned to 4 bytes, or
 * to 8 in segments whose p_align is 8 (the layout SHT_NOTE sections with 8-byte alignment use).
 */
static int hs_mappings_note_build_id(const uint8_t *p, size_t len, size_t align, char *out)
{
    size_t off = 0;
    while (len - off >= sizeof(ElfW(Nhdr))) {
        ElfW(Nhdr) nh;
        memcpy(&nh, p + off, sizeof nh);
        off += sizeof nh;
        size_t name_len = ((size_t)nh.n_namesz + align - 1) & ~(align - 1);
        size_t desc_len = ((size_t)nh.n_descsz + align - 1) & ~(align - 1);
        if (name_len > len - off || desc_len > len - off - name_len)
            return 0;
        const uint8_t *name = p + off;
        const uint8_t *desc = p + off + name_len;
        off += name_len + desc_len;
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
            nh.n_descsz > 0) {
            hs_modules_build_id_hex(desc, nh.n_descsz, out);
            return 1;
        }
    }
    return 0;
}

static void hs_mappings_build_id(const struct dl_phdr_info *info, char *out)
{
    out[0] = '\0';
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE || ph->p_memsz == 0 || ph->p_memsz > HS_MAPPINGS_NOTE_MAX)
            continue;
        size_t align = ph->p_align == 8 ? 8 : 4;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
        if (hs_mappings_note_build_id(p, ph->p_memsz, align, out))
            return;
    }
}

static int hs_mappings_is_vdso(const struct dl_phdr_info *info, const hs_mappings_ctx_t *ctx)
{
    if (ctx->vdso_hdr) {
        const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)ctx->vdso_hdr;
        if ((uintptr_t)info->dlpi_phdr == ctx->vdso_hdr + eh->e_phoff)
            return 1;
    }
    const char *name = info->dlpi_name;
    return name && (strncmp(name, "linux-vdso", 10) == 0 || strncmp(name, "linux-gate", 10) == 0);
}

static int hs_mappings_push(hs_mappings_ctx_t *ctx, const hs_module_t *mod)
{
    hs_modules_t *out = ctx->out;
    if (hs_array_reserve((void **)&out->v, &ctx->cap, out->n + 1, sizeof *out->v, 32) != HS_OK)
        return -1;
    out->v[out->n++] = *mod;
    return 0;
}

/* The loader's gen (dlpi_adds + dlpi_subs), when its dl_phdr_info carries the counters. */
static uint64_t hs_mappings_info_gen(const struct dl_phdr_info *info, size_t size)
{
    if (size < offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs)
        return 0;
    return (uint64_t)info->dlpi_adds + (uint64_t)info->dlpi_subs;
}

static int hs_mappings_callback(struct dl_phdr_info *info, size_t size, void *data)
{
    hs_mappings_ctx_t *ctx = data;
    size_t index = ctx->seen++;
    if (index == 0)
        ctx->gen = hs_mappings_info_gen(info, size);
    int is_vdso = hs_mappings_is_vdso(info, ctx);
    int is_main = !is_vdso && index == 0 && (!info->dlpi_name || !info->dlpi_name[0]);
    const char *path;
    if (is_vdso)
        path = "[vdso]";
    else if (is_main)
        path = ctx->exe ? ctx->exe : "";
    else if (info->dlpi_name && info->dlpi_name[0])
        path = info->dlpi_name;
    else
        return 0; /* an unnamed object that is neither: nothing pprof could use */

    char build_id[HS_BUILD_ID_HEX_MAX];
    int have_build_id = 0;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X) || ph->p_memsz == 0)
            continue;
        if (!have_build_id) {
            hs_mappings_build_id(info, build_id);
            have_build_id = 1;
        }
        hs_module_t mod;
        memset(&mod, 0, sizeof mod);
        uintptr_t vaddr = info->dlpi_addr + ph->p_vaddr;
        mod.bias = info->dlpi_addr;
        mod.start = vaddr & ~(ctx->page - 1);
        mod.limit = vaddr + ph->p_memsz;
        mod.file_offset = ph->p_offset & ~((uint64_t)ctx->page - 1);
        memcpy(mod.build_id, build_id, sizeof build_id);
        mod.is_main = is_main;
        mod.is_vdso = is_vdso;
        mod.loaded = true;
        mod.record = HS_MODULES_NO_RECORD;
        mod.path = strdup(path);
        if (!mod.path || hs_mappings_push(ctx, &mod) != 0) {
            free(mod.path);
            ctx->err = HS_ERR_NOMEM;
            return 1; /* stop iterating */
        }
    }
    return 0;
}

static int hs_mappings_cmp(const void *a, const void *b)
{
    const hs_module_t *x = a, *y = b;
    if (x->loaded != y->loaded)
        return x->loaded ? -1 : 1;
    if (x->is_main != y->is_main)
        return x->is_main ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return (x->record > y->record) - (x->record < y->record);
}

static char *hs_mappings_exe_path(void)
{
    size_t cap = 256;
    for (;;) {
        char *buf = malloc(cap);
        if (!buf)
            return NULL;
        ssize_t n = readlink("/proc/self/exe", buf, cap);
        if (n < 0) {
            free(buf);
            return NULL;
        }
        if ((size_t)n < cap) {
            buf[n] = '\0';
            return buf;
        }
        free(buf);
        if (cap >= 65536)
            return NULL;
        cap *= 2;
    }
}

/* Every loaded segment, in dl_iterate_phdr order, and the loader's gen. */
static hs_err_t hs_mappings_snapshot(hs_modules_t *out, uint64_t *gen)
{
    memset(out, 0, sizeof *out);
    hs_mappings_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.out = out;
    long page = sysconf(_SC_PAGESIZE);
    ctx.page = page > 0 ? (uintptr_t)page : 4096;
    ctx.vdso_hdr = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    /* NULL (path "") if /proc is not mounted and the profiler did not name the program. */
    ctx.exe = *hs_program_exe() ? strdup(hs_program_exe()) : hs_mappings_exe_path();
    ctx.err = HS_OK;
    dl_iterate_phdr(hs_mappings_callback, &ctx);
    free(ctx.exe);
    if (ctx.err != HS_OK) {
        hs_modules_free(out);
        return ctx.err;
    }
    out->nloaded = out->n;
    *gen = ctx.gen;
    return HS_OK;
}

static int hs_mappings_gen_callback(struct dl_phdr_info *info, size_t size, void *data)
{
    *(uint64_t *)data = hs_mappings_info_gen(info, size);
    return 1; /* the first object is enough */
}

/* The loader's current gen: one dl_iterate_phdr that stops at the first object. */
static uint64_t hs_mappings_current_gen(void)
{
    uint64_t gen = 0;
    dl_iterate_phdr(hs_mappings_gen_callback, &gen);
    return gen;
}

/* ---- the record --------------------------------------------------------------------------- */

static struct {
    pthread_mutex_t mu;
    hs_module_t *recs; /* record id = index; paths owned */
    size_t n, cap;
    uint32_t *layout; /* record ids: the newest record of every range, sorted, disjoint */
    size_t nlayout, layout_cap;
    size_t bytes;
    int warned_full;
    /* Read without the mutex (sampling path, reports). */
    size_t bytes_pub;    /* memory held, published after each merge */
    uint64_t merged_gen; /* gen of the last merged snapshot; 0 = none */
    uint32_t count;      /* == n, published after the record is complete */
    uintptr_t ambig_lo[HS_MAPPINGS_AMBIG_MAX];
    uintptr_t ambig_hi[HS_MAPPINGS_AMBIG_MAX];
    uint32_t nambig;
    int ambig_all; /* the array overflowed: every stack is marked */
} R = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Add [lo, hi) to the ambiguous ranges (mutex held). Ranges only ever grow. */
static void hs_mappings_add_ambiguous(uintptr_t lo, uintptr_t hi)
{
    uint32_t n = R.nambig;
    for (uint32_t i = 0; i < n; i++) {
        uintptr_t a = R.ambig_lo[i], b = R.ambig_hi[i];
        if (lo <= b && a <= hi) {
            /* Grow hi first, then lo: a concurrent reader sees old or grown bounds. */
            if (hi > b)
                __atomic_store_n(&R.ambig_hi[i], hi, __ATOMIC_RELEASE);
            if (lo < a)
                __atomic_store_n(&R.ambig_lo[i], lo, __ATOMIC_RELEASE);
            return;
        }
    }
    if (n == HS_MAPPINGS_AMBIG_MAX) {
        __atomic_store_n(&R.ambig_all, 1, __ATOMIC_RELEASE);
        return;
    }
    __atomic_store_n(&R.ambig_lo[n], lo, __ATOMIC_RELAXED);
    __atomic_store_n(&R.ambig_hi[n], hi, __ATOMIC_RELAXED);
    __atomic_store_n(&R.nambig, n + 1, __ATOMIC_RELEASE);
}

static int hs_mappings_same(const hs_module_t *a, const hs_module_t *b)
{
    return a->start == b->start && a->limit == b->limit && a->bias == b->bias &&
           a->file_offset == b->file_offset && a->is_main == b->is_main &&
           a->is_vdso == b->is_vdso && strcmp(a->build_id, b->build_id) == 0 &&
           strcmp(a->path, b->path) == 0;
}

/* First layout index whose record ends after addr. */
static size_t hs_mappings_layout_lower(uintptr_t addr)
{
    size_t lo = 0, hi = R.nlayout;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (R.recs[R.layout[mid]].limit <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Record one segment of a snapshot (mutex held); sets s->record. */
static hs_err_t hs_mappings_merge_one(hs_module_t *s)
{
    size_t first = hs_mappings_layout_lower(s->start), last = first;
    while (last < R.nlayout && R.recs[R.layout[last]].start < s->limit)
        last++;
    if (last - first == 1 && hs_mappings_same(&R.recs[R.layout[first]], s)) {
        s->record = R.layout[first];
        R.recs[s->record].loaded = true;
        return HS_OK;
    }
    if (R.n >= HS_MAPPINGS_RECORD_MAX) {
        hs_warn_once(&R.warned_full,
                     "more than %u code segments loaded over the process's life: later ones are "
                     "not recorded, and their frames may stay unnamed",
                     HS_MAPPINGS_RECORD_MAX);
        return HS_OK;
    }
    hs_err_t err = hs_array_reserve((void **)&R.recs, &R.cap, R.n + 1, sizeof *R.recs, 64);
    if (err == HS_OK) {
        /* The layout may grow by one entry (and shrink by last - first). */
        size_t before = R.layout_cap;
        err = hs_array_reserve((void **)&R.layout, &R.layout_cap, R.nlayout + 1, sizeof *R.layout,
                               64);
        R.bytes += (R.layout_cap - before) * sizeof *R.layout;
    }
    char *path = err == HS_OK ? strdup(s->path) : NULL;
    if (!path)
        return HS_ERR_NOMEM;
    uint32_t id = (uint32_t)R.n;
    hs_module_t *rec = &R.recs[id];
    *rec = *s;
    rec->path = path;
    rec->record = id;
    rec->loaded = true;
    R.bytes += sizeof *rec + strlen(path) + 1;
    for (size_t i = first; i < last; i++) {
        const hs_module_t *old = &R.recs[R.layout[i]];
        hs_mappings_add_ambiguous(old->start < s->start ? old->start : s->start,
                                  old->limit > s->limit ? old->limit : s->limit);
    }
    /* Replace layout[first, last) by the new record. */
    memmove(&R.layout[first + 1], &R.layout[last], (R.nlayout - last) * sizeof *R.layout);
    R.nlayout = R.nlayout - (last - first) + 1;
    R.layout[first] = id;
    R.n++;
    __atomic_store_n(&R.count, (uint32_t)R.n, __ATOMIC_RELEASE);
    s->record = id;
    return HS_OK;
}

/*
 * Merge a snapshot taken at gen (mutex held). Returns 1 if it was merged, 0 if it was stale or
 * a failure left it half merged (then the gen is not advanced, so the next sync retries).
 */
static int hs_mappings_merge(hs_modules_t *snap, uint64_t gen)
{
    uint64_t merged = __atomic_load_n(&R.merged_gen, __ATOMIC_RELAXED);
    if (merged != 0 && gen <= merged)
        return 0;
    for (size_t i = 0; i < R.n; i++)
        R.recs[i].loaded = false;
    hs_err_t err = HS_OK;
    for (size_t i = 0; i < snap->n && err == HS_OK; i++)
        err = hs_mappings_merge_one(&snap->v[i]);
    if (err != HS_OK)
        return 0;
    __atomic_store_n(&R.bytes_pub, R.bytes + (R.cap - R.n) * sizeof *R.recs, __ATOMIC_RELAXED);
    /* Published last: a reader that sees this gen finds every record and range above. */
    __atomic_store_n(&R.merged_gen, gen, __ATOMIC_RELEASE);
    return 1;
}

/* Copy the record into out (mutex held); unrecorded loaded segments of snap are added. */
static hs_err_t hs_mappings_export(const hs_modules_t *snap, int merged, hs_modules_t *out)
{
    memset(out, 0, sizeof *out);
    size_t extra = 0;
    for (size_t i = 0; merged && i < snap->n; i++)
        extra += snap->v[i].record == HS_MODULES_NO_RECORD;
    size_t total = R.n + extra;
    out->v = calloc(total ? total : 1, sizeof *out->v);
    if (!out->v)
        return HS_ERR_NOMEM;
    for (size_t i = 0; i < R.n; i++) {
        out->v[out->n] = R.recs[i];
        out->v[out->n].path = strdup(R.recs[i].path);
        if (!out->v[out->n].path)
            goto fail;
        out->n++;
    }
    for (size_t i = 0; merged && i < snap->n; i++) {
        if (snap->v[i].record != HS_MODULES_NO_RECORD)
            continue;
        out->v[out->n] = snap->v[i];
        out->v[out->n].path = strdup(snap->v[i].path);
        if (!out->v[out->n].path)
            goto fail;
        out->n++;
    }
    return HS_OK;
fail:
    hs_modules_free(out);
    return HS_ERR_NOMEM;
}

/* Sort into the hs_modules_t layout: loaded (main first), then unloaded. */
static void hs_mappings_finish(hs_modules_t *out)
{
    if (out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, hs_mappings_cmp);
    out->nloaded = 0;
    out->max_unloaded_len = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (out->v[i].loaded) {
            out->nloaded++;
        } else if (out->v[i].limit - out->v[i].start > out->max_unloaded_len) {
            out->max_unloaded_len = out->v[i].limit - out->v[i].start;
        }
    }
}

hs_err_t hs_mappings_read(hs_modules_t *out)
{
    memset(out, 0, sizeof *out);
    hs_modules_t snap;
    uint64_t gen;
    hs_err_t err = hs_mappings_snapshot(&snap, &gen);
    if (err != HS_OK)
        return err;
    pthread_mutex_lock(&R.mu);
    int merged = hs_mappings_merge(&snap, gen);
    if (!merged && R.n == 0) {
        /* Nothing recorded (a failure, or a loader without counters): the snapshot alone. */
        pthread_mutex_unlock(&R.mu);
        *out = snap;
        hs_mappings_finish(out);
        return HS_OK;
    }
    err = hs_mappings_export(&snap, merged, out);
    pthread_mutex_unlock(&R.mu);
    hs_modules_free(&snap);
    if (err != HS_OK)
        return err;
    hs_mappings_finish(out);
    return HS_OK;
}

/* ---- the sampling path -------------------------------------------------------------------- */

static int hs_mappings_ambiguous(uintptr_t addr, uint32_t nambig)
{
    for (uint32_t i = 0; i < nambig; i++) {
        uintptr_t lo = __atomic_load_n(&R.ambig_lo[i], __ATOMIC_ACQUIRE);
        uintptr_t hi = __atomic_load_n(&R.ambig_hi[i], __ATOMIC_ACQUIRE);
        if (addr >= lo && addr < hi)
            return 1;
    }
    return 0;
}

uintptr_t hs_mappings_sync(const uintptr_t *frames, uint32_t n)
{
    uint64_t gen = hs_mappings_current_gen();
    if (gen == 0 || gen != __atomic_load_n(&R.merged_gen, __ATOMIC_ACQUIRE)) {
        hs_modules_t snap;
        uint64_t snap_gen;
        if (hs_mappings_snapshot(&snap, &snap_gen) == HS_OK) {
            pthread_mutex_lock(&R.mu);
            hs_mappings_merge(&snap, snap_gen);
            pthread_mutex_unlock(&R.mu);
            hs_modules_free(&snap);
        }
    }
    /* Acquire above (merged_gen) orders these loads after the merge that published them. */
    uint32_t nambig = __atomic_load_n(&R.nambig, __ATOMIC_ACQUIRE);
    int all = __atomic_load_n(&R.ambig_all, __ATOMIC_ACQUIRE);
    if (nambig == 0 && !all)
        return 0;
    int marked = all;
    for (uint32_t i = 0; i < n && !marked; i++)
        marked = frames[i] && hs_mappings_ambiguous(frames[i] - 1, nambig);
    if (!marked)
        return 0;
    uint32_t count = __atomic_load_n(&R.count, __ATOMIC_ACQUIRE);
    return HS_MAPPINGS_MARK_BASE | (uintptr_t)count;
}

void hs_mappings_prefork(void)
{
    pthread_mutex_lock(&R.mu);
}

void hs_mappings_postfork_parent(void)
{
    pthread_mutex_unlock(&R.mu);
}

void hs_mappings_postfork_child(void)
{
    pthread_mutex_init(&R.mu, NULL);
}

/* Lock-free: callers outside the loader gate must not take the mutex (see the fork rule). */
size_t hs_mappings_memory(void)
{
    return __atomic_load_n(&R.bytes_pub, __ATOMIC_RELAXED);
}

size_t hs_mappings_record_count(void)
{
    return __atomic_load_n(&R.count, __ATOMIC_ACQUIRE);
}
