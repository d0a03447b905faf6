/* memaudit.h — mark the phases of a program for memaudit's report.
 *
 *     #include <memaudit.h>
 *
 *     memaudit_phase("parse");     // from here on, events belong to "parse"
 *     parse(input);
 *     memaudit_phase("analyse");   // "parse" ends, "analyse" begins
 *     analyse();
 *     memaudit_phase_end();        // no phase until the next mark
 *
 * The report then breaks its figures down per phase (docs/metrics.md,
 * "Phases"). A phase lasts from its mark to the next mark of any thread, or
 * to the end of the run; marks of the same name add up to one phase.
 *
 * Header only, no library to link: the first call looks up
 * memaudit_phase_impl, which libaudit.so exports, with dlsym(RTLD_DEFAULT)
 * and keeps the answer. Without the preload the symbol is not there and
 * every call is a no-op (a load and a branch after the first). glibc 2.34 and
 * later have dlsym in libc; with an older glibc link with -ldl.
 *
 * A name is at most 255 bytes (longer ones are cut), copied at the call.
 * Thread-safe; no allocation under the recorder, safe to call often (about
 * the cost of one recorded free). Not async-signal-safe on its first call
 * (dlsym). */
#ifndef MEMAUDIT_H
#define MEMAUDIT_H

#include <dlfcn.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*memaudit_phase_fn_)(const char *name);

/* The recorder's entry point, or NULL when the program runs without it. */
static inline memaudit_phase_fn_ memaudit_phase_fn_get_(void)
{
    /* NULL: not looked up yet; &cached itself: looked up, not there. */
    static void *cached;
#if defined(__GNUC__)
    void *p = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
#else
    void *p = cached;
#endif
    if (p == NULL) {
#ifdef RTLD_DEFAULT
        p = dlsym(RTLD_DEFAULT, "memaudit_phase_impl");
#else
        p = dlsym((void *)0, "memaudit_phase_impl"); /* glibc's RTLD_DEFAULT */
#endif
        if (p == NULL)
            p = (void *)&cached;
#if defined(__GNUC__)
        __atomic_store_n(&cached, p, __ATOMIC_RELEASE);
#else
        cached = p;
#endif
    }
    if (p == (void *)&cached)
        return (memaudit_phase_fn_)0;
    memaudit_phase_fn_ fn;
    memcpy(&fn, &p, sizeof fn); /* POSIX: a dlsym result converts to a function pointer */
    return fn;
}

/* Start phase name (ending the current one). NULL or "" is memaudit_phase_end(). */
static inline void memaudit_phase(const char *name)
{
    memaudit_phase_fn_ fn = memaudit_phase_fn_get_();
    if (fn)
        fn(name);
}

/* End the current phase: the events that follow belong to no phase. */
static inline void memaudit_phase_end(void)
{
    memaudit_phase((const char *)0);
}

#ifdef __cplusplus
}
#endif

#endif
