/* Route SIGIO-style signals to a host process: F_SETOWN / F_SETOWN_EX /
 * F_SETSIG on a pipe with O_ASYNC, then make it readable.  argv[1]: host pid
 * ("-PGID" for a process group). */
#include "escape_common.h"
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int p[2];
    if (pipe(p)) return 1;
    report("F_SETSIG", fcntl(p[0], F_SETSIG, SIGUSR1));
    report("F_SETOWN", fcntl(p[0], F_SETOWN, (int)argl(argv, 1)));
    report("F_SETFL_ASYNC", fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK));
    for (int i = 0; i < 5; i++) {
        report("write", write(p[1], "x", 1));
        char c;
        if (read(p[0], &c, 1) < 0) {
        }
        usleep(20000);
    }
    return 0;
}
