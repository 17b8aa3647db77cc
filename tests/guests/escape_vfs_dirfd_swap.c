/* *at() calls on a dirfd whose directory was then moved away and replaced
 * by a symlink to a hidden directory (both in the guest's copy-on-write
 * layer), first once, then with a second thread swapping the two names
 * during the calls.
 *
 *   escape_vfs_dirfd_swap WORKDIR HIDDEN_DIR ITERATIONS
 *
 * WORKDIR/d/f is the guest's own file; HIDDEN_DIR/f a hidden one of secret
 * content.  The dirfd names the guest's directory wherever it is; nothing
 * done through it may read or change HIDDEN_DIR (the test checks its
 * listing, content and modes on the host). */
#include "escape_common.h"
#include <pthread.h>
#include <sys/stat.h>

static volatile int stop;
static char d[4096], e[4096];

static void *swapper(void *arg) {
    (void)arg;
    while (!stop) syscall(SYS_renameat2, AT_FDCWD, d, AT_FDCWD, e, 2 /* RENAME_EXCHANGE */);
    return NULL;
}

static void attempt(int dfd, int verbose) {
    char buf[256] = {0};
    int fd = openat(dfd, "f", O_RDONLY);
    if (fd >= 0) {
        if (read(fd, buf, sizeof buf - 1) > 0 && verbose) printf("read=%s\n", buf);
        else if (buf[0] && strncmp(buf, "mine", 4)) printf("read=%s\n", buf);
        close(fd);
    }
    struct stat st;
    if (fstatat(dfd, "f", &st, 0) == 0 && st.st_size != 5) printf("size=%lld\n", (long long)st.st_size);
    fchmodat(dfd, "f", 0600, 0);
    mkdirat(dfd, "newdir", 0755);
    unlinkat(dfd, "newdir", AT_REMOVEDIR);
    symlinkat("x", dfd, "newlink");
    unlinkat(dfd, "newlink", 0);
    fd = openat(dfd, "newfile", O_WRONLY | O_CREAT, 0644);
    if (fd >= 0) close(fd);
    renameat(dfd, "newfile", dfd, "newfile2");
    linkat(dfd, "newfile2", dfd, "newfile3", 0);
    unlinkat(dfd, "newfile2", 0);
    unlinkat(dfd, "newfile3", 0);
    memset(buf, 0, sizeof buf);
    if (readlinkat(dfd, "lnk", buf, sizeof buf - 1) > 0 && strcmp(buf, "mine")) printf("readlink=%s\n", buf);
    fd = openat(dfd, "f", O_WRONLY | O_APPEND);
    if (fd >= 0) {
        write(fd, "", 0);
        close(fd);
    }
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    snprintf(d, sizeof d, "%s/d", argv[1]);
    snprintf(e, sizeof e, "%s/e", argv[1]);
    char f[4096], l[4096];
    snprintf(f, sizeof f, "%s/f", d);
    snprintf(l, sizeof l, "%s/lnk", d);
    if (mkdir(d, 0755) < 0) return 3;
    int fd = open(f, O_WRONLY | O_CREAT, 0644);
    if (fd < 0 || write(fd, "mine\n", 5) != 5) return 4;
    close(fd);
    if (symlink("mine", l) < 0) return 5;
    int dfd = open(d, O_RDONLY | O_DIRECTORY);
    if (dfd < 0) return 6;
    if (rename(d, e) < 0 || symlink(argv[2], d) < 0) return 7;
    attempt(dfd, 1);
    printf("static done\n");
    long iters = argl(argv, 3);
    pthread_t t;
    pthread_create(&t, NULL, swapper, NULL);
    for (long i = 0; i < iters; i++) attempt(dfd, 0);
    stop = 1;
    pthread_join(t, NULL);
    printf("race done\n");
    fflush(stdout);
    return 0;
}
