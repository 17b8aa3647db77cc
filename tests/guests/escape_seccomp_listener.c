/* A guest seccomp filter returning USER_NOTIF for kill, with a listener:
 * a child holding the listener would answer CONTINUE and the kill would run
 * without umlpy's TRACE.  argv[1]: host pid to SIGTERM. */
#include "escape_common.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    pid_t target = (pid_t)argl(argv, 1);
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_kill, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {4, f};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    unsigned long flagsets[] = {SECCOMP_FILTER_FLAG_NEW_LISTENER,
                                SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_TSYNC,
                                (1UL << 32) | SECCOMP_FILTER_FLAG_NEW_LISTENER};
    int listener = -1;
    for (int i = 0; i < 3 && listener < 0; i++) {
        long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flagsets[i], &prog);
        report("seccomp_new_listener", r);
        if (r >= 0) listener = (int)r;
    }
    if (listener < 0) {
        /* No listener: the filter can still be installed plainly (USER_NOTIF
         * without a listener fails the call with ENOSYS). */
        report("kill_without_listener", kill(target, SIGTERM));
        return 0;
    }
    pid_t helper = fork();
    if (helper == 0) {
        struct seccomp_notif req;
        struct seccomp_notif_resp resp;
        for (;;) {
            memset(&req, 0, sizeof req);
            if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) _exit(0);
            memset(&resp, 0, sizeof resp);
            resp.id = req.id;
            resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
            ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
        }
    }
    report("kill_via_listener", kill(target, SIGTERM));
    kill(helper, SIGKILL);
    return 0;
}
