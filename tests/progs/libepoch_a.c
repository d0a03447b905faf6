/* libepoch_a.c — dlopen'ed by dlepoch.c: leaks 1111 bytes from its own function.
 * libepoch_b.c has the same layout, so that once this one is dlclose'd the
 * other is mapped at the same address. */
#include <stdlib.h>

void *epoch_a_leak(void);

void *epoch_a_leak(void)
{
    return malloc(1111);
}
