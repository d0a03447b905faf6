/* dlepoch.c — two libraries, one after the other, at the same address.
 *
 *   dlepoch LIBA LIBB
 *   dlopen(LIBA); epoch_a_leak() leaks 1111 bytes; dlclose
 *   dlopen(LIBB); epoch_b_leak() leaks 2222 bytes; dlclose
 *   prints "same-base\n" when LIBB was mapped where LIBA had been (else
 *   "other-base\n": then the case does not test what it is for).
 *
 * The report must name epoch_a_leak for the 1111-byte leak and epoch_b_leak
 * for the 2222-byte one: the same return address means a different function
 * before and after the dlclose (module-map epochs). What dlopen itself
 * allocates is the dynamic linker's (runtime-held, or freed by dlclose).
 * No stdio. */
#include <dlfcn.h>
#include <string.h>
#include <unistd.h>

static void *volatile kept[2];

static void say(const char *s)
{
    if (write(1, s, strlen(s)) < 0)
        _exit(3);
}

static void *leak_from(const char *lib, const char *fn, void **base)
{
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        say("dlopen failed\n");
        _exit(2);
    }
    void *sym = dlsym(h, fn);
    void *(*leak)(void);
    memcpy(&leak, &sym, sizeof(sym));
    Dl_info info;
    if (leak == NULL || dladdr(sym, &info) == 0)
        _exit(2);
    *base = info.dli_fbase;
    void *p = leak();
    dlclose(h);
    return p;
}

int main(int argc, char **argv)
{
    void *base_a, *base_b;
    if (argc != 3)
        return 2;
    kept[0] = leak_from(argv[1], "epoch_a_leak", &base_a);
    kept[1] = leak_from(argv[2], "epoch_b_leak", &base_b);
    say(base_a == base_b ? "same-base\n" : "other-base\n");
    return 0;
}
