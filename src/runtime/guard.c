/*
 * guard.c - the per-thread profiler state (see guard.h). Static TLS, zero-initialised; nothing
 * to free at thread exit, so there is no destructor to race with.
 */
#include "guard.h"

__thread hs_thread_t hs_thread __attribute__((tls_model("initial-exec")));
