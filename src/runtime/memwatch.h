/*
 * memwatch.h - the memory in use against the memory limit, watched so that the last profile
 * before an OOM kill shows what filled the memory: profiles at thresholds of the limit
 * (HEAPSAMPLER_MEMORY_THRESHOLDS), the peak profile (HEAPSAMPLER_PEAK_STEP), and room for those
 * dumps near the limit (a reserve, and figures that let the dump do with less).
 *
 * The limit and the usage are memlimit.h's (the memory cgroup's, else RLIMIT_AS, else physical
 * memory; HEAPSAMPLER_MEMORY_LIMIT overrides). The watch is a writer thread watch
 * (writer_thread.h): the thread looks every few hundred milliseconds, every 20 ms in the close
 * range (from 20 points below the lowest threshold, 50% of the limit by default), where it
 * also waits on the kernel's notifications when it gets them (v1 cgroup.event_control
 * usage thresholds, v2 memory.events and a memory.pressure trigger). Between looks, the
 * sampler's in-use estimate stands in for the usage: a mark set at the next level of interest
 * pokes the thread as soon as the heap may have reached it, and starts it in a program that has
 * not needed it yet.
 */
#ifndef HS_MEMWATCH_H
#define HS_MEMWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"
#include "config.h"
#include "memlimit.h"
#include "writer_thread.h"

typedef struct hs_memwatch_config {
    uint64_t limit;                  /* bytes (HEAPSAMPLER_MEMORY_LIMIT); 0: detect */
    hs_config_percents_t thresholds; /* percent of the limit; empty: none */
    unsigned peak_step;              /* percent of the limit; 0: no peak profile */
} hs_memwatch_config_t;

/*
 * At init, single-threaded, before the writer thread is set up: read the limit and the usage,
 * set the sampler's memory mark. Returns 1 when the watch should look at once (the usage is in
 * the close range already: the writer thread must start now), else 0.
 */
int hs_memwatch_init(const hs_memwatch_config_t *cfg);

/* Thresholds or the peak profile are on: the writer thread is to run hs_memwatch_look. */
bool hs_memwatch_enabled(void);

/*
 * The writer thread's watch (writer_thread.h; arg unused): read the usage (and, every 2 s,
 * the limit), decide which profiles are due (HS_WRITER_MEMORY when a threshold was crossed
 * upward, HS_WRITER_PEAK for a new high without one), keep the reserve, and say when to look
 * next.
 */
unsigned hs_memwatch_look(void *arg, hs_writer_wait_t *wait);

/*
 * From the sampler's slow path (any thread, under the guard), while no writer thread has
 * looked: at most every 2 s, read again the one file that set the limit (or RLIMIT_AS), and
 * poke the watch (which starts the thread) if it changed. A load and a branch otherwise.
 */
void hs_memwatch_idle_check(void);

/* What a dump says about memory, and what it may use. */
typedef struct hs_memwatch_figures {
    bool known;                        /* limit and usage were read */
    uint64_t limit, usage;             /* bytes */
    hs_memlimit_source_t limit_source; /* where the limit comes from */
    hs_memusage_source_t usage_source; /* what the usage counts */
    uint64_t room;      /* bytes the dump may take before the limit, the reserve included */
    uint64_t reserve;   /* bytes of the reserve given back for this dump */
    unsigned threshold; /* a watch's dump: the percentage crossed; else 0 */
    bool peak;          /* a watch's dump: also write the peak profile */
    char detail[64];    /* a watch's dump: "85% of 128 MiB", for the profile's header */
} hs_memwatch_figures_t;

/*
 * Around every dump, in the thread that dumps (the writer thread, or the exiting one when the
 * writer never ran): begin gives the reserve back and reads the figures (watched: the dump is
 * the one a look asked for, so threshold, peak and detail are its); end takes the reserve
 * again, less what the dump left allocated (its heap serves the next dump).
 */
void hs_memwatch_dump_begin(bool watched, hs_memwatch_figures_t *out);
void hs_memwatch_dump_end(void);

/* "128 MiB", "1.50 GiB", "512 KiB", "900 B": three significant digits, binary prefixes. */
void hs_memwatch_format_bytes(char *buf, size_t len, uint64_t bytes);

/*
 * Fork (fork.c). Nothing to take: the watch's state belongs to the writer thread, which does
 * not survive the fork. The child closes the parent's notification descriptors (its own
 * copies), unmaps the reserve, re-arms every threshold and starts its peaks over: it is a new
 * process with its own profiles.
 */
void hs_memwatch_prefork(void);
void hs_memwatch_postfork_parent(void);
void hs_memwatch_postfork_child(void);

#endif
