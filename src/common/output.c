/*
 * output.c - profile file names (written and parsed) and atomic writes.
 *
 * Names: hs_output_path writes "<prefix>.<pid>.<seq:04><suffix>", hs_output_peak_path
 * "<prefix>.<pid>.peak<suffix>", and hs_output_parse_name reads them back, from the right, since
 * a prefix is any path the user chose (dots and digits included). A name is only ever a hint: a
 * file renamed by hand keeps its contents, so readers take times and types from the profile itself
 * and use the name to group files by process.
 *
 * A profile is written to "<path>.tmp.<16 random hex digits>" created with
 * O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, mode 0600 (then fchmod 0600, so the host's umask
 * cannot widen or narrow it), written in full (short writes and EINTR are retried), closed with
 * its result checked, and renamed over <path>. Readers therefore see either the previous file or
 * the complete new one. O_EXCL|O_NOFOLLOW refuse anything planted at the temporary name (a
 * symlink is never followed); rename replaces a symlink at <path> itself instead of writing
 * through it. No fsync: a profile lost in a power failure is acceptable, stalling the writer
 * thread on the disk is not.
 *
 * Numbered profiles never replace a file (hs_output_write_numbered): the rename is
 * renameat2(RENAME_NOREPLACE), or link(2) then unlink of the temporary name where the file
 * system refuses that flag (both fail with EEXIST instead of replacing). A taken name (the
 * series of an earlier program image of the same process, before an exec; an earlier process
 * that had the same pid; anything planted there) moves the profile to the next free sequence
 * number, found by galloping over the taken ones with lstat, so a process that continues a
 * series of N files pays O(log N) system calls once. Only a file system that has neither
 * (no hard links either) falls back to a plain rename.
 *
 * On any failure the temporary file is removed and HS_ERR_IO is returned with errno describing
 * the first failure (EFBIG over RLIMIT_FSIZE, ENOSPC, EACCES, ENOENT for a missing directory,
 * ENOTDIR, ...). close() failing with EINTR counts as success: Linux releases the descriptor
 * anyway and the data is already in the page cache.
 *
 * SIGXFSZ: over RLIMIT_FSIZE, write(2) fails with EFBIG *and* raises SIGXFSZ, whose default
 * action kills the process. The writer thread blocks every signal, but a profile may also be
 * written by another thread (the exit profile, when the writer thread could not start), so the
 * write itself runs with SIGXFSZ blocked in the calling thread, and a SIGXFSZ that it raised is
 * taken back (sigtimedwait, no wait) before the mask is restored. One that was already pending
 * belongs to the program and is left alone.
 *
 * Thread-safety: reentrant, no global state; no allocation. Nothing to do at fork. Two writers
 * of one numbered series at once (never the case: a process's dumps are serialised) would still
 * not replace each other's files.
 */
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compress.h"
#include "os.h"

#define HS_OUTPUT_TMP_TRIES   4 /* fresh random names to try when one exists already */
#define HS_OUTPUT_TAKEN_TRIES 8 /* numbered names found taken in turn (someone races us) */

hs_err_t hs_output_path(char *buf, size_t len, const char *prefix, pid_t pid, uint64_t seq,
                        const char *suffix)
{
    if (!buf || len == 0 || !prefix || !prefix[0])
        return HS_ERR_INVALID;
    if (!suffix)
        suffix = "";
    int n = snprintf(buf, len, "%s.%d.%04llu%s", prefix, (int)pid, (unsigned long long)seq, suffix);
    if (n < 0 || (size_t)n >= len) {
        buf[0] = '\0';
        return HS_ERR_INVALID;
    }
    return HS_OK;
}

hs_err_t hs_output_peak_path(char *buf, size_t len, const char *prefix, pid_t pid,
                             const char *suffix)
{
    if (!buf || len == 0 || !prefix || !prefix[0])
        return HS_ERR_INVALID;
    int n = snprintf(buf, len, "%s.%d.peak%s", prefix, (int)pid, suffix ? suffix : "");
    if (n < 0 || (size_t)n >= len) {
        buf[0] = '\0';
        return HS_ERR_INVALID;
    }
    return HS_OK;
}

/*
 * The decimal number that ends at end and follows a '.' that is not the first character of
 * base: its value (at most max) and its length with the dot; 0 if there is no such number.
 */
static size_t hs_output_number_before(const char *base, const char *end, uint64_t max,
                                      uint64_t *value)
{
    const char *p = end;
    while (p > base && p[-1] >= '0' && p[-1] <= '9')
        p--;
    if (p == end || p - 1 <= base || p[-1] != '.')
        return 0;
    uint64_t v = 0;
    for (const char *d = p; d < end; d++) {
        uint64_t digit = (uint64_t)(*d - '0');
        if (v > (max - digit) / 10)
            return 0;
        v = v * 10 + digit;
    }
    *value = v;
    return (size_t)(end - p) + 1;
}

hs_err_t hs_output_parse_name(const char *name, hs_output_name_t *out)
{
    memset(out, 0, sizeof *out);
    if (!name)
        return HS_ERR_INVALID;
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    size_t len = strlen(name), base_len = strlen(base);
    int method = -1;
    size_t suffix_len = 0;
    for (int m = HS_COMPRESSION_GZIP; m <= HS_COMPRESSION_NONE && method < 0; m++) {
        const char *suffix = hs_compress_suffix(m);
        suffix_len = strlen(suffix);
        if (base_len > suffix_len && strcmp(base + base_len - suffix_len, suffix) == 0)
            method = m;
    }
    if (method < 0)
        return HS_ERR_INVALID;
    out->compression = method;

    /* ".<seq>" (or ".peak") and ".<pid>" from the right; what is left (not empty) is the
     * prefix. */
    static const char peak[] = ".peak";
    const char *end = name + len - suffix_len;
    uint64_t seq = 0, pid;
    size_t seq_len = hs_output_number_before(base, end, UINT64_MAX, &seq);
    bool is_peak = false;
    if (!seq_len && (size_t)(end - base) > sizeof peak - 1 &&
        memcmp(end - (sizeof peak - 1), peak, sizeof peak - 1) == 0) {
        seq_len = sizeof peak - 1;
        is_peak = true;
    }
    size_t pid_len = seq_len ? hs_output_number_before(base, end - seq_len, INT_MAX, &pid) : 0;
    if (!pid_len)
        return HS_OK;
    out->numbered = !is_peak;
    out->peak = is_peak;
    out->prefix_len = (size_t)(end - seq_len - pid_len - name);
    out->pid = (pid_t)pid;
    out->seq = seq;
    return HS_OK;
}

/* Write all of data, retrying short writes and EINTR. Returns 0, or -1 with errno set. */
static int hs_output_write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = EIO; /* a regular file never accepts zero bytes of a non-empty write */
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* hs_output_write_all with SIGXFSZ held back (see the file comment). */
static int hs_output_write_quiet(int fd, const uint8_t *p, size_t len)
{
    sigset_t xfsz, old, pending;
    sigemptyset(&xfsz);
    sigaddset(&xfsz, SIGXFSZ);
    pthread_sigmask(SIG_BLOCK, &xfsz, &old);
    int was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGXFSZ);
    int rc = hs_output_write_all(fd, p, len);
    int saved = errno;
    if (rc != 0 && saved == EFBIG && !was_pending) {
        static const struct timespec now = {0, 0};
        (void)sigtimedwait(&xfsz, NULL, &now);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return rc;
}

/*
 * The data in a new temporary file next to path (tmp gets its name, PATH_MAX + 32 bytes),
 * complete and closed. Returns 0, or -1 with errno set and no file left behind.
 */
static int hs_output_write_tmp(const char *path, char *tmp, const void *data, size_t len)
{
    if (strlen(path) >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = -1, rc, saved;
    for (int tries = 0; tries < HS_OUTPUT_TMP_TRIES && fd < 0; tries++) {
        snprintf(tmp, PATH_MAX + 32, "%s.tmp.%016llx", path,
                 (unsigned long long)hs_os_random_u64());
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0)
        return -1;

    /* The umask may have narrowed the mode; make it exactly 0600 either way. */
    if (fchmod(fd, 0600) != 0 || hs_output_write_quiet(fd, data, len) != 0)
        goto fail;
    rc = close(fd);
    fd = -1;
    if (rc != 0 && errno != EINTR)
        goto fail;
    return 0;
fail:
    saved = errno; /* the first failure is the one to report */
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = saved;
    return -1;
}

hs_err_t hs_output_write_atomic(const char *path, const void *data, size_t len)
{
    if (!path || !path[0] || (!data && len)) {
        errno = EINVAL;
        return HS_ERR_INVALID;
    }
    char tmp[PATH_MAX + 32];
    if (hs_output_write_tmp(path, tmp, data, len) != 0)
        return HS_ERR_IO;
    if (rename(tmp, path) != 0) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
        return HS_ERR_IO;
    }
    return HS_OK;
}

/* Rename tmp to path unless path exists: 0, or -1 with errno (EEXIST when it does). */
static int hs_output_rename_new(const char *tmp, const char *path)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    /* The file system has no RENAME_NOREPLACE: a hard link is just as exclusive. */
    if (link(tmp, path) == 0) {
        unlink(tmp);
        return 0;
    }
    if (errno == EEXIST)
        return -1;
    /* Nor hard links (vfat, some FUSE file systems): what every other writer does. */
    return rename(tmp, path);
}

/* Is <prefix>.<pid>.<seq><suffix> taken (by anything, a dangling symlink included)? */
static bool hs_output_taken(char *buf, size_t len, const char *prefix, pid_t pid, uint64_t seq,
                            const char *suffix)
{
    struct stat st;
    return hs_output_path(buf, len, prefix, pid, seq, suffix) == HS_OK && lstat(buf, &st) == 0;
}

/* A free sequence number after taken, which is taken: gallop, then bisect. */
static uint64_t hs_output_next_free(char *buf, size_t len, const char *prefix, pid_t pid,
                                    uint64_t taken, const char *suffix)
{
    uint64_t lo = taken, step = 1;
    while (step < (UINT64_C(1) << 40) &&
           hs_output_taken(buf, len, prefix, pid, lo + step, suffix)) {
        lo += step;
        step *= 2;
    }
    uint64_t hi = lo + step; /* free, or as far as anyone goes */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (hs_output_taken(buf, len, prefix, pid, mid, suffix))
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

hs_err_t hs_output_write_numbered(char *path, size_t path_len, const char *prefix, pid_t pid,
                                  uint64_t *seq, const char *suffix, const void *data, size_t len)
{
    if (!path || !path_len || (!data && len)) {
        errno = EINVAL;
        return HS_ERR_INVALID;
    }
    hs_err_t err = hs_output_path(path, path_len, prefix, pid, *seq, suffix);
    if (err != HS_OK) {
        errno = ENAMETOOLONG;
        return err;
    }
    char tmp[PATH_MAX + 32];
    if (hs_output_write_tmp(path, tmp, data, len) != 0)
        return HS_ERR_IO;
    for (int tries = 0; tries < HS_OUTPUT_TAKEN_TRIES; tries++) {
        if (hs_output_rename_new(tmp, path) == 0)
            return HS_OK;
        if (errno != EEXIST)
            break;
        *seq = hs_output_next_free(path, path_len, prefix, pid, *seq, suffix);
        if (hs_output_path(path, path_len, prefix, pid, *seq, suffix) != HS_OK) {
            errno = ENAMETOOLONG;
            break;
        }
    }
    int saved = errno;
    unlink(tmp);
    errno = saved;
    return HS_ERR_IO;
}
