/* execve of a program in the guest's own writable layer while a second
 * thread swaps what its path names (both in the copy-on-write layer).
 *
 *   escape_vfs_exec_race MODE DIR OUTSIDE ITERATIONS
 *   escape_vfs_exec_race ok          (what the exec'd copies run: prints "ok")
 *
 * MODE "path": DIR/d/prog is a copy of this program; the thread exchanges
 * DIR/d with DIR/s, a symlink to OUTSIDE (a host directory the guest must
 * not reach: hidden, or outside --root), which holds a program "prog".
 * MODE "interp": DIR/p is a copy of this (static) program; the thread
 * exchanges it with DIR/alt, a script "#!OUTSIDE/prog".  The kernel opens
 * the #! interpreter by its host path.
 *
 * The exec'd programs write to stdout; the test checks the outside
 * program's secret never shows. */
#include "escape_common.h"
#include <pthread.h>
#include <sys/stat.h>

static volatile int stop;
static char a[4096], b[4096];

static void *swapper(void *arg) {
    (void)arg;
    while (!stop) syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 2 /* RENAME_EXCHANGE */);
    return NULL;
}

static int copy_self(const char *to) {
    int in = open("/proc/self/exe", O_RDONLY);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (in < 0 || out < 0) return -1;
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, n) != n) return -1;
    close(in);
    close(out);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "ok")) {
        return 0;
    }
    if (argc < 5) return 2;
    const char *mode = argv[1], *dir = argv[2], *outside = argv[3];
    long iters = argl(argv, 4);
    char prog[4096];
    if (!strcmp(mode, "path")) {
        snprintf(a, sizeof a, "%s/d", dir);
        snprintf(b, sizeof b, "%s/s", dir);
        if (mkdir(a, 0755) < 0) return 3;
        snprintf(prog, sizeof prog, "%s/prog", a);
        if (copy_self(prog) < 0) return 4;
        if (symlink(outside, b) < 0) return 5;
    } else {
        snprintf(a, sizeof a, "%s/p", dir);
        snprintf(b, sizeof b, "%s/alt", dir);
        if (copy_self(a) < 0) return 4;
        int fd = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0755);
        if (fd < 0) return 5;
        dprintf(fd, "#!%s/prog\n", outside);
        close(fd);
        snprintf(prog, sizeof prog, "%s", a);
    }
    pthread_t t;
    pthread_create(&t, NULL, swapper, NULL);
    long ran = 0;
    for (long i = 0; i < iters; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            execl(prog, "prog", "ok", (char *)NULL);
            _exit(127);
        }
        int st;
        waitpid(pid, &st, 0);
        ran += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    stop = 1;
    pthread_join(t, NULL);
    printf("ran=%ld\n", ran);
    fflush(stdout);
    return 0;
}
