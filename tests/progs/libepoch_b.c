/* libepoch_b.c — dlopen'ed by dlepoch.c after libepoch_a.so is dlclose'd:
 * leaks 2222 bytes from its own function, at the same offset as A's. */
#include <stdlib.h>

void *epoch_b_leak(void);

void *epoch_b_leak(void)
{
    return malloc(2222);
}
