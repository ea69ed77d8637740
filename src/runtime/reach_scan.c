/*
 * reach_scan.c - the reachability scan of the sampled live blocks (see reach_scan.h).
 *
 * Candidates. The live table is copied shard by shard (one shard lock at a time, for as long as
 * copying its entries takes: measured, in the stats) into memory of our own from hs_os_map.
 * Never into the real allocator's heap: the heap is scanned, and a copy of the addresses there
 * (even freed) would be found as references. Sizes come from the site keys; a block spans
 * [address, address + max(size, 1)). The candidates are sorted by address (an in-place heap
 * sort: qsort may allocate), and blocks never overlap, so a word's block is found by binary
 * search over the starts, behind a range check and a first-level filter: one bit per 4 KiB page
 * that some block overlaps (hashed into HS_REACH_FILTER_BITS bits), as the free path's filter
 * byte. Most words of memory are not addresses of sampled blocks and cost a compare or two.
 *
 * Memory. /proc/self/smaps gives the mappings with their residency and flags. Read: readable
 * and writable mappings, except the profiler's own (the register of hs_os_map, os.h: the
 * tables hold the very addresses looked for, and so does this scan's memory), [vvar] and the
 * like, device files, and mappings the kernel flags as I/O or raw page frames (VmFlags io, pf).
 * A mapping with nothing resident or swapped is skipped whole; within the others, pages are
 * read only when resident (mincore) or, in a mapping with pages in swap, present or swapped
 * (/proc/self/pagemap): a sparse reservation of terabytes is never read nor faulted in. The
 * scanning thread's own stack is read only above the frame of the dump that asked for the scan
 * (stack_floor): below are the scan's own frames, which hold candidate addresses.
 * Reads go through process_vm_readv on ourselves (or pread of /proc/self/mem where that is
 * refused), which fail with EFAULT instead of faulting: a mapping unmapped during the scan costs
 * its bytes, never a crash. The buffers are bounded (HS_REACH_CHUNK): the scan's memory depends
 * on the number of blocks, not on the memory scanned.
 *
 * Where a reference lives (held_by): the mapping's kind. A private writable mapping of a file
 * (a module's .data), or the anonymous mapping that continues one (.bss), is a global, named by
 * the data symbol that contains the word (data_symbols.h, found through the loader's map of the
 * module); [stack], the scanning thread's stack, a mapping holding a blocked thread's stack
 * pointer (/proc/self/task/<tid>/syscall) and anonymous mappings right above a guard page are
 * stacks (read from the stack pointer, less the red zone, up: below it are dead frames); [heap],
 * the allocator's arenas (aligned to 64 MiB) and its big blocks (a chunk header that says
 * "mmapped" with the mapping's size) are the heap; other memory is mmap. A word inside a
 * reached sampled block names that block's allocating function (the dump's namer).
 *
 * Passes. A pass reads the roots, skipping the sampled blocks inside them, then the sampled
 * blocks reached, as a work list (a block is read once, when first reached): garbage that only
 * garbage points to is not reached. Threads keep running during the scan: a pointer moved from
 * a region not yet read to one already read is missed. So the blocks a pass did not reach are
 * looked for again by another pass (over the roots and every block reached so far), until a
 * pass reaches none of them (or HS_REACH_MAX_PASSES): only then are they unreferenced. Every
 * classified block is then checked to be still live in the table (a block freed during the
 * scan is not reported; reading it fails or reads allocator memory, never faults). Past the
 * time budget a pass stops: blocks reached stay referenced, the others are unclassified.
 *
 * Threads: the writer thread (or the exiting thread), under the dump lock and the reentrancy
 * guard; no state between scans. Fork: nothing to do (no lock of its own; a fork during a scan
 * leaves the child's copy of its buffers mapped, as the dump's other transient memory).
 */
#include "reach_scan.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "data_symbols.h"
#include "live_table.h"
#include "loader_gate.h"
#include "memlimit.h"
#include "os.h"
#include "stack_table.h"

#define HS_REACH_FILTER_BITS 20
#define HS_REACH_CHUNK       (64u << 10) /* bytes read at a time */
#define HS_REACH_RES_PAGES   (16u << 10) /* pages whose residency is asked at a time */
#define HS_REACH_PAGE        4096u
#define HS_REACH_OWN_MAX     1024 /* the profiler's own mappings left out */
#define HS_REACH_ARENA_ALIGN ((uintptr_t)64 << 20)
#define HS_REACH_THREADS     4096
#define HS_REACH_MAX_PASSES  6
#define HS_REACH_GIANT       ((uintptr_t)64 << 30)
#define HS_REACH_RED_ZONE    128 /* bytes below a stack pointer that a leaf function may use */

enum { CLS_NONE = 0, CLS_REFERENCED, CLS_UNREFERENCED, CLS_FREED };
enum { KIND_GLOBAL = 1, KIND_STACK, KIND_HEAP, KIND_MMAP };

typedef struct cand {
    uintptr_t start, end;
    uintptr_t holder; /* address of the first reference found */
    uint32_t site;
    uint8_t cls;
    uint8_t kind;         /* where the holder lives */
    uint32_t holder_site; /* a sampled block holds it: that block's site, else NO_SITE */
    uint32_t name;        /* the holder's name: index into the names table, after naming */
} cand_t;

typedef struct region {
    uintptr_t start, end;
    uintptr_t min_at; /* words below are dead stack (live_from) */
    uint8_t kind;
    uint8_t pagemap; /* some pages are in swap: residency from pagemap */
    /* A giant mapping (HS_REACH_GIANT or more: a sanitizer's shadow, a sparse reservation) is
     * read until as many resident or swapped pages were found as smaps counted in it: after
     * them there is nothing left but holes, which cost mincore's time for nothing. */
    uint64_t counted, left;
} region_t;

/* The scan's working state, all in memory from hs_os_map (registered, so never scanned). */
typedef struct scan {
    cand_t *c;
    size_t n, cap;
    uintptr_t *starts, *ends; /* the blocks looked for, sorted */
    uint32_t *idx;            /* their candidates */
    uint32_t *work;           /* reached blocks not yet read */
    size_t nwork;
    size_t nlook;
    uintptr_t lo, hi; /* every looked-for block lies in [lo, hi) */
    uint64_t *filter; /* HS_REACH_FILTER_BITS bits */
    region_t *r;
    size_t nr, rcap;
    hs_os_region_t own[HS_REACH_OWN_MAX];
    size_t nown;
    unsigned char *buf; /* HS_REACH_CHUNK */
    unsigned char *vec; /* HS_REACH_RES_PAGES */
    uint64_t *pm;       /* HS_REACH_RES_PAGES pagemap entries */
    int memfd, pmfd;
    int use_mem; /* process_vm_readv refused: pread /proc/self/mem */
    uint64_t deadline;
    int out_of_time;
    uintptr_t stack_floor;
    uintptr_t sps[HS_REACH_THREADS]; /* stack pointers of the other threads, where known */
    size_t nsps;
    size_t running; /* other threads running (not blocked) when the scan began */
    hs_reach_stats_t *st;
} scan_t;

static void *scan_map(size_t bytes)
{
    return hs_os_map(bytes);
}

int hs_reach_read(uintptr_t addr, void *buf, size_t len, size_t *got)
{
    struct iovec local = {buf, len}, remote = {(void *)addr, len};
    ssize_t r = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    *got = r > 0 ? (size_t)r : 0;
    return r >= 0 ? 0 : -1;
}

/* Read [addr, addr + len) into s->buf: the bytes read (0: unreadable). */
/*
 * Read the pages of [addr, addr + len) from the last to the first in one call, each into its
 * place in s->buf: all of them, or 0 (the caller then reads them in order). A pass in the other
 * direction decorrelates its misses from the previous pass's: a thread that moves pointers in
 * the direction and at the pace of the reading would make the same ones escape every pass.
 */
static size_t scan_read_backwards(scan_t *s, uintptr_t addr, size_t len)
{
    struct iovec local[HS_REACH_CHUNK / HS_REACH_PAGE + 2],
        remote[HS_REACH_CHUNK / HS_REACH_PAGE + 2];
    size_t n = 0;
    for (uintptr_t end = addr + len; end > addr; n++) {
        uintptr_t start = (end - 1) & ~(uintptr_t)(HS_REACH_PAGE - 1); /* the last byte's page */
        if (start < addr)
            start = addr;
        local[n] = (struct iovec){s->buf + (start - addr), end - start};
        remote[n] = (struct iovec){(void *)start, end - start};
        end = start;
    }
    int saved = errno;
    ssize_t r = process_vm_readv(getpid(), local, n, remote, n, 0);
    errno = saved;
    return r == (ssize_t)len ? len : 0;
}

static size_t scan_read(scan_t *s, uintptr_t addr, size_t len, int backwards)
{
    if (backwards && !s->use_mem && len <= HS_REACH_CHUNK) {
        size_t got = scan_read_backwards(s, addr, len);
        if (got)
            return got;
    }
    if (!s->use_mem) {
        size_t got;
        int saved = errno;
        if (hs_reach_read(addr, s->buf, len, &got) == 0) {
            errno = saved;
            return got;
        }
        int e = errno;
        errno = saved;
        if (e != ENOSYS && e != EPERM)
            return 0;
        s->use_mem = 1;
        s->memfd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
    }
    if (s->memfd < 0)
        return 0;
    ssize_t r = pread(s->memfd, s->buf, len, (off_t)addr);
    return r > 0 ? (size_t)r : 0;
}

/* ---- candidates and the lookup ------------------------------------------------------------ */

static void cand_sift(cand_t *c, size_t i, size_t n)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && c[l].start > c[m].start)
            m = l;
        if (l + 1 < n && c[l + 1].start > c[m].start)
            m = l + 1;
        if (m == i)
            return;
        cand_t t = c[i];
        c[i] = c[m];
        c[m] = t;
        i = m;
    }
}

static void cand_sort(cand_t *c, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        cand_sift(c, i, n);
    for (size_t k = n; k-- > 1;) {
        cand_t t = c[0];
        c[0] = c[k];
        c[k] = t;
        cand_sift(c, 0, k);
    }
}

static void filter_set(uint64_t *f, uintptr_t page)
{
    uint64_t bit = page & ((1u << HS_REACH_FILTER_BITS) - 1);
    f[bit / 64] |= 1ull << (bit % 64);
}

/* Look for the candidates of class cls (in address order). */
static void look_build(scan_t *s, uint8_t cls)
{
    memset(s->filter, 0, (1u << HS_REACH_FILTER_BITS) / 8);
    s->nlook = 0;
    s->lo = UINTPTR_MAX;
    s->hi = 0;
    for (size_t i = 0; i < s->n; i++) {
        cand_t *c = &s->c[i];
        if (c->cls != cls)
            continue;
        s->starts[s->nlook] = c->start;
        s->ends[s->nlook] = c->end;
        s->idx[s->nlook++] = (uint32_t)i;
        if (c->start < s->lo)
            s->lo = c->start;
        if (c->end > s->hi)
            s->hi = c->end;
        uintptr_t first = c->start / HS_REACH_PAGE, last = (c->end - 1) / HS_REACH_PAGE;
        if (last - first >= (1u << HS_REACH_FILTER_BITS)) {
            memset(s->filter, 0xff, (1u << HS_REACH_FILTER_BITS) / 8);
            continue;
        }
        for (uintptr_t p = first; p <= last; p++)
            filter_set(s->filter, p);
    }
}

/* The looked-for block that contains v, as an index into starts, or -1. */
static inline ptrdiff_t look_find(const scan_t *s, uintptr_t v)
{
    if (v - s->lo >= s->hi - s->lo)
        return -1;
    uint64_t bit = (v / HS_REACH_PAGE) & ((1u << HS_REACH_FILTER_BITS) - 1);
    if (!(s->filter[bit / 64] >> (bit % 64) & 1))
        return -1;
    /* The last start <= v, without a branch per step (a conditional move): the steps of a
     * search are unpredictable, and most of the scan's time went to mispredicting them. */
    const uintptr_t *base = s->starts;
    size_t len = s->nlook;
    while (len > 1) {
        size_t half = len / 2;
        base = base[half] <= v ? base + half : base;
        len -= half;
    }
    size_t k = (size_t)(base - s->starts);
    if (!s->nlook || base[0] > v || v >= s->ends[k])
        return -1;
    return (ptrdiff_t)k;
}

/* ---- the mappings ------------------------------------------------------------------------- */

static int region_push(scan_t *s, region_t r)
{
    if (s->nr == s->rcap) {
        size_t cap = s->rcap ? s->rcap * 2 : 1024;
        region_t *v = scan_map(cap * sizeof *v);
        if (!v)
            return -1;
        if (s->nr)
            memcpy(v, s->r, s->nr * sizeof *v);
        hs_os_unmap(s->r, s->rcap * sizeof *v);
        s->r = v;
        s->rcap = cap;
    }
    s->r[s->nr++] = r;
    return 0;
}

static uintptr_t live_from(const scan_t *s, uintptr_t start, uintptr_t end);

/* What smaps says of one mapping. */
typedef struct smap {
    uintptr_t start, end;
    char perms[5];
    unsigned long long offset;
    char path[256];
    uint64_t rss_kb, swap_kb;
    int io; /* VmFlags io or pf */
} smap_t;

/* The kind of a mapping worth reading, or 0 to leave it out. prev: the mapping before it. */
static uint8_t smap_kind(scan_t *s, const smap_t *m, const smap_t *prev)
{
    if (m->perms[0] != 'r' || m->perms[1] != 'w' || m->io)
        return 0;
    if (m->rss_kb + m->swap_kb == 0)
        return 0;
    const char *p = m->path;
    if (!strncmp(p, "[stack", 6))
        return KIND_STACK;
    if (!strcmp(p, "[heap]"))
        return KIND_HEAP;
    if (p[0] == '[' && strncmp(p, "[anon:", 6) != 0)
        return 0; /* [vvar], [vdso], [vsyscall], [uprobes]... */
    if (!strncmp(p, "/dev/", 5) && strncmp(p, "/dev/zero", 9) != 0 && strncmp(p, "/dev/shm/", 9))
        return 0;
    if (live_from(s, m->start, m->end) != m->start)
        return KIND_STACK;
    if (p[0] == '/')
        return m->perms[3] == 'p' && strncmp(p, "/dev/", 5) ? KIND_GLOBAL : KIND_MMAP;
    if (p[0] && p[0] != '[')
        return KIND_MMAP; /* SYSV shared memory, memfd: */
    /* Anonymous. */
    if (prev && prev->end == m->start) {
        if (prev->path[0] == '/' && prev->perms[1] == 'w' && prev->perms[3] == 'p')
            return KIND_GLOBAL; /* .bss after .data */
        if (prev->perms[0] == '-' && prev->perms[1] == '-' && !prev->path[0] &&
            m->start % HS_REACH_ARENA_ALIGN != 0)
            return KIND_STACK; /* glibc's thread stacks: a guard page below */
    }
    if (m->start % HS_REACH_ARENA_ALIGN == 0)
        return KIND_HEAP; /* a malloc arena (heap_info at a 64 MiB boundary) */
    uint64_t hdr[2];
    size_t got;
    if (hs_reach_read(m->start, hdr, sizeof hdr, &got) == 0 && got == sizeof hdr && hdr[0] == 0 &&
        (hdr[1] & 2) && (hdr[1] & ~(uint64_t)7) == m->end - m->start)
        return KIND_HEAP; /* a big block of glibc's malloc: an mmapped chunk */
    return KIND_MMAP;
}

static void smap_end(scan_t *s, smap_t *m, smap_t *prev, int *have)
{
    if (!*have)
        return;
    uint8_t kind = smap_kind(s, m, prev);
    uint64_t counted =
        m->end - m->start >= HS_REACH_GIANT ? (m->rss_kb + m->swap_kb) / 4 + 1 : UINT64_MAX;
    if (kind && region_push(s, (region_t){m->start, m->end, live_from(s, m->start, m->end), kind,
                                          m->swap_kb != 0, counted, counted}) == 0)
        s->st->regions++;
    else if (!kind && m->perms[0] == 'r' && m->perms[1] == 'w' && !m->io)
        s->st->skipped += m->end - m->start;
    *prev = *m;
    *have = 0;
}

static void smap_line(scan_t *s, const char *line, smap_t *m, smap_t *prev, int *have)
{
    unsigned long long a, b, off;
    char perms[8];
    int pos = 0;
    if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &a, &b, perms, &off, &pos) == 4 && pos) {
        smap_end(s, m, prev, have);
        memset(m, 0, sizeof *m);
        m->start = (uintptr_t)a;
        m->end = (uintptr_t)b;
        memcpy(m->perms, perms, 4);
        m->offset = off;
        snprintf(m->path, sizeof m->path, "%s", line + pos);
        *have = 1;
        return;
    }
    unsigned long long kb;
    if (sscanf(line, "Rss: %llu kB", &kb) == 1)
        m->rss_kb = kb;
    else if (sscanf(line, "Swap: %llu kB", &kb) == 1)
        m->swap_kb = kb;
    else if (!strncmp(line, "VmFlags:", 8))
        m->io = strstr(line, " io") != NULL || strstr(line, " pf") != NULL;
}

/* The state of regions_read across the lines of smaps. */
typedef struct smap_reader {
    scan_t *s;
    smap_t m, prev;
    int have;
} smap_reader_t;

static int smap_reader_line(void *ctx, char *line)
{
    smap_reader_t *r = ctx;
    smap_line(r->s, line, &r->m, &r->prev, &r->have);
    return 0;
}

/* The mappings to read, from /proc/self/smaps (memlimit.h's allocation-free line reader). */
static int regions_read(scan_t *s)
{
    smap_reader_t r = {.s = s};
    if (hs_memlimit_lines("/proc/self/smaps", smap_reader_line, &r) != HS_OK)
        return -1;
    smap_end(s, &r.m, &r.prev, &r.have);
    return 0;
}

/*
 * The stack pointers of the other threads that are blocked (in a system call or not running):
 * /proc/self/task/<tid>/syscall ends with "<sp> <pc>" unless the thread is running. Below its
 * stack pointer (and red zone) a thread's stack holds only dead frames, whose stale words would
 * make lost blocks look referenced. A running thread's stack is read whole.
 */
static void threads_read(scan_t *s)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    pid_t me = hs_os_gettid();
    struct dirent *e;
    while ((e = readdir(d)) != NULL && s->nsps < HS_REACH_THREADS) {
        long tid = strtol(e->d_name, NULL, 10);
        if (tid <= 0 || tid == me)
            continue;
        char path[64], text[512];
        snprintf(path, sizeof path, "/proc/self/task/%ld/syscall", tid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t r = read(fd, text, sizeof text - 1);
        close(fd);
        if (r <= 0)
            continue;
        text[r] = '\0';
        /* The second-to-last token is the stack pointer. */
        char *tok[16];
        int n = 0;
        for (char *save = NULL, *t = strtok_r(text, " \n", &save); t && n < 16;
             t = strtok_r(NULL, " \n", &save))
            tok[n++] = t;
        if (n >= 1 && !strncmp(tok[0], "running", 7))
            s->running++;
        if (n < 3 || !strncmp(tok[0], "running", 7))
            continue;
        unsigned long long sp = strtoull(tok[n - 2], NULL, 16);
        if (sp > HS_REACH_RED_ZONE)
            s->sps[s->nsps++] = (uintptr_t)sp - HS_REACH_RED_ZONE;
    }
    closedir(d);
}

/* The lowest address of [start, end) worth reading: the scanning thread's floor or a blocked
 * thread's stack pointer when one lies there, else start. */
static uintptr_t live_from(const scan_t *s, uintptr_t start, uintptr_t end)
{
    if (s->stack_floor >= start && s->stack_floor < end)
        return s->stack_floor;
    uintptr_t from = 0;
    for (size_t i = 0; i < s->nsps; i++)
        if (s->sps[i] >= start && s->sps[i] < end && (!from || s->sps[i] < from))
            from = s->sps[i];
    return from ? from : start;
}

/* ---- the passes --------------------------------------------------------------------------- */

/*
 * A word v at address at: if it points into a looked-for block, that block is reached (the first
 * time: its holder is recorded and it joins the work list, whose blocks are read in turn).
 * holder: the sampled block the word lies in (NULL: a root, in region r).
 */
static void note_reference(scan_t *s, const region_t *r, const cand_t *holder, uintptr_t at,
                           uintptr_t v, int pass)
{
    ptrdiff_t k = look_find(s, v);
    if (k < 0)
        return;
    cand_t *c = &s->c[s->idx[k]];
    if (c == holder || c->cls == CLS_REFERENCED)
        return; /* a block pointing into itself holds nothing */
    c->cls = CLS_REFERENCED;
    c->kind = holder ? KIND_HEAP : r->kind;
    c->holder = at;
    c->holder_site = holder ? holder->site : HS_LIVE_NO_SITE;
    s->work[s->nwork++] = s->idx[k];
    if (pass >= 2)
        s->st->confirmed++;
}

/* The first candidate whose block ends after a (s->n if none). */
static size_t cand_after(const scan_t *s, uintptr_t a)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->c[mid].end <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Which of npages pages from a are resident (s->vec[i] & 1), by mincore or pagemap. */
static void residency(scan_t *s, int pagemap, uintptr_t a, size_t npages)
{
    if (pagemap && s->pmfd >= 0) {
        ssize_t got = pread(s->pmfd, s->pm, npages * 8, (off_t)(a / HS_REACH_PAGE * 8));
        size_t have = got > 0 ? (size_t)got / 8 : 0;
        for (size_t i = 0; i < npages; i++)
            s->vec[i] = i < have ? (s->pm[i] >> 62) != 0 : 1; /* present or swapped */
    } else if (mincore((void *)a, npages * HS_REACH_PAGE, s->vec) != 0) {
        memset(s->vec, 0, npages); /* unmapped meanwhile */
    }
}

/* The first page from i on whose residency byte has bit 0 set (mincore's other bits are
 * reserved), or n: eight bytes at a time, for a sparse mapping is mostly holes. */
static size_t next_resident(const unsigned char *vec, size_t i, size_t n)
{
    for (; i < n && i % 8; i++)
        if (vec[i] & 1)
            return i;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, vec + i, 8);
        if (w & 0x0101010101010101ull)
            break;
    }
    for (; i < n; i++)
        if (vec[i] & 1)
            return i;
    return n;
}

/* Look at the got bytes read from lo into s->buf (see scan_range for holder). */
static void scan_words(scan_t *s, const region_t *r, const cand_t *holder, uintptr_t lo, size_t got,
                       int pass)
{
    const uintptr_t *w = (const uintptr_t *)s->buf;
    size_t nw = got / sizeof *w;
    size_t cur = holder ? s->n : cand_after(s, lo);
    for (size_t q = 0; q < nw; q++) {
        uintptr_t at = lo + q * sizeof *w;
        if (cur < s->n && s->c[cur].start <= at) {
            /* Inside a sampled block: read when (if) the block is reached. */
            uintptr_t end = s->c[cur].end;
            q = (end - lo + sizeof *w - 1) / sizeof *w - 1;
            cur = cand_after(s, end);
            continue;
        }
        note_reference(s, r, holder, at, w[q], pass);
        while (cur < s->n && s->c[cur].end <= at + sizeof *w)
            cur++;
    }
}

/*
 * Read the words of [from, to) (from >= min_at) that are resident. holder NULL: roots of region
 * r, where the words inside sampled blocks are skipped (a block counts only once reached);
 * else the contents of the reached block holder.
 */
static void scan_range(scan_t *s, region_t *r, const cand_t *holder, uintptr_t from, uintptr_t to,
                       uintptr_t min_at, int pass)
{
    uintptr_t a = from & ~(uintptr_t)(HS_REACH_PAGE - 1);
    if (min_at < from)
        min_at = from;
    while (a < to && !s->out_of_time && (!r || r->left)) {
        size_t npages = (to - a + HS_REACH_PAGE - 1) / HS_REACH_PAGE;
        if (npages > HS_REACH_RES_PAGES)
            npages = HS_REACH_RES_PAGES;
        uintptr_t wend = a + npages * HS_REACH_PAGE;
        residency(s, r ? r->pagemap : 0, a, npages);
        /* Holes take time too (mincore fills a byte per page): the budget counts them. */
        if (hs_os_monotonic_ns() > s->deadline)
            s->out_of_time = 1;
        for (size_t i = 0; i < npages && !s->out_of_time;) {
            if (!(s->vec[i] & 1)) {
                size_t k = next_resident(s->vec, i, npages);
                s->st->skipped += (k - i) * HS_REACH_PAGE;
                i = k;
                continue;
            }
            size_t j = i;
            while (j < npages && (s->vec[j] & 1) && (j - i) * HS_REACH_PAGE < HS_REACH_CHUNK)
                j++;
            uintptr_t lo = a + i * HS_REACH_PAGE, hi = a + j * HS_REACH_PAGE;
            if (lo < min_at)
                lo = min_at & ~(uintptr_t)(sizeof(uintptr_t) - 1);
            if (hi > to)
                hi = to;
            /* A confirming pass reads each piece twice, in both directions, right after each
             * other: a pointer that moves between two of its pages while one read copies them
             * must move back before the other ends to escape. */
            size_t got = 0;
            for (int rep = 0; rep < (pass >= 2 ? 2 : 1) && lo < hi; rep++) {
                got = scan_read(s, lo, hi - lo, (pass % 2 == 0) ^ rep);
                s->st->bytes += got;
                scan_words(s, r, holder, lo, got, pass);
            }
            if (lo < hi && got < hi - lo)
                j = (lo + got - a) / HS_REACH_PAGE + 1; /* skip the page that failed */
            if (r && r->left != UINT64_MAX)
                r->left = r->left > j - i ? r->left - (j - i) : 0;
            i = j > i ? j : i + 1;
            if (hs_os_monotonic_ns() > s->deadline)
                s->out_of_time = 1;
        }
        a = wend;
    }
}

/* The roots: every region, around the profiler's own memory. */
static void scan_roots(scan_t *s, int pass)
{
    for (size_t n = 0; n < s->nr && !s->out_of_time; n++) {
        /* Every other pass takes the regions from the last (and reads pages backwards). */
        region_t *r = &s->r[pass % 2 == 0 ? s->nr - 1 - n : n];
        uintptr_t a = r->start, b = r->end;
        r->left = r->counted;
        while (a < b && !s->out_of_time) {
            /* The next piece of the profiler's own memory at or after a. */
            uintptr_t os = b, oe = b;
            for (size_t k = 0; k < s->nown; k++)
                if (s->own[k].end > a && s->own[k].start < os) {
                    os = s->own[k].start;
                    oe = s->own[k].end;
                }
            if (os > a && os > r->min_at)
                scan_range(s, r, NULL, a, os, r->min_at, pass);
            a = oe > a ? oe : b;
        }
    }
}

/* Read the reached blocks on the work list, which grows as they reach others. */
static void scan_reached(scan_t *s, int pass)
{
    while (s->nwork && !s->out_of_time) {
        const cand_t *c = &s->c[s->work[--s->nwork]];
        scan_range(s, NULL, c, c->start & ~(uintptr_t)(sizeof(uintptr_t) - 1), c->end, 0, pass);
    }
}

/*
 * One pass: the roots, then the blocks they reach. A pass after the first looks only for the
 * blocks still unreferenced, from the roots and from every block reached so far.
 */
static void scan_pass(scan_t *s, int pass)
{
    s->nwork = 0;
    if (pass >= 2)
        for (size_t i = 0; i < s->n; i++)
            if (s->c[i].cls == CLS_REFERENCED)
                s->work[s->nwork++] = (uint32_t)i;
    scan_roots(s, pass);
    scan_reached(s, pass);
}

/* ---- naming and splitting ----------------------------------------------------------------- */

typedef struct names {
    char **v;
    size_t n, cap;
} names_t;

static uint32_t names_add(names_t *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i], name))
            return (uint32_t)i;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return UINT32_MAX;
        t->v = v;
        t->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return UINT32_MAX;
    t->v[t->n] = copy;
    return (uint32_t)t->n++;
}

/* global:<symbol> for the globals holding blocks, through the loader's map of each module. */
static void name_globals(scan_t *s, names_t *t)
{
    for (size_t i = 0; i < s->n; i++) {
        cand_t *c = &s->c[i];
        if (c->cls != CLS_REFERENCED || c->kind != KIND_GLOBAL || c->name != UINT32_MAX)
            continue;
        Dl_info info;
        struct link_map *lm = NULL;
        int ok = 0;
        /* dladdr takes the loader lock: inside the gate, so a fork waits (loader_gate.h). */
        while (!hs_loader_gate_enter())
            sched_yield();
        ok = dladdr1((void *)c->holder, &info, (void **)&lm, RTLD_DL_LINKMAP) != 0 && lm;
        char path[512] = "";
        uintptr_t bias = 0;
        if (ok) {
            snprintf(path, sizeof path, "%s", lm->l_name[0] ? lm->l_name : "/proc/self/exe");
            bias = lm->l_addr;
        }
        hs_loader_gate_exit();
        /* Every holder of this module in one read of its symbols. */
        size_t n = 0;
        uint64_t *vaddrs = malloc(s->n * sizeof *vaddrs);
        uint32_t *which = malloc(s->n * sizeof *which);
        char **got = malloc(s->n * sizeof *got);
        if (!vaddrs || !which || !got || !ok) {
            free(vaddrs);
            free(which);
            free(got);
            c->name = names_add(t, "global");
            continue;
        }
        for (size_t j = i; j < s->n; j++) {
            cand_t *d = &s->c[j];
            if (d->cls != CLS_REFERENCED || d->kind != KIND_GLOBAL || d->name != UINT32_MAX)
                continue;
            if (d != c) {
                Dl_info di;
                struct link_map *dl = NULL;
                while (!hs_loader_gate_enter())
                    sched_yield();
                int same =
                    dladdr1((void *)d->holder, &di, (void **)&dl, RTLD_DL_LINKMAP) != 0 && dl == lm;
                hs_loader_gate_exit();
                if (!same)
                    continue;
            }
            vaddrs[n] = d->holder - bias;
            which[n++] = (uint32_t)j;
        }
        if (hs_data_symbols_name(path, vaddrs, n, got) != HS_OK)
            memset(got, 0, n * sizeof *got);
        const char *base = strrchr(path, '/');
        for (size_t k = 0; k < n; k++) {
            char name[600];
            if (got[k])
                snprintf(name, sizeof name, "global:%s", got[k]);
            else
                snprintf(name, sizeof name, "global:%s", base ? base + 1 : path);
            s->c[which[k]].name = names_add(t, name);
            free(got[k]);
        }
        free(vaddrs);
        free(which);
        free(got);
    }
}

static void name_holders(scan_t *s, names_t *t, const hs_reach_config_t *cfg)
{
    for (size_t i = 0; i < s->n; i++)
        s->c[i].name = UINT32_MAX;
    name_globals(s, t);
    for (size_t i = 0; i < s->n; i++) {
        cand_t *c = &s->c[i];
        if (c->cls != CLS_REFERENCED || c->name != UINT32_MAX)
            continue;
        char name[600];
        if (c->kind == KIND_STACK) {
            snprintf(name, sizeof name, "stack");
        } else if (c->kind == KIND_HEAP && c->holder_site != HS_LIVE_NO_SITE) {
            hs_site_key_t key;
            const char *fn = NULL;
            if (hs_site_key(c->holder_site, &key) && cfg->namer) {
                uint32_t depth = 0;
                const uintptr_t *frames = hs_stack_frames(key.stack_id, &depth);
                if (frames)
                    fn = cfg->namer(cfg->namer_arg, frames, depth);
            }
            snprintf(name, sizeof name, "heap:%s", fn ? fn : "?");
        } else {
            snprintf(name, sizeof name, "%s", c->kind == KIND_HEAP ? "heap" : "mmap");
        }
        c->name = names_add(t, name);
    }
}

/* One split row: blocks of a site of one class and holder. */
typedef struct tally {
    uint32_t site, name;
    uint8_t cls;
    uint64_t count;
} tally_t;

static int tally_cmp(const void *a, const void *b)
{
    const tally_t *x = a, *y = b;
    if (x->site != y->site)
        return x->site < y->site ? -1 : 1;
    if (x->cls != y->cls)
        return x->cls < y->cls ? -1 : 1;
    return x->name < y->name ? -1 : x->name > y->name;
}

static hs_err_t split_rows(hs_snapshot_t *snap, scan_t *s, names_t *t)
{
    size_t nt = 0;
    tally_t *tl = malloc((s->n ? s->n : 1) * sizeof *tl);
    if (!tl)
        return HS_ERR_NOMEM;
    for (size_t i = 0; i < s->n; i++) {
        cand_t *c = &s->c[i];
        if (c->cls == CLS_REFERENCED || c->cls == CLS_UNREFERENCED)
            tl[nt++] =
                (tally_t){c->site, c->cls == CLS_REFERENCED ? c->name : UINT32_MAX, c->cls, 1};
    }
    qsort(tl, nt, sizeof *tl, tally_cmp);
    size_t m = 0;
    for (size_t i = 0; i < nt; i++) {
        if (m && !tally_cmp(&tl[m - 1], &tl[i]))
            tl[m - 1].count++;
        else
            tl[m++] = tl[i];
    }
    /* The rows' index by site. */
    hs_snapshot_row_t *rows = realloc(snap->rows, (snap->nrows + m + 1) * sizeof *rows);
    hs_label_t *pairs = malloc((2 * m + 1) * sizeof *pairs);
    size_t strbytes = 1;
    for (size_t i = 0; i < t->n; i++)
        strbytes += strlen(t->v[i]) + 1;
    char *pool = malloc(strbytes);
    if (!rows || !pairs || !pool) {
        if (rows)
            snap->rows = rows;
        free(pairs);
        free(pool);
        free(tl);
        return HS_ERR_NOMEM;
    }
    snap->rows = rows;
    const char **pooled = (const char **)malloc((t->n + 1) * sizeof *pooled);
    if (!pooled) {
        free(pairs);
        free(pool);
        free(tl);
        return HS_ERR_NOMEM;
    }
    char *p = pool;
    for (size_t i = 0; i < t->n; i++) {
        size_t l = strlen(t->v[i]) + 1;
        memcpy(p, t->v[i], l);
        pooled[i] = p;
        p += l;
    }
    size_t norig = snap->nrows, np = 0;
    /* Rows are in site order (snapshot.c): a merge. */
    size_t k = 0;
    for (size_t i = 0; i < norig && k < m; i++) {
        while (k < m && tl[k].site < snap->rows[i].site)
            k++;
        size_t k0 = k;
        uint64_t left = snap->rows[i].live, total = 0;
        for (; k < m && tl[k].site == snap->rows[i].site; k++) {
            tl[k].count = tl[k].count <= left ? tl[k].count : left; /* freed since the snapshot */
            left -= tl[k].count;
            total += tl[k].count;
        }
        /* The row keeps its alloc counts and the blocks left unclassified (a label describes
         * live blocks: the alloc counts of a site stay on one row from profile to profile). */
        snap->rows[i].live -= total;
        for (size_t j = k0; j < k; j++) {
            if (!tl[j].count)
                continue;
            hs_label_t *lp = &pairs[np];
            lp[0] =
                (hs_label_t){"reach", tl[j].cls == CLS_REFERENCED ? "referenced" : "unreferenced"};
            uint32_t nl = 1;
            if (tl[j].cls == CLS_REFERENCED && tl[j].name < t->n)
                lp[nl++] = (hs_label_t){"held_by", pooled[tl[j].name]};
            np += nl;
            hs_snapshot_row_t split = snap->rows[i];
            split.allocs = 0;
            split.live = tl[j].count;
            split.extra = lp;
            split.nextra = nl;
            snap->rows[snap->nrows++] = split;
        }
    }
    free(pooled);
    free(tl);
    snap->owned[0] = pairs;
    snap->owned[1] = pool;
    return HS_OK;
}

/* ---- the scan ------------------------------------------------------------------------------ */

static void scan_free(scan_t *s)
{
    hs_os_unmap(s->c, s->cap * sizeof *s->c);
    hs_os_unmap(s->starts, s->cap * sizeof *s->starts);
    hs_os_unmap(s->ends, s->cap * sizeof *s->ends);
    hs_os_unmap(s->idx, s->cap * sizeof *s->idx);
    hs_os_unmap(s->work, s->cap * sizeof *s->work);
    hs_os_unmap(s->filter, (1u << HS_REACH_FILTER_BITS) / 8);
    hs_os_unmap(s->r, s->rcap * sizeof *s->r);
    hs_os_unmap(s->buf, HS_REACH_CHUNK);
    hs_os_unmap(s->vec, HS_REACH_RES_PAGES);
    hs_os_unmap(s->pm, HS_REACH_RES_PAGES * 8);
    if (s->memfd >= 0)
        close(s->memfd);
    if (s->pmfd >= 0)
        close(s->pmfd);
}

/* Is c still the live block it was? (A block freed and sampled again at the same address
 * for the same site cannot be told apart, and is as good as live.) */
static int still_live(const cand_t *c)
{
    uint32_t site;
    return hs_live_lookup((const void *)c->start, &site) == HS_OK && site == c->site;
}

hs_err_t hs_reach_scan(hs_snapshot_t *snap, const hs_reach_config_t *cfg, hs_reach_stats_t *st)
{
    memset(st, 0, sizeof *st);
    uint64_t t0 = hs_os_monotonic_ns();
    scan_t s = {.memfd = -1, .pmfd = -1, .st = st, .stack_floor = cfg->stack_floor};
    s.deadline = t0 + cfg->budget_ns;
    hs_err_t err = HS_ERR_NOMEM;

    s.cap = (size_t)hs_live_count() + (hs_live_count() >> 3) + 64;
    hs_live_block_t *blocks = NULL;
    s.c = scan_map(s.cap * sizeof *s.c);
    s.starts = scan_map(s.cap * sizeof *s.starts);
    s.ends = scan_map(s.cap * sizeof *s.ends);
    s.idx = scan_map(s.cap * sizeof *s.idx);
    s.work = scan_map(s.cap * sizeof *s.work);
    s.filter = scan_map((1u << HS_REACH_FILTER_BITS) / 8);
    s.buf = scan_map(HS_REACH_CHUNK);
    s.vec = scan_map(HS_REACH_RES_PAGES);
    s.pm = scan_map(HS_REACH_RES_PAGES * 8);
    blocks = scan_map(s.cap * sizeof *blocks);
    if (!s.c || !s.starts || !s.ends || !s.idx || !s.work || !s.filter || !s.buf || !s.vec ||
        !s.pm || !blocks)
        goto out;

    /* The candidates. */
    size_t nb = hs_live_copy(blocks, s.cap, &st->lock_max_ns);
    for (size_t i = 0; i < nb; i++) {
        hs_site_key_t key;
        if (!hs_site_key(blocks[i].site, &key))
            continue;
        uint64_t size = key.size ? key.size : 1;
        s.c[s.n++] = (cand_t){.start = blocks[i].addr,
                              .end = blocks[i].addr + (uintptr_t)size,
                              .site = blocks[i].site,
                              .cls = CLS_NONE,
                              .holder_site = HS_LIVE_NO_SITE};
    }
    hs_os_unmap(blocks, s.cap * sizeof *blocks);
    blocks = NULL;
    cand_sort(s.c, s.n);
    /* The copy may hold an entry twice (live_table.h). */
    size_t kept = 0;
    for (size_t i = 0; i < s.n; i++)
        if (!kept || s.c[kept - 1].start != s.c[i].start)
            s.c[kept++] = s.c[i];
    s.n = kept;
    st->blocks = s.n;
    if (s.n == 0) {
        /* Nothing live to classify (programs that free everything before they exit): a pass
         * over memory would cost the exit its whole length for no answer. */
        st->complete = 1;
        err = HS_OK;
        goto out;
    }

    /* The memory: every buffer is mapped by now, so the register leaves all of them out. */
    s.nown = hs_os_regions(s.own, HS_REACH_OWN_MAX);
    s.pmfd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    threads_read(&s);
    if (regions_read(&s) != 0) {
        st->unscanned = s.n;
        err = HS_OK;
        goto out;
    }

    /* Pass 1: every block. Then the blocks not found are looked for again, as long as the
     * previous pass found some of those it looked for (pointers moving under the scan). */
    look_build(&s, CLS_NONE);
    scan_pass(&s, 1);
    int done = !s.out_of_time;
    for (size_t i = 0; i < s.n && done; i++)
        if (s.c[i].cls == CLS_NONE)
            s.c[i].cls = CLS_UNREFERENCED;
    /* When other threads run, or once pointers were seen moving (a pass reached blocks the one
     * before missed), two quiet passes in a row, one in each direction, confirm the rest: a
     * running thread may move pointers during a pass, and the scan may be preempted between
     * two pages for as long as the scheduler likes. */
    int quiet = 0, moving = s.running > 0;
    for (int pass = 2; done && pass <= HS_REACH_MAX_PASSES; pass++) {
        look_build(&s, CLS_UNREFERENCED);
        if (!s.nlook)
            break;
        uint64_t before = st->confirmed;
        scan_pass(&s, pass);
        done = !s.out_of_time;
        st->passes = (uint32_t)pass;
        if (st->confirmed != before) {
            moving = 1;
            quiet = 0;
        } else if (++quiet >= 1 + moving) {
            break;
        }
    }
    if (st->passes == 0 && done)
        st->passes = 1;
    int pass2_done = done;
    for (size_t i = 0; i < s.n; i++) {
        cand_t *c = &s.c[i];
        if (c->cls == CLS_UNREFERENCED && !pass2_done)
            c->cls = CLS_NONE;
        if (c->cls != CLS_NONE && !still_live(c))
            c->cls = CLS_FREED;
        st->referenced += c->cls == CLS_REFERENCED;
        st->unreferenced += c->cls == CLS_UNREFERENCED;
        st->unscanned += c->cls == CLS_NONE;
        st->freed += c->cls == CLS_FREED;
    }
    st->complete = done;

    names_t names = {0};
    name_holders(&s, &names, cfg);
    err = split_rows(snap, &s, &names);
    for (size_t i = 0; i < names.n; i++)
        free(names.v[i]);
    free(names.v);
out:
    if (blocks)
        hs_os_unmap(blocks, s.cap * sizeof *blocks);
    scan_free(&s);
    st->ns = hs_os_monotonic_ns() - t0;
    return err;
}
