/*
 * memlimit.c - memory limits and usage as the kernel counts them (see memlimit.h).
 *
 * Files are read with open/read/close into stack buffers, line by line (a line longer than the
 * buffer, such as an overlay mount's options in mountinfo, is skipped whole: no cgroup line is
 * that long), never with stdio, which allocates. Numbers are parsed strictly: a file that does
 * not hold what the kernel writes is treated as absent, never guessed at.
 *
 * Finding the group: /proc/<pid>/cgroup gives the process's path in each hierarchy (v1: the
 * line whose controller list names "memory"; v2: the line "0::<path>"), mountinfo the mounts of
 * those hierarchies with their root within the hierarchy. The path is relative to the cgroup
 * namespace; a mount's root is too, so a mount whose root is "/" holds the path below its
 * mount point, and a mount of a sub-tree (a container's view without a cgroup namespace) holds
 * the part of the path below its root. A path outside every mount is not found. cgroup v2 is
 * preferred when its mount's root group has the memory controller: on a "hybrid" system the
 * v2 mount exists without it, and memory is the v1 controller's.
 *
 * Reentrant, no state, allocation-free. Nothing to do at fork.
 */
#include "memlimit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define HS_MEMLIMIT_LINE_MAX 8192

/* ---- reading ------------------------------------------------------------------------------ */

hs_err_t hs_memlimit_lines(const char *path, hs_memlimit_line_fn fn, void *ctx)
{
    char buf[HS_MEMLIMIT_LINE_MAX];
    size_t have = 0;
    int skipping = 0; /* inside a line too long for buf: dropped up to its newline */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return HS_ERR_IO;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            close(fd);
            errno = saved;
            return HS_ERR_IO;
        }
        if (n == 0) {
            if (have && !skipping) {
                buf[have] = '\0';
                (void)fn(ctx, buf);
            }
            break;
        }
        have += (size_t)n;
        char *start = buf, *nl;
        while ((nl = memchr(start, '\n', (size_t)(buf + have - start))) != NULL) {
            *nl = '\0';
            int stop = !skipping && fn(ctx, start);
            skipping = 0;
            start = nl + 1;
            if (stop) {
                close(fd);
                return HS_OK;
            }
        }
        size_t rest = (size_t)(buf + have - start);
        if (rest == sizeof buf - 1) {
            skipping = 1;
            have = 0;
        } else {
            memmove(buf, start, rest);
            have = rest;
        }
    }
    close(fd);
    return HS_OK;
}

/* A decimal number and nothing else; 0 if s is anything but that. */
static int hs_memlimit_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return *s == '\0';
}

typedef struct hs_memlimit_keyval {
    const char *key;
    uint64_t value;
    int found;
} hs_memlimit_keyval_t;

static int hs_memlimit_keyval_line(void *ctx, char *line)
{
    hs_memlimit_keyval_t *kv = ctx;
    size_t klen = strlen(kv->key);
    if (strncmp(line, kv->key, klen) != 0 || line[klen] != ' ')
        return 0;
    kv->found = hs_memlimit_parse_u64(line + klen + 1, &kv->value);
    return 1;
}

/* The number after "key " in a "key value" file (memory.stat, memory.events, ...). */
static int hs_memlimit_read_key(const char *path, const char *key, uint64_t *out)
{
    hs_memlimit_keyval_t kv = {.key = key};
    if (hs_memlimit_lines(path, hs_memlimit_keyval_line, &kv) != HS_OK || !kv.found)
        return 0;
    *out = kv.value;
    return 1;
}

int hs_memlimit_read_one(const char *path, uint64_t *out)
{
    char buf[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n;
    do
        n = read(fd, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    errno = saved;
    if (n <= 0 || n == (ssize_t)sizeof buf - 1)
        return 0; /* empty, unreadable, or longer than any number */
    buf[n] = '\0';
    if (buf[n - 1] == '\n')
        buf[n - 1] = '\0';
    if (strcmp(buf, "max") == 0) {
        *out = UINT64_MAX;
        return 1;
    }
    return hs_memlimit_parse_u64(buf, out);
}

hs_err_t hs_memlimit_group_file(const char *dir, const char *name, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= len ? HS_ERR_INVALID : HS_OK;
}

/* ---- finding the group -------------------------------------------------------------------- */

typedef struct hs_memlimit_paths {
    char v1[HS_MEMLIMIT_PATH_MAX], v2[HS_MEMLIMIT_PATH_MAX];
    int has_v1, has_v2;
} hs_memlimit_paths_t;

/* "<id>:<controllers>:<path>" of /proc/<pid>/cgroup. */
static int hs_memlimit_cgroup_line(void *ctx, char *line)
{
    hs_memlimit_paths_t *p = ctx;
    char *c1 = strchr(line, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2 || c2[1] != '/' || strlen(c2 + 1) >= HS_MEMLIMIT_PATH_MAX)
        return 0;
    *c2 = '\0';
    const char *controllers = c1 + 1, *path = c2 + 1;
    if (strcmp(line, "0:") == 0 && controllers[0] == '\0') {
        snprintf(p->v2, sizeof p->v2, "%s", path);
        p->has_v2 = 1;
        return 0;
    }
    for (const char *c = controllers; *c;) {
        size_t n = strcspn(c, ",");
        if (n == 6 && strncmp(c, "memory", 6) == 0) {
            snprintf(p->v1, sizeof p->v1, "%s", path);
            p->has_v1 = 1;
        }
        c += n + (c[n] == ',');
    }
    return 0;
}

typedef struct hs_memlimit_mount {
    char point[HS_MEMLIMIT_PATH_MAX], root[HS_MEMLIMIT_PATH_MAX];
    int found;
} hs_memlimit_mount_t;

typedef struct hs_memlimit_mounts {
    const char *fsroot; /* the caller's root prefix, to check a v2 mount's controllers */
    hs_memlimit_mount_t v1, v2;
} hs_memlimit_mounts_t;

/* mountinfo escapes space, tab, newline and backslash as \ooo; decode in place. */
static void hs_memlimit_unescape(char *s)
{
    char *o = s;
    for (const char *i = s; *i; i++) {
        if (i[0] == '\\' && i[1] >= '0' && i[1] <= '3' && i[2] >= '0' && i[2] <= '7' &&
            i[3] >= '0' && i[3] <= '7') {
            *o++ = (char)((i[1] - '0') << 6 | (i[2] - '0') << 3 | (i[3] - '0'));
            i += 3;
        } else {
            *o++ = *i;
        }
    }
    *o = '\0';
}

/* Does a comma-separated list (or a space-separated one, sep ' ') hold word? */
static int hs_memlimit_has_word(const char *list, char sep, const char *word)
{
    size_t wlen = strlen(word);
    for (const char *c = list; *c;) {
        const char *end = strchr(c, sep);
        size_t n = end ? (size_t)(end - c) : strlen(c);
        if (n == wlen && strncmp(c, word, n) == 0)
            return 1;
        c += n + (end != NULL);
    }
    return 0;
}

static int hs_memlimit_controllers_line(void *ctx, char *line)
{
    *(int *)ctx = hs_memlimit_has_word(line, ' ', "memory");
    return 1;
}

/* "<id> <parent> <maj:min> <root> <mount point> <options> [optional...] - <type> <source>
 * <super options>" */
static int hs_memlimit_mountinfo_line(void *ctx, char *line)
{
    hs_memlimit_mounts_t *m = ctx;
    char *field[5];
    char *s = line;
    for (int i = 0; i < 5; i++) {
        field[i] = s;
        s = strchr(s, ' ');
        if (!s)
            return 0;
        *s++ = '\0';
    }
    char *sep = strstr(s, " - ");
    if (!sep)
        return 0;
    char *type = sep + 3;
    char *source = strchr(type, ' ');
    if (!source)
        return 0;
    *source++ = '\0';
    char *super = strchr(source, ' ');
    super = super ? super + 1 : "";
    hs_memlimit_mount_t *dst = NULL;
    if (strcmp(type, "cgroup2") == 0 && !m->v2.found)
        dst = &m->v2;
    else if (strcmp(type, "cgroup") == 0 && !m->v1.found &&
             hs_memlimit_has_word(super, ',', "memory"))
        dst = &m->v1;
    if (!dst || strlen(field[3]) >= sizeof dst->root || strlen(field[4]) >= sizeof dst->point)
        return 0;
    hs_memlimit_unescape(field[3]);
    hs_memlimit_unescape(field[4]);
    if (dst == &m->v2) {
        /* Only a v2 hierarchy that has the memory controller (not a hybrid system's). */
        char path[HS_MEMLIMIT_PATH_MAX + 32];
        int has = 0;
        snprintf(path, sizeof path, "%s%s/cgroup.controllers", m->fsroot, field[4]);
        if (hs_memlimit_lines(path, hs_memlimit_controllers_line, &has) != HS_OK || !has)
            return 0;
    }
    snprintf(dst->root, sizeof dst->root, "%s", field[3]);
    snprintf(dst->point, sizeof dst->point, "%s", field[4]);
    dst->found = 1;
    return 0;
}

/* The group's directory: the mount point, then the path below the mount's root. */
static hs_err_t hs_memlimit_join(const char *fsroot, const hs_memlimit_mount_t *mnt,
                                 const char *path, int version, hs_memlimit_group_t *out)
{
    const char *rel;
    size_t rlen = strlen(mnt->root);
    if (strcmp(mnt->root, "/") == 0)
        rel = path;
    else if (strncmp(path, mnt->root, rlen) == 0 && (path[rlen] == '/' || path[rlen] == '\0'))
        rel = path + rlen;
    else
        return HS_ERR_NOTFOUND; /* outside the mounted sub-tree */
    if (strstr(rel, "/../") || strcmp(rel, "/..") == 0 || strncmp(rel, "/../", 4) == 0)
        return HS_ERR_NOTFOUND; /* above the namespace's root: not visible here */
    const char *point = strcmp(mnt->point, "/") == 0 ? "" : mnt->point;
    int top = snprintf(out->dir, sizeof out->dir, "%s%s", fsroot, point);
    if (top < 0 || (size_t)top >= sizeof out->dir)
        return HS_ERR_NOTFOUND;
    int n = snprintf(out->dir + top, sizeof out->dir - (size_t)top, "%s",
                     strcmp(rel, "/") == 0 ? "" : rel);
    if (n < 0 || (size_t)n >= sizeof out->dir - (size_t)top)
        return HS_ERR_NOTFOUND;
    out->top = (size_t)top;
    out->version = version;
    return HS_OK;
}

hs_err_t hs_memlimit_group_find(const char *root, pid_t pid, hs_memlimit_group_t *out)
{
    char path[HS_MEMLIMIT_PATH_MAX + 64], proc[32];
    out->version = 0;
    out->dir[0] = '\0';
    out->top = 0;
    if (!root)
        root = "";
    if (pid > 0)
        snprintf(proc, sizeof proc, "%d", (int)pid);
    else
        snprintf(proc, sizeof proc, "self");

    hs_memlimit_paths_t paths = {0};
    if (snprintf(path, sizeof path, "%s/proc/%s/cgroup", root, proc) >= (int)sizeof path)
        return HS_ERR_INVALID;
    if (hs_memlimit_lines(path, hs_memlimit_cgroup_line, &paths) != HS_OK)
        return HS_ERR_IO;
    if (!paths.has_v1 && !paths.has_v2)
        return HS_ERR_NOTFOUND;

    hs_memlimit_mounts_t mounts;
    memset(&mounts, 0, sizeof mounts);
    mounts.fsroot = root;
    snprintf(path, sizeof path, "%s/proc/%s/mountinfo", root, proc);
    if (hs_memlimit_lines(path, hs_memlimit_mountinfo_line, &mounts) != HS_OK)
        return HS_ERR_IO;
    if (paths.has_v2 && mounts.v2.found &&
        hs_memlimit_join(root, &mounts.v2, paths.v2, 2, out) == HS_OK)
        return HS_OK;
    if (paths.has_v1 && mounts.v1.found &&
        hs_memlimit_join(root, &mounts.v1, paths.v1, 1, out) == HS_OK)
        return HS_OK;
    out->version = 0;
    return HS_ERR_NOTFOUND;
}

/* ---- limits ------------------------------------------------------------------------------- */

/* Take value as the limit if it is one and below the current one. */
static void hs_memlimit_consider(hs_memlimit_t *lim, uint64_t value, hs_memlimit_source_t source,
                                 const char *dir, size_t dir_len)
{
    if (value >= HS_MEMLIMIT_UNLIMITED || (lim->bytes && value >= lim->bytes))
        return;
    lim->bytes = value;
    lim->source = source;
    memcpy(lim->dir, dir, dir_len);
    lim->dir[dir_len] = '\0';
}

hs_err_t hs_memlimit_group_limit(const hs_memlimit_group_t *g, hs_memlimit_t *out)
{
    char path[HS_MEMLIMIT_PATH_MAX + 64];
    out->bytes = 0;
    out->source = HS_MEMLIMIT_NONE;
    out->version = g->version;
    out->dir[0] = '\0';
    if (g->version != 1 && g->version != 2)
        return HS_ERR_NOTFOUND;
    /* The group, then each ancestor up to the mount point. */
    size_t len = strlen(g->dir);
    for (;;) {
        uint64_t v;
        if (g->version == 2) {
            snprintf(path, sizeof path, "%.*s/memory.max", (int)len, g->dir);
            if (hs_memlimit_read_one(path, &v))
                hs_memlimit_consider(out, v, HS_MEMLIMIT_CGROUP2_MAX, g->dir, len);
            snprintf(path, sizeof path, "%.*s/memory.high", (int)len, g->dir);
            if (hs_memlimit_read_one(path, &v))
                hs_memlimit_consider(out, v, HS_MEMLIMIT_CGROUP2_HIGH, g->dir, len);
        } else {
            snprintf(path, sizeof path, "%.*s/memory.limit_in_bytes", (int)len, g->dir);
            if (hs_memlimit_read_one(path, &v))
                hs_memlimit_consider(out, v, HS_MEMLIMIT_CGROUP1, g->dir, len);
        }
        if (len <= g->top)
            break;
        while (len > g->top && g->dir[len - 1] != '/')
            len--;
        if (len > g->top)
            len--; /* the '/' */
        if (len < g->top)
            len = g->top;
    }
    if (g->version == 1) {
        /* The kernel's own minimum over every ancestor, those above the mount included; their
         * usage is not visible, so the group's own stands for it. */
        uint64_t v;
        snprintf(path, sizeof path, "%s/memory.stat", g->dir);
        if (hs_memlimit_read_key(path, "hierarchical_memory_limit", &v))
            hs_memlimit_consider(out, v, HS_MEMLIMIT_CGROUP1, g->dir, strlen(g->dir));
    }
    return out->bytes ? HS_OK : HS_ERR_NOTFOUND;
}

/* "MemTotal:       24684044 kB" */
static int hs_memlimit_meminfo_line(void *ctx, char *line)
{
    hs_memlimit_keyval_t *kv = ctx;
    if (strncmp(line, "MemTotal:", 9) != 0)
        return 0;
    char *s = line + 9;
    while (*s == ' ')
        s++;
    char *end = strchr(s, ' ');
    if (end && strcmp(end, " kB") == 0) {
        *end = '\0';
        kv->found = hs_memlimit_parse_u64(s, &kv->value);
    }
    return 1;
}

hs_err_t hs_memlimit_resolve(const char *root, const hs_memlimit_group_t *g, uint64_t rlimit_as,
                             hs_memlimit_t *out)
{
    char path[HS_MEMLIMIT_PATH_MAX + 64];
    if (!root)
        root = "";
    if (g && hs_memlimit_group_limit(g, out) == HS_OK)
        return HS_OK;
    memset(out, 0, sizeof *out);
    if (rlimit_as && rlimit_as != (uint64_t)RLIM_INFINITY) {
        out->bytes = rlimit_as;
        out->source = HS_MEMLIMIT_RLIMIT_AS;
        return HS_OK;
    }
    hs_memlimit_keyval_t kv = {.key = "MemTotal:"};
    snprintf(path, sizeof path, "%s/proc/meminfo", root);
    if (hs_memlimit_lines(path, hs_memlimit_meminfo_line, &kv) == HS_OK && kv.found && kv.value &&
        kv.value < UINT64_MAX / 1024) {
        out->bytes = kv.value * 1024;
        out->source = HS_MEMLIMIT_PHYSICAL;
        return HS_OK;
    }
    return HS_ERR_NOTFOUND;
}

/* ---- usage -------------------------------------------------------------------------------- */

/* Field `index` (0: size, 1: resident) of <root>/proc/<pid>/statm, in bytes. */
static hs_err_t hs_memlimit_statm(const char *root, pid_t pid, int index, uint64_t *out)
{
    char path[HS_MEMLIMIT_PATH_MAX + 64], buf[256];
    if (pid > 0)
        snprintf(path, sizeof path, "%s/proc/%d/statm", root, (int)pid);
    else
        snprintf(path, sizeof path, "%s/proc/self/statm", root);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return HS_ERR_IO;
    ssize_t n;
    do {
        n = read(fd, buf, sizeof buf - 1);
    } while (n < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    if (n <= 0) {
        errno = n < 0 ? saved : EIO;
        return HS_ERR_IO;
    }
    buf[n] = '\0';
    char *s = buf;
    for (int i = 0; i < index; i++) {
        s = strchr(s, ' ');
        if (!s)
            return HS_ERR_INVALID;
        s++;
    }
    s[strcspn(s, " \n")] = '\0';
    uint64_t pages;
    long page = sysconf(_SC_PAGESIZE);
    if (!hs_memlimit_parse_u64(s, &pages) || page <= 0 || pages > UINT64_MAX / (uint64_t)page)
        return HS_ERR_INVALID;
    *out = pages * (uint64_t)page;
    return HS_OK;
}

hs_err_t hs_memlimit_usage(const char *root, pid_t pid, const hs_memlimit_t *lim,
                           uint64_t exact_above, uint64_t *bytes, hs_memusage_source_t *source)
{
    char path[HS_MEMLIMIT_PATH_MAX + 64];
    if (!root)
        root = "";
    switch (lim->source) {
    case HS_MEMLIMIT_CGROUP2_MAX:
    case HS_MEMLIMIT_CGROUP2_HIGH:
    case HS_MEMLIMIT_CGROUP1: {
        int v2 = lim->source != HS_MEMLIMIT_CGROUP1;
        uint64_t usage, inactive;
        snprintf(path, sizeof path, "%s/%s", lim->dir,
                 v2 ? "memory.current" : "memory.usage_in_bytes");
        if (!hs_memlimit_read_one(path, &usage) || usage == UINT64_MAX)
            return HS_ERR_IO;
        *source = HS_MEMUSAGE_WORKING_SET;
        if (usage >= exact_above) {
            snprintf(path, sizeof path, "%s/memory.stat", lim->dir);
            if (!hs_memlimit_read_key(path, v2 ? "inactive_file" : "total_inactive_file",
                                      &inactive))
                return HS_ERR_IO;
            usage = usage > inactive ? usage - inactive : 0;
        }
        *bytes = usage;
        return HS_OK;
    }
    case HS_MEMLIMIT_RLIMIT_AS:
        *source = HS_MEMUSAGE_ADDRESS_SPACE;
        return hs_memlimit_statm(root, pid, 0, bytes);
    default:
        *source = HS_MEMUSAGE_RSS;
        return hs_memlimit_statm(root, pid, 1, bytes);
    }
}

/* One /proc/<pid>/status line into the RSS split ("RssAnon:\t  1234 kB"). */
static int hs_memlimit_status_line(void *ctx, char *line)
{
    static const char *const keys[] = {"VmRSS:", "RssAnon:", "RssFile:", "RssShmem:", "Threads:"};
    hs_memlimit_rss_t *r = ctx;
    uint64_t *fields[] = {&r->rss, &r->anon, &r->file, &r->shmem, &r->threads};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        size_t klen = strlen(keys[i]);
        if (strncmp(line, keys[i], klen) != 0)
            continue;
        char *v = line + klen;
        v += strspn(v, " \t");
        size_t digits = strspn(v, "0123456789");
        int kb = strcmp(v + digits, " kB") == 0;
        v[digits] = '\0';
        uint64_t n;
        if (hs_memlimit_parse_u64(v, &n) && (!kb || n <= UINT64_MAX / 1024))
            *fields[i] = kb ? n * 1024 : n;
        return 0;
    }
    return 0;
}

hs_err_t hs_memlimit_rss(const char *root, pid_t pid, hs_memlimit_rss_t *out)
{
    char path[HS_MEMLIMIT_PATH_MAX + 64];
    if (!root)
        root = "";
    memset(out, 0, sizeof *out);
    if (pid > 0)
        snprintf(path, sizeof path, "%s/proc/%d/status", root, (int)pid);
    else
        snprintf(path, sizeof path, "%s/proc/self/status", root);
    if (hs_memlimit_lines(path, hs_memlimit_status_line, out) == HS_OK && out->rss &&
        out->anon + out->file + out->shmem) {
        out->source = "status";
        return HS_OK;
    }
    memset(out, 0, sizeof *out);
    uint64_t shared;
    hs_err_t err = hs_memlimit_statm(root, pid, 1, &out->rss);
    if (err == HS_OK)
        err = hs_memlimit_statm(root, pid, 2, &shared);
    if (err != HS_OK)
        return err;
    out->file = shared < out->rss ? shared : out->rss;
    out->anon = out->rss - out->file;
    out->source = "statm";
    return HS_OK;
}

hs_err_t hs_memlimit_oom_kills(const hs_memlimit_group_t *g, uint64_t *out)
{
    char path[HS_MEMLIMIT_PATH_MAX + 64];
    if (g->version != 1 && g->version != 2)
        return HS_ERR_NOTFOUND;
    snprintf(path, sizeof path, "%s/%s", g->dir,
             g->version == 2 ? "memory.events" : "memory.oom_control");
    return hs_memlimit_read_key(path, "oom_kill", out) ? HS_OK : HS_ERR_NOTFOUND;
}

const char *hs_memlimit_source_name(hs_memlimit_source_t source)
{
    static const char *const names[] = {"none",    "config",    "cgroup2.max", "cgroup2.high",
                                        "cgroup1", "rlimit_as", "physical"};
    return (size_t)source < HS_ARRAY_LEN(names) ? names[source] : "none";
}

const char *hs_memusage_source_name(hs_memusage_source_t source)
{
    static const char *const names[] = {"none", "working_set", "rss", "address_space"};
    return (size_t)source < HS_ARRAY_LEN(names) ? names[source] : "none";
}
