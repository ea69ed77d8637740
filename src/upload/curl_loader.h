/*
 * curl_loader.h - libcurl, loaded on demand.
 *
 * libcurl is not linked: it is loaded with dlopen("libcurl.so.4") on first use and called
 * through a table of function pointers (compiled against its headers), so a process that
 * uploads nothing never maps libcurl and its TLS libraries.
 */
#ifndef HS_CURL_LOADER_H
#define HS_CURL_LOADER_H

#include <stdbool.h>
#include <stddef.h>

/* CURLOPT_PROTOCOLS, the request's fallback for libcurl < 7.85, is deprecated in newer headers. */
#define CURL_DISABLE_DEPRECATION 1
#include <curl/curl.h>

#include "common.h"

/* The libcurl functions the request uses. */
typedef struct hs_curl_api {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} hs_curl_api_t;

/*
 * Load libcurl and initialise it (once per process; later calls return the first result) and
 * give its functions in *api. Takes the loader gate (loader_gate.h) around dlopen and
 * curl_global_init, so a fork never inherits a half-held loader lock from it. *first (may be
 * NULL) is set when this call did the loading. Allocates: under the reentrancy guard in the
 * preloaded library.
 */
hs_err_t hs_curl_loader_load(const hs_curl_api_t **api, bool *first, char *why,
                             size_t why_len) HS_MUST_CHECK;

/*
 * Forked child (runtime/fork.c): re-initialise the loading lock, which a parent thread may
 * have held. It is not taken before the fork: its holder may be loading libcurl, or waiting for
 * the loader gate that the fork has closed.
 */
void hs_curl_loader_postfork_child(void);

#endif
