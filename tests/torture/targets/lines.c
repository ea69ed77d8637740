/*
 * lines.c - allocation sites with known lines, for the `lines` symbolization level. Built twice:
 * hs_torture_lines as usual, and hs_torture_lines_noaranges with its .debug_aranges section
 * removed, as clang leaves it out by default (the CU of an address must then be found from the
 * CUs' own ranges). Prints the line of each malloc call: "<site> line=<n>".
 */
#include <stdio.h>
#include <stdlib.h>

static void *volatile keep[300]; /* volatile: stores of unused blocks are not elided */
static int first_line, second_line;

__attribute__((noinline)) void lines_first_site(int i)
{
    first_line = __LINE__ + 1;
    keep[i] = malloc(64);
}

__attribute__((noinline)) void lines_second_site(int i)
{
    second_line = __LINE__ + 1;
    keep[100 + i] = calloc(1, 96);
}

int main(void)
{
    for (int i = 0; i < 100; i++) {
        lines_first_site(i);
        lines_second_site(i);
    }
    printf("lines_first_site line=%d\n", first_line);
    printf("lines_second_site line=%d\n", second_line);
    return 0;
}
