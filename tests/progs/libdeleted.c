/* libdeleted.c — dlopen'ed by dldeleted.c from a copy that is deleted
 * before the process ends: leaks 3333 bytes from its own function. */
#include <stdlib.h>

void *deleted_leak(void);

void *deleted_leak(void)
{
    return malloc(3333);
}
