/* kill(*target, SIGUSR1) in a loop while a second thread flips *target
 * between our own child and a host pid (argv[1]).  The pid travels in a
 * register, so umlpy checks exactly what the kernel uses. */
#include "escape_common.h"
#include <pthread.h>
static volatile pid_t target;
static pid_t child, host;
static volatile int stop;
static void *flipper(void *arg) {
    (void)arg;
    while (!stop) {
        target = child;
        target = host;
    }
    return NULL;
}
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    host = (pid_t)argl(argv, 1);
    child = fork();
    if (child == 0) {
        signal(SIGUSR1, SIG_IGN);
        for (;;) pause();
    }
    target = child;
    pthread_t t;
    pthread_create(&t, NULL, flipper, NULL);
    long iters = argl(argv, 2), ok = 0;
    for (long i = 0; i < iters; i++)
        if (kill(target, SIGUSR1) == 0) ok++;
    stop = 1;
    pthread_join(t, NULL);
    printf("sent=%ld of %ld\n", ok, iters);
    kill(child, SIGKILL);
    return 0;
}
