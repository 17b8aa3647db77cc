/* PTRACE_ATTACH and PTRACE_SEIZE of a sibling (own child) and of the tracer
 * (getppid of the main process).  Prints READY <child> and waits. */
#include "escape_common.h"
#include <sys/ptrace.h>
int main(void) {
    pid_t child = fork();
    if (child == 0) {
        for (;;) pause();
    }
    pid_t tracer = getppid();
    report("attach_child", ptrace(PTRACE_ATTACH, child, 0, 0));
    report("seize_child", ptrace(PTRACE_SEIZE, child, 0, 0));
    report("attach_tracer", ptrace(PTRACE_ATTACH, tracer, 0, 0));
    report("seize_tracer", ptrace(PTRACE_SEIZE, tracer, 0, 0));
    report("interrupt_tracer", ptrace(PTRACE_INTERRUPT, tracer, 0, 0));
    printf("READY %d\n", child);
    fflush(stdout);
    char buf[16];
    while (read(0, buf, sizeof buf) > 0) {
    }
    kill(child, SIGKILL);
    return 0;
}
