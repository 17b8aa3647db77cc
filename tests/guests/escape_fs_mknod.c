/* As root: create a device node inside the writable dir (cwd) for a device
 * outside it (argv[1] "c" or "b", argv[2] major, argv[3] minor), then write
 * argv[4] to it at offset 0. */
#include "escape_common.h"
#include <sys/stat.h>
#include <sys/sysmacros.h>
int main(int argc, char **argv) {
    if (argc < 5) return 2;
    mode_t type = argv[1][0] == 'b' ? S_IFBLK : S_IFCHR;
    report("mknod", mknod("dev", type | 0600, makedev(argl(argv, 2), argl(argv, 3))));
    int fd = open("dev", O_WRONLY);
    report("open_dev", fd);
    if (fd >= 0) report("write", pwrite(fd, argv[4], strlen(argv[4]), 0));
    if (fd >= 0) report("fsync", fsync(fd));
    return 0;
}
