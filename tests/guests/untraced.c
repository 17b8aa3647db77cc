/* clone(CLONE_UNTRACED) would escape the tracer; umlpy strips the flag.
 * The child makes a refused call: EPERM from umlpy proves it was traced
 * (an untraced child would get ENOSYS from the TRACE filter action, or
 * succeed). */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
static int child(void *arg) {
    (void)arg;
    char params[120];
    memset(params, 0, sizeof params);
    long r = syscall(425, 4, params);
    printf("child io_uring_setup=%ld errno=%d\n", r, r < 0 ? errno : 0);
    fflush(stdout);
    return 0;
}
int main(void) {
    size_t sz = 1 << 20;
    char *stack = malloc(sz);
    int pid = clone(child, stack + sz, CLONE_UNTRACED | SIGCHLD, NULL);
    if (pid < 0) { perror("clone"); return 1; }
    int st;
    waitpid(pid, &st, 0);
    printf("EPERM=%d\n", EPERM);
    return 0;
}
