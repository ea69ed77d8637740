/*
 * labels_early.c - a library the labels_early target needs: the loader runs its constructor
 * before the preloaded profiler's, and its destructor after the profiler's, so the label API is
 * called before the profiler is initialised and after it has stopped.
 */
#define HEAPSAMPLER_WEAK
#include <heapsampler.h>
#include <stdio.h>
#include <stdlib.h>

static int early_rc = -2;

__attribute__((constructor)) static void labels_early_init(void)
{
    if (heapsampler_label_set)
        early_rc = heapsampler_label_set("phase", "early");
}

int labels_early_rc(void)
{
    return early_rc;
}

__attribute__((destructor)) static void labels_early_fini(void)
{
    if (!heapsampler_label_set)
        return;
    heapsampler_labels_t saved = heapsampler_label_save();
    int rc = heapsampler_label_set("phase", "late");
    void *p = malloc(100);
    free(p);
    heapsampler_label_clear();
    rc |= heapsampler_label_restore(saved);
    printf("late labels: %s\n", rc == 0 ? "ok" : "failed");
    fflush(stdout);
}
