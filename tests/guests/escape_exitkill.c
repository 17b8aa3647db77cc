/* A tree that would run forever: the test SIGKILLs umlpy itself, and
 * PTRACE_O_EXITKILL must take every guest with it. */
#include "escape_common.h"
int main(void) {
    for (int i = 0; i < 3; i++)
        if (fork() == 0) {
            signal(SIGTERM, SIG_IGN);
            for (;;) pause();
        }
    ready_and_wait();
    for (;;) pause();
}
