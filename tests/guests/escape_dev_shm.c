/* Overwrite a host program's POSIX shared memory object in /dev/shm
 * (argv[1], the object's name) through shm_open. */
#include "escape_common.h"
#include <sys/mman.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int fd = shm_open(argv[1], O_RDWR, 0);
    report("shm_open", fd);
    if (fd >= 0) report("pwrite", pwrite(fd, "PWNED", 5, 0));
    return 0;
}
