/* readlink, getxattr, listxattr and inotify_add_watch of d/NAME while a
 * second thread exchanges d with a symlink to a --hide'n host directory
 * (both in the guest's copy-on-write layer), and chdir(d/sub) followed by
 * relative reads.
 *
 *   escape_vfs_lookup_race WORKDIR HIDDEN_DIR ITERATIONS
 *
 * WORKDIR/d holds the guest's own symlink "lnk" -> "public", file "f" and
 * directory "sub"; HIDDEN_DIR holds a symlink "lnk" and a file "f" with an
 * xattr user.k, and a directory "sub" holding "f2", all of secret
 * content, which the test checks never shows.  Prints every distinct value
 * seen. */
#include "escape_common.h"
#include <pthread.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/xattr.h>

static volatile int stop;
static char d[4096], s[4096];

static void *swapper(void *arg) {
    (void)arg;
    while (!stop) syscall(SYS_renameat2, AT_FDCWD, d, AT_FDCWD, s, 2 /* RENAME_EXCHANGE */);
    return NULL;
}

static char seen[64][256];
static int nseen;

static void note(const char *what, const char *val) {
    char line[256];
    snprintf(line, sizeof line, "%s=%s", what, val);
    for (int i = 0; i < nseen; i++)
        if (!strcmp(seen[i], line)) return;
    if (nseen < 64) snprintf(seen[nseen++], sizeof seen[0], "%s", line);
    printf("%s\n", line);
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    char lnk[4096], f[4096], sub[4096], pub[4096];
    snprintf(d, sizeof d, "%s/d", argv[1]);
    snprintf(s, sizeof s, "%s/s", argv[1]);
    snprintf(lnk, sizeof lnk, "%s/lnk", d);
    snprintf(f, sizeof f, "%s/f", d);
    snprintf(sub, sizeof sub, "%s/sub", d);
    snprintf(pub, sizeof pub, "%s/sub/f2", d);
    if (mkdir(d, 0755) < 0 || mkdir(sub, 0755) < 0) return 3;
    if (symlink("public", lnk) < 0) return 4;
    int fd = open(f, O_WRONLY | O_CREAT, 0644);
    if (fd < 0) return 5;
    close(fd);
    fd = open(pub, O_WRONLY | O_CREAT, 0644);
    if (fd < 0 || write(fd, "public\n", 7) != 7) return 5;
    close(fd);
    if (symlink(argv[2], s) < 0) return 6;
    int in = inotify_init1(IN_NONBLOCK);
    long iters = argl(argv, 3);
    pthread_t t;
    pthread_create(&t, NULL, swapper, NULL);
    for (long i = 0; i < iters; i++) {
        char buf[256] = {0};
        ssize_t n = readlink(lnk, buf, sizeof buf - 1);
        if (n > 0) note("readlink", buf);
        memset(buf, 0, sizeof buf);
        n = getxattr(f, "user.k", buf, sizeof buf - 1);
        if (n > 0) note("getxattr", buf);
        memset(buf, 0, sizeof buf);
        n = lgetxattr(f, "user.k", buf, sizeof buf - 1);
        if (n > 0) note("lgetxattr", buf);
        memset(buf, 0, sizeof buf);
        n = listxattr(f, buf, sizeof buf - 1);
        if (n > 0) note("listxattr", buf);
        if (in >= 0) inotify_add_watch(in, d, IN_ALL_EVENTS);
        if (chdir(sub) == 0) {
            memset(buf, 0, sizeof buf);
            int g = open("f2", O_RDONLY);
            if (g >= 0) {
                if (read(g, buf, sizeof buf - 1) > 0) note("cwd-read", buf);
                close(g);
            }
            memset(buf, 0, sizeof buf);
            if (getcwd(buf, sizeof buf)) note("getcwd", buf);
            chdir("/");
        }
    }
    stop = 1;
    pthread_join(t, NULL);
    /* the names of whatever the watches saw */
    char ev[65536];
    ssize_t n;
    while (in >= 0 && (n = read(in, ev, sizeof ev)) > 0) {
        for (char *p = ev; p < ev + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            if (e->len) note("inotify", e->name);
            p += sizeof *e + e->len;
        }
    }
    return 0;
}
