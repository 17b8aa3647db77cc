/* Scheduling/resource knobs on host processes: setpriority(PRIO_USER),
 * setpriority(PRIO_PGRP, 0), setpriority(PRIO_PROCESS, host), prlimit64,
 * sched_setaffinity, ioprio_set(IOPRIO_WHO_USER).  argv[1]: host pid. */
#include "escape_common.h"
#include <sched.h>
#include <sys/resource.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    pid_t pid = (pid_t)argl(argv, 1);
    report("setpriority_user", setpriority(PRIO_USER, getuid(), 19));
    report("setpriority_pgrp", setpriority(PRIO_PGRP, 0, 19));
    report("setpriority_pid", setpriority(PRIO_PROCESS, pid, 19));
    struct rlimit rl = {1, 1};
    report("prlimit_nofile", syscall(SYS_prlimit64, pid, RLIMIT_NOFILE, &rl, NULL));
    report("prlimit_hi", syscall(SYS_prlimit64, (1L << 32) | pid, RLIMIT_NOFILE, &rl, NULL));
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    report("sched_setaffinity", sched_setaffinity(pid, sizeof set, &set));
    struct sched_param sp = {0};
    report("sched_setscheduler", sched_setscheduler(pid, SCHED_IDLE, &sp));
    report("ioprio_set_user", syscall(SYS_ioprio_set, 3, getuid(), (3 << 13) | 7));
    report("ioprio_set_pid", syscall(SYS_ioprio_set, 1, pid, (3 << 13) | 7));
    report("kcmp", syscall(SYS_kcmp, getpid(), pid, 0 /* KCMP_FILE */, 0, 0));
    return 0;
}
