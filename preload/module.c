/* module.c — snapshots of the loaded modules for the symbolizer.
 *
 * A MODULES record lists every object dl_iterate_phdr reports: path, load
 * bias, build id (read from its PT_NOTE in memory, so a file deleted or
 * rebuilt later can still be recognised) and PT_LOAD segments. Snapshots are
 * written at start, after dlclose (with a new epoch), and whenever a new stack
 * holds an address outside the last snapshot (a dlopen since). dlopen itself
 * is not wrapped: glibc resolves a dlopen'ed name against the RPATH of the
 * *calling* object, and a wrapper would make that caller libaudit.so.
 *
 * module_lock serialises snapshots and guards the range table. */
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "rec.h"

#define SCRATCH_BYTES (4u << 20)
#define MAX_RANGES 4096

uintptr_t rec_self_lo, rec_self_hi;

static pthread_mutex_t module_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *scratch;
static struct range {
    uintptr_t lo, hi;
} ranges[MAX_RANGES];
static size_t n_ranges;
static unsigned long long seen_adds = ~0ull, seen_subs = ~0ull;
static char exe_path[TR_MAX_PATH];

struct walk {
    uint8_t *p, *end;
    uint64_t count;
    int overflow;
};

static void build_id_of(const struct dl_phdr_info *info, const uint8_t **id, uint32_t *len)
{
    *id = NULL;
    *len = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *n = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
        const uint8_t *end = n + ph->p_memsz;
        size_t align = ph->p_align == 8 ? 8 : 4;
        while (n + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)n;
            size_t name_sz = (nh->n_namesz + align - 1) & ~(align - 1);
            size_t desc_sz = (nh->n_descsz + align - 1) & ~(align - 1);
            const uint8_t *name = n + sizeof(*nh);
            const uint8_t *desc = name + name_sz;
            if (desc + desc_sz > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
                nh->n_descsz <= 64) {
                *id = desc;
                *len = nh->n_descsz;
                return;
            }
            n = desc + desc_sz;
        }
    }
}

static int walk_one(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct walk *w = arg;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
        seen_adds = info->dlpi_adds;
        seen_subs = info->dlpi_subs;
    }
    const char *path = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : NULL;
    if (!path && w->count == 0)
        path = exe_path; /* the first object is the executable */
    if (!path)
        path = "";
    size_t path_len = strnlen(path, TR_MAX_PATH - 1);
    const uint8_t *id;
    uint32_t id_len;
    build_id_of(info, &id, &id_len);
    size_t need = 40 + path_len + id_len + (size_t)info->dlpi_phnum * 30;
    if ((size_t)(w->end - w->p) < need) {
        w->overflow = 1;
        return 1;
    }
    uint8_t *p = w->p;
    p = tr_put_u64(p, info->dlpi_addr);
    p = tr_put_u64(p, path_len);
    memcpy(p, path, path_len);
    p += path_len;
    p = tr_put_u64(p, id_len);
    if (id_len)
        memcpy(p, id, id_len);
    p += id_len;
    uint64_t nseg = 0;
    for (int i = 0; i < info->dlpi_phnum; i++)
        nseg += info->dlpi_phdr[i].p_type == PT_LOAD;
    p = tr_put_u64(p, nseg);
    uintptr_t self = (uintptr_t)&rec_modules_init;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uint32_t flags = (ph->p_flags & PF_X ? TR_SEG_EXEC : 0) |
                         (ph->p_flags & PF_W ? TR_SEG_WRITE : 0) |
                         (ph->p_flags & PF_R ? TR_SEG_READ : 0);
        p = tr_put_u64(p, ph->p_vaddr);
        p = tr_put_u64(p, ph->p_memsz);
        p = tr_put_u64(p, flags);
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if ((flags & TR_SEG_EXEC) && n_ranges < MAX_RANGES)
            ranges[n_ranges++] = (struct range){lo, hi};
        if ((flags & TR_SEG_EXEC) && self >= lo && self < hi) {
            rec_self_lo = lo;
            rec_self_hi = hi;
        }
    }
    w->p = p;
    w->count++;
    return 0;
}

/* Build the snapshot body into scratch; returns its length (module_lock). */
static size_t snapshot_locked(void)
{
    uint8_t head[24];
    n_ranges = 0;
    struct walk w = {.p = scratch, .end = scratch + SCRATCH_BYTES};
    dl_iterate_phdr(walk_one, &w);
    /* Prefix epoch and count: encode them, then move the modules behind. */
    uint8_t *h = head;
    h = tr_put_u64(h, atomic_load(&rec_epoch));
    h = tr_put_u64(h, w.count);
    size_t body = (size_t)(w.p - scratch), hl = (size_t)(h - head);
    memmove(scratch + hl, scratch, body);
    memcpy(scratch, head, hl);
    if (w.overflow)
        rec_say("module map larger than 4 MiB; later modules are not recorded", NULL);
    return body + hl;
}

void rec_modules_snapshot(uint64_t ts)
{
    if (!scratch)
        return;
    pthread_mutex_lock(&module_lock);
    size_t len = snapshot_locked();
    rec_thread_append_meta(TR_REC_MODULES, ts, scratch, len);
    pthread_mutex_unlock(&module_lock);
}

static int peek_counts(struct dl_phdr_info *info, size_t size, void *arg)
{
    unsigned long long *c = arg;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
        c[0] = info->dlpi_adds;
        c[1] = info->dlpi_subs;
    }
    return 1;
}

int rec_modules_contains(uintptr_t addr)
{
    pthread_mutex_lock(&module_lock);
    int found = 0;
    for (size_t i = 0; i < n_ranges && !found; i++)
        found = addr >= ranges[i].lo && addr < ranges[i].hi;
    if (!found) {
        /* Unknown address: only worth a new snapshot if the set changed
         * (code in anonymous memory, a JIT, stays unknown). */
        unsigned long long c[2] = {seen_adds, seen_subs};
        dl_iterate_phdr(peek_counts, c);
        found = c[0] == seen_adds && c[1] == seen_subs;
    }
    pthread_mutex_unlock(&module_lock);
    return found;
}

int rec_modules_init(void)
{
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof(exe_path) - 1);
    exe_path[n > 0 ? n : 0] = '\0';
    if (!scratch)
        scratch = rec_mmap(SCRATCH_BYTES);
    if (!scratch)
        return -1;
    /* Learn our own text range before the first stack is taken. */
    pthread_mutex_lock(&module_lock);
    snapshot_locked();
    pthread_mutex_unlock(&module_lock);
    return 0;
}
