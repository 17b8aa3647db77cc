/* chattr through FS_IOC_SETFLAGS on a read-only fd of a host file (argv[1]):
 * argv[2] is the flag to add (0x40 nodump; 0x10 immutable, root only). */
#include "escape_common.h"
#include <linux/fs.h>
#include <sys/ioctl.h>
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int fd = open(argv[1], O_RDONLY | O_NONBLOCK);
    report("open_ro", fd);
    long flags = 0;
    report("FS_IOC_GETFLAGS", ioctl(fd, FS_IOC_GETFLAGS, &flags));
    flags |= argl(argv, 2);
    report("FS_IOC_SETFLAGS", ioctl(fd, FS_IOC_SETFLAGS, &flags));
    return 0;
}
