/* Reopen inherited fds through /proc/self/fd/N with more access than they
 * were opened with: the files behind them are outside the guest's view
 * (hidden, or outside --root), so the reopen must not widen the access.
 *
 *   escape_vfs_fd_reopen RDONLY_FD WRONLY_FD
 *
 * RDONLY_FD: a host file opened read-only (the guest tries to write and
 * truncate it).  WRONLY_FD: a host file opened write-only (the guest tries
 * to read it and prints what it read).  Also re-reads RDONLY_FD through a
 * reopen for reading, which is allowed (it prints "reread=..."). */
#include "escape_common.h"

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    char p[64], buf[256];
    snprintf(p, sizeof p, "/proc/self/fd/%s", argv[1]);
    int fd = open(p, O_WRONLY | O_APPEND);
    printf("append fd=%d errno=%d\n", fd, fd < 0 ? errno : 0);
    if (fd >= 0) write(fd, "PWNED\n", 6);
    fd = open(p, O_RDWR);
    printf("rdwr fd=%d errno=%d\n", fd, fd < 0 ? errno : 0);
    if (fd >= 0) write(fd, "PWNED\n", 6);
    fd = open(p, O_RDONLY | O_TRUNC);
    printf("trunc fd=%d errno=%d\n", fd, fd < 0 ? errno : 0);
    fd = open(p, O_RDONLY);
    memset(buf, 0, sizeof buf);
    if (fd >= 0 && read(fd, buf, sizeof buf - 1) > 0) printf("reread=%s\n", buf);
    snprintf(p, sizeof p, "/proc/self/fd/%s", argv[2]);
    fd = open(p, O_RDONLY);
    printf("read-wronly fd=%d errno=%d\n", fd, fd < 0 ? errno : 0);
    memset(buf, 0, sizeof buf);
    if (fd >= 0 && read(fd, buf, sizeof buf - 1) > 0) printf("read=%s\n", buf);
    fflush(stdout);
    return 0;
}
