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
 * Thread-safety: reentrant, no global state; no allocation. Nothing to do at fork.
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

#define HS_OUTPUT_TMP_TRIES 4 /* fresh random names to try when one exists already */

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

hs_err_t hs_output_write_atomic(const char *path, const void *data, size_t len)
{
    if (!path || !path[0] || (!data && len)) {
        errno = EINVAL;
        return HS_ERR_INVALID;
    }
    char tmp[PATH_MAX + 32];
    size_t plen = strlen(path);
    if (plen >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return HS_ERR_IO;
    }

    int fd = -1, rc, saved;
    for (int tries = 0; tries < HS_OUTPUT_TMP_TRIES && fd < 0; tries++) {
        snprintf(tmp, sizeof tmp, "%s.tmp.%016llx", path, (unsigned long long)hs_os_random_u64());
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0)
        goto fail_open;

    /* The umask may have narrowed the mode; make it exactly 0600 either way. */
    if (fchmod(fd, 0600) != 0 || hs_output_write_quiet(fd, data, len) != 0)
        goto fail_write;
    rc = close(fd);
    fd = -1;
    if (rc != 0 && errno != EINTR)
        goto fail_write;
    if (rename(tmp, path) != 0)
        goto fail_write;
    return HS_OK;

fail_write:
    saved = errno; /* the first failure is the one to report */
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = saved;
fail_open:
    return HS_ERR_IO;
}
