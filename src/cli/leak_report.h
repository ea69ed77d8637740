/*
 * leak_report.h - how `leaks` and `check` show a leak analysis (leak_analysis.h): the table per
 * process and the verdict line, JSON (--json), and the HTML report (--html).
 */
#ifndef HS_LEAK_REPORT_H
#define HS_LEAK_REPORT_H

#include <stdio.h>

#include "analysis.h"
#include "leak_analysis.h"

/*
 * The process as every line names it: "pid 15678 postgres: postgres postgres [local] idle", its
 * pid and the command line it showed last (its title, else the one it started with; shortened),
 * else its program's name. Returns buf (HS_LEAK_REPORT_WHO_MAX bytes are enough).
 */
#define HS_LEAK_REPORT_WHO_MAX 160
const char *hs_leak_report_who(const hs_leak_process_t *p, char *buf, size_t len);

/* "no allocation sampled after its first 310 ms (of 12.4 s): stable" (an idle process). */
const char *hs_leak_report_idle(const hs_leak_process_t *p, char *buf, size_t len);

/*
 * The table of every process (skipped and idle ones in one line each) and a summary of each
 * program of several processes, or JSON (with every program's summary) when o->json.
 */
void hs_leak_report_print(FILE *f, const hs_leak_analysis_t *a, const hs_cli_opts_t *o);

/* Write o->html; 0, or HS_CLI_EXIT_FAILURE after a message naming cmd. */
int hs_leak_report_html(const char *cmd, const hs_leak_analysis_t *a, const hs_cli_opts_t *o);

#endif
