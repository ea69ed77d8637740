/*
 * pyroscope_redact.h - what to log about a failed upload: one line that never contains a
 * secret of the target (its password, its Basic credentials, its header values), whatever the
 * server put in its answer.
 */
#ifndef HS_PYROSCOPE_REDACT_H
#define HS_PYROSCOPE_REDACT_H

#include <stddef.h>

#include "pyroscope_request.h"

/*
 * One line describing a failed request: "HTTP 422: <server message>" or "connection refused
 * (...)". The server's message is truncated, stripped of control and non-ASCII characters, and
 * any occurrence of the target's password, header values or Basic credentials is replaced by
 * <hidden>.
 */
void hs_pyroscope_redact_describe(const hs_pyroscope_target_t *t, const hs_pyroscope_result_t *res,
                                  char *buf, size_t len);

#endif
