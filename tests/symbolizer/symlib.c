/* symlib.c — a shared library that symprog.c dlopens, calls and dlcloses
 * before exit (tests/integration/symbolizer.sh). SYMLIB_NAME names the copy:
 * two copies may be loaded one after the other at the same address. */
#include <stdlib.h>

#ifndef SYMLIB_NAME
#define SYMLIB_NAME sym_lib_inner
#endif

__attribute__((noipa)) void *SYMLIB_NAME(size_t n)
{
    return malloc(n); /* LINE:symlib */
}

void *sym_lib_leak(size_t n)
{
    void *p = SYMLIB_NAME(n);
    return p;
}
