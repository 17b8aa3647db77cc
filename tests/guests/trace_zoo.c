/* Many syscalls, each with arguments and results that are the same from
 * run to run, for the line-by-line differential against strace
 * (tests/trace/test_vs_strace.py).  Everything happens in the cwd. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int got;
static void on_usr1(int sig) { got = sig; }

int main(void) {
    char buf[64];
    /* files */
    int fd = openat(AT_FDCWD, "zoo.txt", O_RDWR | O_CREAT | O_TRUNC, 0640);
    write(fd, "hello zoo\n", 10);
    pwrite(fd, "HE", 2, 0);
    pread(fd, buf, 5, 0);
    lseek(fd, 0, SEEK_SET);
    read(fd, buf, 4);
    struct iovec iov[2] = {{"ab", 2}, {"cd", 2}};
    writev(fd, iov, 2);
    char r1[2], r2[2];
    struct iovec riov[2] = {{r1, 2}, {r2, 2}};
    lseek(fd, 0, SEEK_SET);
    readv(fd, riov, 2);
    int d = dup(fd);
    dup2(fd, 20);
    dup3(fd, 21, O_CLOEXEC);
    fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fcntl(fd, F_GETFD);
    ftruncate(fd, 8);
    fsync(fd);
    fdatasync(fd);
    flock(fd, LOCK_EX);
    flock(fd, LOCK_UN);
    fchmod(fd, 0600);
    struct stat st;
    fstat(fd, &st);
    close(d);
    close(20);
    close(21);
    close(fd);
    mkdir("zdir", 0755);
    symlink("zoo.txt", "zlink");
    readlink("zlink", buf, sizeof buf);
    link("zoo.txt", "zhard");
    rename("zhard", "zhard2");
    access("zoo.txt", R_OK);
    faccessat(AT_FDCWD, "zoo.txt", W_OK, AT_EACCESS);
    chmod("zoo.txt", 0644);
    truncate("zoo.txt", 4);
    stat("zoo.txt", &st);
    lstat("zlink", &st);
    umask(022);
    getcwd(buf, sizeof buf);
    chdir("zdir");
    chdir("..");
    int dfd = open("zdir", O_RDONLY | O_DIRECTORY);
    fchdir(dfd);
    int up = open("..", O_RDONLY | O_DIRECTORY);
    fchdir(up);
    close(up);
    close(dfd);
    mknodat(AT_FDCWD, "zfifo", S_IFIFO | 0600, 0);
    unlink("zfifo");
    unlink("zlink");
    unlinkat(AT_FDCWD, "zhard2", 0);
    rmdir("zdir");
    /* pipes and friends */
    int p[2];
    pipe2(p, O_CLOEXEC);
    write(p[1], "x", 1);
    struct pollfd pfd = {p[0], POLLIN, 0};
    poll(&pfd, 1, 0);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timeval tv = {0, 0};
    select(p[0] + 1, &rs, NULL, NULL, &tv);
    read(p[0], buf, 1);
    close(p[0]);
    close(p[1]);
    int efd = eventfd(3, EFD_CLOEXEC);
    close(efd);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    close(ep);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    close(tfd);
    int in = inotify_init1(IN_CLOEXEC);
    close(in);
    /* process */
    getpid();
    getppid();
    gettid();
    getuid();
    geteuid();
    getgid();
    getegid();
    getpgrp();
    getpgid(0);
    getsid(0);
    struct utsname u;
    uname(&u);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    getpriority(PRIO_PROCESS, 0);
    sched_yield();
    prctl(PR_GET_DUMPABLE);
    syscall(SYS_personality, 0xffffffff);
    /* signals */
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sigpending(&set);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    kill(getpid(), SIGUSR1);
    alarm(0);
    struct timespec ts = {0, 1000};
    nanosleep(&ts, NULL);
    clock_getres(CLOCK_MONOTONIC, &ts);
    /* memory */
    void *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(m, 4096, PROT_READ);
    madvise(m, 8192, MADV_DONTNEED);
    munmap(m, 8192);
    /* sockets */
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    send(sv[0], "ping", 4, 0);
    recv(sv[1], buf, 4, 0);
    shutdown(sv[0], SHUT_WR);
    int one = 1;
    setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    close(sv[0]);
    close(sv[1]);
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    close(s);
    /* a child */
    pid_t c = fork();
    if (c == 0)
        _exit(3);
    int status;
    wait4(c, &status, 0, NULL);
    unlink("zoo.txt");
    return got == SIGUSR1 ? 0 : 1;
}
