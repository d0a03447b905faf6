/* exec.c — a process that starts another image of this program: the trace of
 * each image must be whole, and the one written before an exec must survive
 * the exec'd image with the same pid (and, here, the same name).
 *
 *   exec VIA        leak_before(): malloc(1000), then start "exec child" via VIA
 *   exec child      leak_in_child(): malloc(2000); scratch: malloc(30), free; exit 4
 *
 * VIA, replacing this image (same pid): execl execle execlp execv execve execvp
 *   execvpe fexecve — the parent's trace: allocations 1, frees 0, bytes 1000,
 *   leaked 1000 in 1 block (leak_before), complete; the child's: allocations 2,
 *   frees 1, bytes 2030, leaked 2000 in 1 block (leak_in_child), exit status 4.
 * VIA starting a new process, which this one waits for and then exits with its
 *   status: posix_spawn, vfork (vfork + execv in the child), fork (fork +
 *   execv), system (sh -c "THIS child": the shell is recorded too). The
 *   parent's trace is as above, with exit status 4. vfork's child runs on the
 *   parent's memory until its exec: it must not disturb the parent's recorder.
 * Exec'd through PATH (execlp, execvp, execvpe), the program is found through
 * PATH=dirname(THIS). */
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static void *volatile kept[2];
static void *volatile sink;

static void leak_before(void)
{
    kept[0] = malloc(1000);
}

static void leak_in_child(void)
{
    kept[1] = malloc(2000);
}

static int child(void)
{
    leak_in_child();
    void *p = malloc(30);
    sink = p;
    free(p);
    return 4;
}

static int wait_status(pid_t pid)
{
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return 20;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 21;
}

/* PATH = the directory of self, for the PATH-searching variants. Its own
 * buffer: setenv would allocate. */
static char path_env[4096 + 8] = "PATH=";

static void use_path_of(const char *self)
{
    const char *slash = strrchr(self, '/');
    size_t n = slash ? (size_t)(slash - self) : 1;
    if (n > 4096)
        _exit(22);
    memcpy(path_env + 5, slash ? self : ".", n);
    path_env[5 + n] = '\0';
    putenv(path_env);
}

static int start(const char *via, char *self)
{
    char *argv[] = {self, "child", NULL};
    const char *base = strrchr(self, '/') ? strrchr(self, '/') + 1 : self;
    if (strcmp(via, "execl") == 0)
        execl(self, self, "child", (char *)NULL);
    else if (strcmp(via, "execle") == 0)
        execle(self, self, "child", (char *)NULL, environ);
    else if (strcmp(via, "execlp") == 0)
        execlp(base, base, "child", (char *)NULL);
    else if (strcmp(via, "execv") == 0)
        execv(self, argv);
    else if (strcmp(via, "execve") == 0)
        execve(self, argv, environ);
    else if (strcmp(via, "execvp") == 0)
        execvp(base, argv);
    else if (strcmp(via, "execvpe") == 0)
        execvpe(base, argv, environ);
    else if (strcmp(via, "fexecve") == 0) {
        int fd = open(self, O_RDONLY);
        if (fd >= 0)
            fexecve(fd, argv, environ);
    } else if (strcmp(via, "posix_spawn") == 0) {
        pid_t pid;
        if (posix_spawn(&pid, self, NULL, NULL, argv, environ) != 0)
            return 23;
        return wait_status(pid);
    } else if (strcmp(via, "vfork") == 0) {
        pid_t pid = vfork();
        if (pid == 0) {
            execv(self, argv);
            _exit(24);
        }
        return wait_status(pid);
    } else if (strcmp(via, "fork") == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            execv(self, argv);
            _exit(24);
        }
        return wait_status(pid);
    } else if (strcmp(via, "system") == 0) {
        static char cmd[4200];
        size_t n = strlen(self);
        if (n > 4096)
            return 25;
        memcpy(cmd, self, n);
        memcpy(cmd + n, " child", 7);
        int st = system(cmd);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 26;
    } else {
        return 2;
    }
    return 27; /* the exec failed */
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (strcmp(argv[1], "child") == 0)
        return child();
    use_path_of(argv[0]);
    leak_before();
    return start(argv[1], argv[0]);
}
