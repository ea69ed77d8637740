/*
 * debuginfod_client.c - debug files from debuginfod servers (see debuginfod_client.h).
 *
 * libdebuginfod (elfutils, Debian libdebuginfod1) is reached only through the function pointers
 * of hs_debuginfod_client_t, filled by dlsym after a dlopen of its soname; the library stays
 * loaded (RTLD_NODELETE: libcurl and its TLS library, which it loads, keep exit handlers). Its
 * header gives the prototypes, so a changed signature fails the build rather than a call. A lookup
 * returns a descriptor and the file's path in the cache: the descriptor is closed at once, the path
 * is what the symbolizer opens (it checks the build ID of whatever it reads).
 *
 * Errors come back as negative errno values: -ENOENT is "not on any server" (the client also
 * remembers a failed lookup in its cache for a while), anything else is a failure to ask
 * (-ECONNREFUSED, -ETIME, ...). Single-threaded: the CLI owns the client.
 */
#include "debuginfod_client.h"

#include <dlfcn.h>
#include <elfutils/debuginfod.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct hs_debuginfod_client {
    void *lib;
    debuginfod_client *client;
    const char *urls;
    __typeof__(debuginfod_begin) *begin;
    __typeof__(debuginfod_end) *end;
    __typeof__(debuginfod_find_debuginfo) *find_debuginfo;
};

hs_err_t hs_debuginfod_client_open(hs_debuginfod_client_t **out, char *why, size_t why_len)
{
    *out = NULL;
    hs_reason(why, why_len, "%s", "");
    const char *urls = getenv(DEBUGINFOD_URLS_ENV_VAR);
    if (!urls || !urls[strspn(urls, " \t")])
        return HS_ERR_NOTFOUND;
    hs_debuginfod_client_t *c = calloc(1, sizeof *c);
    if (!c) {
        hs_reason(why, why_len, "out of memory");
        return HS_ERR_NOMEM;
    }
    c->urls = urls;
    /* Never unloaded: its TLS library registers exit handlers of its own. */
    c->lib = dlopen(DEBUGINFOD_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!c->lib) {
        const char *e = dlerror();
        hs_reason(why, why_len, "cannot load %s (%s; Debian package libdebuginfod1)",
                  DEBUGINFOD_SONAME, e ? e : "unknown error");
        goto fail;
    }
    c->begin = (__typeof__(c->begin))dlsym(c->lib, "debuginfod_begin");
    c->end = (__typeof__(c->end))dlsym(c->lib, "debuginfod_end");
    c->find_debuginfo = (__typeof__(c->find_debuginfo))dlsym(c->lib, "debuginfod_find_debuginfo");
    if (!c->begin || !c->end || !c->find_debuginfo) {
        hs_reason(why, why_len, "%s lacks the debuginfod_* functions", DEBUGINFOD_SONAME);
        goto fail;
    }
    c->client = c->begin();
    if (!c->client) {
        hs_reason(why, why_len, "cannot start a debuginfod client");
        goto fail;
    }
    *out = c;
    return HS_OK;

fail:
    hs_debuginfod_client_close(c);
    return HS_ERR_IO;
}

hs_err_t hs_debuginfod_client_find(hs_debuginfod_client_t *c, const char *build_id, char **path,
                                   char *why, size_t why_len)
{
    *path = NULL;
    int fd = c->find_debuginfo(c->client, (const unsigned char *)build_id, 0, path);
    if (fd >= 0) {
        close(fd);
        if (*path)
            return HS_OK;
        hs_reason(why, why_len, "out of memory");
        return HS_ERR_NOMEM;
    }
    free(*path);
    *path = NULL;
    if (fd == -ENOENT) {
        hs_reason(why, why_len, "not on %s", c->urls);
        return HS_ERR_NOTFOUND;
    }
    hs_reason(why, why_len, "cannot ask %s: %s", c->urls, strerror(-fd));
    return HS_ERR_IO;
}

const char *hs_debuginfod_client_urls(const hs_debuginfod_client_t *c)
{
    return c->urls;
}

void hs_debuginfod_client_close(hs_debuginfod_client_t *c)
{
    if (!c)
        return;
    if (c->client)
        c->end(c->client);
    free(c);
}
