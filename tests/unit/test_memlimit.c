/*
 * test_memlimit.c - memory limits and usage read from fake trees (a root directory holding
 * proc/self/cgroup, proc/self/mountinfo, proc/meminfo, proc/self/statm and the cgroup files a
 * kernel would show): cgroup v2 and v1, nested groups (the smallest limit of the group and its
 * ancestors wins, and the group that sets it is the one whose usage counts), "max" and v1's
 * "unlimited" 2^63 - 4096, memory.high, v1's hierarchical_memory_limit for ancestors above the
 * mount, a container's view of a sub-tree, a hybrid system (a v2 mount without the memory
 * controller), escaped mount points, overlong mountinfo lines, missing and malformed files,
 * then the fallbacks (RLIMIT_AS, physical memory), the working set (usage minus inactive file),
 * the resident set and address space, and the OOM-kill counters. One test reads the real
 * system: it must at least know the physical memory and the process's resident set.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memlimit.h"

#define MIB (1024ull * 1024)

static char root[64];

static void make_root(void)
{
    snprintf(root, sizeof root, "/tmp/hs_test_memlimit.XXXXXX");
    cr_assert_not_null(mkdtemp(root));
}

static void remove_root(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        cr_log_warn("could not remove %s", root);
}

/* Write text to <root>/<rel>, creating the directories on the way. */
static void put(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *s = path + strlen(root) + 1; (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        cr_assert(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s", path);
        *s = '/';
    }
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

/* The group dir of a path relative to root. */
static const char *at(const char *rel)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", root, rel);
    return buf;
}

/* The group found under root is <root>/<rel>, and its limit is bytes. */
static void expect_limit(const char *rel, uint64_t bytes)
{
    hs_memlimit_group_t g;
    hs_memlimit_t lim;
    cr_assert_eq(hs_memlimit_group_find(root, 0, &g), HS_OK);
    cr_assert_str_eq(g.dir, at(rel));
    cr_assert_eq(hs_memlimit_group_limit(&g, &lim), HS_OK);
    cr_assert_eq(lim.bytes, bytes);
}

#define V2_MOUNT                                                                                   \
    "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 "              \
    "cgroup2 rw,nsdelegate,memory_recursiveprot\n"
#define V1_MOUNT                                                                                   \
    "35 31 0:32 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup "       \
    "cgroup rw,memory\n"
#define OTHER_MOUNTS                                                                               \
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"                                      \
    "24 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs udev rw,size=10k\n"

static void v2_system(const char *path)
{
    char cg[256];
    snprintf(cg, sizeof cg, "0::%s\n", path);
    put("proc/self/cgroup", cg);
    put("proc/self/mountinfo", OTHER_MOUNTS V2_MOUNT);
    put("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
}

static void v1_system(const char *path)
{
    char cg[512];
    snprintf(cg, sizeof cg,
             "12:pids:/user.slice\n5:cpu,cpuacct:/\n4:memory:%s\n1:name=systemd:/init.scope\n"
             "0::/init.scope\n",
             path);
    put("proc/self/cgroup", cg);
    put("proc/self/mountinfo",
        OTHER_MOUNTS "31 23 0:28 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n" V1_MOUNT
                     "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
    put("sys/fs/cgroup/unified/cgroup.controllers", "\n"); /* hybrid: no controller on v2 */
}

TestSuite(memlimit, .init = make_root, .fini = remove_root);

Test(memlimit, v2_nested_groups_smallest_limit_wins)
{
    v2_system("/kubepods.slice/pod1.slice/ctr.scope");
    put("sys/fs/cgroup/kubepods.slice/memory.max", "max\n");
    put("sys/fs/cgroup/kubepods.slice/pod1.slice/memory.max", "134217728\n");
    put("sys/fs/cgroup/kubepods.slice/pod1.slice/memory.high", "max\n");
    put("sys/fs/cgroup/kubepods.slice/pod1.slice/ctr.scope/memory.max", "max\n");
    put("sys/fs/cgroup/kubepods.slice/pod1.slice/ctr.scope/memory.high", "max\n");

    hs_memlimit_group_t g;
    cr_assert_eq(hs_memlimit_group_find(root, 0, &g), HS_OK);
    cr_assert_eq(g.version, 2);
    cr_assert_str_eq(g.dir, at("sys/fs/cgroup/kubepods.slice/pod1.slice/ctr.scope"));
    cr_assert_eq(g.top, strlen(at("sys/fs/cgroup")));

    hs_memlimit_t lim;
    cr_assert_eq(hs_memlimit_group_limit(&g, &lim), HS_OK);
    cr_assert_eq(lim.bytes, 128 * MIB);
    cr_assert_eq(lim.source, HS_MEMLIMIT_CGROUP2_MAX);
    cr_assert_str_eq(lim.dir, at("sys/fs/cgroup/kubepods.slice/pod1.slice"));
    cr_assert_str_eq(hs_memlimit_source_name(lim.source), "cgroup2.max");

    /* memory.high below it, on the container's own group: the smaller one. */
    put("sys/fs/cgroup/kubepods.slice/pod1.slice/ctr.scope/memory.high", "100000000\n");
    cr_assert_eq(hs_memlimit_group_limit(&g, &lim), HS_OK);
    cr_assert_eq(lim.bytes, 100000000);
    cr_assert_eq(lim.source, HS_MEMLIMIT_CGROUP2_HIGH);
    cr_assert_str_eq(lim.dir, at("sys/fs/cgroup/kubepods.slice/pod1.slice/ctr.scope"));

    /* The working set of that group: usage minus inactive file. */
    put("sys/fs/cgroup/kubepods.slice/pod1.slice/ctr.scope/memory.current", "94371840\n");
    put("sys/fs/cgroup/kubepods.slice/pod1.slice/ctr.scope/memory.stat",
        "anon 73400320\nfile 20971520\nkernel 1000\nactive_anon 1\ninactive_anon 2\n"
        "active_file 10485760\ninactive_file 10485760\nunevictable 0\n");
    uint64_t usage;
    hs_memusage_source_t src;
    cr_assert_eq(hs_memlimit_usage(root, 0, &lim, 0, &usage, &src), HS_OK);
    cr_assert_eq(src, HS_MEMUSAGE_WORKING_SET);
    cr_assert_eq(usage, 80 * MIB);
    /* Below exact_above the raw usage is enough: memory.stat is not needed. */
    put("sys/fs/cgroup/kubepods.slice/pod1.slice/ctr.scope/memory.stat", "garbage\n");
    cr_assert_eq(hs_memlimit_usage(root, 0, &lim, 95 * MIB, &usage, &src), HS_OK);
    cr_assert_eq(usage, 90 * MIB);
    cr_assert_eq(hs_memlimit_usage(root, 0, &lim, 0, &usage, &src), HS_ERR_IO);
}

Test(memlimit, v2_unlimited_falls_back_to_rlimit_then_physical)
{
    v2_system("/user.slice/session-1.scope");
    put("sys/fs/cgroup/user.slice/memory.max", "max\n");
    put("sys/fs/cgroup/user.slice/session-1.scope/memory.max", "max\n");
    put("sys/fs/cgroup/user.slice/session-1.scope/memory.high", "max\n");
    /* The root group has no memory.max: missing files are no limit. */
    put("proc/meminfo", "MemTotal:       24684044 kB\nMemFree:        23000000 kB\n");

    hs_memlimit_group_t g;
    hs_memlimit_t lim;
    cr_assert_eq(hs_memlimit_group_find(root, 0, &g), HS_OK);
    cr_assert_eq(hs_memlimit_group_limit(&g, &lim), HS_ERR_NOTFOUND);
    cr_assert_eq(lim.bytes, 0);

    cr_assert_eq(hs_memlimit_resolve(root, &g, 256 * MIB, &lim), HS_OK);
    cr_assert_eq(lim.source, HS_MEMLIMIT_RLIMIT_AS);
    cr_assert_eq(lim.bytes, 256 * MIB);

    cr_assert_eq(hs_memlimit_resolve(root, &g, (uint64_t)RLIM_INFINITY, &lim), HS_OK);
    cr_assert_eq(lim.source, HS_MEMLIMIT_PHYSICAL);
    cr_assert_eq(lim.bytes, 24684044ull * 1024);
    cr_assert_eq(hs_memlimit_resolve(root, NULL, 0, &lim), HS_OK);
    cr_assert_eq(lim.source, HS_MEMLIMIT_PHYSICAL);

    put("proc/meminfo", "MemTotal: lots\n");
    cr_assert_eq(hs_memlimit_resolve(root, NULL, 0, &lim), HS_ERR_NOTFOUND);
}

Test(memlimit, v1_hierarchy_and_ancestors_above_the_mount)
{
    v1_system("/process_api/job7");
    put("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    put("sys/fs/cgroup/memory/process_api/memory.limit_in_bytes", "268435456\n");
    put("sys/fs/cgroup/memory/process_api/job7/memory.limit_in_bytes", "9223372036854771712\n");
    put("sys/fs/cgroup/memory/process_api/job7/memory.stat",
        "cache 831488\nrss 1724416\nhierarchical_memory_limit 268435456\n"
        "total_inactive_file 4194304\ntotal_active_file 475136\n");

    hs_memlimit_group_t g;
    cr_assert_eq(hs_memlimit_group_find(root, 0, &g), HS_OK);
    cr_assert_eq(g.version, 1, "the v2 mount of a hybrid system has no memory controller");
    cr_assert_str_eq(g.dir, at("sys/fs/cgroup/memory/process_api/job7"));

    hs_memlimit_t lim;
    cr_assert_eq(hs_memlimit_group_limit(&g, &lim), HS_OK);
    cr_assert_eq(lim.bytes, 256 * MIB);
    cr_assert_eq(lim.source, HS_MEMLIMIT_CGROUP1);
    cr_assert_str_eq(lim.dir, at("sys/fs/cgroup/memory/process_api"), "the parent sets it");

    /* An ancestor above what is mounted (a container's view) still limits: the kernel's
     * hierarchical_memory_limit says so; the group's own usage then stands for its. */
    put("sys/fs/cgroup/memory/process_api/job7/memory.stat",
        "hierarchical_memory_limit 134217728\ntotal_inactive_file 4194304\n");
    cr_assert_eq(hs_memlimit_group_limit(&g, &lim), HS_OK);
    cr_assert_eq(lim.bytes, 128 * MIB);
    cr_assert_str_eq(lim.dir, at("sys/fs/cgroup/memory/process_api/job7"));

    put("sys/fs/cgroup/memory/process_api/job7/memory.usage_in_bytes", "104857600\n");
    uint64_t usage;
    hs_memusage_source_t src;
    cr_assert_eq(hs_memlimit_usage(root, 0, &lim, 0, &usage, &src), HS_OK);
    cr_assert_eq(usage, 96 * MIB);
    cr_assert_str_eq(hs_memusage_source_name(src), "working_set");

    /* More inactive file than usage (it is counted hierarchically): 0, never a wrap-around. */
    put("sys/fs/cgroup/memory/process_api/job7/memory.stat",
        "hierarchical_memory_limit 134217728\ntotal_inactive_file 204857600\n");
    cr_assert_eq(hs_memlimit_usage(root, 0, &lim, 0, &usage, &src), HS_OK);
    cr_assert_eq(usage, 0);

    put("sys/fs/cgroup/memory/process_api/job7/memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
    uint64_t kills;
    cr_assert_eq(hs_memlimit_oom_kills(&g, &kills), HS_OK);
    cr_assert_eq(kills, 3);
}

Test(memlimit, container_view_of_a_subtree)
{
    /* No cgroup namespace: the path is the host's, the mount's root is the container's group. */
    put("proc/self/cgroup", "4:memory:/docker/abc123\n0::/\n");
    put("proc/self/mountinfo",
        OTHER_MOUNTS "35 31 0:32 /docker/abc123 /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup "
                     "rw,memory\n");
    put("sys/fs/cgroup/memory/memory.limit_in_bytes", "536870912\n");
    expect_limit("sys/fs/cgroup/memory", 512 * MIB);
    hs_memlimit_group_t g;

    /* A path outside the mounted sub-tree is not visible here. */
    put("proc/self/cgroup", "4:memory:/docker/other\n");
    cr_assert_eq(hs_memlimit_group_find(root, 0, &g), HS_ERR_NOTFOUND);
    /* Nor one above a cgroup namespace's root. */
    put("proc/self/cgroup", "0::/../sibling\n");
    put("proc/self/mountinfo", V2_MOUNT);
    put("sys/fs/cgroup/cgroup.controllers", "memory\n");
    cr_assert_eq(hs_memlimit_group_find(root, 0, &g), HS_ERR_NOTFOUND);
}

Test(memlimit, escaped_mount_points_and_long_lines)
{
    char overlay[20000];
    int n = snprintf(overlay, sizeof overlay,
                     "50 22 0:60 / /var/lib/x rw - overlay overlay rw,lowerdir=");
    while (n < 15000)
        n += snprintf(overlay + n, sizeof overlay - (size_t)n, "/var/lib/layers/%05d:", n);
    snprintf(overlay + n, sizeof overlay - (size_t)n, "\n");
    char mountinfo[21000];
    snprintf(mountinfo, sizeof mountinfo,
             "%s60 22 0:70 / /my\\040cgroups rw - cgroup2 cgroup2 rw\n", overlay);
    put("proc/self/cgroup", "0::/app\n");
    put("proc/self/mountinfo", mountinfo);
    put("my cgroups/cgroup.controllers", "cpu memory\n");
    put("my cgroups/app/memory.max", "67108864\n");
    expect_limit("my cgroups/app", 64 * MIB);
}

Test(memlimit, missing_and_malformed_files)
{
    hs_memlimit_group_t g;
    hs_memlimit_t lim;
    /* No /proc at all. */
    cr_assert_eq(hs_memlimit_group_find(root, 0, &g), HS_ERR_IO);
    /* No memory hierarchy in the process's list. */
    put("proc/self/cgroup", "5:cpu,cpuacct:/\n");
    put("proc/self/mountinfo", OTHER_MOUNTS);
    cr_assert_eq(hs_memlimit_group_find(root, 0, &g), HS_ERR_NOTFOUND);
    /* Listed, but not mounted. */
    put("proc/self/cgroup", "4:memory:/a\n");
    cr_assert_eq(hs_memlimit_group_find(root, 0, &g), HS_ERR_NOTFOUND);
    /* Mounted; its files missing or not numbers: no limit, never a guess. */
    put("proc/self/mountinfo", OTHER_MOUNTS V1_MOUNT);
    cr_assert_eq(hs_memlimit_group_find(root, 0, &g), HS_OK);
    cr_assert_eq(hs_memlimit_group_limit(&g, &lim), HS_ERR_NOTFOUND);
    put("sys/fs/cgroup/memory/a/memory.limit_in_bytes", "12k\n");
    cr_assert_eq(hs_memlimit_group_limit(&g, &lim), HS_ERR_NOTFOUND);
    put("sys/fs/cgroup/memory/a/memory.limit_in_bytes", "-1\n");
    cr_assert_eq(hs_memlimit_group_limit(&g, &lim), HS_ERR_NOTFOUND);
    put("sys/fs/cgroup/memory/a/memory.limit_in_bytes", "99999999999999999999999\n");
    cr_assert_eq(hs_memlimit_group_limit(&g, &lim), HS_ERR_NOTFOUND);
    uint64_t kills, usage;
    hs_memusage_source_t src;
    cr_assert_eq(hs_memlimit_oom_kills(&g, &kills), HS_ERR_NOTFOUND);
    put("sys/fs/cgroup/memory/a/memory.limit_in_bytes", "1048576\n");
    cr_assert_eq(hs_memlimit_group_limit(&g, &lim), HS_OK);
    cr_assert_eq(hs_memlimit_usage(root, 0, &lim, 0, &usage, &src), HS_ERR_IO);
    /* A v2 group without memory.events keeps no OOM count either. */
    hs_memlimit_group_t v2 = {.version = 2};
    snprintf(v2.dir, sizeof v2.dir, "%s", at("nowhere"));
    cr_assert_eq(hs_memlimit_oom_kills(&v2, &kills), HS_ERR_NOTFOUND);
    put("nowhere/memory.events", "low 0\nhigh 12\nmax 40\noom 2\noom_kill 1\noom_group_kill 0\n");
    cr_assert_eq(hs_memlimit_oom_kills(&v2, &kills), HS_OK);
    cr_assert_eq(kills, 1);
}

/* The limit's witness, read from an allocating thread: one value, a small buffer. */
Test(memlimit, one_value_files)
{
    uint64_t v;
    cr_assert_eq(hs_memlimit_read_one(at("none"), &v), 0);
    put("max", "max\n");
    cr_assert_eq(hs_memlimit_read_one(at("max"), &v), 1);
    cr_assert_eq(v, UINT64_MAX);
    put("n", "167772160\n");
    cr_assert_eq(hs_memlimit_read_one(at("n"), &v), 1);
    cr_assert_eq(v, 167772160);
    put("bare", "4096");
    cr_assert_eq(hs_memlimit_read_one(at("bare"), &v), 1);
    cr_assert_eq(v, 4096);
    const char *bad[] = {"",
                         "\n",
                         "12k\n",
                         "-1\n",
                         "1 2\n",
                         "99999999999999999999999\n",
                         "123456789012345678901234567890123\n",
                         "maxx\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        put("bad", bad[i]);
        cr_assert_eq(hs_memlimit_read_one(at("bad"), &v), 0, "%s", bad[i]);
    }
}

Test(memlimit, process_usage_without_a_group)
{
    put("proc/self/statm", "51200 2560 300 10 0 3000 0\n");
    put("proc/1234/statm", "100 50 3 1 0 40 0\n");
    long page = sysconf(_SC_PAGESIZE);
    hs_memlimit_t lim = {.bytes = 1 << 30, .source = HS_MEMLIMIT_PHYSICAL};
    uint64_t usage;
    hs_memusage_source_t src;
    cr_assert_eq(hs_memlimit_usage(root, 0, &lim, 0, &usage, &src), HS_OK);
    cr_assert_eq(src, HS_MEMUSAGE_RSS);
    cr_assert_eq(usage, 2560ull * (uint64_t)page);
    lim.source = HS_MEMLIMIT_CONFIG;
    cr_assert_eq(hs_memlimit_usage(root, 1234, &lim, 0, &usage, &src), HS_OK);
    cr_assert_eq(usage, 50ull * (uint64_t)page);
    lim.source = HS_MEMLIMIT_RLIMIT_AS;
    cr_assert_eq(hs_memlimit_usage(root, 0, &lim, 0, &usage, &src), HS_OK);
    cr_assert_eq(src, HS_MEMUSAGE_ADDRESS_SPACE);
    cr_assert_eq(usage, 51200ull * (uint64_t)page);
    put("proc/self/statm", "51200\n");
    lim.source = HS_MEMLIMIT_PHYSICAL;
    cr_assert_eq(hs_memlimit_usage(root, 0, &lim, 0, &usage, &src), HS_ERR_INVALID);
}

Test(memlimit, resident_set_split)
{
    put("proc/self/status", "Name:\tx\nVmRSS:\t    10240 kB\nRssAnon:\t     8192 kB\n"
                            "RssFile:\t     1024 kB\nRssShmem:\t     1024 kB\nThreads:\t3\n");
    hs_memlimit_rss_t r;
    cr_assert_eq(hs_memlimit_rss(root, 0, &r), HS_OK);
    cr_assert_str_eq(r.source, "status");
    cr_assert_eq(r.rss, 10240ull * 1024);
    cr_assert_eq(r.anon, 8192ull * 1024);
    cr_assert_eq(r.file, 1024ull * 1024);
    cr_assert_eq(r.shmem, 1024ull * 1024);
    cr_assert_eq(r.threads, 3);
    /* A kernel without the split (before 4.5): statm's resident and shared. */
    put("proc/42/status", "Name:\tx\nVmRSS:\t    10240 kB\n");
    put("proc/42/statm", "51200 2560 300 10 0 3000 0\n");
    long page = sysconf(_SC_PAGESIZE);
    cr_assert_eq(hs_memlimit_rss(root, 42, &r), HS_OK);
    cr_assert_str_eq(r.source, "statm");
    cr_assert_eq(r.rss, 2560ull * (uint64_t)page);
    cr_assert_eq(r.file, 300ull * (uint64_t)page);
    cr_assert_eq(r.anon, 2260ull * (uint64_t)page);
    cr_assert_eq(hs_memlimit_rss(root, 43, &r), HS_ERR_IO);
}

Test(memlimit, group_file_paths)
{
    char buf[32];
    cr_assert_eq(hs_memlimit_group_file("/a/b", "memory.events", buf, sizeof buf), HS_OK);
    cr_assert_str_eq(buf, "/a/b/memory.events");
    cr_assert_eq(hs_memlimit_group_file("/a/very/long/group/dir", "memory.events", buf, sizeof buf),
                 HS_ERR_INVALID);
}

Test(memlimit, the_real_system)
{
    hs_memlimit_group_t g;
    hs_err_t err = hs_memlimit_group_find("", 0, &g);
    cr_assert(err == HS_OK || err == HS_ERR_NOTFOUND, "%d", err);
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_AS, &rl), 0);
    hs_memlimit_t lim;
    cr_assert_eq(hs_memlimit_resolve("", err == HS_OK ? &g : NULL, (uint64_t)rl.rlim_cur, &lim),
                 HS_OK);
    cr_assert_gt(lim.bytes, 0);
    uint64_t usage;
    hs_memusage_source_t src;
    cr_assert_eq(hs_memlimit_usage("", 0, &lim, 0, &usage, &src), HS_OK);
    if (src != HS_MEMUSAGE_WORKING_SET)
        cr_assert_gt(usage, 0);
    cr_log_info("limit %llu (%s), usage %llu (%s), group %s", (unsigned long long)lim.bytes,
                hs_memlimit_source_name(lim.source), (unsigned long long)usage,
                hs_memusage_source_name(src), err == HS_OK ? g.dir : "none");
}
