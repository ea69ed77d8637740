/*
 * postmortem.h - what `run` and `check` say when the command they ran died of a signal: whether
 * the OOM killer killed it (SIGKILL, and the OOM-kill counter of its memory cgroup moved while
 * it ran), its last profile and the site that held the most memory in it, its peak profile; and
 * the profiles a process wrote, which `run` lists when the command ends.
 */
#ifndef HS_POSTMORTEM_H
#define HS_POSTMORTEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"
#include "memlimit.h"

/* The profiles of one process in a directory: numbered ones in sequence order, the peak one. */
typedef struct hs_cli_profiles {
    char **names; /* file names (no directory), by sequence */
    size_t n;
    char *peak;   /* <base>.<pid>.peak<suffix>, or NULL */
    char **stale; /* temporary files (<profile name>.tmp.<random>) of interrupted writes */
    size_t nstale;
} hs_cli_profiles_t;

/* Profiles of pid named <base>.<pid>.* in dir. Names that cannot be kept (out of memory) are
 * left out. */
void hs_cli_profiles_find(const char *dir, const char *base, pid_t pid, hs_cli_profiles_t *out);
void hs_cli_profiles_free(hs_cli_profiles_t *p);

/* Before the command runs: its memory cgroup (this process's, which it starts in) and the OOM
 * kills counted there so far. */
typedef struct hs_cli_postmortem {
    bool grouped; /* a memory cgroup that counts OOM kills */
    hs_memlimit_group_t group;
    uint64_t kills;
} hs_cli_postmortem_t;

void hs_cli_postmortem_begin(hs_cli_postmortem_t *pm);

/*
 * After the command ended, killed by signal sig (0: it exited): when sig is not 0, remove the
 * temporary files its interrupted profile writes left in dir, and say on stderr, each line
 * starting with `who` ("heapsampler", "heapsampler check"): for SIGKILL, whether the OOM killer
 * of its memory cgroup did it; then its last profile (shown with the directory as `shown`,
 * "./" say), why it was written, the site holding the most memory in it, and its peak profile.
 */
void hs_cli_postmortem_end(const hs_cli_postmortem_t *pm, const char *who, const char *command,
                           pid_t pid, int sig, const char *dir, const char *shown,
                           const char *base);

#endif
