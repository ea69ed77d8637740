/*
 * memwatch.c - the memory in use against the memory limit (see memwatch.h).
 *
 * Looking: every look reads the usage (a cgroup's usage file, or statm; memory.stat only when
 * the usage is in the close range, where the working set must be exact), and every 2 s the
 * limit (a resized container is noticed within seconds; a changed limit moves every level).
 * Levels are percentages of the limit. A threshold is armed at start; a look that finds the
 * usage at or above armed thresholds disarms them all and asks for one profile, for the highest
 * (a jump from 60% to 96% writes the 95% profile, not three); a threshold is armed again when
 * the usage falls HS_MEMWATCH_REARM points below it, so a sawtooth around a threshold does not
 * write a profile per tooth. The peak profile is due, in the close range, when the usage passes
 * the level of the last one by the step; a look that also crossed a threshold asks for one
 * profile, written under both names.
 *
 * Speed: far from the limit the thread looks every HS_MEMWATCH_FAR_NS, in the close range
 * every HS_MEMWATCH_CLOSE_NS while the usage rises (backing off to HS_MEMWATCH_STEADY_NS while
 * it stays put) and also whenever the kernel signals (the descriptors below).
 * Between looks the sampler's in-use estimate stands for the usage: after each look the
 * sampler's mark is set at the estimate that corresponds to the next level of interest (the
 * usage measured, plus the distance to that level), and a sample that reaches it pokes the
 * thread, or starts it (writer_thread.h): a single-threaded program has no writer thread
 * until its heap grows close to the limit.
 *
 * The kernel's notifications, registered once in the close range for the group that sets the
 * limit: v1, an eventfd signalled by cgroup.event_control when memory.usage_in_bytes crosses
 * the close range's start or a threshold (either way; the raw usage is above the working set,
 * so the signal comes early, never late); v2, memory.events (changes when the usage passes
 * memory.high or memory.max) and a memory.pressure trigger (stalls of 150 ms in a second).
 * Where they cannot be had (no permission, no PSI), the polling alone does. The descriptors
 * are the profiler's: before reading one, it is checked (fstat) to be the file it opened, since
 * a program may close descriptors it did not open and reuse the numbers; one that is not is
 * forgotten, never read or closed.
 *
 * The reserve: in the close range the watch maps and touches memory the size of the estimated
 * dump (HS_MEMWATCH_DUMP_BASE + HS_MEMWATCH_DUMP_PER_SITE per site, at most a tenth of the
 * limit), while the next threshold leaves room for it, in a process that holds at least an
 * eighth of its group's usage. Each dump gives it back first (its
 * pages leave the cgroup's usage, so the dump can take as many without passing the limit) and
 * takes back afterwards what the dump did not keep in the writer's heap (measured as the
 * resident set's change; the heap keeps most of a dump's memory for the next one). The figures
 * tell the dump how much room is left, so that it can do with less (dump.c).
 *
 * A resized limit without a writer thread: a single-threaded program far from its limit has no
 * thread to read the limit every 2 s, and its sampler's mark stands for the old limit; a
 * lowered limit would kill it with no profile. So while no look has run (idle_check_at set),
 * the sampler's slow path (any thread, under the guard; hs_memwatch_idle_check) reads, at most
 * every 2 s, the witness of the limit: the one file that set it (its raw value), or RLIMIT_AS.
 * A different value pokes the watch, which starts the writer thread; its first look reads the
 * limit again and sets every level and the mark. A limit that came from physical memory has no
 * witness: a group limit imposed later is seen once the thread runs.
 *
 * Threads: the state belongs to the thread that looks and dumps (the writer thread; the
 * exiting thread runs the exit dump only when the writer never ran, so never both), apart from
 * init and the fork child, single-threaded. The sampler reads its mark through its own atomics.
 * Fork: see memwatch.h.
 */
#include "memwatch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "os.h"
#include "sampler.h"
#include "stack_table.h"

#define HS_MEMWATCH_NEAR_BELOW    20 /* the close range starts this many points below the lowest */
#define HS_MEMWATCH_NEAR_DEFAULT  50 /* ... or here, when there are no thresholds */
#define HS_MEMWATCH_REARM         10 /* points below a threshold that arm it again */
#define HS_MEMWATCH_CLOSE_NS      (20 * 1000000ull)
#define HS_MEMWATCH_STEADY_NS     (320 * 1000000ull) /* the close range, the usage steady */
#define HS_MEMWATCH_FAR_NS        (500 * 1000000ull)
#define HS_MEMWATCH_LIMIT_NS      (2000 * 1000000ull)
#define HS_MEMWATCH_DUMP_BASE     ((uint64_t)3 << 19) /* 1.5 MiB: README.md, the OOM killer */
#define HS_MEMWATCH_DUMP_PER_SITE 640
#define HS_MEMWATCH_RESERVE_SHARE 8 /* in a group, only a process with 1/8 of its usage */
#define HS_MEMWATCH_RESERVE_MIN   ((size_t)64 << 10)
#define HS_MEMWATCH_PSI_TRIGGER   "some 150000 1000000"
#define HS_MEMWATCH_PSI_TRIGGER2  "some 150000 2000000" /* the shortest window without privilege */
#define HS_MEMWATCH_NOTES         3

typedef struct hs_memwatch_note {
    int fd;
    dev_t dev;
    ino_t ino;
    bool eventfd; /* v1's: read 8 bytes; else a kernfs file (pread) or a PSI trigger (poll) */
    bool reread;  /* memory.events: read again to clear the change */
    short events;
} hs_memwatch_note_t;

static struct {
    hs_memwatch_config_t cfg;
    bool enabled;
    unsigned near_pct;
    hs_memlimit_t limit; /* bytes 0: unknown */
    uint64_t next_limit_ns;
    uint64_t period_ns;  /* between looks in the close range */
    uint64_t last_usage; /* at the last look */
    uint64_t armed[2];   /* thresholds armed, as in hs_config_percents_t */
    uint64_t peak_level;
    unsigned pending_threshold;
    bool pending_peak;
    uint64_t pending_usage;
    void *reserve;
    size_t reserve_len;
    size_t released;     /* given back by the dump under way */
    uint64_t rss_before; /* the resident set when it was given back */
    hs_memwatch_note_t notes[HS_MEMWATCH_NOTES];
    int nnotes;
    bool notes_tried; /* for the current limit */
    int witness_kind; /* 0 none, 1 the file witness_path, 2 RLIMIT_AS */
    uint64_t witness; /* its value when the limit was read */
    char witness_path[HS_MEMLIMIT_PATH_MAX + 32];
} M;

static uint64_t idle_check_at; /* atomic: when hs_memwatch_idle_check reads next; 0: never */

/* ---- levels ------------------------------------------------------------------------------- */

static uint64_t hs_memwatch_level(unsigned pct)
{
    uint64_t l = M.limit.bytes;
    return l / 100 * pct + l % 100 * pct / 100;
}

static bool hs_memwatch_armed(unsigned pct)
{
    return M.armed[(pct - 1) / 64] >> ((pct - 1) % 64) & 1;
}

static void hs_memwatch_set_armed(unsigned pct, bool on)
{
    uint64_t bit = 1ull << ((pct - 1) % 64);
    if (on)
        M.armed[(pct - 1) / 64] |= bit;
    else
        M.armed[(pct - 1) / 64] &= ~bit;
}

static bool hs_memwatch_is_threshold(unsigned pct)
{
    return hs_config_has_percent(&M.cfg.thresholds, pct);
}

/* The usage that arms pct again. */
static uint64_t hs_memwatch_rearm_level(unsigned pct)
{
    unsigned back = pct > 2 * HS_MEMWATCH_REARM ? HS_MEMWATCH_REARM : pct / 2;
    return hs_memwatch_level(pct - back);
}

void hs_memwatch_format_bytes(char *buf, size_t len, uint64_t bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double x = (double)bytes;
    size_t k = 0;
    while (x >= 999.5 && k + 1 < HS_ARRAY_LEN(units)) {
        x /= 1024;
        k++;
    }
    if (k == 0)
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, len, "%.*f %s", x >= 99.95 ? 0 : x >= 9.995 ? 1 : 2, x, units[k]);
}

/* ---- the kernel's notifications ----------------------------------------------------------- */

/* Is the note's descriptor still the file the profiler opened? */
static bool hs_memwatch_note_ours(const hs_memwatch_note_t *n)
{
    struct stat st;
    return fstat(n->fd, &st) == 0 && st.st_dev == n->dev && st.st_ino == n->ino;
}

static void hs_memwatch_note_add(int fd, bool eventfd, bool reread, short events)
{
    struct stat st;
    if (M.nnotes == HS_MEMWATCH_NOTES || fstat(fd, &st) != 0) {
        close(fd);
        return;
    }
    M.notes[M.nnotes++] = (hs_memwatch_note_t){.fd = fd,
                                               .dev = st.st_dev,
                                               .ino = st.st_ino,
                                               .eventfd = eventfd,
                                               .reread = reread,
                                               .events = events};
}

/* Close the notes that are still ours; forget the others. */
static void hs_memwatch_notes_close(void)
{
    for (int i = 0; i < M.nnotes; i++)
        if (hs_memwatch_note_ours(&M.notes[i]))
            close(M.notes[i].fd);
    M.nnotes = 0;
    M.notes_tried = false;
}

/* cgroup v1: one eventfd for every level of interest of memory.usage_in_bytes. */
static void hs_memwatch_notes_v1(void)
{
    char ctl[HS_MEMLIMIT_PATH_MAX + 32], usage[HS_MEMLIMIT_PATH_MAX + 32];
    if (hs_memlimit_group_file(M.limit.dir, "cgroup.event_control", ctl, sizeof ctl) != HS_OK ||
        hs_memlimit_group_file(M.limit.dir, "memory.usage_in_bytes", usage, sizeof usage) != HS_OK)
        return;
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int ufd = efd >= 0 ? open(usage, O_RDONLY | O_CLOEXEC) : -1;
    int cfd = ufd >= 0 ? open(ctl, O_WRONLY | O_CLOEXEC) : -1;
    int registered = 0;
    for (unsigned pct = 1; cfd >= 0 && pct <= 100; pct++) {
        if (pct != M.near_pct && !hs_memwatch_is_threshold(pct))
            continue;
        char line[96];
        int n = snprintf(line, sizeof line, "%d %d %llu", efd, ufd,
                         (unsigned long long)hs_memwatch_level(pct));
        registered += write(cfd, line, (size_t)n) == n;
    }
    /* The kernel keeps what it needs of the usage file; only the eventfd stays open. */
    if (cfd >= 0)
        close(cfd);
    if (ufd >= 0)
        close(ufd);
    if (registered)
        hs_memwatch_note_add(efd, true, false, POLLIN);
    else if (efd >= 0)
        close(efd);
    hs_debug(2, "memory notifications: %d cgroup v1 usage threshold%s", registered,
             registered == 1 ? "" : "s");
}

/* cgroup v2: memory.events, and a memory.pressure trigger. */
static void hs_memwatch_notes_v2(void)
{
    char path[HS_MEMLIMIT_PATH_MAX + 32];
    if (hs_memlimit_group_file(M.limit.dir, "memory.events", path, sizeof path) == HS_OK) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        char c;
        if (fd >= 0 && pread(fd, &c, 1, 0) >= 0)
            hs_memwatch_note_add(fd, false, true, POLLPRI);
        else if (fd >= 0)
            close(fd);
    }
    if (hs_memlimit_group_file(M.limit.dir, "memory.pressure", path, sizeof path) == HS_OK) {
        int fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
        static const char *const triggers[] = {HS_MEMWATCH_PSI_TRIGGER, HS_MEMWATCH_PSI_TRIGGER2};
        bool ok = false;
        for (size_t i = 0; fd >= 0 && !ok && i < HS_ARRAY_LEN(triggers); i++)
            ok = write(fd, triggers[i], strlen(triggers[i]) + 1) > 0;
        if (ok)
            hs_memwatch_note_add(fd, false, false, POLLPRI);
        else if (fd >= 0)
            close(fd);
    }
    hs_debug(2, "memory notifications: %d cgroup v2 file%s", M.nnotes, M.nnotes == 1 ? "" : "s");
}

static void hs_memwatch_notes_open(void)
{
    M.notes_tried = true;
    int saved = errno;
    if (M.limit.source == HS_MEMLIMIT_CGROUP1)
        hs_memwatch_notes_v1();
    else if (M.limit.source == HS_MEMLIMIT_CGROUP2_MAX ||
             M.limit.source == HS_MEMLIMIT_CGROUP2_HIGH)
        hs_memwatch_notes_v2();
    errno = saved;
}

/* Clear what the kernel signalled, so that the next wait does not return at once. Returns
 * whether it signalled anything. */
static bool hs_memwatch_notes_drain(const hs_writer_wait_t *wait)
{
    bool signalled = false;
    for (nfds_t i = 0; i < wait->nfds; i++) {
        if (!wait->fds[i].revents)
            continue;
        signalled = true;
        for (int k = 0; k < M.nnotes; k++) {
            hs_memwatch_note_t *n = &M.notes[k];
            if (n->fd != wait->fds[i].fd)
                continue;
            if (!hs_memwatch_note_ours(n)) {
                M.notes[k--] = M.notes[--M.nnotes]; /* someone else's now: forget it */
                continue;
            }
            uint64_t count;
            char c;
            if (n->eventfd)
                (void)!read(n->fd, &count, sizeof count);
            else if (n->reread)
                (void)!pread(n->fd, &c, 1, 0);
        }
    }
    return signalled;
}

/* ---- limit, usage, reserve ---------------------------------------------------------------- */

static void hs_memwatch_describe(char *buf, size_t len)
{
    char l[32];
    hs_memwatch_format_bytes(l, sizeof l, M.limit.bytes);
    snprintf(buf, len, "%s (%s%s%s)", l, hs_memlimit_source_name(M.limit.source),
             M.limit.dir[0] ? " " : "", M.limit.dir);
}

/* What hs_memwatch_idle_check compares: the raw value behind M.limit. */
static void hs_memwatch_witness(void)
{
    const char *name = NULL;
    M.witness_kind = 0;
    if (M.cfg.limit)
        return; /* configured: cannot change */
    switch (M.limit.source) {
    case HS_MEMLIMIT_CGROUP2_MAX:
        name = "memory.max";
        break;
    case HS_MEMLIMIT_CGROUP2_HIGH:
        name = "memory.high";
        break;
    case HS_MEMLIMIT_CGROUP1:
        name = "memory.limit_in_bytes";
        break;
    case HS_MEMLIMIT_RLIMIT_AS: {
        struct rlimit rl;
        if (getrlimit(RLIMIT_AS, &rl) == 0) {
            M.witness = (uint64_t)rl.rlim_cur;
            M.witness_kind = 2;
        }
        return;
    }
    default:
        return;
    }
    if (hs_memlimit_group_file(M.limit.dir, name, M.witness_path, sizeof M.witness_path) == HS_OK &&
        hs_memlimit_read_one(M.witness_path, &M.witness))
        M.witness_kind = 1;
}

static void hs_memwatch_refresh_limit(void)
{
    static hs_memlimit_group_t group; /* large: kept off the stack */
    static hs_memlimit_t lim;
    memset(&lim, 0, sizeof lim);
    if (M.cfg.limit) {
        lim.bytes = M.cfg.limit;
        lim.source = HS_MEMLIMIT_CONFIG;
    } else {
        bool has_group = hs_memlimit_group_find("", 0, &group) == HS_OK;
        struct rlimit rl;
        uint64_t as = getrlimit(RLIMIT_AS, &rl) == 0 ? (uint64_t)rl.rlim_cur : 0;
        if (hs_memlimit_resolve("", has_group ? &group : NULL, as, &lim) != HS_OK)
            lim.bytes = 0;
    }
    if (lim.bytes == M.limit.bytes && lim.source == M.limit.source &&
        strcmp(lim.dir, M.limit.dir) == 0) {
        hs_memwatch_witness();
        return;
    }
    bool changed = M.limit.bytes != 0;
    M.limit = lim;
    hs_memwatch_witness();
    hs_memwatch_notes_close(); /* registered at the old levels */
    if (changed && M.enabled) {
        char d[HS_MEMLIMIT_PATH_MAX + 64];
        hs_memwatch_describe(d, sizeof d);
        hs_debug(1, "pid %d: the memory limit is now %s", (int)getpid(), d);
    }
}

static bool hs_memwatch_usage(uint64_t exact_above, uint64_t *usage, hs_memusage_source_t *src)
{
    int saved = errno;
    bool ok = M.limit.bytes && hs_memlimit_usage("", 0, &M.limit, exact_above, usage, src) == HS_OK;
    errno = saved;
    return ok;
}

static uint64_t hs_memwatch_rss(void)
{
    hs_memlimit_t rss = {.source = HS_MEMLIMIT_PHYSICAL};
    uint64_t bytes = 0;
    hs_memusage_source_t src;
    int saved = errno;
    if (hs_memlimit_usage("", 0, &rss, 0, &bytes, &src) != HS_OK)
        bytes = 0;
    errno = saved;
    return bytes;
}

/* The level of the lowest armed threshold above usage (0: none). */
static uint64_t hs_memwatch_next_threshold(uint64_t usage)
{
    for (unsigned pct = 1; pct <= 100; pct++)
        if (hs_memwatch_is_threshold(pct) && hs_memwatch_armed(pct) &&
            hs_memwatch_level(pct) > usage)
            return hs_memwatch_level(pct);
    return 0;
}

/*
 * Map and touch len bytes, when the next threshold leaves room for them, and when this process
 * is one of the big ones of its group: every profiled process of a group shared by many (a
 * server's workers) watches the same usage, and a reserve in each of them would fill the
 * group by itself; the OOM killer takes the biggest, whose evidence matters.
 */
static void hs_memwatch_reserve_take(size_t len, uint64_t usage)
{
    uint64_t next = hs_memwatch_next_threshold(usage);
    if (M.reserve || len < HS_MEMWATCH_RESERVE_MIN || !next || usage + len >= next)
        return;
    bool shared = M.limit.source == HS_MEMLIMIT_CGROUP1 ||
                  M.limit.source == HS_MEMLIMIT_CGROUP2_MAX ||
                  M.limit.source == HS_MEMLIMIT_CGROUP2_HIGH;
    if (shared && hs_memwatch_rss() < usage / HS_MEMWATCH_RESERVE_SHARE)
        return;
    volatile char *p = hs_os_map(len);
    if (!p)
        return;
    for (size_t i = 0; i < len; i += 4096)
        p[i] = 1; /* charged to the cgroup now, not when the dump needs it */
    M.reserve = (void *)p;
    M.reserve_len = hs_os_page_round(len);
}

static void hs_memwatch_reserve_drop(void)
{
    if (!M.reserve)
        return;
    hs_os_unmap(M.reserve, M.reserve_len);
    M.reserve = NULL;
    M.reserve_len = 0;
}

/* What a dump may need (see the file comment), at most a tenth of the limit. */
static size_t hs_memwatch_reserve_size(void)
{
    uint64_t want = HS_MEMWATCH_DUMP_BASE + (uint64_t)hs_site_count() * HS_MEMWATCH_DUMP_PER_SITE;
    uint64_t cap = M.limit.bytes / 10;
    return (size_t)(want < cap ? want : cap);
}

/* ---- looking ------------------------------------------------------------------------------ */

/* The sampler's mark at the next level of interest above usage. */
static void hs_memwatch_set_mark(uint64_t usage)
{
    uint64_t next = hs_memwatch_next_threshold(usage);
    uint64_t near = hs_memwatch_level(M.near_pct);
    if (usage < near && (!next || near < next))
        next = near;
    if (M.cfg.peak_step) {
        uint64_t peak = M.peak_level + hs_memwatch_level(M.cfg.peak_step);
        if (peak < near)
            peak = near;
        if (peak > usage && (!next || peak < next))
            next = peak;
    }
    int64_t mark = INT64_MAX;
    if (next && next - usage < (uint64_t)INT64_MAX / 2) {
        int64_t now = hs_sampler_inuse_estimate();
        if (now < INT64_MAX / 2)
            mark = now + (int64_t)(next - usage);
    }
    hs_sampler_set_memory_mark(mark);
}

/* Arm, fire, peak: the events a usage calls for. */
static unsigned hs_memwatch_evaluate(uint64_t usage)
{
    unsigned fired = 0, events = 0;
    for (unsigned pct = 1; pct <= 100; pct++) {
        if (!hs_memwatch_is_threshold(pct))
            continue;
        if (!hs_memwatch_armed(pct) && usage < hs_memwatch_rearm_level(pct))
            hs_memwatch_set_armed(pct, true);
        if (hs_memwatch_armed(pct) && usage >= hs_memwatch_level(pct))
            fired = pct;
    }
    if (fired) {
        for (unsigned pct = 1; pct <= fired; pct++)
            if (hs_memwatch_is_threshold(pct))
                hs_memwatch_set_armed(pct, false);
        M.pending_threshold = fired;
        events |= HS_WRITER_BIT(HS_WRITER_MEMORY);
    }
    uint64_t step = hs_memwatch_level(M.cfg.peak_step);
    if (M.cfg.peak_step && usage >= hs_memwatch_level(M.near_pct) && usage >= M.peak_level + step) {
        M.peak_level = usage;
        M.pending_peak = true;
        if (!fired)
            events |= HS_WRITER_BIT(HS_WRITER_PEAK);
    }
    if (events)
        M.pending_usage = usage;
    return events;
}

unsigned hs_memwatch_look(void *arg, hs_writer_wait_t *wait)
{
    (void)arg;
    uint64_t now = hs_os_monotonic_ns();
    __atomic_store_n(&idle_check_at, 0, __ATOMIC_RELAXED); /* this thread reads the limit now */
    bool signalled = hs_memwatch_notes_drain(wait);
    wait->nfds = 0;
    wait->deadline_ns = now + HS_MEMWATCH_FAR_NS;
    if (now >= M.next_limit_ns) {
        hs_memwatch_refresh_limit();
        M.next_limit_ns = now + HS_MEMWATCH_LIMIT_NS;
    }
    uint64_t usage;
    hs_memusage_source_t src;
    uint64_t near = hs_memwatch_level(M.near_pct);
    if (!M.enabled || !hs_memwatch_usage(near, &usage, &src))
        return 0;
    unsigned events = hs_memwatch_evaluate(usage);
    /* In the close range, a look every 20 ms while the usage moves up (or the kernel or the
     * sampler says it may have); twice as long after each look that found it steady, up to
     * HS_MEMWATCH_STEADY_NS: a program that sits at 60% of its limit is not polled 50 times a
     * second for ever, and its marks still poke the thread at once. */
    bool rising = usage > M.last_usage + hs_memwatch_level(1) / 2;
    M.last_usage = usage;
    if (usage >= near) {
        if (rising || signalled || events || M.period_ns < HS_MEMWATCH_CLOSE_NS)
            M.period_ns = HS_MEMWATCH_CLOSE_NS;
        else if (M.period_ns < HS_MEMWATCH_STEADY_NS)
            M.period_ns *= 2;
        wait->deadline_ns = now + M.period_ns;
        wait->urgent = true;
        hs_memwatch_reserve_take(hs_memwatch_reserve_size(), usage);
        if (!M.notes_tried)
            hs_memwatch_notes_open();
        for (int i = 0; i < M.nnotes; i++)
            wait->fds[wait->nfds++] =
                (struct pollfd){.fd = M.notes[i].fd, .events = M.notes[i].events};
    } else if (usage < hs_memwatch_level(
                           M.near_pct > HS_MEMWATCH_REARM ? M.near_pct - HS_MEMWATCH_REARM : 0)) {
        hs_memwatch_reserve_drop(); /* well out of the close range: give it back */
    }
    hs_memwatch_set_mark(usage);
    return events;
}

/* Arm the sampler-side check of the limit, while no writer thread looks. */
static void hs_memwatch_idle_arm(void)
{
    uint64_t at = M.enabled && M.witness_kind ? hs_os_monotonic_ns() + HS_MEMWATCH_LIMIT_NS : 0;
    __atomic_store_n(&idle_check_at, at, __ATOMIC_RELAXED);
}

void hs_memwatch_idle_check(void)
{
    uint64_t at = __atomic_load_n(&idle_check_at, __ATOMIC_RELAXED);
    if (HS_LIKELY(at == 0))
        return;
    uint64_t now = hs_os_monotonic_ns();
    if (now < at || !__atomic_compare_exchange_n(&idle_check_at, &at, now + HS_MEMWATCH_LIMIT_NS, 0,
                                                 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        return;
    if (hs_writer_running())
        return; /* its next look reads the limit (and disarms this) */
    /* M.limit's witness, read-only here: the writer thread, the only one that changes it, does
     * not run (one starting now could make this read stale: a spurious poke at worst). */
    int saved = errno;
    uint64_t v = M.witness;
    bool same;
    if (M.witness_kind == 2) {
        struct rlimit rl;
        same = getrlimit(RLIMIT_AS, &rl) != 0 || (uint64_t)rl.rlim_cur == M.witness;
    } else {
        same = hs_memlimit_read_one(M.witness_path, &v) && v == M.witness;
    }
    errno = saved;
    if (!same)
        hs_writer_poke_watch();
}

/* ---- dumps -------------------------------------------------------------------------------- */

void hs_memwatch_dump_begin(bool watched, hs_memwatch_figures_t *out)
{
    memset(out, 0, sizeof *out);
    /* The usage as the kernel counts it (the reserve included: what the looks compared), then
     * the reserve given back, which is room for the dump. */
    if (hs_memwatch_usage(0, &out->usage, &out->usage_source)) {
        out->known = true;
        out->limit = M.limit.bytes;
        out->limit_source = M.limit.source;
    }
    if (M.reserve) {
        M.rss_before = hs_memwatch_rss();
        M.released = M.reserve_len;
        out->reserve = M.reserve_len;
        hs_memwatch_reserve_drop();
    }
    if (out->known)
        out->room = (out->limit > out->usage ? out->limit - out->usage : 0) + out->reserve;
    if (!watched || !M.limit.bytes)
        return;
    char l[32];
    hs_memwatch_format_bytes(l, sizeof l, M.limit.bytes);
    unsigned pct = M.pending_threshold;
    if (!pct) /* a peak: where it is */
        pct = (unsigned)(M.pending_usage / (M.limit.bytes / 100 ? M.limit.bytes / 100 : 1));
    snprintf(out->detail, sizeof out->detail, "%u%% of %s", pct, l);
    out->threshold = M.pending_threshold;
    out->peak = M.pending_peak;
    M.pending_threshold = 0;
    M.pending_peak = false;
}

void hs_memwatch_dump_end(void)
{
    if (!M.released)
        return;
    /* What the dump kept (in the writer's heap, for the next one) need not be reserved again;
     * the program's own growth meanwhile counts as kept too, which errs towards less. */
    uint64_t rss = hs_memwatch_rss();
    uint64_t base = M.rss_before > M.released ? M.rss_before - M.released : 0;
    uint64_t kept = rss > base ? rss - base : 0;
    size_t want = kept < M.released ? M.released - (size_t)kept : 0;
    M.released = 0;
    uint64_t usage;
    hs_memusage_source_t src;
    if (want && hs_memwatch_usage(0, &usage, &src) && usage >= hs_memwatch_level(M.near_pct))
        hs_memwatch_reserve_take(want, usage);
}

/* ---- life cycle --------------------------------------------------------------------------- */

/* Arm everything and set the mark from a first look at the usage. Returns 1 in the close
 * range. */
static int hs_memwatch_start(void)
{
    M.armed[0] = M.cfg.thresholds.bits[0];
    M.armed[1] = M.cfg.thresholds.bits[1];
    M.peak_level = 0;
    M.pending_threshold = 0;
    M.pending_peak = false;
    M.next_limit_ns = hs_os_monotonic_ns() + HS_MEMWATCH_LIMIT_NS;
    uint64_t usage;
    hs_memusage_source_t src;
    if (!M.enabled || !hs_memwatch_usage(0, &usage, &src)) {
        hs_sampler_set_memory_mark(INT64_MAX);
        return 0;
    }
    hs_memwatch_set_mark(usage);
    return usage >= hs_memwatch_level(M.near_pct);
}

int hs_memwatch_init(const hs_memwatch_config_t *cfg)
{
    memset(&M, 0, sizeof M);
    M.cfg = *cfg;
    if (M.cfg.peak_step > 100)
        M.cfg.peak_step = 100;
    bool any = M.cfg.thresholds.bits[0] || M.cfg.thresholds.bits[1];
    M.enabled = any || M.cfg.peak_step;
    M.near_pct = HS_MEMWATCH_NEAR_DEFAULT;
    for (unsigned pct = 1; any && pct <= 100; pct++) {
        if (hs_memwatch_is_threshold(pct)) {
            M.near_pct = pct > HS_MEMWATCH_NEAR_BELOW ? pct - HS_MEMWATCH_NEAR_BELOW : 0;
            break;
        }
    }
    hs_memwatch_refresh_limit();
    hs_memwatch_idle_arm();
    int close_now = hs_memwatch_start();
    if (M.enabled && hs_log_verbosity() >= 1) {
        char d[HS_MEMLIMIT_PATH_MAX + 64];
        hs_memwatch_describe(d, sizeof d);
        hs_debug(1, "pid %d: memory limit %s; watched from %u%% of it", (int)getpid(),
                 M.limit.bytes ? d : "unknown", M.near_pct);
    }
    return close_now;
}

bool hs_memwatch_enabled(void)
{
    return M.enabled;
}

void hs_memwatch_prefork(void)
{
    /* Nothing to take: see memwatch.h. */
}

void hs_memwatch_postfork_parent(void) {}

void hs_memwatch_postfork_child(void)
{
    /* The child's copies: nobody else in it can have reused these numbers yet. */
    for (int i = 0; i < M.nnotes; i++)
        close(M.notes[i].fd);
    M.nnotes = 0;
    M.notes_tried = false;
    hs_memwatch_reserve_drop();
    M.released = 0;
    hs_memwatch_idle_arm(); /* the writer thread did not survive the fork */
    (void)hs_memwatch_start();
}
