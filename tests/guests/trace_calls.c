/* For umlpy trace tests: N getppid calls, then a small open/read/close/stat sequence.
 * usage: trace_calls [N] [PATH] */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000;
    const char *path = argc > 2 ? argv[2] : "/etc/hostname";
    for (long i = 0; i < n; i++) syscall(SYS_getppid);
    char buf[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t got = read(fd, buf, sizeof buf);
    struct stat st;
    fstat(fd, &st);
    close(fd);
    open("/nonexistent/file", O_WRONLY | O_CREAT | O_TRUNC, 0640);
    access("/etc/passwd", R_OK | W_OK);
    write(1, "done\n", 5);
    return got > 0 ? 0 : 1;
}
