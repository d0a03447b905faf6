/* symbolize.c — how fast the symbolizer resolves distinct return addresses.
 *
 * Built and run by bench/symbolize.sh. Resolves N distinct addresses (default
 * 100000), half in libc (whose debug info comes from libc6-dbg, found by build
 * id) and half in this program itself, which is built with -g from the
 * symbolizer's and reporter's own sources (a few hundred KiB of code: the
 * "large -g program"). The module map is this process's own, taken with
 * dl_iterate_phdr as the recorder takes it. The time covers everything a
 * report pays: opening the files, building the indexes, every lookup. */
#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "modmap.h"
#include "symbolizer.h"
#include "trace_format.h"

static struct mm_snapshot self;
static char exe_path[4096];

static void note_build_id(struct mm_module *m, const char *p, size_t len)
{
    while (len >= sizeof(ElfW(Nhdr))) {
        const ElfW(Nhdr) *nh = (const void *)p;
        size_t name_sz = (nh->n_namesz + 3u) & ~3u, desc_sz = (nh->n_descsz + 3u) & ~3u;
        size_t total = sizeof *nh + name_sz + desc_sz;
        if (total > len)
            return;
        if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
            memcmp(p + sizeof *nh, "GNU", 4) == 0 && nh->n_descsz <= sizeof m->build_id) {
            memcpy(m->build_id, p + sizeof *nh + name_sz, nh->n_descsz);
            m->build_id_len = nh->n_descsz;
            return;
        }
        p += total;
        len -= total;
    }
}

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    struct mm_module *mods = realloc(self.modules, (self.n_modules + 1) * sizeof *mods);
    if (mods == NULL)
        return 1;
    self.modules = mods;
    struct mm_module *m = &mods[self.n_modules++];
    memset(m, 0, sizeof *m);
    const char *name = info->dlpi_name;
    if (self.n_modules == 1 && name[0] == '\0')
        name = exe_path;
    m->path = strdup(name);
    m->base = info->dlpi_addr;
    m->segments = calloc(info->dlpi_phnum + 1u, sizeof *m->segments);
    if (m->path == NULL || m->segments == NULL)
        return 1;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_NOTE && m->build_id_len == 0)
            note_build_id(m, (const char *)(info->dlpi_addr + ph->p_vaddr), ph->p_memsz);
        if (ph->p_type != PT_LOAD)
            continue;
        struct mm_segment *g = &m->segments[m->n_segments++];
        g->vaddr = ph->p_vaddr;
        g->memsz = ph->p_memsz;
        g->flags = ((ph->p_flags & PF_X) ? TR_SEG_EXEC : 0) | ((ph->p_flags & PF_R) ? TR_SEG_READ : 0);
    }
    return 0;
}

/* The executable segment of the module whose path contains name. */
static const struct mm_module *find_text(const char *name, uint64_t *lo, uint64_t *len)
{
    for (uint32_t i = 0; i < self.n_modules; i++) {
        const struct mm_module *m = &self.modules[i];
        if (strstr(m->path, name) == NULL)
            continue;
        for (uint32_t k = 0; k < m->n_segments; k++)
            if (m->segments[k].flags & TR_SEG_EXEC) {
                *lo = m->base + m->segments[k].vaddr;
                *len = m->segments[k].memsz;
                return m;
            }
    }
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    ssize_t k = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    if (n < 2 || k <= 0)
        return 2;
    exe_path[k] = '\0';
    self.epoch = 1;
    if (dl_iterate_phdr(phdr_cb, NULL) != 0)
        return 2;

    const char *names[2] = {"libc.so", exe_path};
    uint64_t lo[2], len[2];
    for (int i = 0; i < 2; i++)
        if (find_text(names[i], &lo[i], &len[i]) == NULL) {
            fprintf(stderr, "symbolize-bench: no text segment for %s\n", names[i]);
            return 2;
        }

    /* Distinct addresses spread evenly over both text segments. */
    uint64_t *addrs = malloc((size_t)n * sizeof *addrs);
    if (addrs == NULL)
        return 2;
    long half = n / 2;
    for (long i = 0; i < n; i++) {
        int mod = i < half ? 0 : 1;
        long j = mod == 0 ? i : i - half, count = mod == 0 ? half : n - half;
        addrs[i] = lo[mod] + 1 + (uint64_t)((double)j * (double)(len[mod] - 2) / (double)count);
    }

    double t0 = now_s();
    struct sym_resolver *r = sym_new();
    if (r == NULL || sym_add_snapshot(r, &self) < 0)
        return 2;
    long with_fn = 0, with_line = 0, inlined = 0;
    for (long i = 0; i < n; i++) {
        const struct sym_location *loc;
        size_t m = sym_resolve(r, 1, addrs[i], &loc);
        with_fn += loc[m - 1].function != NULL;
        with_line += loc[0].line > 0;
        inlined += m > 1;
    }
    double t1 = now_s();
    sym_free(r);
    printf("symbolize: %ld distinct addresses (%ld in libc, %ld in a %.0f KiB -g program) "
           "resolved in %.3f s, %.2f us each\n",
           n, half, n - half, (double)len[1] / 1024.0, t1 - t0, (t1 - t0) * 1e6 / (double)n);
    printf("symbolize: %.1f%% with a function, %.1f%% with file:line, %.1f%% with inlined "
           "frames\n",
           100.0 * (double)with_fn / (double)n, 100.0 * (double)with_line / (double)n,
           100.0 * (double)inlined / (double)n);
    free(addrs);
    mm_snapshot_fini(&self);
    return 0;
}
