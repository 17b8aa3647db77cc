/* PTRACE_TRACEME, then a refused call: if the guest could detach itself
 * from umlpy the refused call would not be reported. */
#include "escape_common.h"
#include <sys/ptrace.h>
int main(void) {
    report("traceme", ptrace(PTRACE_TRACEME, 0, 0, 0));
    report("detach_self", ptrace(PTRACE_DETACH, getpid(), 0, 0));
    report("io_uring_setup", syscall(425, 4, calloc(1, 120)));
    return 0;
}
