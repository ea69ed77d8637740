/*
 * curl_loader.c - libcurl loaded on demand (see curl_loader.h).
 *
 * Invariants: libcurl is reached only through `api` (function pointers filled by dlsym). It is
 * loaded once per process image, inside the loader gate, and never unloaded (RTLD_NODELETE):
 * the host program may load the same library itself, and curl_global_cleanup is never called.
 * A load that failed is not retried; its reason is kept for every later caller.
 *
 * Exit: OpenSSL, libcurl's TLS library, registers an exit handler (OPENSSL_cleanup) when it is
 * initialised, unless told not to. A program that exits while the delivery thread is still in
 * curl_global_init runs that handler, or the library's destructor, concurrently with the
 * initialisation, which then takes freed locks: the host crashed. And a program that exits
 * later would tear OpenSSL down before the exit upload. So OpenSSL is initialised first with
 * OPENSSL_INIT_NO_ATEXIT (when libcurl links it; a no-op if the program initialised OpenSSL
 * already): OpenSSL's memory is left to the end of the process, like libcurl's.
 *
 * Threads: loading is serialised by load_mu, held across dlopen and curl_global_init (which may
 * take long: the TLS library initialises). The table is written once, under load_mu, before
 * load_state says it is there; readers get it from hs_curl_loader_load, after taking load_mu.
 *
 * Fork: load_mu is re-initialised in the child (hs_curl_loader_postfork_child); the loader
 * gate around dlopen and curl_global_init keeps the fork out of the loader's own locks.
 */
#include "curl_loader.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>

#include "loader_gate.h"

#define HS_LIBCURL_SONAME         "libcurl.so.4"
#define HS_OPENSSL_INIT_NO_ATEXIT 0x00080000ull /* OpenSSL >= 1.1.1b */

static hs_curl_api_t api;
static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;
static int load_state; /* 0 not tried, 1 loaded, -1 failed */
static char load_why[256];

static hs_err_t hs_curl_loader_open(void)
{
    void *h = dlopen(HS_LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h) {
        const char *e = dlerror();
        snprintf(load_why, sizeof load_why, "cannot load %s (%s)", HS_LIBCURL_SONAME,
                 e ? e : "unknown error");
        return HS_ERR_NOTFOUND;
    }
#define HS_CURL_SYM(field, name)                                                                   \
    do {                                                                                           \
        *(void **)&api.field = dlsym(h, name);                                                     \
        if (!api.field) {                                                                          \
            snprintf(load_why, sizeof load_why, "%s has no %s", HS_LIBCURL_SONAME, name);          \
            return HS_ERR_NOTFOUND;                                                                \
        }                                                                                          \
    } while (0)
    HS_CURL_SYM(global_init, "curl_global_init");
    HS_CURL_SYM(easy_init, "curl_easy_init");
    HS_CURL_SYM(easy_setopt, "curl_easy_setopt");
    HS_CURL_SYM(easy_perform, "curl_easy_perform");
    HS_CURL_SYM(easy_getinfo, "curl_easy_getinfo");
    HS_CURL_SYM(easy_cleanup, "curl_easy_cleanup");
    HS_CURL_SYM(easy_strerror, "curl_easy_strerror");
    HS_CURL_SYM(slist_append, "curl_slist_append");
    HS_CURL_SYM(slist_free_all, "curl_slist_free_all");
#undef HS_CURL_SYM
    /* Found in libcurl's dependencies when it is built on OpenSSL (not with GnuTLS). */
    int (*openssl_init)(uint64_t, const void *);
    *(void **)&openssl_init = dlsym(h, "OPENSSL_init_crypto");
    if (openssl_init)
        openssl_init(HS_OPENSSL_INIT_NO_ATEXIT, NULL);
    CURLcode rc = api.global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        snprintf(load_why, sizeof load_why, "curl_global_init failed (%s)", api.easy_strerror(rc));
        return HS_ERR_STATE;
    }
    return HS_OK;
}

hs_err_t hs_curl_loader_load(const hs_curl_api_t **out, bool *first, char *why, size_t why_len)
{
    if (first)
        *first = false;
    pthread_mutex_lock(&load_mu);
    if (load_state == 0) {
        /* dlopen and the TLS library's initialisation take the loader lock: inside the gate. */
        while (!hs_loader_gate_enter())
            sched_yield();
        hs_err_t err = hs_curl_loader_open();
        hs_loader_gate_exit();
        load_state = err == HS_OK ? 1 : -1;
        if (first)
            *first = err == HS_OK;
    }
    int state = load_state;
    pthread_mutex_unlock(&load_mu);
    if (state < 0) {
        hs_reason(why, why_len, "%s", load_why);
        return HS_ERR_NOTFOUND;
    }
    if (out)
        *out = &api;
    return HS_OK;
}

void hs_curl_loader_postfork_child(void)
{
    pthread_mutex_init(&load_mu, NULL);
}
