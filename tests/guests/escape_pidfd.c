/* Signal a host process through a pidfd: argv[2] "open" uses pidfd_open,
 * "proc" an open("/proc/PID") directory fd, "getfd" pidfd_getfd on it. */
#include "escape_common.h"
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    pid_t pid = (pid_t)argl(argv, 1);
    int fd;
    if (!strcmp(argv[2], "open")) {
        fd = (int)syscall(SYS_pidfd_open, pid, 0);
        report("pidfd_open", fd);
        if (fd < 0) fd = (int)syscall(SYS_pidfd_open, (1L << 32) | pid, 0);
        report("pidfd_open_hi", fd);
    } else {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d", pid);
        fd = open(path, O_RDONLY | O_DIRECTORY);
        report("open_proc_dir", fd);
    }
    report("pidfd_send_signal", syscall(SYS_pidfd_send_signal, fd, SIGTERM, NULL, 0));
    report("pidfd_getfd", syscall(SYS_pidfd_getfd, fd, 0, 0));
    return 0;
}
