/*
 * pyroscope_check.h - the upload settings checked against Pyroscope's grammar, before anything
 * is sent: the application name, the tags, the URL, the credentials and the extra headers.
 * The preloaded library checks them once at start-up (through the request's target,
 * pyroscope_request.h); the CLI checks its flags with the same functions, so a setting is
 * accepted or refused, with the same reason, wherever it is given.
 *
 * Every check writes a one-line reason into why (which names the offending value or header,
 * never a password or a header value).
 */
#ifndef HS_PYROSCOPE_CHECK_H
#define HS_PYROSCOPE_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"
#include "label_spec.h"

/* Label names per series: the server allows 30 and sets 4 itself (__name__, __delta__,
 * service_name, pyroscope_spy). */
#define HS_PYROSCOPE_MAX_TAGS      26
#define HS_PYROSCOPE_MAX_NAME_LEN  1024 /* label name */
#define HS_PYROSCOPE_MAX_VALUE_LEN 2048 /* label value, and the application name */
#define HS_PYROSCOPE_MAX_HEADERS   32   /* HEAPSAMPLER_PYROSCOPE_HEADERS entries */
#define HS_PYROSCOPE_URL_MAX       2048 /* with the NUL */

/*
 * An application name is 1 to 2048 of [A-Za-z0-9_.-/]. Tags are "k=v,k=v" (empty = none):
 * names [A-Za-z_][A-Za-z0-9_]* (the intersection of the ingest parser's and the label
 * validator's rules), not starting with "__" (reserved, dropped by the server), not
 * service_name or pyroscope_spy (set by the server: a second one is a duplicate label), each
 * once, at most HS_PYROSCOPE_MAX_TAGS; values non-empty UTF-8 without control characters,
 * without , { } = (the ingest parser's separators) and without surrounding spaces (it trims
 * them).
 */
hs_err_t hs_pyroscope_check_app(const char *app, char *why, size_t why_len) HS_MUST_CHECK;
hs_err_t hs_pyroscope_check_tags(const char *tags, char *why, size_t why_len) HS_MUST_CHECK;

/*
 * Append one "k=v" (checked alone: a later check of the whole list finds duplicates) to the
 * malloc'd list *tags (NULL = empty), comma-separated. For repeatable --tag flags.
 */
hs_err_t hs_pyroscope_check_append_tag(char **tags, const char *tag, char *why,
                                       size_t why_len) HS_MUST_CHECK;

/*
 * What the string labels of an upload's samples may be next to these (checked) tags: the
 * server makes series labels of them, ignores one named like a tag, and takes at most 30 label
 * names per series, 4 of them its own. drop: the tag names that could be label keys (a tag
 * name longer than a key names no label), drop_ptrs pointing at them (do not copy the struct);
 * names: the sample label names a series has room for (26 minus the tags).
 */
typedef struct hs_pyroscope_label_room {
    char drop[HS_PYROSCOPE_MAX_TAGS][HS_LABEL_KEY_MAX + 1];
    const char *drop_ptrs[HS_PYROSCOPE_MAX_TAGS];
    size_t ndrop;
    size_t names;
} hs_pyroscope_label_room_t;
void hs_pyroscope_check_label_room(const char *tags, hs_pyroscope_label_room_t *out);

/* The program's name made a valid application name (other characters become '_'). */
void hs_pyroscope_check_default_app(char *buf, size_t len);

/* A checked URL's parts (pointers into it). */
typedef struct hs_pyroscope_url {
    bool https;
    const char *host; /* not NUL-terminated: host_len bytes; an IPv6 host keeps its [] */
    size_t host_len;
    unsigned port;    /* the scheme's when none is given */
    const char *path; /* where the path starts (may be at the NUL) */
} hs_pyroscope_url_t;

/*
 * A URL is http:// or https://, a host, an optional port and path, no user:password@
 * (credentials go in PYROSCOPE_USER/PASSWORD), no query or fragment, shorter than
 * HS_PYROSCOPE_URL_MAX. parts (may be NULL) gets its parts.
 */
hs_err_t hs_pyroscope_check_url(const char *url, hs_pyroscope_url_t *parts, char *why,
                                size_t why_len) HS_MUST_CHECK;

/*
 * PYROSCOPE_USER, _PASSWORD and _TENANT: no password without a user, no control character in
 * the user or the tenant, no colon in the user (Basic auth's separator).
 */
hs_err_t hs_pyroscope_check_auth(const char *user, const char *password, const char *tenant,
                                 char *why, size_t why_len) HS_MUST_CHECK;

/*
 * The extra request headers as "Name: value" lines, malloc'd, appended to lines[*n, max): the
 * tenant's X-Scope-OrgID (when tenant is not empty), then every entry of spec,
 * PYROSCOPE_HEADERS: Name=value,Name=value with percent-encoded values (the OTLP exporters'
 * convention). A name is an HTTP token and not one the uploader sets itself (Content-Type,
 * Host...), nor Authorization when have_user (Basic auth is configured) nor X-Scope-OrgID when
 * there is a tenant; a value, decoded and trimmed, has no control character. HS_ERR_NOMEM
 * without a reason. On failure, the lines appended so far stay for the caller to free.
 */
hs_err_t hs_pyroscope_check_headers(const char *tenant, const char *spec, bool have_user,
                                    char **lines, size_t *n, size_t max, char *why,
                                    size_t why_len) HS_MUST_CHECK;

#endif
