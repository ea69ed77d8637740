/*
 * debuginfod_client.h - separate debug files by GNU build ID from debuginfod servers, through
 * elfutils' libdebuginfod, for `heapsampler symbolize`.
 *
 * The servers are the client library's: DEBUGINFOD_URLS (space-separated; unset or empty means
 * no lookup and nothing is loaded), with its cache (DEBUGINFOD_CACHE_PATH, by default
 * ~/.cache/debuginfod_client) and its other variables (DEBUGINFOD_TIMEOUT, DEBUGINFOD_PROGRESS,
 * ...). A file already in the cache is used without asking a server.
 *
 * libdebuginfod is loaded with dlopen on first use, never linked: the CLI runs without it when
 * no server is configured, and the preloaded library never reaches this file (it never asks
 * the network for anything; tests/cli/test_symbolize.py checks that none of these symbols is
 * in it).
 * Single-threaded (the CLI).
 */
#ifndef HS_DEBUGINFOD_CLIENT_H
#define HS_DEBUGINFOD_CLIENT_H

#include <stddef.h>

#include "common.h"

typedef struct hs_debuginfod_client hs_debuginfod_client_t;

/*
 * A client when DEBUGINFOD_URLS names a server. HS_ERR_NOTFOUND (why empty) when it names
 * none; HS_ERR_IO with why when libdebuginfod cannot be loaded or started.
 */
hs_err_t hs_debuginfod_client_open(hs_debuginfod_client_t **out, char *why,
                                   size_t why_len) HS_MUST_CHECK;

/*
 * The debug file of build_id (lower-case hex) in the cache, fetched if need be: *path is
 * malloc'd. HS_ERR_NOTFOUND when no server has it, HS_ERR_IO when none could be asked; why
 * says which, with the server's reason.
 */
hs_err_t hs_debuginfod_client_find(hs_debuginfod_client_t *c, const char *build_id, char **path,
                                   char *why, size_t why_len) HS_MUST_CHECK;

/* The servers asked (DEBUGINFOD_URLS), for messages. */
const char *hs_debuginfod_client_urls(const hs_debuginfod_client_t *c);

void hs_debuginfod_client_close(hs_debuginfod_client_t *c);

#endif
