/* userfaultfd through the syscall (argv[1] = "syscall") or through
 * /dev/userfaultfd (argv[1] = "dev").  On success the fd is kept open while
 * the guest waits, so the test can see it in /proc/PID/fd. */
#include "escape_common.h"
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    long uffd = -1;
    if (!strcmp(argv[1], "syscall")) {
        uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
        report("userfaultfd", uffd);
        if (uffd < 0) uffd = syscall(SYS_userfaultfd, UFFD_USER_MODE_ONLY);
        report("userfaultfd_user_mode", uffd);
    } else {
        int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
        report("open_dev_rw", dev);
        if (dev < 0) dev = open("/dev/userfaultfd", O_RDONLY | O_CLOEXEC);
        report("open_dev_ro", dev);
        if (dev >= 0) uffd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC);
        report("USERFAULTFD_IOC_NEW", uffd);
    }
    if (uffd >= 0) {
        struct uffdio_api api = {.api = UFFD_API};
        report("UFFDIO_API", ioctl((int)uffd, UFFDIO_API, &api));
    }
    ready_and_wait();
    return 0;
}
