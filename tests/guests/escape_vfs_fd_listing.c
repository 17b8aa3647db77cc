/* getdents64 on a directory fd opened on a lower (host) directory, after the
 * guest replaced an ancestor in its upper layer with a symlink whose text
 * is a hidden host directory.
 *
 *   escape_vfs_fd_listing PUB SUB HIDDEN OUT
 *
 * PUB/SUB exists on the host; HIDDEN (--hide) has a SUB too.  The names
 * the listing returns are written to OUT: the test checks that none of
 * HIDDEN/SUB's came through. */
#include "escape_common.h"
#include <dirent.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    if (argc < 5) return 2;
    char dir[4096], moved[4096];
    snprintf(dir, sizeof dir, "%s/%s", argv[1], argv[2]);
    snprintf(moved, sizeof moved, "%s.moved", argv[1]);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    report("open", fd);
    report("rename", rename(argv[1], moved));
    report("symlink", symlink(argv[3], argv[1]));
    FILE *out = fopen(argv[4], "w");
    if (!out) return 3;
    char buf[8192];
    long n;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            fprintf(out, "%s\n", d->d_name);
            off += d->d_reclen;
        }
    }
    report("getdents64", n);
    /* The same through a child directory fd and fchdir + getcwd. */
    fclose(out);
    return 0;
}
