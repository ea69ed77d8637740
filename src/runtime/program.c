/*
 * program.c - the program this process runs and its place in the process tree (program.h).
 *
 * Everything is read once, at init, into static buffers: the constructor may run before the
 * program's allocator is usable, and a profile written near a memory limit must not need
 * memory to say which program it belongs to. Sources: the auxiliary vector's AT_EXECFN (the
 * path given to execve, which for a script is the script), /proc/self/exe (the running binary,
 * even when its file was replaced or deleted), /proc/self/cmdline (argv as the process has it
 * now). Without /proc the names that need it stay empty and nothing else changes.
 *
 * Why the executed path and not the binary's: Debian installs redis-server as a symlink to
 * redis-check-rdb and python3 as one to python3.11; people name programs by what they run,
 * and pprof opens a mapping's file through the symlink all the same (the build ID tells the
 * binaries apart). The executed path is kept only when it still leads to the running binary
 * (same device and inode): a script's path (its binary is the interpreter) or a path replaced
 * since does not.
 *
 * Command lines: /proc/self/cmdline separates arguments with NULs; they are joined with spaces
 * (as ps shows them) and trailing NULs of a title padded by its server are dropped. The kernel
 * follows a process that rewrote its argv area (setproctitle), which is how postgres backends
 * show "postgres: user db [local] idle".
 *
 * Thread-safety: written by init (single-threaded) and by the postfork handler of a forked
 * child (single-threaded); read afterwards. No lock, no allocation.
 */
#include "program.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "os.h"

#define HS_PROGRAM_NAME_MAX 256

static struct {
    char name[HS_PROGRAM_NAME_MAX];   /* as executed */
    char argv0[HS_PROGRAM_NAME_MAX];  /* argv[0]'s last component */
    char binary[HS_PROGRAM_NAME_MAX]; /* the running binary's file name */
    char exe[PATH_MAX];
    char cmdline[HS_PROGRAM_CMDLINE_MAX + 4];
    bool first;
    uint64_t started_ns;
} P;

/* The last component of path (path itself without a '/'). */
static const char *hs_program_base(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void hs_program_copy(char *dst, size_t len, const char *src)
{
    size_t n = strnlen(src, len - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/*
 * /proc/self/cmdline into buf as one line: NULs become spaces, trailing ones are dropped, and a
 * command line longer than len - 4 bytes is cut and ends in "...". *argv0 (may be NULL) gets
 * the first argument's length. Returns the line's length (0 if it cannot be read).
 */
static size_t hs_program_read_cmdline(char *buf, size_t len, size_t *argv0)
{
    buf[0] = '\0';
    if (argv0)
        *argv0 = 0;
    if (len < 8)
        return 0;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t n = 0, cap = len - 4;
    bool more = false;
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    if (n == cap) {
        char c;
        more = read(fd, &c, 1) == 1;
    }
    close(fd);
    if (argv0)
        *argv0 = strnlen(buf, n);
    while (n > 0 && (buf[n - 1] == '\0' || buf[n - 1] == ' '))
        n--;
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    if (more) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return n;
}

/* The path given to execve, absolute, if it leads to the running binary; else "". */
static void hs_program_executed_path(const char *execfn, char *out, size_t len)
{
    out[0] = '\0';
    /* fexecve and friends: a descriptor's name means nothing once the process runs. */
    if (!execfn || !*execfn || strncmp(execfn, "/proc/", 6) == 0 ||
        strncmp(execfn, "/dev/fd/", 8) == 0)
        return;
    char path[PATH_MAX];
    if (execfn[0] == '/') {
        hs_program_copy(path, sizeof path, execfn);
    } else {
        char cwd[PATH_MAX];
        while (execfn[0] == '.' && execfn[1] == '/')
            execfn += 2;
        if (!getcwd(cwd, sizeof cwd) ||
            (size_t)snprintf(path, sizeof path, "%s/%s", strcmp(cwd, "/") ? cwd : "", execfn) >=
                sizeof path)
            return;
    }
    struct stat a, b;
    if (stat(path, &a) == 0 && stat("/proc/self/exe", &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino)
        hs_program_copy(out, len, path);
}

void hs_program_init(bool first)
{
    int saved = errno;
    memset(&P, 0, sizeof P);
    P.first = first;
    P.started_ns = hs_os_wall_ns();

    char binary[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", binary, sizeof binary - 1);
    binary[n > 0 ? n : 0] = '\0';
    hs_program_copy(P.binary, sizeof P.binary, hs_program_base(binary));

    size_t argv0_len;
    hs_program_read_cmdline(P.cmdline, sizeof P.cmdline, &argv0_len);
    char argv0[PATH_MAX];
    snprintf(argv0, sizeof argv0, "%.*s", (int)argv0_len, P.cmdline);
    hs_program_copy(P.argv0, sizeof P.argv0, hs_program_base(argv0));

    const char *execfn = (const char *)getauxval(AT_EXECFN);
    hs_program_executed_path(execfn, P.exe, sizeof P.exe);
    if (!P.exe[0])
        hs_program_copy(P.exe, sizeof P.exe, binary);
    const char *name = execfn && *execfn ? hs_program_base(execfn) : P.argv0;
    hs_program_copy(P.name, sizeof P.name, *name ? name : P.binary);
    errno = saved;
}

const char *hs_program_name(void)
{
    return P.name;
}

const char *hs_program_exe(void)
{
    return P.exe;
}

const char *hs_program_cmdline(void)
{
    return P.cmdline;
}

const char *hs_program_title(char *buf, size_t len)
{
    int saved = errno;
    hs_program_read_cmdline(buf, len, NULL);
    errno = saved;
    return buf;
}

bool hs_program_matches(const char *patterns)
{
    const char *names[] = {P.name, P.argv0, P.binary};
    for (const char *p = patterns; *p;) {
        size_t len = strcspn(p, ",");
        char pattern[HS_PROGRAM_NAME_MAX];
        if (len > 0 && len < sizeof pattern) {
            memcpy(pattern, p, len);
            pattern[len] = '\0';
            for (size_t i = 0; i < HS_ARRAY_LEN(names); i++)
                if (names[i][0] && fnmatch(pattern, names[i], 0) == 0)
                    return true;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return false;
}

bool hs_program_is_first(void)
{
    return P.first;
}

uint64_t hs_program_started_ns(void)
{
    return P.started_ns;
}

void hs_program_postfork_child(void)
{
    P.first = false;
    P.started_ns = hs_os_wall_ns();
}
