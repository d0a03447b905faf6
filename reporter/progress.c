/* progress.c — the progress bar of the offline tools (progress.h).
 *
 * Cost: progress_update() is called every few ten thousand steps of a loop;
 * when the bar is off it returns after one test, when on it reads the clock
 * and draws at most every PROGRESS_REDRAW_MS. A line is written with one
 * fwrite to the unbuffered stderr, "\r", the text, then "erase to the end of
 * the line", so that it never wraps and leaves nothing behind. */
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define BAR_MAX 30

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int env_set(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0';
}

static int for_a_person(void)
{
    const char *term = getenv("TERM");
    if (!isatty(STDERR_FILENO) || env_set("CI"))
        return 0;
    return term == NULL || strcmp(term, "dumb") != 0;
}

static uint64_t after_ms(void)
{
    const char *v = getenv("MEMAUDIT_PROGRESS_AFTER_MS");
    char *end;
    if (v == NULL || v[0] == '\0')
        return PROGRESS_AFTER_MS;
    unsigned long ms = strtoul(v, &end, 10);
    return *end == '\0' && ms <= 60000 ? ms : PROGRESS_AFTER_MS;
}

static int columns(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    return 80;
}

void progress_begin(struct progress *p, const char *what, const char *name)
{
    memset(p, 0, sizeof(*p));
    p->enabled = for_a_person();
    if (!p->enabled)
        return;
    const char *base = strrchr(name, '/');
    snprintf(p->label, sizeof(p->label), "%s %s", what, base ? base + 1 : name);
    p->after_ns = after_ms() * 1000000u;
    p->start_ns = now_ns();
}

void progress_update(void *arg, uint64_t done, uint64_t total)
{
    struct progress *p = arg;
    if (!p->enabled || total == 0)
        return;
    uint64_t t = now_ns();
    if (t - p->start_ns < p->after_ns ||
        (p->shown && t - p->drawn_ns < PROGRESS_REDRAW_MS * 1000000u))
        return;
    if (done > total)
        done = total;
    unsigned pct = (unsigned)(done * 100.0 / (double)total);
    /* "memaudit: LABEL [####------] 42%": the label gives way to the bar. */
    int cols = columns() - 1, bar = BAR_MAX;
    int fixed = (int)strlen("memaudit:  [] 100%");
    int label = (int)strlen(p->label);
    if (fixed + label + bar > cols)
        label = cols - fixed - bar > 10 ? cols - fixed - bar : 10;
    if (fixed + label + bar > cols)
        bar = cols - fixed - label > 5 ? cols - fixed - label : 5;
    int filled = (int)(done * (double)bar / (double)total);
    char line[256], bars[BAR_MAX + 1];
    for (int i = 0; i < bar; i++)
        bars[i] = i < filled ? '#' : '-';
    bars[bar] = '\0';
    int n = snprintf(line, sizeof(line), "\rmemaudit: %.*s [%s] %3u%%\033[K", label, p->label,
                     bars, pct);
    if (n > 0 && (size_t)n < sizeof(line))
        fwrite(line, 1, (size_t)n, stderr);
    p->shown = 1;
    p->drawn_ns = t;
}

void progress_end(struct progress *p)
{
    if (p->shown)
        fputs("\r\033[K", stderr);
    p->shown = 0;
}
