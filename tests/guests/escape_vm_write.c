/* process_vm_writev / process_vm_readv into a host process:
 * argv[1] pid, argv[2] address of its secret, argv[3] "write" or "read". */
#include "escape_common.h"
#include <sys/uio.h>
int main(int argc, char **argv) {
    if (argc < 4) return 2;
    pid_t pid = (pid_t)argl(argv, 1);
    void *addr = (void *)strtoul(argv[2], NULL, 0);
    char buf[32] = "PWNED-BY-GUEST";
    struct iovec local = {buf, sizeof buf - 1}, remote = {addr, sizeof buf - 1};
    if (!strcmp(argv[3], "write")) {
        report("process_vm_writev", process_vm_writev(pid, &local, 1, &remote, 1, 0));
        report("process_vm_writev_hi", syscall(SYS_process_vm_writev, (1L << 32) | pid, &local, 1, &remote, 1, 0));
    } else {
        memset(buf, 0, sizeof buf);
        long r = process_vm_readv(pid, &local, 1, &remote, 1, 0);
        report("process_vm_readv", r);
        printf("leaked=%s\n", buf);
    }
    return 0;
}
