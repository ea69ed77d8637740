/*
 * symbols.c - call sites whose names and lines the symbolization tests check: a static
 * function (named only through .symtab), a global one, a libc function that allocates (strdup,
 * named through libc's .dynsym), in a known call chain. The same source is built as a PIE
 * (hs_target_symbols), a non-PIE executable (hs_target_symbols_nopie) and a stripped copy
 * (hs_target_symbols_stripped). Lines that allocate carry a marker comment ("SITE:<name>")
 * that the driver looks up in this file, so no line number is written down twice.
 *
 * Every block stays allocated until exit; the profile written at exit holds them all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCKS 64

static void *keep[3 * BLOCKS];
static int nkeep;

static void hold(void *p)
{
    if (!p) {
        fprintf(stderr, "allocation failed\n");
        exit(1);
    }
    keep[nkeep++] = p;
}

/* 64 x 3000 bytes from a static function. */
static void symbols_static_alloc(void)
{
    for (int i = 0; i < BLOCKS; i++)
        hold(malloc(3000)); /* SITE:static_alloc */
}

/* 64 x 5000 bytes from a global function, through the static one's caller. */
void symbols_global_alloc(void)
{
    for (int i = 0; i < BLOCKS; i++)
        hold(malloc(5000)); /* SITE:global_alloc */
}

/* 64 copies of a 700-byte string: strdup (libc) calls malloc. */
void symbols_libc_alloc(void)
{
    static char text[700];
    memset(text, 'x', sizeof text - 1);
    for (int i = 0; i < BLOCKS; i++)
        hold(strdup(text)); /* SITE:libc_alloc */
}

void symbols_outer(void)
{
    symbols_static_alloc(); /* SITE:outer_calls_static */
    symbols_global_alloc();
    symbols_libc_alloc();
}

int main(void)
{
    symbols_outer(); /* SITE:main_calls_outer */
    printf("allocated %d blocks\n", nkeep);
    return 0;
}
