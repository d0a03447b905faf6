/* cxx_throw.cpp — the cost of a C++ throw and catch, to show that loading the
 * recorder does not change which unwinder the program's exceptions use
 * (Debian's libunwind exports _Unwind_*; if the preload pulled it into the
 * global scope, each throw would be ~20x slower).
 *
 *   cxx_throw [N]     N = 20000 throws, caught one frame up; prints "ns=T",
 *                     the wall time of the loop in nanoseconds.
 * Each throw allocates its exception object (__cxa_allocate_exception:
 * malloc(sizeof(int) + the header)) and frees it when caught: N allocations, N
 * frees, nothing leaked. */
#include <cstdio>
#include <cstdlib>
#include <ctime>

__attribute__((noinline)) static void thrower(int i)
{
    throw i;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? std::atol(argv[1]) : 20000;
    long sum = 0;
    timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
        try {
            thrower((int)i);
        } catch (int v) {
            sum += v;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long ns = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
    std::printf("ns=%lld\n", ns);
    return sum == n * (n - 1) / 2 ? 0 : 1;
}
