/* A directory of the guest's own exchanged (renameat2 RENAME_EXCHANGE) with
 * a symlink of the lower layer, then looked through.
 *
 *   escape_vfs_exchange_link DIR LINK NAME
 *
 * DIR/LINK is a host symlink (lower layer) to a directory the guest must
 * not see: a --hide'n one, or, under --root, a host directory outside the
 * rootfs.  The guest makes DIR/d, exchanges it with DIR/LINK, and then
 * reads DIR/LINK/NAME and lists DIR/LINK: in its view DIR/LINK is now its
 * own (empty) directory.  Prints what it read ("read=...") and every entry
 * ("entry=..."); the test checks the hidden content and names never show. */
#include "escape_common.h"
#include <dirent.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    char d[4096], l[4096], f[4096];
    snprintf(d, sizeof d, "%s/d", argv[1]);
    snprintf(l, sizeof l, "%s/%s", argv[1], argv[2]);
    snprintf(f, sizeof f, "%s/%s", l, argv[3]);
    if (mkdir(d, 0755) < 0) return 3;
    long r = syscall(SYS_renameat2, AT_FDCWD, d, AT_FDCWD, l, 2 /* RENAME_EXCHANGE */);
    printf("exchange=%ld errno=%d\n", r, r ? errno : 0);
    for (int pass = 0; pass < 2; pass++) {
        char buf[256] = {0};
        int fd = open(f, O_RDONLY);
        if (fd >= 0) {
            ssize_t n = read(fd, buf, sizeof buf - 1);
            if (n > 0) printf("read=%s\n", buf);
            close(fd);
        } else {
            printf("open errno=%d\n", errno);
        }
        struct stat st;
        if (stat(f, &st) == 0) printf("stat size=%lld\n", (long long)st.st_size);
        DIR *dir = opendir(l);
        if (dir) {
            struct dirent *e;
            while ((e = readdir(dir))) printf("entry=%s\n", e->d_name);
            closedir(dir);
        }
        /* and once more through the other name, exchanged back */
        syscall(SYS_renameat2, AT_FDCWD, d, AT_FDCWD, l, 2);
        snprintf(f, sizeof f, "%s/%s", d, argv[3]);
        snprintf(l, sizeof l, "%s", d);
    }
    fflush(stdout);
    return 0;
}
