/* Every way out of a --root DIR the guest can spell, read-only: each try
 * opens a path that would name HOSTFILE (a host file outside DIR) if the
 * walk left DIR, and prints what it read.
 *
 *   escape_vfs_root_probe HOSTFILE
 *
 * Set up by the test: /abs -> HOSTFILE and /up -> ../../../..(...)HOSTFILE
 * (symlinks inside the rootfs), /loop1 <-> /loop2 (a symlink loop),
 * /sock.lnk -> the host path of a listening unix socket outside DIR.
 * Output: "TRY what -> read=CONTENT" or "-> errno=N"; the test checks the
 * secret never shows. */
#include "escape_common.h"
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <linux/openat2.h>

static void show(const char *what, int fd) {
    if (fd < 0) {
        printf("TRY %s -> errno=%d\n", what, errno);
        return;
    }
    char buf[256] = {0};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    printf("TRY %s -> read=%s\n", what, n > 0 ? buf : "");
    close(fd);
}

static void try_open(const char *what, int dirfd, const char *path) {
    show(what, openat(dirfd, path, O_RDONLY));
}

static void try_openat2(const char *what, int dirfd, const char *path, unsigned long long resolve) {
    struct open_how how = {.flags = O_RDONLY, .resolve = resolve};
    show(what, (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how));
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *host = argv[1];
    char p[8192];
    char dots[4096] = "";
    for (int i = 0; i < 40; i++) strcat(dots, "../");

    try_open("absolute", AT_FDCWD, host);
    snprintf(p, sizeof p, "/%s%s", dots, host + 1);
    try_open("dotdot-from-root", AT_FDCWD, p);
    snprintf(p, sizeof p, "%s%s", dots, host + 1);
    chdir("/");
    try_open("dotdot-from-cwd", AT_FDCWD, p);
    for (int i = 0; i < 40; i++) chdir("..");
    try_open("after-chdir-dotdot", AT_FDCWD, host + 1);
    int root = open("/", O_RDONLY | O_DIRECTORY);
    try_open("dotdot-from-dirfd", root, p);
    try_openat2("openat2-in-root", root, p, RESOLVE_IN_ROOT);
    try_openat2("openat2-in-root-abs", root, host, RESOLVE_IN_ROOT);
    try_openat2("openat2-beneath", root, p, RESOLVE_BENEATH);
    try_openat2("openat2-plain", root, p, 0);
    try_open("abs-symlink", AT_FDCWD, "/abs");
    try_open("up-symlink", AT_FDCWD, "/up");
    try_open("loop", AT_FDCWD, "/loop1");
    snprintf(p, sizeof p, "/proc/self/root%s", host);
    try_open("proc-self-root", AT_FDCWD, p);
    snprintf(p, sizeof p, "/proc/self/root/%s%s", dots, host + 1);
    try_open("proc-self-root-dotdot", AT_FDCWD, p);
    snprintf(p, sizeof p, "/proc/self/cwd/%s%s", dots, host + 1);
    try_open("proc-self-cwd-dotdot", AT_FDCWD, p);
    snprintf(p, sizeof p, "/proc/self/fd/%d/%s%s", root, dots, host + 1);
    try_open("proc-self-fd-dotdot", AT_FDCWD, p);
    snprintf(p, sizeof p, "/proc/%d/root%s", getppid(), host);
    try_open("proc-parent-root", AT_FDCWD, p);
    snprintf(p, sizeof p, "/proc/1/root%s", host);
    try_open("proc-1-root", AT_FDCWD, p);
    snprintf(p, sizeof p, "/proc/self/root/abs");
    try_open("proc-self-root-abs", AT_FDCWD, p);
    /* fchdir to an fd opened before a chdir ".." storm */
    int sub = open("/bin", O_RDONLY | O_DIRECTORY);
    if (sub >= 0 && fchdir(sub) == 0) {
        snprintf(p, sizeof p, "%s%s", dots, host + 1);
        try_open("fchdir-dotdot", AT_FDCWD, p);
    }
    /* a child's /proc/PID/fd/N */
    int pfd[2];
    if (pipe(pfd) == 0) {
        pid_t kid = fork();
        if (kid == 0) {
            int d = open("/bin", O_RDONLY | O_DIRECTORY);
            char c = (char)d;
            write(pfd[1], &c, 1);
            pause();
            _exit(0);
        }
        char c;
        if (read(pfd[0], &c, 1) == 1) {
            snprintf(p, sizeof p, "/proc/%d/fd/%d/%s%s", kid, c, dots, host + 1);
            try_open("proc-child-fd-dotdot", AT_FDCWD, p);
        }
        kill(kid, SIGKILL);
        waitpid(kid, NULL, 0);
    }
    /* readlink/getcwd must not show host paths */
    char l[4096] = {0};
    ssize_t n = readlink("/proc/self/root", l, sizeof l - 1);
    printf("TRY readlink-root -> %s\n", n >= 0 ? l : "err");
    chdir("/bin");
    memset(l, 0, sizeof l);
    printf("TRY getcwd -> %s\n", getcwd(l, sizeof l) ? l : "err");
    /* a unix socket outside, by an absolute symlink */
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "/sock.lnk");
    int r = connect(s, (struct sockaddr *)&sa, sizeof sa);
    if (r == 0) {
        char buf[256] = {0};
        ssize_t m = read(s, buf, sizeof buf - 1);
        printf("TRY unix-connect -> read=%s\n", m > 0 ? buf : "");
    } else {
        printf("TRY unix-connect -> errno=%d\n", errno);
    }
    fflush(stdout);
    return 0;
}
