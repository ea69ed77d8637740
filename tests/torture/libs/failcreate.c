/*
 * failcreate.c - an LD_PRELOAD shim whose pthread_create fails (EAGAIN) the first time it is
 * called: in a program that starts no thread of its own, that is the profiler starting its
 * writer thread, which must then fall back to writing the exit profile from the exiting thread.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

static int calls;

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    static int (*next)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    if (__atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED) == 0)
        return EAGAIN;
    if (!next)
        next = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))dlsym(
            RTLD_NEXT, "pthread_create");
    return next(t, attr, fn, arg);
}
