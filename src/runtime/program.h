/*
 * program.h - which program this process runs, and where it stands in the process tree: what
 * every profile says about its process (README.md "Profile comments"), what
 * HEAPSAMPLER_PROGRAMS is matched against, and the name of the main executable's mapping.
 *
 * Names (taken at init, when the command line is still the one the process was executed with):
 *   name     the file name the program was executed as: the last component of the path given
 *            to execve (AT_EXECFN): "redis-server" for /usr/bin/redis-server, a symlink to
 *            redis-check-rdb; "start.sh" for a script, whose binary is its interpreter;
 *   exe      the absolute path of the running binary as it was executed (symlinks kept, a
 *            relative path made absolute against the working directory at init) when that path
 *            still names the running binary; else the binary's own path (/proc/self/exe);
 *   cmdline  the command line at init, arguments joined with spaces (shortened past
 *            HS_PROGRAM_CMDLINE_MAX bytes, marked with "...").
 * hs_program_title reads the command line again: servers that rewrite it (postgres, redis,
 * nginx) show their process title there.
 *
 * The process: whether it is the first process of its profiling session (the one `run` or
 * `check` started, or the first that loaded the library; an exec in its place stays the first)
 * and when it started being profiled: init for a process image, the fork for a forked child,
 * which is never the first.
 *
 * Thread-safety: init runs single-threaded (the constructor); the rest reads what init wrote.
 * hs_program_title reads /proc and may run in any thread. Fork: the child's start is the fork
 * (hs_program_postfork_child, from fork.c; no lock to take before).
 */
#ifndef HS_PROGRAM_H
#define HS_PROGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HS_PROGRAM_CMDLINE_MAX 1024 /* bytes of a command line kept in a profile */

/* Read the names and the command line (allocation-free). first: see above. */
void hs_program_init(bool first);

const char *hs_program_name(void);    /* "" before init or when unknown */
const char *hs_program_exe(void);     /* "" before init or when unknown */
const char *hs_program_cmdline(void); /* "" before init or when unknown */

/* The command line now, as cmdline is written; "" when it cannot be read. Returns buf. */
const char *hs_program_title(char *buf, size_t len);

/*
 * Does one of the comma-separated names or globs in patterns (HEAPSAMPLER_PROGRAMS, fnmatch(3)
 * syntax) match the program's name, its argv[0]'s last component or its binary's file name?
 */
bool hs_program_matches(const char *patterns);

bool hs_program_is_first(void);
uint64_t hs_program_started_ns(void); /* wall clock */

void hs_program_postfork_child(void);

#endif
