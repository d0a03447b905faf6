/* symprog.c — a target for the symbolizer's integration cases
 * (tests/integration/symbolizer.sh); each leak is at a known place.
 *
 *   symprog          leaks: a strdup (the frame shown is glibc's strdup, from
 *                    libc6-dbg), a malloc through two levels of inlining, and
 *                    one in a plain function
 *   symprog LIB...   also dlopens each LIB, calls its sym_lib_leak(), and
 *                    dlcloses it before exit
 * The test finds the lines it expects in this file by their "LINE:" markers.
 * Built with -O2 -g; noipa keeps the functions whose frames are checked from
 * being inlined or cloned. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOIPA __attribute__((noipa))

void *volatile keep[16];
static int n_keep;

static inline __attribute__((always_inline)) void *inl_leaf(size_t n)
{
    return malloc(n); /* LINE:inl_leaf */
}

static inline __attribute__((always_inline)) void *inl_mid(size_t n)
{
    return inl_leaf(n + 1); /* LINE:inl_mid */
}

NOIPA void *sym_inlined(size_t n)
{
    void *p = inl_mid(n); /* LINE:sym_inlined */
    keep[n_keep++] = p;
    return p;
}

NOIPA char *sym_strdup(const char *s)
{
    char *p = strdup(s); /* LINE:sym_strdup */
    keep[n_keep++] = p;
    return p;
}

NOIPA void *sym_plain(size_t n)
{
    void *p = malloc(n); /* LINE:sym_plain */
    keep[n_keep++] = p;
    return p;
}

int main(int argc, char **argv)
{
    sym_strdup("a string of thirty-one bytes.."); /* 31 bytes with the NUL */
    sym_inlined(99);                               /* 100 bytes */
    sym_plain(200);
    for (int i = 1; i < argc; i++) {
        void *h = dlopen(argv[i], RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            fprintf(stderr, "symprog: %s\n", dlerror());
            return 1;
        }
        void *(*leak)(size_t);
        void *f = dlsym(h, "sym_lib_leak");
        if (f == NULL)
            return 1;
        memcpy(&leak, &f, sizeof leak);
        keep[n_keep++] = leak(300 + (size_t)i);
        dlclose(h);
    }
    return 0;
}
