/* maps.c — copy /proc/self/maps to standard output, allocating nothing.
 *
 * Not a test of its own: the integration suite runs it natively and under the
 * preload library to learn which modules with a TLS segment the recorder brings
 * into a process. glibc sizes each thread's DTV, which pthread_create callocs,
 * by the number of TLS modules, so that count enters the exact expected bytes
 * of the threaded programs. Expected totals: 0 allocations, 0 frees. */
#include <fcntl.h>
#include <unistd.h>

int main(void)
{
    char buf[4096];
    ssize_t n;
    int fd = open("/proc/self/maps", O_RDONLY);

    if (fd < 0)
        return 1;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        if (write(1, buf, (size_t)n) != n)
            return 1;
    close(fd);
    return n == 0 ? 0 : 1;
}
