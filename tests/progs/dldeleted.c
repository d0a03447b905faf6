/* dldeleted.c — a library whose file is gone by the time the trace is read.
 *
 *   dldeleted LIB [early|late [MS]]
 *   dldeleted LIB many N
 *   copies LIB to a temporary file, dlopen's the copy, calls deleted_leak()
 *   (3333 bytes, leaked) and deletes the copy; with "early" the copy is
 *   deleted right after dlopen, before the library's first allocation; with
 *   MS, MS milliseconds after the call (time for `memaudit run` to open the
 *   file while the program runs); "many N": N copies, each loaded, called
 *   and deleted in turn (N files gone: the report warns about the first
 *   ones only). Exits without dlclose.
 *
 * The report must still name deleted_leak: no file is left to read symbols
 * from. No stdio. */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *volatile kept;

static int copy(const char *from, int to)
{
    char buf[65536];
    int fd = open(from, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        if (write(to, buf, (size_t)n) != n)
            return -1;
    close(fd);
    return n == 0 ? 0 : -1;
}

/* Load a copy of lib, call its deleted_leak(), wait ms milliseconds, delete
 * the copy (right after loading it with early). 0, or -1. */
static int load_copy(const char *lib, int early, long ms)
{
    char tmp[] = "/tmp/memaudit-dldeleted.XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0 || copy(lib, fd) < 0)
        return -1;
    close(fd);
    void *h = dlopen(tmp, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        return -1;
    if (early)
        unlink(tmp);
    void *sym = dlsym(h, "deleted_leak");
    void *(*leak)(void);
    memcpy(&leak, &sym, sizeof(sym));
    if (leak == NULL)
        return -1;
    kept = leak();
    if (ms > 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (!early)
        unlink(tmp);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (argc > 3 && strcmp(argv[2], "many") == 0) {
        for (long i = atol(argv[3]); i > 0; i--)
            if (load_copy(argv[1], 0, 0) < 0)
                return 2;
        return 0;
    }
    int early = argc > 2 && strcmp(argv[2], "early") == 0;
    return load_copy(argv[1], early, argc > 3 ? atol(argv[3]) : 0) < 0 ? 2 : 0;
}
