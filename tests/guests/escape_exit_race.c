/* The main process exits while its children are busy forking: a child
 * created in the middle of umlpy's kill-on-exit must not keep running.
 * argv[1]: number of forking children. */
#include "escape_common.h"
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int n = (int)argl(argv, 1);
    for (int i = 0; i < n; i++) {
        if (fork() == 0) {
            for (;;) {
                pid_t p = fork();
                if (p == 0) {
                    /* grandchildren live on unless killed */
                    for (;;) pause();
                }
                if (p > 0) waitpid(-1, NULL, WNOHANG);
            }
        }
    }
    usleep(200 * 1000);
    return 0;
}
