/*
 * thread_stacks.c - the stacks' resident memory (see thread_stacks.h).
 *
 * /proc/self/maps is read line by line (memlimit.h's reader: allocation-free); each line is
 * "lo-hi perms offset dev inode [path]". The previous line is remembered: a "---p" anonymous
 * mapping of at most HS_STACK_GUARD_MAX bytes ending where a "rw-p" anonymous one begins is a
 * guard below a stack. mincore counts the resident pages (os.h).
 */
#include "thread_stacks.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memlimit.h"
#include "os.h"

#define HS_STACK_GUARD_MAX (64 * 1024)

typedef struct maps_line {
    uintptr_t lo, hi;
    char perms[5];
    int anon; /* no path (inode 0 and nothing after it) */
    int main_stack;
} maps_line_t;

static int parse_line(const char *s, maps_line_t *out)
{
    char *end;
    memset(out, 0, sizeof *out);
    out->lo = (uintptr_t)strtoull(s, &end, 16);
    if (*end != '-')
        return 0;
    out->hi = (uintptr_t)strtoull(end + 1, &end, 16);
    if (*end != ' ' || strlen(end + 1) < 4)
        return 0;
    memcpy(out->perms, end + 1, 4);
    /* Skip perms, offset, dev, inode: the path (if any) follows. */
    const char *p = end + 1;
    for (int field = 0; field < 4 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p += strspn(p, " ");
    }
    out->anon = !p || !*p;
    out->main_stack = p && strcmp(p, "[stack]") == 0;
    return out->hi > out->lo;
}

typedef struct scan {
    hs_thread_stacks_t *out;
    maps_line_t prev;
} scan_t;

static int scan_line(void *ctx, char *line)
{
    scan_t *sc = ctx;
    maps_line_t cur;
    if (!parse_line(line, &cur))
        return 0;
    const maps_line_t *prev = &sc->prev;
    int thread = cur.anon && strcmp(cur.perms, "rw-p") == 0 && prev->anon &&
                 strcmp(prev->perms, "---p") == 0 && prev->hi == cur.lo &&
                 prev->hi - prev->lo <= HS_STACK_GUARD_MAX;
    if (thread || cur.main_stack) {
        sc->out->resident += hs_os_resident_bytes((const void *)cur.lo, cur.hi - cur.lo);
        sc->out->count++;
    }
    sc->prev = cur;
    return 0;
}

hs_err_t hs_thread_stacks_read(hs_thread_stacks_t *out)
{
    memset(out, 0, sizeof *out);
    scan_t sc = {.out = out};
    if (hs_memlimit_lines("/proc/self/maps", scan_line, &sc) != HS_OK)
        return HS_ERR_IO;
    return out->count ? HS_OK : HS_ERR_NOTFOUND;
}
