/* A guest filter for kill returning argv[2] = "trace" (RET_TRACE with forged
 * data), "errno" (RET_ERRNO 0: "success") or "allow"; then kill(argv[1]). */
#include "escape_common.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    unsigned ret = SECCOMP_RET_ALLOW;
    if (!strcmp(argv[2], "trace")) ret = SECCOMP_RET_TRACE | 39; /* data: "getpid" */
    if (!strcmp(argv[2], "errno")) ret = SECCOMP_RET_ERRNO | 0;
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_kill, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, ret),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {4, f};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    report("seccomp", syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog));
    report("prctl_seccomp", prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0));
    report("kill", kill((pid_t)argl(argv, 1), SIGTERM));
    return 0;
}
