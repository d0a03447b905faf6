/* prodcons.c — blocks allocated in one thread and freed in another.
 *
 *   prodcons [BLOCKS]     BLOCKS in total (default 2000000), 2 producers, 2 consumers
 *
 * Each producer mallocs BLOCKS/2 blocks of 16 to 1024 bytes, fills a few
 * bytes, and pushes them through one bounded queue (a ring of QUEUE_CAP
 * pointers under a mutex and two condition variables); each consumer pops,
 * checks and frees them. So every free happens in a thread other than the
 * one that allocated the block: the cross-thread case for a recorder's
 * per-thread buffers and for the global merge of the offline tools. Which
 * consumer frees which block varies from run to run; the totals and the
 * printed checksum (a sum, so order-free) do not. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define PRODUCERS 2
#define CONSUMERS 2
#define QUEUE_CAP 1024

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty; /* signalled by push, waited on by pop */
    pthread_cond_t not_full;  /* signalled by pop, waited on by push */
    unsigned char *ring[QUEUE_CAP];
    size_t head, len;
};

static struct queue q = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .not_empty = PTHREAD_COND_INITIALIZER,
    .not_full = PTHREAD_COND_INITIALIZER,
};

static long per_producer;

static void push(unsigned char *p)
{
    pthread_mutex_lock(&q.lock);
    while (q.len == QUEUE_CAP)
        pthread_cond_wait(&q.not_full, &q.lock);
    q.ring[(q.head + q.len) % QUEUE_CAP] = p;
    q.len++;
    pthread_cond_signal(&q.not_empty);
    pthread_mutex_unlock(&q.lock);
}

static unsigned char *pop(void)
{
    pthread_mutex_lock(&q.lock);
    while (q.len == 0)
        pthread_cond_wait(&q.not_empty, &q.lock);
    unsigned char *p = q.ring[q.head];
    q.head = (q.head + 1) % QUEUE_CAP;
    q.len--;
    pthread_cond_signal(&q.not_full);
    pthread_mutex_unlock(&q.lock);
    return p;
}

/* A block starts with its size (2 bytes) and ends with a check byte. */
static void *producer(void *arg)
{
    long id = (long)(intptr_t)arg;
    for (long i = 0; i < per_producer; i++) {
        size_t size = 16 + (size_t)((i * 7 + id * 13) % 64) * 16;
        unsigned char *p = malloc(size);
        if (p == NULL) {
            fprintf(stderr, "prodcons: out of memory\n");
            exit(1);
        }
        p[0] = (unsigned char)(size & 0xff);
        p[1] = (unsigned char)(size >> 8);
        p[size - 1] = (unsigned char)(i ^ id);
        push(p);
    }
    return NULL;
}

/* Pops until it gets NULL (one per consumer, pushed by main); returns the
 * sum of the sizes it freed. */
static void *consumer(void *arg)
{
    uint64_t *sum = arg;
    unsigned char *p;
    while ((p = pop()) != NULL) {
        size_t size = p[0] | (size_t)p[1] << 8;
        *sum += size + p[size - 1];
        free(p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long blocks = argc > 1 ? atol(argv[1]) : 2000000;
    if (blocks < PRODUCERS) {
        fprintf(stderr, "usage: prodcons [BLOCKS]\n");
        return 2;
    }
    per_producer = blocks / PRODUCERS;

    pthread_t prod[PRODUCERS], cons[CONSUMERS];
    uint64_t sums[CONSUMERS] = {0};
    for (long i = 0; i < CONSUMERS; i++)
        if (pthread_create(&cons[i], NULL, consumer, &sums[i]) != 0)
            return 1;
    for (long i = 0; i < PRODUCERS; i++)
        if (pthread_create(&prod[i], NULL, producer, (void *)(intptr_t)i) != 0)
            return 1;
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(prod[i], NULL);
    for (int i = 0; i < CONSUMERS; i++)
        push(NULL);
    uint64_t total = 0;
    for (int i = 0; i < CONSUMERS; i++) {
        pthread_join(cons[i], NULL);
        total += sums[i];
    }
    printf("prodcons: %ld blocks, checksum %llu\n", per_producer * PRODUCERS,
           (unsigned long long)total);
    return 0;
}
