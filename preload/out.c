/* out.c — configuration, the output file and messages, for the recorder.
 *
 * Runs inside intercepted allocator calls and before libc is fully set up, so
 * nothing here allocates or uses stdio: strings are built in stack buffers and
 * written with write(2). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rec.h"

struct rec_config rec_config = {.max_frames = 64, .quiet = 0, .interval_ms = 50};

void *rec_mmap(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void rec_munmap(void *p, size_t bytes)
{
    if (p)
        munmap(p, bytes);
}

char *rec_fmt_u64(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static char *put_str(char *p, char *end, const char *s)
{
    while (s && *s && p < end)
        *p++ = *s++;
    return p;
}

void rec_say(const char *first, ...)
{
    char line[1024];
    char *end = line + sizeof(line) - 1;
    char *p = put_str(line, end, "memaudit: ");
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        p = put_str(p, end, s);
    va_end(ap);
    *p++ = '\n';
    int saved = errno;
    ssize_t r = write(STDERR_FILENO, line, (size_t)(p - line));
    (void)r;
    errno = saved;
}

void rec_nap_ns(long ns)
{
    struct timespec ts = {0, ns};
    int saved = errno;
    syscall(SYS_nanosleep, &ts, NULL);
    errno = saved;
}

long rec_read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len < cap) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    return (long)len;
}

/* Parse a decimal in [lo, hi]; -1 on anything else. */
static long parse_bounded(const char *s, long lo, long hi)
{
    long v = 0;
    if (!s || !*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > hi)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v < lo || v > hi ? -1 : v;
}

int rec_config_load(void)
{
    const char *depth = getenv("MEMAUDIT_DEPTH");
    const char *quiet = getenv("MEMAUDIT_QUIET");
    if (depth) {
        long d = parse_bounded(depth, 1, TR_MAX_FRAMES);
        if (d < 0) {
            rec_say("MEMAUDIT_DEPTH must be a number from 1 to 256, not '", depth,
                    "'; not recording", NULL);
            return -EINVAL;
        }
        rec_config.max_frames = (unsigned)d;
    }
    const char *interval = getenv("MEMAUDIT_INTERVAL_MS");
    if (interval) {
        long ms = parse_bounded(interval, 0, 60000);
        if (ms < 0) {
            rec_say("MEMAUDIT_INTERVAL_MS must be a number from 0 to 60000, not '", interval,
                    "'; not recording", NULL);
            return -EINVAL;
        }
        rec_config.interval_ms = (unsigned)ms;
    }
    if (rec_sample_config() < 0)
        return -EINVAL;
    rec_config.quiet = quiet && *quiet && strcmp(quiet, "0") != 0;
    const char *content = getenv("MEMAUDIT_CONTENT");
    const char *free_stacks = getenv("MEMAUDIT_FREE_STACKS");
    rec_config.content = content && *content && strcmp(content, "0") != 0;
    rec_config.free_stacks = free_stacks && *free_stacks && strcmp(free_stacks, "0") != 0;
    return 0;
}

/* Basename of the running program, from /proc/self/exe, for the file name. */
static void program_name(char *out, size_t cap)
{
    const char *exe = rec_modules_exe_path();
    const char *base = "unknown";
    if (exe[0] != '\0') {
        const char *slash = strrchr(exe, '/');
        base = slash ? slash + 1 : exe;
    }
    size_t i = 0;
    for (; base[i] && i + 1 < cap; i++)
        out[i] = base[i] == '/' ? '_' : base[i];
    out[i] = '\0';
}

/* Expand %p (pid) and %e (program) in pattern; returns 0 or -ENAMETOOLONG. */
static int expand_pattern(const char *pattern, char *out, size_t cap)
{
    char prog[256], pid[24];
    program_name(prog, sizeof(prog));
    *rec_fmt_u64(pid, (uint64_t)getpid()) = '\0';
    size_t len = 0;
    for (const char *s = pattern; *s; s++) {
        const char *piece = NULL;
        char one[2] = {*s, '\0'};
        if (s[0] == '%' && s[1] == 'p') {
            piece = pid;
            s++;
        } else if (s[0] == '%' && s[1] == 'e') {
            piece = prog;
            s++;
        } else {
            piece = one;
        }
        size_t n = strlen(piece);
        if (len + n + 1 > cap)
            return -ENAMETOOLONG;
        memcpy(out + len, piece, n);
        len += n;
    }
    out[len] = '\0';
    return 0;
}

int rec_out_open(char *path, size_t cap)
{
    const char *pattern = getenv("MEMAUDIT_OUTPUT");
    if (!pattern || !*pattern)
        pattern = "memaudit.%e.%p.trace";
    if (expand_pattern(pattern, path, cap - 8) < 0) {
        rec_say("MEMAUDIT_OUTPUT is too long; not recording", NULL);
        return -1;
    }
    /* Never follow a symlink or clobber a file: an exec'd image with the same
     * pid and name gets a numbered sibling instead. */
    size_t base_len = strlen(path);
    for (unsigned attempt = 0; attempt < 100; attempt++) {
        if (attempt) {
            char *p = path + base_len;
            *p++ = '.';
            *rec_fmt_u64(p, attempt) = '\0';
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0)
            return fd;
        if (errno != EEXIST)
            break;
    }
    int err = errno;
    path[base_len] = '\0';
    rec_say("cannot create trace ", path, ": ", strerror(err),
            "; the program runs on unprofiled", NULL);
    return -1;
}
