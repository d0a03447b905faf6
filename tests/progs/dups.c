/* dups.c — duplicate content (MEMAUDIT_CONTENT=1): 1000 strdup's of 10
 * distinct strings, all from one call site, all freed: exactly 10 distinct
 * values and 990 duplicates at that site. A second site makes 100 blocks of
 * 100 distinct contents (no duplicates). Without MEMAUDIT_CONTENT nothing is
 * hashed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *copy_name(const char *s)
{
    return strdup(s);
}

static char *unique_block(int i)
{
    char *p = malloc(32);
    if (p != NULL)
        snprintf(p, 32, "unique-%04d", i);
    return p;
}

int main(void)
{
    static const char *const names[10] = {"alpha", "bravo", "charlie", "delta", "echo",
                                          "foxtrot", "golf", "hotel", "india", "juliett"};
    static char *kept[1000];
    static char *uniq[100];
    for (int i = 0; i < 1000; i++)
        kept[i] = copy_name(names[i % 10]);
    for (int i = 0; i < 100; i++)
        uniq[i] = unique_block(i);
    for (int i = 0; i < 1000; i++)
        free(kept[i]);
    for (int i = 0; i < 100; i++)
        free(uniq[i]);
    return 0;
}
