/* Change a host file's times (argv[1]): utimensat, futimens on a read-only fd. */
#include "escape_common.h"
#include <sys/stat.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    report("utimensat_now", utimensat(AT_FDCWD, argv[1], NULL, 0));
    struct timespec ts[2] = {{12345, 0}, {12345, 0}};
    int fd = open(argv[1], O_RDONLY);
    report("futimens_ro_fd", futimens(fd, ts));
    return 0;
}
