/* Classic daemonisation: fork, setsid, fork again, close stdio, sleep.
 * The main process exits at once; the daemon must not outlive umlpy. */
#include "escape_common.h"
int main(void) {
    pid_t p = fork();
    if (p == 0) {
        setsid();
        if (fork() == 0) {
            signal(SIGHUP, SIG_IGN);
            signal(SIGTERM, SIG_IGN);
            close(0); close(1); close(2);
            for (;;) pause();
        }
        _exit(0);
    }
    waitpid(p, NULL, 0);
    printf("daemonised\n");
    return 0;
}
