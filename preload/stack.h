/* stack.h — what stack.c shows beyond rec.h: figures of its validated stack
 * cache, for the unit tests and the cross-check mode. */
#ifndef MEMAUDIT_STACK_H
#define MEMAUDIT_STACK_H

#include <stdint.h>

/* Captures of the calling thread answered from its cache (hits) and by a
 * full walk (misses). */
void rec_stack_cache_stats(uint64_t *hits, uint64_t *misses);
/* Stacks that disagreed with an independent full walk, in every thread, since
 * start; only counted with MEMAUDIT_CROSSCHECK=1 (or rec_stack_set_crosscheck). */
uint64_t rec_stack_crosscheck_failures(void);
void rec_stack_set_crosscheck(int on);

#endif
