/*
 * spawn.c - what the commands that run a program share (`run`, `check`): finding the preload
 * library that belongs to this CLI, building LD_PRELOAD, making the directory of its profiles,
 * running the command with signals forwarded and reporting its status as a shell would.
 *
 * Process rules (hs_cli_spawn):
 *  - The forwarded signals (INT TERM HUP QUIT USR1 USR2) are blocked from before fork until
 *    the child's pid is known, so none arrives while there is no one to forward it to. The
 *    child restores the original dispositions and mask before exec.
 *  - A signal the terminal sent to the whole foreground process group (si_code SI_KERNEL)
 *    already reached the child if it is still in our group; forwarding it would deliver it
 *    twice (a second Ctrl-C often means "force quit"), so it is forwarded only otherwise.
 *  - exec failures travel back over a close-on-exec pipe as an errno, so the parent reports
 *    "command not found" (127) or "not executable" (126) like a shell does.
 *
 * Single-threaded; the signal handler only reads one pid and calls kill(2). One child at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"

#define LIB_NAME "libheapsampler.so"

static const int forwarded_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

/* ---- the library ------------------------------------------------------------------------- */

static bool is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * The library that belongs to this CLI: next to it (build tree), else in the install's
 * library directory; --library overrides both. out gets an absolute, resolved path. Problems
 * are reported on stderr when report is true.
 */
hs_err_t hs_cli_find_library(const char *cmd, const char *explicit_path, bool report, char *out,
                             size_t len)
{
    char resolved[PATH_MAX];
    if (explicit_path) {
        if (!realpath(explicit_path, resolved)) {
            if (report)
                hs_cli_error(cmd, "--library %s: %s", explicit_path, strerror(errno));
            return HS_ERR_NOTFOUND;
        }
        if (!is_regular_file(resolved)) {
            if (report)
                hs_cli_error(cmd, "--library %s: not a regular file", explicit_path);
            return HS_ERR_INVALID;
        }
        snprintf(out, len, "%s", resolved);
        return HS_OK;
    }

    char self[PATH_MAX];
    if (!realpath("/proc/self/exe", self)) {
        if (report)
            hs_cli_error(cmd,
                         "cannot find this program's own path (/proc/self/exe: %s); "
                         "pass --library PATH",
                         strerror(errno));
        return HS_ERR_IO;
    }
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';

    char cand[2][PATH_MAX + 64];
    snprintf(cand[0], sizeof cand[0], "%s/" LIB_NAME, self);
    const char *libdir = HS_INSTALL_LIBDIR_REL;
    if (libdir[0] == '/')
        snprintf(cand[1], sizeof cand[1], "%s/" LIB_NAME, libdir);
    else
        snprintf(cand[1], sizeof cand[1], "%s/../%s/" LIB_NAME, self, libdir);

    for (int c = 0; c < 2; c++) {
        if (is_regular_file(cand[c]) && realpath(cand[c], resolved)) {
            snprintf(out, len, "%s", resolved);
            return HS_OK;
        }
    }
    if (report)
        hs_cli_error(cmd, "cannot find " LIB_NAME " (looked for %s and %s); pass --library PATH",
                     cand[0], cand[1]);
    return HS_ERR_NOTFOUND;
}

/*
 * LD_PRELOAD for the child: our library first, then every existing entry except ours. The
 * loader splits the list on spaces and colons; entries are rejoined with ':'.
 */
char *hs_cli_preload_value(const char *lib, const char *old)
{
    size_t cap = strlen(lib) + (old ? strlen(old) : 0) + 2;
    char *out = malloc(cap);
    char *copy = old ? strdup(old) : NULL;
    if (!out || (old && !copy)) {
        free(out);
        free(copy);
        return NULL;
    }
    strcpy(out, lib);
    if (copy) {
        char *save = NULL;
        for (char *tok = strtok_r(copy, " :", &save); tok; tok = strtok_r(NULL, " :", &save)) {
            char resolved[PATH_MAX];
            if (strcmp(tok, lib) == 0 ||
                (strchr(tok, '/') && realpath(tok, resolved) && strcmp(resolved, lib) == 0))
                continue;
            strcat(out, ":");
            strcat(out, tok);
        }
    }
    free(copy);
    return out;
}

/* ---- the output directory --------------------------------------------------------------- */

hs_err_t hs_cli_make_output_dir(const char *cmd, const char *path, bool exists)
{
    mode_t mode = geteuid() == 0 ? 01777 : 0700;
    if (!exists && mkdir(path, 0700) != 0) {
        hs_cli_error(cmd, "cannot create %s: %s", path, strerror(errno));
        return HS_ERR_IO;
    }
    /* chmod, not mkdir's mode: the umask would take the bits others need. */
    if (chmod(path, mode) != 0) {
        hs_cli_error(cmd, "%s: cannot set its mode: %s", path, strerror(errno));
        return HS_ERR_IO;
    }
    return HS_OK;
}

/* ---- the child --------------------------------------------------------------------------- */

static volatile pid_t child_pid;

static void forward_signal(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    int saved = errno;
    pid_t pid = child_pid;
    if (pid > 0) {
        bool group_wide = si && si->si_code == SI_KERNEL && getpgid(pid) == getpgrp();
        if (!group_wide)
            kill(pid, sig);
    }
    errno = saved;
}

int hs_cli_spawn(const char *cmd, char **command, bool quiet, pid_t *pid_out, int *sig_out)
{
    *pid_out = 0;
    *sig_out = 0;
    size_t nsig = HS_ARRAY_LEN(forwarded_signals);
    struct sigaction old_act[HS_ARRAY_LEN(forwarded_signals)];
    sigset_t fwd, old_mask;
    sigemptyset(&fwd);
    for (size_t i = 0; i < nsig; i++)
        sigaddset(&fwd, forwarded_signals[i]);
    sigprocmask(SIG_BLOCK, &fwd, &old_mask);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = forward_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    for (size_t i = 0; i < nsig; i++)
        sigaction(forwarded_signals[i], &sa, &old_act[i]);

    int status_pipe[2];
    if (pipe2(status_pipe, O_CLOEXEC) != 0) {
        hs_cli_error(cmd, "pipe: %s", strerror(errno));
        return HS_CLI_EXIT_FAILURE;
    }
    fflush(NULL);

    pid_t pid = fork();
    if (pid < 0) {
        hs_cli_error(cmd, "fork: %s", strerror(errno));
        return HS_CLI_EXIT_FAILURE;
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. */
        for (size_t i = 0; i < nsig; i++)
            sigaction(forwarded_signals[i], &old_act[i], NULL);
        sigprocmask(SIG_SETMASK, &old_mask, NULL);
        close(status_pipe[0]);
        execvp(command[0], command);
        int err = errno;
        ssize_t w = write(status_pipe[1], &err, sizeof err);
        (void)w;
        _exit(err == ENOENT ? 127 : 126);
    }

    child_pid = pid;
    *pid_out = pid;
    sigprocmask(SIG_SETMASK, &old_mask, NULL); /* pending signals are forwarded now */
    close(status_pipe[1]);

    int exec_errno = 0;
    ssize_t r;
    do {
        r = read(status_pipe[0], &exec_errno, sizeof exec_errno);
    } while (r < 0 && errno == EINTR);
    close(status_pipe[0]);
    bool exec_failed = r == (ssize_t)sizeof exec_errno;

    int status = 0;
    pid_t w;
    do {
        w = waitpid(pid, &status, 0);
    } while (w < 0 && errno == EINTR);
    child_pid = 0;
    if (w < 0) {
        *pid_out = 0;
        hs_cli_error(cmd, "waitpid: %s", strerror(errno));
        return HS_CLI_EXIT_FAILURE;
    }

    if (exec_failed) {
        *pid_out = 0; /* the command never ran */
        if (exec_errno == ENOENT) {
            if (strchr(command[0], '/'))
                hs_cli_error(cmd, "%s: command not found (no such file or directory)", command[0]);
            else
                hs_cli_error(cmd, "%s: command not found", command[0]);
            return 127;
        }
        hs_cli_error(cmd, "%s: not executable (%s)", command[0], strerror(exec_errno));
        return 126;
    }

    int code;
    if (WIFEXITED(status)) {
        code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        code = 128 + WTERMSIG(status);
        *sig_out = WTERMSIG(status);
        if (!quiet)
            fprintf(stderr, "heapsampler: %s (pid %ld) died of signal %d (%s)\n", command[0],
                    (long)pid, WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else {
        code = HS_CLI_EXIT_FAILURE;
    }
    return code;
}
