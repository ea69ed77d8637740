/*
 * tsan.h - the checks of the concurrency tests in tests/tsan/. These are plain programs, not
 * Criterion tests: Criterion's sandbox (BoxFort) maps its arena at random fixed addresses,
 * which ThreadSanitizer's shadow memory occupies, so a Criterion test cannot even start under
 * TSan. They run in every build; scripts/test.sh also runs them in a -DHS_SANITIZE=thread build,
 * where a data race fails them (TSan exits non-zero).
 */
#ifndef HS_TSAN_H
#define HS_TSAN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "dump.h"
#include "snapshot.h"

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s:", __FILE__, __LINE__, #cond);                \
            fprintf(stderr, " " __VA_ARGS__);                                                      \
            fprintf(stderr, "\n");                                                                 \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* Takes snapshots until *stop, checking what any reader may rely on; returns how many. */
static inline uint64_t tsan_snapshots_until(volatile int *stop)
{
    uint64_t n = 0;
    while (!__atomic_load_n(stop, __ATOMIC_RELAXED)) {
        hs_snapshot_t snap;
        CHECK(hs_dump_snapshot(&snap) == HS_OK);
        for (size_t i = 0; i < snap.nrows; i++) {
            const hs_snapshot_row_t *r = &snap.rows[i];
            CHECK(r->live <= r->allocs);
            CHECK(r->stack_id < snap.nstacks);
            CHECK(snap.stacks[r->stack_id].frames && snap.stacks[r->stack_id].depth > 0);
        }
        hs_snapshot_free(&snap);
        n++;
    }
    return n;
}

#endif
