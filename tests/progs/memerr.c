/* memerr.c — memory errors the analysis must name (docs/metrics.md,
 * "Memory errors"). One per run, chosen by argv[1]:
 *
 *   double   p = malloc(64) in make_block; free(p) twice. glibc detects it
 *            and aborts (SIGABRT): the trace survives, the second free is in it.
 *   invalid  free of a pointer malloc never returned: 16 bytes into a page
 *            of our own mmap, made to look like an mmapped chunk, which
 *            glibc's free accepts (it unmaps the page) or rejects (abort).
 *   realloc  p = malloc(64) in make_block; free(p); realloc(p, 32): glibc
 *            finds the chunk big enough and returns p itself, no abort.
 *
 * Exit 0, or death by SIGABRT where glibc catches the error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void *make_block(void)
{
    return malloc(64);
}

static void release(void *p)
{
    free(p);
}

static void release_again(void *p)
{
    free(p);
}

static void *resize(void *p)
{
    return realloc(p, 32);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "double") == 0) {
        void *p = make_block();
        release(p);
        release_again(p);
    } else if (strcmp(mode, "invalid") == 0) {
        long page = sysconf(_SC_PAGESIZE);
        uint8_t *m = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                          -1, 0);
        if (m == MAP_FAILED)
            return 1;
        uint64_t prev_size = 0, size = (uint64_t)page | 2; /* IS_MMAPPED */
        memcpy(m, &prev_size, 8);
        memcpy(m + 8, &size, 8);
        release_again(m + 16);
    } else if (strcmp(mode, "realloc") == 0) {
        void *p = make_block();
        release(p);
        void *q = resize(p);
        printf("realloc %s\n", q == p ? "same" : "moved");
    } else {
        fprintf(stderr, "usage: memerr double|invalid|realloc\n");
        return 2;
    }
    return 0;
}
