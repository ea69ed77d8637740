/*
 * memlimit.h - how much memory a process may use, and how much it uses, as the kernel counts
 * it: the memory cgroup (v1 or v2) and its ancestors, else RLIMIT_AS, else physical memory.
 *
 * Everything reads files under a root directory given by the caller ("" for the real system, a
 * fake tree in tests): <root>/proc/<pid>/cgroup and <root>/proc/<pid>/mountinfo to find the
 * group, then the group's files under <root><mount point>. Nothing is kept between calls: the
 * caller holds the results (the runtime's memory watch, the CLI's OOM check).
 *
 *   group    the process's memory cgroup: a cgroup2 mount whose root group has the memory
 *            controller (cgroup.controllers), else a cgroup v1 mount of the memory controller;
 *            its directory and the highest directory of that mount (ancestors above the mount
 *            are not visible, as in a container).
 *   limit    the smallest limit of the group and its visible ancestors: cgroup v2 memory.max
 *            and memory.high ("max" is none); cgroup v1 memory.limit_in_bytes, and the
 *            group's memory.stat hierarchical_memory_limit, which also covers ancestors above
 *            the mount (values of 2^62 or more are none). The group whose file sets the limit
 *            is kept: its usage is the one that counts against the limit.
 *   usage    against a cgroup limit: that group's working set as the kubelet computes it, the
 *            usage (v2 memory.current, v1 memory.usage_in_bytes) minus the inactive file cache
 *            (memory.stat inactive_file, v1 total_inactive_file), at least 0; against
 *            RLIMIT_AS the process's address space; otherwise (physical memory, a limit given
 *            by the user) its resident set (<root>/proc/<pid>/statm).
 *   OOM kills the kernel's count of processes its OOM killer killed in the group (v2
 *            memory.events oom_kill, hierarchical; v1 memory.oom_control oom_kill).
 *
 * Allocation-free (open/read/close into stack buffers; no stdio): the library calls it from its
 * constructor and its writer thread, possibly near a memory limit. Reentrant; no state.
 */
#ifndef HS_MEMLIMIT_H
#define HS_MEMLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"

#define HS_MEMLIMIT_PATH_MAX 1024

/* A memory cgroup: where a process's memory is charged. */
typedef struct hs_memlimit_group {
    int version;                    /* 1 or 2; 0: none */
    char dir[HS_MEMLIMIT_PATH_MAX]; /* the group's directory, root prefix included */
    size_t top;                     /* dir[0..top) is the mount point: the highest visible group */
} hs_memlimit_group_t;

typedef enum hs_memlimit_source {
    HS_MEMLIMIT_NONE = 0,
    HS_MEMLIMIT_CONFIG,       /* given by the user (HEAPSAMPLER_MEMORY_LIMIT) */
    HS_MEMLIMIT_CGROUP2_MAX,  /* cgroup v2 memory.max */
    HS_MEMLIMIT_CGROUP2_HIGH, /* cgroup v2 memory.high */
    HS_MEMLIMIT_CGROUP1,      /* cgroup v1 memory.limit_in_bytes (or hierarchical_memory_limit) */
    HS_MEMLIMIT_RLIMIT_AS,    /* the address-space limit */
    HS_MEMLIMIT_PHYSICAL,     /* MemTotal of <root>/proc/meminfo */
} hs_memlimit_source_t;

typedef enum hs_memusage_source {
    HS_MEMUSAGE_NONE = 0,
    HS_MEMUSAGE_WORKING_SET,   /* a cgroup's usage minus its inactive file cache */
    HS_MEMUSAGE_RSS,           /* the process's resident set */
    HS_MEMUSAGE_ADDRESS_SPACE, /* the process's mapped address space (against RLIMIT_AS) */
} hs_memusage_source_t;

/* A limit and where it comes from. */
typedef struct hs_memlimit {
    uint64_t bytes; /* 0: none */
    hs_memlimit_source_t source;
    int version;                    /* cgroup sources: 1 or 2 */
    char dir[HS_MEMLIMIT_PATH_MAX]; /* cgroup sources: the group whose file sets it */
} hs_memlimit_t;

/*
 * The memory cgroup of process pid (0: "self") under root. HS_ERR_NOTFOUND when there is none
 * (no memory controller mounted, the process's path not under the mount, a path too long);
 * HS_ERR_IO when /proc cannot be read.
 */
hs_err_t hs_memlimit_group_find(const char *root, pid_t pid,
                                hs_memlimit_group_t *out) HS_MUST_CHECK;

/*
 * The group's limit (see the file comment). HS_ERR_NOTFOUND when the group and every visible
 * ancestor are unlimited (out->bytes is then 0).
 */
hs_err_t hs_memlimit_group_limit(const hs_memlimit_group_t *g, hs_memlimit_t *out) HS_MUST_CHECK;

/*
 * A process's limit: the group's (g may be NULL: no group), else rlimit_as (the soft
 * RLIMIT_AS in bytes; 0 or RLIM_INFINITY: none), else physical memory. HS_ERR_NOTFOUND only
 * when none of them is known.
 */
hs_err_t hs_memlimit_resolve(const char *root, const hs_memlimit_group_t *g, uint64_t rlimit_as,
                             hs_memlimit_t *out) HS_MUST_CHECK;

/*
 * The usage that counts against lim (see the file comment) of process pid (0: self). A cgroup's
 * working set needs its memory.stat as well as its usage: when the usage alone is below
 * exact_above, it is returned as it is (the working set is never above it), saving that read.
 */
hs_err_t hs_memlimit_usage(const char *root, pid_t pid, const hs_memlimit_t *lim,
                           uint64_t exact_above, uint64_t *bytes,
                           hs_memusage_source_t *source) HS_MUST_CHECK;

/* The kernel's count of OOM kills in the group. HS_ERR_NOTFOUND when it keeps none. */
hs_err_t hs_memlimit_oom_kills(const hs_memlimit_group_t *g, uint64_t *out) HS_MUST_CHECK;

/*
 * "<dir>/<name>" in buf, for the files of a group that callers open themselves (the kernel's
 * notifications: v1 memory.usage_in_bytes and cgroup.event_control, v2 memory.events and
 * memory.pressure). HS_ERR_INVALID if it does not fit.
 */
hs_err_t hs_memlimit_group_file(const char *dir, const char *name, char *buf,
                                size_t len) HS_MUST_CHECK;

/*
 * A file of one value ("max" or a number, as a limit file holds), read with a buffer of a few
 * bytes (no allocation, little stack: fit for an allocating thread's slow path): 1 with the
 * number (UINT64_MAX for "max"), 0 when the file is absent or holds anything else.
 */
int hs_memlimit_read_one(const char *path, uint64_t *out);

/*
 * The resident set of process pid (0: self), split as the kernel counts it. Read from
 * <root>/proc/<pid>/status (VmRSS, RssAnon, RssFile, RssShmem, Threads: counters the kernel
 * keeps, so the read costs the same whatever the size of the process, unlike smaps_rollup,
 * which walks the page tables under the mm lock); else from statm (resident, and shared =
 * file + shmem, so anon = resident - shared, and shmem unknown: 0).
 */
typedef struct hs_memlimit_rss {
    uint64_t rss, anon, file, shmem; /* bytes */
    uint64_t threads;                /* 0: unknown */
    const char *source;              /* "status" or "statm" */
} hs_memlimit_rss_t;
hs_err_t hs_memlimit_rss(const char *root, pid_t pid, hs_memlimit_rss_t *out) HS_MUST_CHECK;

/*
 * Every line of a file (a /proc or cgroup file) to fn, NUL-terminated, without its newline; fn
 * returns 1 to stop reading. A line longer than 8 KiB is skipped whole. Allocation-free.
 * HS_ERR_IO (errno set) when the file cannot be opened or read.
 */
typedef int (*hs_memlimit_line_fn)(void *ctx, char *line);
hs_err_t hs_memlimit_lines(const char *path, hs_memlimit_line_fn fn, void *ctx) HS_MUST_CHECK;

/* Names for messages and profile metadata: "cgroup2.max", "working_set", ... */
const char *hs_memlimit_source_name(hs_memlimit_source_t source);
const char *hs_memusage_source_name(hs_memusage_source_t source);

/* Values of a cgroup limit file at or above this mean "no limit" (v1 writes 2^63 - 4096). */
#define HS_MEMLIMIT_UNLIMITED ((uint64_t)1 << 62)

#endif
