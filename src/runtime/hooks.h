/*
 * hooks.h - what the exported malloc family (hooks.c, preloaded library only) offers the rest of
 * the library. The declaration is weak: the static core has no hooks, and the symbol is NULL.
 */
#ifndef HS_HOOKS_H
#define HS_HOOKS_H

/*
 * 1 if the program's malloc calls reach our hooks. A library that defines malloc and is loaded
 * before ours (LD_PRELOAD="libjemalloc.so libheapsampler.so", or libc listed first) takes the
 * program's calls instead: the profiler then sees nothing and should say so. Called once from
 * init with the reentrancy guard held.
 */
int hs_hooks_probe(void) __attribute__((weak, visibility("hidden")));

#endif
