/* Reach a host file through /proc/self/root and /proc/<pid>/root. */
#include "escape_common.h"
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char p[4096];
    snprintf(p, sizeof p, "/proc/self/root%s", argv[1]);
    int fd = open(p, O_WRONLY | O_TRUNC);
    report("open_proc_self_root", fd);
    if (fd >= 0) report("write", write(fd, "PWNED\n", 6));
    snprintf(p, sizeof p, "/proc/%d/root/%s", getppid(), argv[1]);
    fd = open(p, O_WRONLY | O_TRUNC);
    report("open_proc_tracer_root", fd);
    if (fd >= 0) report("write", write(fd, "PWNED\n", 6));
    return 0;
}
