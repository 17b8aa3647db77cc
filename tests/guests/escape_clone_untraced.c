/* Raw clone(CLONE_UNTRACED) via the syscall instruction (no libc wrapper):
 * an untraced child would outlive umlpy's kill-on-exit.  The child sleeps;
 * the parent prints READY <child> and waits for stdin to close, then exits
 * without waiting for the child. */
#include "escape_common.h"
#define CLONE_UNTRACED_ 0x00800000L
int main(void) {
    long pid = raw6(SYS_clone, CLONE_UNTRACED_ | SIGCHLD, 0, 0, 0, 0, 0);
    if (pid == 0) {
        for (;;) pause();
    }
    report_raw("clone_untraced", pid);
    /* Also with the flag in the upper half of the register (ignored by the kernel). */
    long pid2 = raw6(SYS_clone, (1L << 40) | CLONE_UNTRACED_ | SIGCHLD, 0, 0, 0, 0, 0);
    if (pid2 == 0) {
        for (;;) pause();
    }
    printf("READY %ld %ld\n", pid, pid2);
    fflush(stdout);
    char buf[16];
    while (read(0, buf, sizeof buf) > 0) {
    }
    return 0;
}
