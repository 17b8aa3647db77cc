/* Change a host file's mode (argv[1]): chmod, fchmod on a read-only fd,
 * fchmodat. Landlock has no right for metadata changes. */
#include "escape_common.h"
#include <sys/stat.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    report("chmod", chmod(argv[1], 0777));
    int fd = open(argv[1], O_RDONLY);
    report("fchmod_ro_fd", fchmod(fd, 0666));
    report("fchmodat", fchmodat(AT_FDCWD, argv[1], 0757, 0));
    return 0;
}
