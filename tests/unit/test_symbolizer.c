/* test_symbolizer.c — unit tests for symbolizer/modmap.c and symbolizer/symbolizer.c.
 *
 * The test resolves addresses of its own process: a module map built with
 * dl_iterate_phdr (as the recorder does) and return addresses taken with
 * __builtin_return_address, so the expected function, file and line are known
 * from this source. The binary is built with -g -O2, so every function whose
 * frame matters is NOIPA (no inlining, cloning or other interprocedural
 * change), and a store after each call keeps it from becoming a tail call. */
#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dlfcn.h>
#include <elf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <gnu/lib-names.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "modmap.h"
#include "sym_warm.h"
#include "symbolizer.h"
#include "trace_format.h"

#if defined(__clang__)
#define NOIPA __attribute__((noinline, optnone))
#else
#define NOIPA __attribute__((noipa))
#endif

/* ---- code whose addresses the tests resolve ---- */

static volatile uintptr_t sink;

NOIPA static uintptr_t get_ra(void)
{
    uintptr_t ra = (uintptr_t)__builtin_return_address(0);
    sink = ra;
    return ra;
}

static int line_a;
NOIPA static uintptr_t caller_a(void)
{
    uintptr_t ra = get_ra(); line_a = __LINE__;
    return ra;
}

static int line_leaf, line_mid, line_outer, line_outer3;

static inline __attribute__((always_inline)) uintptr_t inl_leaf(void)
{
    uintptr_t ra = get_ra(); line_leaf = __LINE__;
    return ra;
}

static inline __attribute__((always_inline)) uintptr_t inl_mid(void)
{
    uintptr_t ra = inl_leaf(); line_mid = __LINE__;
    return ra;
}

NOIPA static uintptr_t inl_outer(void)
{
    uintptr_t ra = inl_leaf(); line_outer = __LINE__;
    return ra;
}

NOIPA static uintptr_t inl_outer3(void)
{
    uintptr_t ra = inl_mid(); line_outer3 = __LINE__;
    return ra;
}

static uintptr_t qsort_ra;
static int cmp_capture(const void *a, const void *b)
{
    qsort_ra = (uintptr_t)__builtin_return_address(0);
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* ---- the test process's own module map ---- */

static struct mm_snapshot self;
static char exe_path[PATH_MAX];

static void note_build_id(struct mm_module *m, const char *p, size_t len)
{
    while (len >= sizeof(ElfW(Nhdr))) {
        const ElfW(Nhdr) *nh = (const void *)p;
        size_t name_sz = (nh->n_namesz + 3u) & ~3u;
        size_t desc_sz = (nh->n_descsz + 3u) & ~3u;
        size_t total = sizeof *nh + name_sz + desc_sz;
        if (total > len)
            return;
        const char *name = p + sizeof *nh;
        if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
            nh->n_descsz <= sizeof m->build_id) {
            memcpy(m->build_id, name + name_sz, nh->n_descsz);
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
    struct mm_snapshot *s = arg;
    struct mm_module *mods = realloc(s->modules, (s->n_modules + 1) * sizeof *mods);
    if (mods == NULL)
        return 1;
    s->modules = mods;
    struct mm_module *m = &mods[s->n_modules++];
    memset(m, 0, sizeof *m);

    /* The main program is the first entry and has no name. */
    const char *name = info->dlpi_name;
    if (s->n_modules == 1 && name[0] == '\0')
        name = exe_path;
    m->path = strdup(name);
    m->base = info->dlpi_addr;
    m->segments = calloc(info->dlpi_phnum ? info->dlpi_phnum : 1, sizeof *m->segments);
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
        g->flags = ((ph->p_flags & PF_X) ? TR_SEG_EXEC : 0) |
                   ((ph->p_flags & PF_W) ? TR_SEG_WRITE : 0) |
                   ((ph->p_flags & PF_R) ? TR_SEG_READ : 0);
    }
    return 0;
}

static int setup_self(void **state)
{
    (void)state;
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    if (n <= 0)
        return -1;
    exe_path[n] = '\0';
    self.epoch = 1;
    return dl_iterate_phdr(phdr_cb, &self) == 0 ? 0 : -1;
}

static int teardown_self(void **state)
{
    (void)state;
    mm_snapshot_fini(&self);
    return 0;
}

static const struct mm_module *self_module(uintptr_t addr)
{
    const struct mm_module *m = mm_find(&self, addr);
    assert_non_null(m);
    return m;
}

static const char *basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void assert_frame(const struct sym_location *loc, const char *function, int line,
                         int inlined)
{
    assert_non_null(loc->function);
    assert_string_equal(loc->function, function);
    assert_non_null(loc->raw_name);
    assert_string_equal(loc->raw_name, function); /* C: not mangled */
    assert_non_null(loc->file);
    assert_string_equal(basename_of(loc->file), "test_symbolizer.c");
    assert_int_equal(loc->line, line);
    assert_int_equal(loc->inlined, inlined);
}

/* ---- tests ---- */

static void test_own_function(void **state)
{
    (void)state;
    uintptr_t ra = caller_a();
    const struct mm_module *m = self_module(ra);
    assert_string_equal(m->path, exe_path);

    struct sym_resolver *r = sym_new();
    assert_non_null(r);
    assert_int_equal(sym_add_snapshot(r, &self), 0);

    const struct sym_location *loc;
    size_t n = sym_resolve(r, self.epoch, ra, &loc);
    assert_int_equal(n, 1);
    assert_frame(&loc[0], "caller_a", line_a, 0);
    assert_string_equal(loc[0].module, exe_path);
    assert_int_equal(loc[0].module_offset, ra - m->base);
    assert_int_equal(loc[0].address, ra);

    /* Cached: the same array again. */
    const struct sym_location *again;
    assert_int_equal(sym_resolve(r, self.epoch, ra, &again), 1);
    assert_ptr_equal(again, loc);
    sym_free(r);
}

typedef void qsort_fn(void *, size_t, size_t, int (*)(const void *, const void *));

/* libc's own qsort: &qsort may name a sanitizer's interceptor instead. */
static qsort_fn *libc_qsort(void)
{
    void *h = dlopen(LIBC_SO, RTLD_LAZY | RTLD_NOLOAD);
    assert_non_null(h);
    void *f = dlsym(h, "qsort");
    dlclose(h);
    assert_non_null(f);
    qsort_fn *q;
    memcpy(&q, &f, sizeof q); /* ISO C has no object-to-function pointer cast */
    return q;
}

static void test_libc(void **state)
{
    (void)state;
    qsort_fn *q = libc_qsort();
    int v[2] = {2, 1};
    q(v, 2, sizeof v[0], cmp_capture);
    assert_int_equal(v[0], 1);

    struct sym_resolver *r = sym_new();
    assert_non_null(r);
    assert_int_equal(sym_add_snapshot(r, &self), 0);

    /* A return address inside libc (qsort's merge sort calling us back). */
    const struct sym_location *loc;
    size_t n = sym_resolve(r, self.epoch, qsort_ra, &loc);
    assert_true(n >= 1);
    assert_non_null(loc[n - 1].module);
    assert_non_null(strstr(loc[n - 1].module, "libc.so"));
    assert_int_equal(loc[n - 1].module_offset, qsort_ra - self_module(qsort_ra)->base);
    assert_non_null(loc[n - 1].function);

    /* An exported entry point (+1: the symbolizer looks at addr-1). */
    uintptr_t qa;
    memcpy(&qa, &q, sizeof qa);
    n = sym_resolve(r, self.epoch, qa + 1, &loc);
    assert_non_null(loc[n - 1].module);
    assert_non_null(strstr(loc[n - 1].module, "libc.so"));
    assert_non_null(loc[n - 1].function);
    assert_string_equal(loc[n - 1].function, "qsort");
    sym_free(r);
}

static void test_no_module(void **state)
{
    (void)state;
    struct sym_resolver *r = sym_new();
    assert_non_null(r);
    const struct sym_location *loc;

    /* No snapshot at all. */
    assert_int_equal(sym_resolve(r, 0, 0x1234, &loc), 1);
    assert_null(loc[0].module);
    assert_null(loc[0].function);
    assert_int_equal(loc[0].address, 0x1234);

    assert_int_equal(sym_add_snapshot(r, &self), 0);
    assert_null(mm_find(&self, 16));
    assert_int_equal(sym_resolve(r, self.epoch, 16, &loc), 1);
    assert_null(loc[0].module);
    assert_null(loc[0].function);
    assert_null(loc[0].raw_name);
    assert_null(loc[0].file);
    assert_int_equal(loc[0].line, 0);
    assert_int_equal(loc[0].inlined, 0);
    assert_int_equal(loc[0].address, 16);
    sym_free(r);
}

static void test_inline_chain(void **state)
{
    (void)state;
    struct sym_resolver *r = sym_new();
    assert_non_null(r);
    assert_int_equal(sym_add_snapshot(r, &self), 0);
    const struct sym_location *loc;

    uintptr_t ra = inl_outer();
    size_t n = sym_resolve(r, self.epoch, ra, &loc);
    assert_int_equal(n, 2);
    assert_frame(&loc[0], "inl_leaf", line_leaf, 1);
    assert_frame(&loc[1], "inl_outer", line_outer, 0);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(loc[i].module, exe_path);
        assert_int_equal(loc[i].address, ra);
    }

    /* Two levels of inlining: the chain comes from the concrete DIE tree. */
    ra = inl_outer3();
    n = sym_resolve(r, self.epoch, ra, &loc);
    assert_int_equal(n, 3);
    assert_frame(&loc[0], "inl_leaf", line_leaf, 1);
    assert_frame(&loc[1], "inl_mid", line_mid, 1);
    assert_frame(&loc[2], "inl_outer3", line_outer3, 0);
    sym_free(r);
}

static void test_demangle(void **state)
{
    (void)state;
    char *d = sym_demangle("_ZN3foo3barEv");
    assert_non_null(d);
    assert_string_equal(d, "foo::bar()");
    free(d);

    d = sym_demangle("_ZN4core3fmt5write17h0123456789abcdefE");
    assert_non_null(d);
    assert_true(strncmp(d, "core::fmt::write", 16) == 0);
    free(d);

    d = sym_demangle("_RNvNtCs1234_7mycrate3foo3bar"); /* Rust v0 */
    assert_non_null(d);
    assert_string_equal(d, "mycrate::foo::bar");
    free(d);

    assert_null(sym_demangle("main"));
    assert_null(sym_demangle(""));
    assert_null(sym_demangle(NULL));
}

/* Deep copy of self, for a test to alter. */
static void copy_self(struct mm_snapshot *dst)
{
    assert_int_equal(mm_snapshot_copy(dst, &self), 0);
    assert_int_equal(dst->n_modules, self.n_modules);
    for (uint32_t i = 0; i < self.n_modules; i++) {
        assert_string_equal(dst->modules[i].path, self.modules[i].path);
        assert_true(dst->modules[i].path != self.modules[i].path);
        assert_int_equal(dst->modules[i].n_segments, self.modules[i].n_segments);
    }
}

static void test_rebuilt(void **state)
{
    (void)state;
    uintptr_t ra = caller_a();
    const struct mm_module *m = self_module(ra);
    assert_true(m->build_id_len > 0);

    struct mm_snapshot s;
    copy_self(&s);
    struct mm_module *mm = (struct mm_module *)mm_find(&s, ra);
    assert_non_null(mm);
    mm->build_id[0] ^= 0xff;

    struct sym_resolver *r = sym_new();
    assert_non_null(r);
    assert_int_equal(sym_add_snapshot(r, &s), 0);
    mm_snapshot_fini(&s); /* the resolver keeps its own copy */

    const struct sym_location *loc;
    assert_int_equal(sym_resolve(r, self.epoch, ra, &loc), 1);
    assert_null(loc[0].function);
    assert_null(loc[0].raw_name);
    assert_null(loc[0].file);
    assert_int_equal(loc[0].line, 0);
    assert_non_null(loc[0].module);
    assert_string_equal(loc[0].module, exe_path);
    assert_int_equal(loc[0].module_offset, ra - m->base);
    /* Other modules are unaffected. */
    qsort_fn *q = libc_qsort();
    uintptr_t qa;
    memcpy(&qa, &q, sizeof qa);
    size_t n = sym_resolve(r, self.epoch, qa + 1, &loc);
    assert_non_null(loc[n - 1].function);
    sym_free(r);
}

/* A resolver of snapshot s. */
/* A copy of this program at a new path made from template (mkstemp). */
static void copy_exe(char *template)
{
    int to = mkstemp(template);
    assert_true(to >= 0);
    FILE *from = fopen(exe_path, "rb");
    assert_non_null(from);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, from)) > 0)
        assert_int_equal(write(to, buf, n), (ssize_t)n);
    fclose(from);
    close(to);
}

static struct sym_resolver *resolver_on(const struct mm_snapshot *s)
{
    struct sym_resolver *r = sym_new();
    assert_non_null(r);
    assert_int_equal(sym_add_snapshot(r, s), 0);
    return r;
}

/* r resolves ra, caller_a's return address, to caller_a at its line. */
static void assert_caller_a(struct sym_resolver *r, uintptr_t ra)
{
    const struct sym_location *loc;
    assert_int_equal(sym_resolve(r, self.epoch, ra, &loc), 1);
    assert_frame(&loc[0], "caller_a", line_a, 0);
}

/* sym_free() pools its open files for the next resolver: the next one
 * resolves the same, a module of another build id does not get the pooled
 * file, and two resolvers alive at once each have their own. */
static void test_file_pool(void **state)
{
    (void)state;
    uintptr_t ra = caller_a();

    for (int round = 0; round < 2; round++) { /* the second takes the first's file */
        struct sym_resolver *r = resolver_on(&self);
        assert_caller_a(r, ra);
        sym_free(r);
    }

    struct mm_snapshot s;
    copy_self(&s);
    ((struct mm_module *)mm_find(&s, ra))->build_id[0] ^= 0xff;
    struct sym_resolver *rebuilt = resolver_on(&s);
    mm_snapshot_fini(&s);
    const struct sym_location *loc;
    assert_int_equal(sym_resolve(rebuilt, self.epoch, ra, &loc), 1);
    assert_null(loc[0].function);
    assert_int_equal(loc[0].line, 0);

    struct sym_resolver *a = resolver_on(&self), *b = resolver_on(&self);
    assert_caller_a(a, ra);
    assert_caller_a(b, ra);
    sym_free(rebuilt);
    sym_free(a);
    sym_free(b); /* its file is the pool's second copy: dropped */

    struct sym_resolver *r = resolver_on(&self);
    assert_caller_a(r, ra);
    sym_free(r);

    /* A pooled file whose path no longer names it (deleted, or replaced)
     * is not taken: the next resolver opens the path, as without the pool. */
    char copy[] = "/tmp/memaudit-test-pooled-XXXXXX";
    copy_exe(copy);
    copy_self(&s);
    struct mm_module *mm = (struct mm_module *)mm_find(&s, ra);
    free(mm->path);
    mm->path = strdup(copy);
    assert_non_null(mm->path);
    r = resolver_on(&s);
    assert_caller_a(r, ra);
    sym_free(r); /* the copy goes to the pool */
    r = resolver_on(&s);
    assert_caller_a(r, ra); /* taken from it */
    sym_free(r);
    assert_int_equal(unlink(copy), 0);
    r = resolver_on(&s);
    mm_snapshot_fini(&s);
    assert_int_equal(sym_resolve(r, self.epoch, ra, &loc), 1);
    assert_null(loc[0].function);
    assert_int_equal(loc[0].line, 0);
    sym_free(r);
}

/* Where stderr goes until stderr_end(): a temporary file. */
struct captured {
    int saved;
    FILE *f;
};

static void stderr_begin(struct captured *c)
{
    c->f = tmpfile();
    assert_non_null(c->f);
    fflush(stderr);
    c->saved = dup(2);
    assert_true(c->saved >= 0);
    assert_int_equal(dup2(fileno(c->f), 2), 2);
}

/* What went to stderr since stderr_begin(), into buf (cap bytes). */
static void stderr_end(struct captured *c, char *buf, size_t cap)
{
    fflush(stderr);
    assert_int_equal(dup2(c->saved, 2), 2);
    close(c->saved);
    rewind(c->f);
    size_t n = fread(buf, 1, cap - 1, c->f);
    buf[n] = '\0';
    fclose(c->f);
}

/* The warm-up opens the files of the module maps it is handed, once each
 * and only once let go, says nothing about one it cannot use, and leaves
 * the next resolver the same answers and the one warning. */
static void test_warm(void **state)
{
    (void)state;
    uintptr_t ra = caller_a();
    struct mm_segment gone_seg = {.vaddr = 0, .memsz = 0x1000, .flags = TR_SEG_EXEC | TR_SEG_READ};
    struct mm_module mods[2] = {
        self.modules[0], /* the program */
        {.path = "/nonexistent/memaudit-gone.so",
         .base = 0x100000000000ull,
         .n_segments = 1,
         .segments = &gone_seg},
    };
    struct mm_snapshot s = {.epoch = self.epoch, .n_modules = 2, .modules = mods};
    assert_ptr_equal(mm_find(&s, ra), &mods[0]);

    char said[1024];
    struct captured c;
    stderr_begin(&c);
    struct sym_warm *w = sym_warm_start();
    assert_non_null(w);
    assert_int_equal(sym_warm_add(w, &s), 0);
    assert_int_equal(sym_warm_add(w, &s), 0); /* the same files: tried once */
    gone_seg.memsz = 0;                       /* the warm-up has its own copies */
    usleep(20000);
    assert_int_equal(sym_warm_done(w), 0); /* not before sym_warm_go() */
    sym_warm_go(w);
    sym_warm_go(w);
    /* At the idle priority it may wait for a CPU a while on a busy machine. */
    for (int ms = 0; sym_warm_done(w) < 2 && ms < 60000; ms++)
        usleep(1000);
    assert_int_equal(sym_warm_done(w), 2);
    assert_int_equal(sym_warm_stop(w), 1); /* the program's; the other is not there */
    stderr_end(&c, said, sizeof said);
    assert_string_equal(said, "");
    assert_int_equal(sym_warm_stop(NULL), 0);
    assert_int_equal(sym_warm_add(NULL, &s), 0);
    assert_int_equal(sym_pool_open(NULL), -EINVAL);
    sym_warm_go(NULL);

    gone_seg.memsz = 0x1000;
    stderr_begin(&c);
    struct sym_resolver *r = resolver_on(&s);
    assert_caller_a(r, ra);
    const struct sym_location *loc;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sym_resolve(r, self.epoch, 0x100000000010ull + (uint64_t)i, &loc), 1);
        assert_null(loc[0].function);
        assert_int_equal(loc[0].module_offset, 0x10 + i);
    }
    sym_free(r);
    stderr_end(&c, said, sizeof said);
    assert_string_equal(said, "memaudit: warning: /nonexistent/memaudit-gone.so: No such file or "
                              "directory; showing module+offset\n");
}

/* The path whose file dwfl_report_elf() truncates, as a program that
 * rewrites it in place would, right after libdwfl has mapped it; NULL: none. */
static const char *truncated_when_mapped;

/* libdwfl's, called by symbolizer.c (this definition is linked in its
 * place), and then the truncation: a deterministic stand-in for the race
 * between the warm-up's reads and a program's cp over a library. */
Dwfl_Module *dwfl_report_elf(Dwfl *dwfl, const char *name, const char *file_name, int fd,
                             GElf_Addr base, bool add_p_vaddr)
{
    Dwfl_Module *(*real)(Dwfl *, const char *, const char *, int, GElf_Addr, bool);
    void *sym = dlsym(RTLD_NEXT, "dwfl_report_elf");
    assert_non_null(sym);
    memcpy(&real, &sym, sizeof real);
    Dwfl_Module *mod = real(dwfl, name, file_name, fd, base, add_p_vaddr);
    if (truncated_when_mapped != NULL && strcmp(file_name, truncated_when_mapped) == 0)
        assert_int_equal(truncate(file_name, 0), 0);
    return mod;
}

/* A file the program truncates while the warm-up reads it: libelf's
 * mapping then faults (SIGBUS), which must not end the process; the
 * warm-up gives up, opening nothing more, and the resolver after it
 * answers from the file as it is then. */
static void test_warm_truncated(void **state)
{
    (void)state;
    uintptr_t ra = caller_a();
    char copy[] = "/tmp/memaudit-test-truncated-XXXXXX";
    copy_exe(copy);
    struct mm_snapshot s;
    copy_self(&s);
    struct mm_module *mm = (struct mm_module *)mm_find(&s, ra);
    free(mm->path);
    mm->path = strdup(copy);
    assert_non_null(mm->path);

    truncated_when_mapped = copy;
    struct sym_warm *w = sym_warm_start();
    assert_non_null(w);
    assert_int_equal(sym_warm_add(w, &s), 0);
    sym_warm_go(w);
    for (int ms = 0; sym_warm_done(w) < 1 && ms < 60000; ms++)
        usleep(1000);
    assert_int_equal(sym_warm_done(w), 1);
    struct stat st;
    assert_int_equal(stat(copy, &st), 0);
    assert_int_equal(st.st_size, 0); /* it was read, and truncated */
    /* Stopped at the fault: no other module of the map was opened. */
    assert_int_equal(sym_warm_stop(w), 0);
    truncated_when_mapped = NULL;

    /* The empty file is no ELF: module+offset, warned about once. */
    char said[1024];
    struct captured c;
    stderr_begin(&c);
    struct sym_resolver *r = resolver_on(&s);
    const struct sym_location *loc;
    assert_int_equal(sym_resolve(r, s.epoch, ra, &loc), 1);
    assert_null(loc[0].function);
    sym_free(r);
    stderr_end(&c, said, sizeof said);
    assert_non_null(strstr(said, "cannot read as ELF"));
    mm_snapshot_fini(&s);
    assert_int_equal(unlink(copy), 0);
}

static void test_epochs(void **state)
{
    (void)state;
    uintptr_t ra = caller_a();
    struct sym_resolver *r = sym_new();
    assert_non_null(r);

    struct mm_snapshot s5 = self, s10 = {.epoch = 10};
    s5.epoch = 5;
    assert_int_equal(sym_add_snapshot(r, &s10), 0);
    assert_int_equal(sym_add_snapshot(r, &s5), 0);

    const struct sym_location *loc;
    sym_resolve(r, 7, ra, &loc); /* latest earlier snapshot: 5 */
    assert_non_null(loc[0].function);
    assert_string_equal(loc[0].function, "caller_a");
    sym_resolve(r, 2, ra, &loc); /* before every snapshot: the earliest */
    assert_non_null(loc[0].function);
    const struct sym_location *old12;
    sym_resolve(r, 12, ra, &old12); /* 10 maps nothing */
    assert_null(old12[0].module);
    sym_resolve(r, 10, ra, &loc);
    assert_null(loc[0].module);

    /* A later snapshot of epoch 10 replaces the empty one; answers given
     * before stay valid and unchanged, new ones see the new map. */
    s10 = self;
    s10.epoch = 10;
    assert_int_equal(sym_add_snapshot(r, &s10), 0);
    sym_resolve(r, 12, ra, &loc);
    assert_non_null(loc[0].function);
    assert_string_equal(loc[0].function, "caller_a");
    assert_null(old12[0].module);
    assert_int_equal(old12[0].address, ra);
    sym_free(r);
}

static void test_mm_find(void **state)
{
    (void)state;
    struct mm_segment data = {.vaddr = 0x1000, .memsz = 0x1000, .flags = TR_SEG_READ | TR_SEG_WRITE};
    struct mm_segment text = {.vaddr = 0x0, .memsz = 0x2000, .flags = TR_SEG_READ | TR_SEG_EXEC};
    struct mm_segment top = {.vaddr = UINT64_MAX - 0x10, .memsz = UINT64_MAX, .flags = TR_SEG_EXEC};
    struct mm_module mods[] = {
        {.path = (char *)"/a", .base = 0x10000, .n_segments = 1, .segments = &data},
        {.path = (char *)"/b", .base = 0x10000, .n_segments = 1, .segments = &text},
        {.path = (char *)"/none", .base = 0x0, .n_segments = 0, .segments = NULL},
        {.path = (char *)"/top", .base = UINT64_MAX - 0x100, .n_segments = 1, .segments = &top},
    };
    struct mm_snapshot s = {.n_modules = 4, .modules = mods};

    assert_ptr_equal(mm_find(&s, 0x11800), &mods[1]); /* exec beats data */
    assert_ptr_equal(mm_find(&s, 0x10000), &mods[1]);
    assert_ptr_equal(mm_find(&s, 0x11fff), &mods[1]);
    assert_null(mm_find(&s, 0x12000));
    assert_null(mm_find(&s, 0xffff));
    assert_null(mm_find(&s, 0));
    mods[1].n_segments = 0;
    assert_ptr_equal(mm_find(&s, 0x11800), &mods[0]); /* data when nothing else */
    assert_null(mm_find(&s, 0x10800));
    /* base + vaddr wraps past 2^64: never matches by accident, never traps. */
    assert_null(mm_find(&s, UINT64_MAX));
    assert_null(mm_find(&s, 0x10));
    assert_null(mm_find(NULL, 0x11800));
    struct mm_snapshot empty = {0};
    assert_null(mm_find(&empty, 0x11800));
}

static void test_hostile_modules(void **state)
{
    (void)state;
    char fifo[] = "/tmp/memaudit-test-fifo-XXXXXX";
    char notelf[] = "/tmp/memaudit-test-notelf-XXXXXX";
    int fd = mkstemp(notelf);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not an ELF file\n", 16), 16);
    close(fd);
    fd = mkstemp(fifo);
    assert_true(fd >= 0);
    close(fd);
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);

    struct mm_segment seg = {.vaddr = 0, .memsz = 0x1000, .flags = TR_SEG_EXEC};
    struct mm_segment huge = {.vaddr = 0x10, .memsz = UINT64_MAX, .flags = TR_SEG_EXEC};
    struct mm_module mods[] = {
        {.path = (char *)"/nonexistent/libgone.so", .base = 0x100000, .n_segments = 1,
         .segments = &seg, .build_id_len = 4, .build_id = {1, 2, 3, 4}},
        {.path = (char *)"/", .base = 0x200000, .n_segments = 1, .segments = &seg},
        {.path = (char *)"/dev/zero", .base = 0x300000, .n_segments = 1, .segments = &seg},
        {.path = fifo, .base = 0x400000, .n_segments = 1, .segments = &seg},
        {.path = notelf, .base = 0x500000, .n_segments = 1, .segments = &seg},
        {.path = (char *)"", .base = 0x600000, .n_segments = 1, .segments = &seg},
        {.path = (char *)"linux-vdso.so.1", .base = 0x700000, .n_segments = 1, .segments = &seg},
        {.path = NULL, .base = 0x800000, .n_segments = 1, .segments = &seg},
        {.path = (char *)"/bad\033[31mpath\n", .base = 0x900000, .n_segments = 1, .segments = &seg},
        {.path = exe_path, .base = 0, .n_segments = 0, .segments = NULL},
        {.path = exe_path, .base = UINT64_MAX - 0x800, .n_segments = 1, .segments = &huge},
    };
    size_t nmods = sizeof mods / sizeof mods[0];
    struct mm_snapshot s = {.epoch = 3, .n_modules = (uint32_t)nmods, .modules = mods};

    struct sym_resolver *r = sym_new();
    assert_non_null(r);
    assert_int_equal(sym_add_snapshot(r, &s), 0);

    const struct sym_location *loc;
    for (size_t i = 0; i + 2 < nmods; i++) {
        uint64_t addr = mods[i].base + 0x123;
        assert_int_equal(sym_resolve(r, 3, addr, &loc), 1);
        assert_non_null(loc[0].module);
        assert_string_equal(loc[0].module, mods[i].path ? mods[i].path : "");
        assert_int_equal(loc[0].module_offset, 0x123);
        assert_null(loc[0].function);
        assert_null(loc[0].file);
    }
    uint64_t probes[] = {0, 1, 0x1000, UINT64_MAX, UINT64_MAX - 0x7ff, UINT64_MAX - 0x7f0, 0x7ff};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
        assert_true(sym_resolve(r, 3, probes[i], &loc) >= 1);
    /* The segment at the top of the address space: the address is in it,
     * and the meaningless link-time address resolves to nothing. */
    assert_true(sym_resolve(r, 3, UINT64_MAX - 1, &loc) >= 1);
    assert_non_null(loc[0].module);
    assert_string_equal(loc[0].module, exe_path);

    /* Bad snapshots are refused, not crashed on. */
    struct mm_module bad = {.path = (char *)"/x", .n_segments = 3, .segments = NULL};
    struct mm_snapshot sb = {.epoch = 4, .n_modules = 1, .modules = &bad};
    assert_int_equal(sym_add_snapshot(r, &sb), -EINVAL);
    bad.n_segments = 0;
    bad.build_id_len = 65;
    assert_int_equal(sym_add_snapshot(r, &sb), -EINVAL);
    sb.modules = NULL;
    assert_int_equal(sym_add_snapshot(r, &sb), -EINVAL);
    assert_int_equal(sym_add_snapshot(r, NULL), -EINVAL);
    assert_int_equal(sym_add_snapshot(NULL, &s), -EINVAL);
    assert_int_equal(sym_resolve(NULL, 0, 1, &loc), 1);
    assert_null(loc[0].module);
    assert_int_equal(sym_resolve(r, 0, 1, NULL), 0);
    sym_free(r);
    sym_free(NULL);

    unlink(fifo);
    unlink(notelf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_function),  cmocka_unit_test(test_libc),
        cmocka_unit_test(test_no_module),     cmocka_unit_test(test_inline_chain),
        cmocka_unit_test(test_demangle),      cmocka_unit_test(test_rebuilt),
        cmocka_unit_test(test_epochs),        cmocka_unit_test(test_mm_find),
        cmocka_unit_test(test_file_pool),
        cmocka_unit_test(test_hostile_modules),
        cmocka_unit_test(test_warm),
        cmocka_unit_test(test_warm_truncated),
    };
    return cmocka_run_group_tests(tests, setup_self, teardown_self);
}
