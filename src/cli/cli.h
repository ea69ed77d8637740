/*
 * cli.h - the `heapsampler` command line tool: the commands, the one parser of their command
 * lines (cli.c), and what the commands share.
 *
 * Each command lives in its own file (cmd_run.c, ...) and defines one hs_cli_command_t: its
 * name, synopsis and help text, its options in a table, and its entry point; main.c lists them.
 * A command's entry point hands its argv and the table to hs_cli_parse, which calls the
 * command's take function once per option and gathers the operands; its --help is generated
 * from the same table (hs_cli_help), so that the help cannot name an option the parser does not
 * know, or miss one it does.
 *
 * Command lines follow GNU's conventions: options before, between or after operands;
 * `--name VALUE` or `--name=VALUE`; short forms `-r VALUE` or `-rVALUE`, switches bundled
 * (`-qh`); `--` ends the options; `-` alone is an operand. Commands that run a program (`run`,
 * `check`) stop at the program: the first operand and everything after it are its command line.
 *
 * Exit statuses every command follows: 0 success, 2 usage error (unknown option, missing or bad
 * value, missing operand: one line naming it and the command's --help), HS_CLI_EXIT_FAILURE
 * when the tool itself cannot do its job (library not found, fork failed, out of memory). `run`
 * and `check` pass the command's own status through instead.
 */
#ifndef HS_CLI_H
#define HS_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "common.h"
#include "config.h"
#include "log.h"

#define HS_CLI_EXIT_USAGE   2
#define HS_CLI_EXIT_FAILURE 125 /* as env(1) and timeout(1): the wrapper itself failed */

/* How an option takes its value. */
typedef enum hs_cli_arg {
    HS_CLI_SWITCH,  /* no value: --json, -q */
    HS_CLI_VALUE,   /* --top N, --top=N, -r N, -rN: the next word whatever it looks like */
    HS_CLI_BOOLEAN, /* alone means "1"; a value after '=', or the next word when it is a
                       boolean word (1 0 true false yes no on off) and not the last argument:
                       `run --follow-exec true` runs `true` */
    HS_CLI_REFUSED, /* known only to be refused, with the help text as the reason */
} hs_cli_arg_t;

/* One row of a command's option table; a row without a name is a heading of its --help. */
typedef struct hs_cli_option {
    const char *name;          /* the long form without "--"; NULL: a heading (help is its text) */
    char short_name;           /* 'q' for -q; 0 = none */
    hs_cli_arg_t arg;          /* how it takes its value */
    const char *metavar;       /* what the value is, in --help: "N", "SIZE" */
    const char *help;          /* under the option in --help; NULL for an alias: "same as ..." */
    int id;                    /* what the command's take function switches on */
    const char *alias_of;      /* the long name of the option this one spells otherwise */
    const char *note;          /* on the option's line in --help (the profiler options' variable) */
    const hs_option_t *config; /* a profiler option: its row of the option table (config.h) */
} hs_cli_option_t;

/*
 * The ids of the profiler options: HS_CLI_PROFILER_ID + the option's index in the option table
 * (hs_config_options). Commands number their own options below it.
 */
#define HS_CLI_PROFILER_ID 0x10000

/*
 * Validate and keep one option's value: NULL for a switch, otherwise a string that lives as
 * long as argv (or a static "1" for a boolean given alone). Returns HS_OK, HS_ERR_NOMEM, or
 * another error with why, which the parser prints as `invalid --name "value": why`.
 */
typedef hs_err_t (*hs_cli_take_fn)(void *ctx, const hs_cli_option_t *opt, const char *value,
                                   char *why, size_t why_len);

/* argv[0] is the command's name ("run"); argv[argc] is NULL. Returns the exit status. */
typedef int (*hs_cli_main_fn)(int argc, char **argv);

#define HS_CLI_STOP_AT_COMMAND  (1u << 0) /* the first operand starts the command to run */
#define HS_CLI_PROFILER_OPTIONS (1u << 1) /* every HEAPSAMPLER_* variable is an option too */

typedef struct hs_cli_command {
    const char *name;        /* "run" */
    const char *synopsis;    /* after the name: "[OPTIONS] [--] COMMAND [ARGS...]" */
    const char *summary;     /* one line for `heapsampler --help` */
    const char *description; /* paragraphs of its --help, separated by "\n" */
    const hs_cli_option_t *options;
    size_t noptions;
    const char *examples;        /* lines of its --help, each ending in "\n" */
    unsigned flags;              /* HS_CLI_STOP_AT_COMMAND, HS_CLI_PROFILER_OPTIONS */
    void (*help_extra)(FILE *f); /* printed after the options, or NULL */
    hs_cli_main_fn main;
} hs_cli_command_t;

extern const hs_cli_command_t hs_cli_run_command, hs_cli_report_command, hs_cli_diff_command,
    hs_cli_leaks_command, hs_cli_check_command, hs_cli_symbolize_command, hs_cli_convert_command,
    hs_cli_upload_command;

/*
 * Parse argv[1..argc-1] for command c: take(ctx, ...) for each option, in order; the operands
 * are moved to argv[1..*noperands], in order, and argv[1 + *noperands] is set to NULL (for a
 * command that runs a program, its command line). Returns true to go on; false when the
 * command is done, with *status its exit status: 0 after printing the help (-h, --help),
 * HS_CLI_EXIT_USAGE after printing the error, HS_CLI_EXIT_FAILURE when out of memory.
 */
bool hs_cli_parse(const hs_cli_command_t *c, int argc, char **argv, hs_cli_take_fn take, void *ctx,
                  int *noperands, int *status) HS_MUST_CHECK;

/* The --help text of c, generated from its table. */
void hs_cli_help(const hs_cli_command_t *c, FILE *f);

/*
 * The options of the HEAPSAMPLER_* variables, derived once from the option table:
 * HEAPSAMPLER_STACK_DEPTH is --stack-depth, -r/-o/-i are --rate/--output/--interval.
 */
const hs_cli_option_t *hs_cli_profiler_options(size_t *count);

/* "heapsampler <command>: <message>" on stderr. */
void hs_cli_error(const char *command, const char *fmt, ...) HS_PRINTF(2, 3);

/* Print text wrapped at 100 columns, each line indented by indent spaces; "\n" breaks a line. */
void hs_cli_print_wrapped(FILE *f, const char *text, int indent);

/* Print the top-level usage to f (main.c). */
void hs_cli_usage(FILE *f);

/* ---- running a command under the profiler (spawn.c; `run` and `check`) ---- */

/*
 * The library that belongs to this CLI: next to it (build tree), else in the install's
 * library directory; explicit_path (--library) overrides both. out gets an absolute, resolved
 * path. Problems are reported as "heapsampler <cmd>: ..." when report is true.
 */
hs_err_t hs_cli_find_library(const char *cmd, const char *explicit_path, bool report, char *out,
                             size_t len) HS_MUST_CHECK;

/*
 * LD_PRELOAD for the child: lib first, then every entry of old except lib (the loader splits
 * on spaces and colons; entries are rejoined with ':'). malloc'd; NULL when out of memory.
 */
char *hs_cli_preload_value(const char *lib, const char *old);

/*
 * Give a directory made for a command's profiles its mode: run as root, the command's processes
 * may switch to other users (a server's workers drop privileges), so it is sticky and
 * world-writable (01777, as /tmp: every profile stays 0600 and its owner's, and no one may
 * remove or replace another's file); otherwise private (0700). mkdir too unless exists is set.
 * Reports "heapsampler <cmd>: PATH: reason" on failure.
 */
hs_err_t hs_cli_make_output_dir(const char *cmd, const char *path, bool exists) HS_MUST_CHECK;

/*
 * Run command (execvp) with INT TERM HUP QUIT USR1 USR2 forwarded to it and wait. Returns its
 * status as a shell would: its exit code, 128+N if it died of signal N (said on stderr unless
 * quiet), 127 not found, 126 not executable, HS_CLI_EXIT_FAILURE if fork/wait failed. *pid
 * gets the pid of the command that ran, 0 when none did (exec or fork failed); *sig the signal
 * that killed it, 0 when it exited (an exit status of 137 is not SIGKILL).
 */
int hs_cli_spawn(const char *cmd, char **command, bool quiet, pid_t *pid, int *sig);

#endif
