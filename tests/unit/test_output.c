/*
 * test_output.c - profile file names, written and parsed back (round trips through
 * hs_output_path, prefixes with dots and digits of their own, names that are not a numbered
 * profile's), and the atomic write: content, mode 0600 whatever the
 * umask, no temporary file left behind on success or failure, errno on failure (missing
 * directory, parent that is a file, target that is a directory, file size limit), and a
 * symlink at the target replaced rather than followed. Failures use paths that fail for root
 * too (CI runs as root), never permissions.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compress.h"
#include "output.h"

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/hs_test_output.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        cr_log_warn("could not remove %s", dir);
}

/* Number of entries in dir (besides . and ..) whose name contains needle. */
static int count_entries(const char *d, const char *needle)
{
    DIR *dp = opendir(d);
    cr_assert_not_null(dp);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        n += strstr(e->d_name, needle) != NULL;
    }
    closedir(dp);
    return n;
}

static void read_file(const char *path, char *buf, size_t cap, size_t *len)
{
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
    ssize_t n = read(fd, buf, cap);
    cr_assert_geq(n, 0);
    *len = (size_t)n;
    close(fd);
}

TestSuite(output, .init = make_dir, .fini = remove_dir);

Test(output, path_format)
{
    char buf[256];
    cr_assert_eq(hs_output_path(buf, sizeof buf, "/tmp/prof", 1234, 0, ".pb.gz"), HS_OK);
    cr_assert_str_eq(buf, "/tmp/prof.1234.0000.pb.gz");
    cr_assert_eq(hs_output_path(buf, sizeof buf, "heap", 7, 42, ".pb.zst"), HS_OK);
    cr_assert_str_eq(buf, "heap.7.0042.pb.zst");
    cr_assert_eq(hs_output_path(buf, sizeof buf, "heap", 7, 123456, ".pb"), HS_OK);
    cr_assert_str_eq(buf, "heap.7.123456.pb");
    cr_assert_eq(hs_output_path(buf, sizeof buf, "heap", 7, 9999, ""), HS_OK);
    cr_assert_str_eq(buf, "heap.7.9999");
}

Test(output, path_too_long_or_empty)
{
    char buf[16];
    /* "abc.1234.0000.pb.gz" is 19 characters. */
    cr_assert_eq(hs_output_path(buf, sizeof buf, "abc", 1234, 0, ".pb.gz"), HS_ERR_INVALID);
    char exact[20];
    cr_assert_eq(hs_output_path(exact, sizeof exact, "abc", 1234, 0, ".pb.gz"), HS_OK);
    cr_assert_str_eq(exact, "abc.1234.0000.pb.gz");
    cr_assert_eq(hs_output_path(exact, sizeof exact - 1, "abc", 1234, 0, ".pb.gz"), HS_ERR_INVALID);
    cr_assert_eq(hs_output_path(buf, sizeof buf, "", 1, 0, ".pb"), HS_ERR_INVALID);
}

/* Parse name and check that it is a numbered profile's with these parts. */
static void assert_numbered(const char *name, const char *prefix, pid_t pid, uint64_t seq,
                            int compression)
{
    hs_output_name_t n;
    cr_assert_eq(hs_output_parse_name(name, &n), HS_OK, "%s", name);
    cr_assert(n.numbered, "%s", name);
    cr_assert_not(n.peak, "%s", name);
    cr_assert_eq(n.prefix_len, strlen(prefix), "%s: prefix length %zu", name, n.prefix_len);
    cr_assert_eq(strncmp(name, prefix, n.prefix_len), 0, "%s", name);
    cr_assert_eq(n.pid, pid, "%s: pid %d", name, (int)n.pid);
    cr_assert_eq(n.seq, seq, "%s: seq %llu", name, (unsigned long long)n.seq);
    cr_assert_eq(n.compression, compression, "%s", name);
}

Test(output, parse_round_trips_what_path_writes)
{
    static const char *const prefixes[] = {
        "heapsampler",
        "/tmp/prof/heapsampler",
        "./p",
        "app.v2",
        "run.12",
        "app.7.3",
        "/a.1/b.2/c.3.4",
        "x",
        "9",
        "...x",
        "a..b",
        "dir.d/0",
    };
    static const pid_t pids[] = {1, 7, 4242, 4194304, 2147483647};
    static const uint64_t seqs[] = {0, 1, 42, 9999, 10000, 123456789, UINT64_MAX};
    char buf[256];
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        for (size_t j = 0; j < sizeof pids / sizeof *pids; j++)
            for (size_t k = 0; k < sizeof seqs / sizeof *seqs; k++)
                for (int m = HS_COMPRESSION_GZIP; m <= HS_COMPRESSION_NONE; m++) {
                    cr_assert_eq(hs_output_path(buf, sizeof buf, prefixes[i], pids[j], seqs[k],
                                                hs_compress_suffix(m)),
                                 HS_OK);
                    assert_numbered(buf, prefixes[i], pids[j], seqs[k], m);
                }
}

Test(output, parse_odd_names)
{
    /* The prefix is what is left after ".<pid>.<seq>", however many numbers it holds itself. */
    assert_numbered("1.2.3.pb.gz", "1", 2, 3, HS_COMPRESSION_GZIP);
    assert_numbered("a.pb.4242.0001.pb.zst", "a.pb", 4242, 1, HS_COMPRESSION_ZSTD);
    assert_numbered("dir.7/x.4242.0001.pb", "dir.7/x", 4242, 1, HS_COMPRESSION_NONE);
    assert_numbered("x.0042.00000000000000000000007.pb", "x", 42, 7, HS_COMPRESSION_NONE);

    /* Profiles whose names carry no pid and seq. */
    static const struct {
        const char *name;
        int compression;
    } named[] = {
        {"heap.pb.gz", HS_COMPRESSION_GZIP},
        {"/tmp/heap.pb.zst", HS_COMPRESSION_ZSTD},
        {"out.pb", HS_COMPRESSION_NONE},
        {"4242.0001.pb.gz", HS_COMPRESSION_GZIP},      /* no prefix */
        {"dir/.4242.0001.pb.gz", HS_COMPRESSION_GZIP}, /* an empty last component */
        {"x.4242.pb.gz", HS_COMPRESSION_GZIP},         /* one number only */
        {"x..0001.pb.gz", HS_COMPRESSION_GZIP},
        {"x.42a.0001.pb.gz", HS_COMPRESSION_GZIP},
        {"x.-1.0001.pb.gz", HS_COMPRESSION_GZIP},
        {"x.+1.0001.pb.gz", HS_COMPRESSION_GZIP},
        {"x.2147483648.0001.pb.gz", HS_COMPRESSION_GZIP},           /* beyond pid_t */
        {"x.1.18446744073709551616.pb.gz", HS_COMPRESSION_GZIP},    /* beyond 64 bits */
        {"x.99999999999999999999999.1.pb.gz", HS_COMPRESSION_GZIP}, /* ditto */
    };
    for (size_t i = 0; i < sizeof named / sizeof *named; i++) {
        hs_output_name_t n;
        cr_assert_eq(hs_output_parse_name(named[i].name, &n), HS_OK, "%s", named[i].name);
        cr_assert_not(n.numbered, "%s", named[i].name);
        cr_assert_eq(n.pid, 0);
        cr_assert_eq(n.seq, 0);
        cr_assert_eq(n.compression, named[i].compression, "%s", named[i].name);
    }
}

Test(output, peak_names)
{
    char buf[256];
    cr_assert_eq(hs_output_peak_path(buf, sizeof buf, "/tmp/prof/app.v2", 4242, ".pb.gz"), HS_OK);
    cr_assert_str_eq(buf, "/tmp/prof/app.v2.4242.peak.pb.gz");
    cr_assert_eq(hs_output_peak_path(buf, 20, "/tmp/prof/app.v2", 4242, ".pb.gz"), HS_ERR_INVALID);
    cr_assert_eq(hs_output_peak_path(buf, sizeof buf, "", 4242, ".pb"), HS_ERR_INVALID);

    static const struct {
        const char *name, *prefix;
        pid_t pid;
        int compression;
    } peaks[] = {
        {"/tmp/prof/app.v2.4242.peak.pb.gz", "/tmp/prof/app.v2", 4242, HS_COMPRESSION_GZIP},
        {"heapsampler.1.peak.pb.zst", "heapsampler", 1, HS_COMPRESSION_ZSTD},
        {"x.peak.7.peak.pb", "x.peak", 7, HS_COMPRESSION_NONE},
    };
    for (size_t i = 0; i < sizeof peaks / sizeof *peaks; i++) {
        hs_output_name_t n;
        cr_assert_eq(hs_output_parse_name(peaks[i].name, &n), HS_OK, "%s", peaks[i].name);
        cr_assert(n.peak, "%s", peaks[i].name);
        cr_assert_not(n.numbered, "a peak profile is not one of the series: %s", peaks[i].name);
        cr_assert_eq(n.pid, peaks[i].pid, "%s", peaks[i].name);
        cr_assert_eq(n.prefix_len, strlen(peaks[i].prefix), "%s", peaks[i].name);
        cr_assert_eq(n.seq, 0);
        cr_assert_eq(n.compression, peaks[i].compression);
    }
    /* What a peak name is not: no pid, no prefix, another word; and ".peak" inside a prefix. */
    static const char *const others[] = {"x.peak.pb.gz", "4242.peak.pb.gz", "x.4242.peaks.pb.gz",
                                         "x.4242.Peak.pb.gz", "x.4242.xpeak.pb.gz"};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        hs_output_name_t n;
        cr_assert_eq(hs_output_parse_name(others[i], &n), HS_OK, "%s", others[i]);
        cr_assert_not(n.peak, "%s", others[i]);
        cr_assert_not(n.numbered, "%s", others[i]);
        cr_assert_eq(n.pid, 0, "%s", others[i]);
    }
    assert_numbered("x.1.peak.2.3.pb.gz", "x.1.peak", 2, 3, HS_COMPRESSION_GZIP);
}

Test(output, parse_refuses_what_is_not_a_profile)
{
    static const char *const bad[] = {
        "",
        ".pb.gz",
        "dir/.pb",
        "heapsampler.4242.0001.pb.gz.tmp.0123456789abcdef", /* being written */
        "heapsampler.4242.0001",
        "heapsampler.4242.0001.gz",
        "heapsampler.4242.0001.pb.gz2",
        "heapsampler.4242.0001.pbgz",
        "heapsampler.4242.0001.pb.",
        "notes.txt",
        "dir.pb.gz/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        hs_output_name_t n;
        cr_assert_eq(hs_output_parse_name(bad[i], &n), HS_ERR_INVALID, "%s", bad[i]);
        cr_assert_not(n.numbered);
    }
    hs_output_name_t n;
    cr_assert_eq(hs_output_parse_name(NULL, &n), HS_ERR_INVALID);
}

Test(output, write_creates_file_with_mode_0600)
{
    char path[128];
    snprintf(path, sizeof path, "%s/prof.pb.gz", dir);
    const char data[] = "profile bytes";
    umask(0); /* would give 0666 to a plain open(..., 0666) */
    cr_assert_eq(hs_output_write_atomic(path, data, sizeof data), HS_OK);
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0);
    cr_assert(S_ISREG(st.st_mode));
    cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
    char buf[64];
    size_t len;
    read_file(path, buf, sizeof buf, &len);
    cr_assert_eq(len, sizeof data);
    cr_assert_eq(memcmp(buf, data, len), 0);
    cr_assert_eq(count_entries(dir, ".tmp."), 0);
    cr_assert_eq(count_entries(dir, ""), 1);

    umask(0777); /* would give 0000 */
    snprintf(path, sizeof path, "%s/other.pb", dir);
    cr_assert_eq(hs_output_write_atomic(path, data, sizeof data), HS_OK);
    cr_assert_eq(lstat(path, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
}

Test(output, write_replaces_existing_file)
{
    char path[128];
    snprintf(path, sizeof path, "%s/prof.pb", dir);
    cr_assert_eq(hs_output_write_atomic(path, "first version, longer", 21), HS_OK);
    cr_assert_eq(hs_output_write_atomic(path, "second", 6), HS_OK);
    char buf[64];
    size_t len;
    read_file(path, buf, sizeof buf, &len);
    cr_assert_eq(len, 6);
    cr_assert_eq(memcmp(buf, "second", 6), 0);
    cr_assert_eq(count_entries(dir, ""), 1);
}

Test(output, empty_and_large_files)
{
    char path[128];
    snprintf(path, sizeof path, "%s/empty.pb", dir);
    cr_assert_eq(hs_output_write_atomic(path, "", 0), HS_OK);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_size, 0);

    size_t big = (size_t)24 << 20;
    unsigned char *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (unsigned char)(i * 131 + (i >> 12));
    snprintf(path, sizeof path, "%s/big.pb", dir);
    cr_assert_eq(hs_output_write_atomic(path, data, big), HS_OK);
    unsigned char *back = malloc(big + 1);
    size_t len = 0;
    int fd = open(path, O_RDONLY);
    for (ssize_t n; (n = read(fd, back + len, big + 1 - len)) > 0;)
        len += (size_t)n;
    close(fd);
    cr_assert_eq(len, big);
    cr_assert_eq(memcmp(back, data, big), 0);
    free(data);
    free(back);
}

Test(output, missing_directory_fails_with_enoent)
{
    char path[128];
    snprintf(path, sizeof path, "%s/no/such/dir/prof.pb.gz", dir);
    errno = 0;
    cr_assert_eq(hs_output_write_atomic(path, "x", 1), HS_ERR_IO);
    cr_assert_eq(errno, ENOENT, "errno %d (%s)", errno, strerror(errno));
    cr_assert_eq(count_entries(dir, ""), 0);
}

Test(output, parent_is_a_file_fails_with_enotdir)
{
    char file[128], path[160];
    snprintf(file, sizeof file, "%s/regular", dir);
    cr_assert_eq(hs_output_write_atomic(file, "x", 1), HS_OK);
    snprintf(path, sizeof path, "%s/prof.pb.gz", file);
    errno = 0;
    cr_assert_eq(hs_output_write_atomic(path, "x", 1), HS_ERR_IO);
    cr_assert_eq(errno, ENOTDIR, "errno %d (%s)", errno, strerror(errno));
    cr_assert_eq(count_entries(dir, ""), 1);
}

Test(output, target_is_a_directory_cleans_up)
{
    char path[128];
    snprintf(path, sizeof path, "%s/subdir", dir);
    cr_assert_eq(mkdir(path, 0700), 0);
    errno = 0;
    /* The temporary file is written, then rename() refuses to replace a directory. */
    cr_assert_eq(hs_output_write_atomic(path, "data", 4), HS_ERR_IO);
    cr_assert_eq(errno, EISDIR, "errno %d (%s)", errno, strerror(errno));
    cr_assert_eq(count_entries(dir, ".tmp."), 0, "temporary file left behind");
    cr_assert_eq(count_entries(dir, ""), 1);
}

/* Under RLIMIT_FSIZE = 1000, writing 5000 bytes to <dir>/big.pb fails with EFBIG and leaves
 * no temporary file. */
static void write_over_the_limit(char *path, size_t path_len, char *data, size_t data_len)
{
    struct rlimit rl = {.rlim_cur = 1000, .rlim_max = RLIM_INFINITY};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    snprintf(path, path_len, "%s/big.pb", dir);
    memset(data, 'x', data_len);
    errno = 0;
    cr_assert_eq(hs_output_write_atomic(path, data, data_len), HS_ERR_IO);
    cr_assert_eq(errno, EFBIG, "errno %d (%s)", errno, strerror(errno));
    cr_assert_eq(count_entries(dir, ""), 0, "temporary file left behind");
}

/* RLIMIT_FSIZE: the first write is short, the next fails with EFBIG. The temporary file must be
 * removed. */
Test(output, file_size_limit_fails_with_efbig)
{
    signal(SIGXFSZ, SIG_IGN);
    char path[128], data[5000];
    write_over_the_limit(path, sizeof path, data, sizeof data);
    /* Within the limit it works. */
    cr_assert_eq(hs_output_write_atomic(path, data, 1000), HS_OK);
}

Test(output, symlink_at_target_is_replaced_not_followed)
{
    char victim[128], path[128];
    snprintf(victim, sizeof victim, "%s/victim", dir);
    snprintf(path, sizeof path, "%s/prof.pb", dir);
    int fd = open(victim, O_WRONLY | O_CREAT, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "keep", 4), 4);
    close(fd);
    cr_assert_eq(symlink(victim, path), 0);
    cr_assert_eq(hs_output_write_atomic(path, "new", 3), HS_OK);
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0);
    cr_assert(S_ISREG(st.st_mode), "the symlink was replaced by the file");
    char buf[16];
    size_t len;
    read_file(victim, buf, sizeof buf, &len);
    cr_assert_eq(len, 4);
    cr_assert_eq(memcmp(buf, "keep", 4), 0, "the symlink's target is untouched");
}

Test(output, invalid_arguments)
{
    cr_assert_eq(hs_output_write_atomic("", "x", 1), HS_ERR_INVALID);
    cr_assert_eq(hs_output_write_atomic(NULL, "x", 1), HS_ERR_INVALID);
    char path[128];
    snprintf(path, sizeof path, "%s/x", dir);
    cr_assert_eq(hs_output_write_atomic(path, NULL, 1), HS_ERR_INVALID);
    char *longpath = malloc(8192);
    memset(longpath, 'a', 8191);
    longpath[0] = '/';
    longpath[8191] = '\0';
    errno = 0;
    cr_assert_eq(hs_output_write_atomic(longpath, "x", 1), HS_ERR_IO);
    cr_assert_eq(errno, ENAMETOOLONG);
    free(longpath);
}

/* Regression: over RLIMIT_FSIZE the write also raises SIGXFSZ, which kills the process by
 * default. A profile written by a thread that does not block it (the exiting thread, when the
 * writer thread could not start) killed the program it profiled. Now: EFBIG, no temporary file,
 * no signal left pending, the process alive; a SIGXFSZ pending before stays pending. */
Test(output, file_size_limit_never_raises_sigxfsz)
{
    signal(SIGXFSZ, SIG_DFL);
    char path[128], data[5000];
    write_over_the_limit(path, sizeof path, data, sizeof data);
    sigset_t pending, mask;
    cr_assert_eq(sigpending(&pending), 0);
    cr_assert(!sigismember(&pending, SIGXFSZ));
    /* The program's own pending SIGXFSZ (blocked) is not ours to take. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGXFSZ);
    cr_assert_eq(pthread_sigmask(SIG_BLOCK, &mask, NULL), 0);
    cr_assert_eq(raise(SIGXFSZ), 0);
    cr_assert_eq(hs_output_write_atomic(path, data, sizeof data), HS_ERR_IO);
    cr_assert_eq(sigpending(&pending), 0);
    cr_assert(sigismember(&pending, SIGXFSZ));
    cr_assert_eq(count_entries(dir, ""), 0);
}
