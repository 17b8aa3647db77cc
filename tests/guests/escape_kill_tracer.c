/* SIGSTOP then SIGKILL to the tracer (getppid()), through every call that
 * names a pid; then exit 42 (the run must complete with that status). */
#include "escape_common.h"
#include <sys/syscall.h>
int main(void) {
    pid_t t = getppid();
    int sigs[] = {SIGSTOP, SIGKILL};
    for (int i = 0; i < 2; i++) {
        int s = sigs[i];
        report("kill", kill(t, s));
        report("tkill", syscall(SYS_tkill, t, s));
        report("tgkill", syscall(SYS_tgkill, t, t, s));
        siginfo_t si;
        memset(&si, 0, sizeof si);
        si.si_code = SI_QUEUE;
        report("rt_sigqueueinfo", syscall(SYS_rt_sigqueueinfo, t, s, &si));
        report("rt_tgsigqueueinfo", syscall(SYS_rt_tgsigqueueinfo, t, t, s, &si));
        long pfd = syscall(SYS_pidfd_open, t, 0);
        report("pidfd_open", pfd);
        char path[64];
        snprintf(path, sizeof path, "/proc/%d", t);
        int dfd = open(path, O_RDONLY | O_DIRECTORY);
        report("pidfd_send_signal(/proc)", syscall(SYS_pidfd_send_signal, dfd, s, NULL, 0));
        /* kill's pid is an int: try the tracer's pid with junk in the upper half. */
        report("kill_hi", syscall(SYS_kill, (1L << 32) | t, s));
    }
    return 42;
}
