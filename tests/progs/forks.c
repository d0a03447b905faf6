/* forks.c — a parent and a forked child that both leak, each recorded into
 * its own trace (the pid in the name), with a helper thread whose events are
 * still in its buffer when the parent forks: they belong to the parent's
 * trace only, never to the child's.
 *
 * parent, before fork:
 *   helper thread (on a stack we mmap): helper_leak(): 3 x malloc(111), then
 *     waits on a pipe (its events unflushed);
 *   shared():  a = malloc(1000), b = malloc(2000)  (inherited by the child)
 * child (after fork, its own trace):
 *   free(a)                     a free of an inherited block
 *   child_leak(): malloc(3000)  never freed
 *   scratch: malloc(40); free   (temporary)
 *   exit(4)
 * parent, after waitpid (the child must exit 4):
 *   free(a); parent_leak(): malloc(5000); wakes the helper, joins it; exit 0.
 *
 * The child's trace — what the child did after fork: allocations 2, frees 1,
 *   bytes 3040, leaked 3000 in 1 block (child_leak), temporary 1, exit status
 *   4, inherited_frees 1 (the free of a: a block allocated before the fork is
 *   the parent's allocation, in the parent's trace, so its free in the child
 *   is counted apart, not as an unmatched free), unmatched_frees 0. b, still
 *   live in the child at its exit, is not among the child's leaks: it was never
 *   allocated in the child's recording. Nothing of the helper's or of a and b.
 * The parent's trace: allocations 6 (+ the helper's DTV), frees 1 (+ the DTV,
 *   freed by pthread_join), bytes 333 + 1000 + 2000 + 5000 = 8333 (+ DTV),
 *   leaked 7333 in 5 blocks: parent_leak 5000, shared 2000, helper_leak 333 in 3. */
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define STACK_BYTES (256 * 1024)

static void *volatile kept[8];
static void *volatile sink;
static int wake[2];

static void helper_leak(void)
{
    for (int i = 0; i < 3; i++)
        kept[i] = malloc(111);
}

static void *helper(void *arg)
{
    char c;
    helper_leak();
    if (read(wake[0], &c, 1) != 1)
        _exit(30);
    return arg;
}

static void *shared(size_t n)
{
    return malloc(n);
}

static void child_leak(void)
{
    kept[5] = malloc(3000);
}

static void parent_leak(void)
{
    kept[6] = malloc(5000);
}

static int wait_helper_ready(void)
{
    /* The helper has made its 3 allocations when kept[2] is set. */
    for (int i = 0; i < 10000 && kept[2] == NULL; i++)
        usleep(1000);
    return kept[2] != NULL ? 0 : -1;
}

int main(void)
{
    pthread_t t;
    pthread_attr_t attr;
    void *stack = mmap(NULL, STACK_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED || pipe(wake) != 0)
        return 10;
    if (pthread_attr_init(&attr) != 0 || pthread_attr_setstack(&attr, stack, STACK_BYTES) != 0 ||
        pthread_create(&t, &attr, helper, NULL) != 0)
        return 11;
    if (wait_helper_ready() < 0)
        return 12;
    char *a = shared(1000);
    kept[4] = shared(2000);
    pid_t pid = fork();
    if (pid < 0)
        return 13;
    if (pid == 0) {
        free(a);
        child_leak();
        void *p = malloc(40);
        sink = p;
        free(p);
        exit(4);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 4)
        return 14;
    free(a);
    parent_leak();
    if (write(wake[1], "x", 1) != 1 || pthread_join(t, NULL) != 0)
        return 15;
    return 0;
}
