/*
 * test_program.c - what the profiler says about its process, on the test process itself: the
 * names HEAPSAMPLER_PROGRAMS is matched against (executed name and binary: the test binary;
 * argv[0]: Criterion's worker names itself), the
 * executable's path, the command line, the start and the first-process flag across a fork;
 * and the user names a refused write reports, read from /etc/passwd without NSS.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/wait.h>
#include <unistd.h>

#include "os.h"
#include "program.h"

/* The test binary's own file name, from /proc/self/exe. */
static const char *self_name(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    cr_assert_gt(n, 0);
    buf[n] = '\0';
    return strrchr(buf, '/') + 1;
}

Test(program, names_and_matching)
{
    char exe[PATH_MAX];
    const char *name = self_name(exe, sizeof exe);
    hs_program_init(true);
    cr_assert_str_eq(hs_program_name(), name);
    cr_assert_str_eq(hs_program_exe(), exe, "%s", hs_program_exe());
    cr_assert(hs_program_is_first());
    /* Criterion runs each test in a worker whose argv[0] is its own: a third name. */
    char cmdline[256];
    FILE *f = fopen("/proc/self/cmdline", "r");
    cr_assert_not_null(f);
    size_t n = fread(cmdline, 1, sizeof cmdline - 1, f);
    fclose(f);
    cmdline[n] = '\0';
    cr_assert(strncmp(hs_program_cmdline(), cmdline, strlen(cmdline)) == 0, "%s",
              hs_program_cmdline());
    const char *argv0 = strrchr(cmdline, '/') ? strrchr(cmdline, '/') + 1 : cmdline;
    cr_assert(hs_program_matches(argv0), "%s", argv0);

    cr_assert(hs_program_matches(name));
    cr_assert(hs_program_matches("test_pro*"));
    cr_assert(hs_program_matches("postgres,test_program,redis-*"));
    cr_assert(hs_program_matches("nothing,*_program"));
    cr_assert(hs_program_matches("test_progra[lm]"));
    cr_assert(!hs_program_matches("test_pro"));
    cr_assert(!hs_program_matches("postgres"));
    cr_assert(!hs_program_matches("postgres,redis-*"));
    cr_assert(!hs_program_matches(""));
}

Test(program, title_is_the_command_line_now)
{
    char title[HS_PROGRAM_CMDLINE_MAX + 4];
    hs_program_init(true);
    cr_assert_str_eq(hs_program_title(title, sizeof title), hs_program_cmdline());
    /* A short buffer gets the start of the line, marked as cut. */
    char small[16];
    hs_program_title(small, sizeof small);
    cr_assert_eq(strlen(small), 15, "\"%s\"", small);
    cr_assert_str_eq(small + 12, "...");
}

Test(program, fork_starts_a_process_that_is_not_the_first)
{
    hs_program_init(true);
    uint64_t parent_start = hs_program_started_ns();
    usleep(2000);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        hs_program_postfork_child();
        _exit(!hs_program_is_first() && hs_program_started_ns() > parent_start ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert(hs_program_is_first());
    cr_assert_eq(hs_program_started_ns(), parent_start);
}

Test(os, user_names_from_passwd)
{
    char buf[64];
    cr_assert_str_eq(hs_os_user_name(0, buf, sizeof buf), "root");
    struct passwd *pw = getpwuid(65534);
    cr_assert_str_eq(hs_os_user_name(65534, buf, sizeof buf), pw ? pw->pw_name : "");
    cr_assert_str_eq(hs_os_user_name(4000000000u, buf, sizeof buf), "");
    char tiny[3];
    cr_assert_str_eq(hs_os_user_name(0, tiny, sizeof tiny), "ro");
}
