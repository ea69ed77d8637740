/*
 * baseline_report.h - how `leaks --baseline` and `check --baseline` show a comparison
 * (baseline.h): a header naming both sides, the whole process, the table of sites (faster ones
 * first), and a one-line verdict; or JSON with every number; or the HTML report.
 */
#ifndef HS_BASELINE_REPORT_H
#define HS_BASELINE_REPORT_H

#include <stdio.h>

#include "analysis.h"
#include "baseline.h"
#include "leak_analysis.h"

/* The table (or JSON when o->json) of the comparison of cand with base, from command cmd. */
void hs_baseline_report_print(FILE *f, const char *cmd, const hs_baseline_t *b,
                              const hs_leak_analysis_t *cand, const hs_leak_analysis_t *base,
                              const hs_cli_opts_t *o);

/* Write o->html; 0, or HS_CLI_EXIT_FAILURE after a message naming cmd. */
int hs_baseline_report_html(const char *cmd, const hs_baseline_t *b, const hs_leak_analysis_t *cand,
                            const hs_leak_analysis_t *base, const hs_cli_opts_t *o);

/* "pattern (+6.66 GiB/h ± 434 MiB/h)": a site's difference, for verdict lines. */
const char *hs_baseline_report_difference(char *buf, size_t len, const hs_baseline_site_t *s,
                                          const char *unit);

#endif
