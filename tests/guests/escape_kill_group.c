/* Group-wide kills: argv[1] is "minus1" (kill(-1)), "zero" (kill(0)) or
 * "pgrp" (kill(-getpgrp()) and killpg).  The caller survives (it ignores the
 * signal... SIGKILL cannot be ignored, so a child sends it). */
#include "escape_common.h"
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int sig = argc > 2 ? (int)argl(argv, 2) : SIGKILL;
    pid_t c = fork();
    if (c == 0) {
        long r;
        if (!strcmp(argv[1], "minus1")) r = kill(-1, sig);
        else if (!strcmp(argv[1], "zero")) r = kill(0, sig);
        else r = killpg(getpgrp(), sig);
        report(argv[1], r);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    printf("child status=%#x\n", st);
    return 0;
}
