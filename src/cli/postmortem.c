/*
 * postmortem.c - after the command died (see postmortem.h).
 *
 * The OOM killer leaves no trace in the process it kills: the process just dies of SIGKILL, as
 * it would of `kill -9`. What tells them apart is the kernel's count of OOM kills in the
 * memory cgroup (memlimit.h), read before the command starts and after it died: the command
 * starts in this process's group, and a v2 group counts the kills of its descendants too (v1
 * counts them where the victim was). A count that moved while it ran means the OOM killer
 * killed something in the group; when the command died of SIGKILL at the same time, it is said
 * to be the OOM killer's doing. That is a strong inference, not a certainty (another process
 * of the group may have been the victim while someone sent SIGKILL), and the message says
 * what was observed.
 *
 * The last profile is the one with the highest sequence number, which the library writes in
 * order; the profile is read to say why it was written (its metadata) and which site held the
 * most memory in it (sites.h, by function). A killed process may also have been killed in the
 * middle of writing a profile: the temporary file it was writing (never a profile's name, so
 * no reader takes it for one) is removed, since nobody else will.
 *
 * Single-threaded; allocates.
 */
#include "postmortem.h"

#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis.h"
#include "output.h"

/* ---- the profiles of a process ------------------------------------------------------------ */

typedef struct hs_cli_profile_entry {
    uint64_t seq;
    char *name;
} hs_cli_profile_entry_t;

static int hs_cli_profile_cmp(const void *a, const void *b)
{
    const hs_cli_profile_entry_t *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Is name a profile of pid with the file name prefix base? Numbered (*seq set) or the peak. */
static bool hs_cli_profile_of(const char *name, const char *base, pid_t pid, bool *peak,
                              uint64_t *seq)
{
    hs_output_name_t parsed;
    if (hs_output_parse_name(name, &parsed) != HS_OK || !(parsed.numbered || parsed.peak) ||
        parsed.pid != pid || parsed.prefix_len != strlen(base) ||
        strncmp(name, base, parsed.prefix_len) != 0)
        return false;
    *peak = parsed.peak;
    *seq = parsed.seq;
    return true;
}

/* "<profile of pid>.tmp.<16 hex digits>": what output.c writes before it renames. */
static bool hs_cli_profile_stale(const char *name, const char *base, pid_t pid)
{
    const char *tmp = strstr(name, ".tmp.");
    if (!tmp || strlen(tmp + 5) != 16 || strspn(tmp + 5, "0123456789abcdef") != 16)
        return false;
    char profile[NAME_MAX + 1];
    bool peak;
    uint64_t seq;
    snprintf(profile, sizeof profile, "%.*s", (int)(tmp - name), name);
    return hs_cli_profile_of(profile, base, pid, &peak, &seq);
}

void hs_cli_profiles_find(const char *dir, const char *base, pid_t pid, hs_cli_profiles_t *out)
{
    memset(out, 0, sizeof *out);
    hs_cli_profile_entry_t *list = NULL;
    size_t n = 0, cap = 0, stale_cap = 0;
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        bool peak;
        uint64_t seq;
        if (hs_cli_profile_stale(e->d_name, base, pid)) {
            char *copy = strdup(e->d_name);
            if (copy && hs_array_reserve((void **)&out->stale, &stale_cap, out->nstale + 1,
                                         sizeof *out->stale, 4) == HS_OK)
                out->stale[out->nstale++] = copy;
            else
                free(copy);
            continue;
        }
        if (!hs_cli_profile_of(e->d_name, base, pid, &peak, &seq))
            continue;
        if (peak) {
            free(out->peak);
            out->peak = strdup(e->d_name);
            continue;
        }
        char *copy = strdup(e->d_name);
        if (!copy || hs_array_reserve((void **)&list, &cap, n + 1, sizeof *list, 16) != HS_OK) {
            free(copy);
            continue;
        }
        list[n++] = (hs_cli_profile_entry_t){seq, copy};
    }
    closedir(d);
    if (n)
        qsort(list, n, sizeof *list, hs_cli_profile_cmp);
    out->names = malloc((n ? n : 1) * sizeof *out->names);
    for (size_t i = 0; i < n; i++) {
        if (out->names)
            out->names[out->n++] = list[i].name;
        else
            free(list[i].name);
    }
    free(list);
}

void hs_cli_profiles_free(hs_cli_profiles_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->names[i]);
    for (size_t i = 0; i < p->nstale; i++)
        free(p->stale[i]);
    free(p->names);
    free(p->stale);
    free(p->peak);
    memset(p, 0, sizeof *p);
}

/* ---- after a death ------------------------------------------------------------------------ */

void hs_cli_postmortem_begin(hs_cli_postmortem_t *pm)
{
    memset(pm, 0, sizeof *pm);
    pm->grouped = hs_memlimit_group_find("", 0, &pm->group) == HS_OK &&
                  hs_memlimit_oom_kills(&pm->group, &pm->kills) == HS_OK;
}

/* " (limit 128 MiB)" for the group's limit, or "" when it has none. */
static void hs_cli_postmortem_limit(const hs_cli_postmortem_t *pm, char *buf, size_t len)
{
    static hs_memlimit_t lim; /* large: kept off the stack */
    char v[32];
    buf[0] = '\0';
    if (hs_memlimit_group_limit(&pm->group, &lim) == HS_OK)
        snprintf(buf, len, " (limit %s)",
                 hs_cli_fmt_value(v, sizeof v, (double)lim.bytes, "bytes"));
}

/* Whether the OOM killer did it, for a command that died of SIGKILL. */
static void hs_cli_postmortem_oom(const hs_cli_postmortem_t *pm, const char *who,
                                  const char *command, pid_t pid)
{
    uint64_t kills;
    char limit[64];
    if (!pm->grouped || hs_memlimit_oom_kills(&pm->group, &kills) != HS_OK) {
        fprintf(stderr,
                "%s: %s (pid %ld) was killed by SIGKILL; whether by the OOM killer cannot be "
                "told (it runs in no memory cgroup that counts OOM kills)\n",
                who, command, (long)pid);
        return;
    }
    hs_cli_postmortem_limit(pm, limit, sizeof limit);
    if (kills > pm->kills)
        fprintf(stderr,
                "%s: %s (pid %ld) was killed by the OOM killer: its memory cgroup %s%s counted "
                "%llu OOM kill%s while it ran\n",
                who, command, (long)pid, pm->group.dir, limit,
                (unsigned long long)(kills - pm->kills), kills - pm->kills == 1 ? "" : "s");
    else
        fprintf(stderr,
                "%s: %s (pid %ld) was killed by SIGKILL, not by the OOM killer: its memory "
                "cgroup %s%s counted no OOM kill while it ran\n",
                who, command, (long)pid, pm->group.dir, limit);
}

/* "its last profile: ...: leak_site holds 112 MiB, 88% of the 128 MiB limit" */
static void hs_cli_postmortem_last(const char *who, const char *dir, const char *shown,
                                   const char *name)
{
    char path[PATH_MAX + NAME_MAX + 2], why[512], reason[256], v[32], w[32];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    const char *kept = shown ? "" : " (in the temporary directory: --keep DIR keeps it)";
    hs_sites_t s;
    hs_sites_query_t q;
    hs_sites_query_init(&q);
    q.type = "inuse_space";
    if (hs_sites_load(path, &q, &s, why, sizeof why) != HS_OK) {
        fprintf(stderr, "%s: its last profile: %s%s%s, which cannot be read: %s\n", who,
                shown ? shown : "", name, kept, why);
        return;
    }
    hs_sites_origin_t origin;
    hs_sites_origin(&s, &origin);
    hs_cli_fmt_reason(reason, sizeof reason, &origin);
    fprintf(stderr, "%s: its last profile: %s%s%s%s%s", who, shown ? shown : "", name, kept,
            reason[0] ? ", written for " : "", reason);
    if (hs_sites_sort(&s) == HS_OK && s.nsites && s.sites[0].value > 0) {
        const hs_site_t *top = &s.sites[0];
        fprintf(stderr, ": %s holds %s", top->name,
                hs_cli_fmt_value(v, sizeof v, top->value, s.unit));
        if (origin.limit)
            fprintf(stderr, ", %.0f%% of the %s limit", 100 * top->value / (double)origin.limit,
                    hs_cli_fmt_value(w, sizeof w, (double)origin.limit, "bytes"));
        else
            fprintf(stderr, " of the %s in use", hs_cli_fmt_value(w, sizeof w, s.total, s.unit));
    }
    fputc('\n', stderr);
    hs_sites_free(&s);
}

void hs_cli_postmortem_end(const hs_cli_postmortem_t *pm, const char *who, const char *command,
                           pid_t pid, int sig, const char *dir, const char *shown, const char *base)
{
    if (!sig)
        return;
    hs_cli_profiles_t prof;
    hs_cli_profiles_find(dir, base, pid, &prof);
    /* Nobody else will finish or remove what the dead process was writing. */
    for (size_t i = 0; i < prof.nstale; i++) {
        char path[PATH_MAX + NAME_MAX + 2];
        snprintf(path, sizeof path, "%s/%s", dir, prof.stale[i]);
        unlink(path);
    }
    if (sig == SIGKILL)
        hs_cli_postmortem_oom(pm, who, command, pid);
    if (prof.n)
        hs_cli_postmortem_last(who, dir, shown, prof.names[prof.n - 1]);
    else
        fprintf(stderr, "%s: it wrote no profile before it died\n", who);
    if (prof.peak) {
        char path[PATH_MAX + NAME_MAX + 2], why[256], reason[256];
        snprintf(path, sizeof path, "%s/%s", dir, prof.peak);
        hs_sites_t s;
        hs_sites_query_t q;
        hs_sites_query_init(&q);
        reason[0] = '\0';
        if (hs_sites_load(path, &q, &s, why, sizeof why) == HS_OK) {
            hs_sites_origin_t origin;
            hs_sites_origin(&s, &origin);
            hs_cli_fmt_reason(reason, sizeof reason, &origin);
            hs_sites_free(&s);
        }
        fprintf(stderr, "%s: its peak profile: %s%s%s%s\n", who, shown ? shown : "", prof.peak,
                reason[0] ? ", written for " : "", reason);
    }
    hs_cli_profiles_free(&prof);
}
