/*
 * leaky.c - a leak among churn, for default-rate checks. leak_site keeps 8192 x 4 KiB
 * (32 MiB); churn_site allocates and frees 512 MiB in blocks of 1..64 KiB.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *leaked[8192];

void leak_site(int i)
{
    leaked[i] = malloc(4096);
    memset(leaked[i], 0, 64);
}

void churn_site(size_t size)
{
    char *p = malloc(size);
    p[0] = 1;
    free(p);
}

int main(void)
{
    unsigned x = 1;
    size_t churned = 0;
    for (int i = 0; i < 8192; i++) {
        leak_site(i);
        while (churned < (size_t)(i + 1) * 65536) {
            x = x * 1103515245u + 12345u;
            size_t size = 1024 + (x >> 8) % (63 * 1024);
            churn_site(size);
            churned += size;
        }
    }
    printf("leaky: leaked %d KiB, churned %zu MiB\n", 8192 * 4, churned >> 20);
    return 0;
}
