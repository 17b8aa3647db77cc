/* Truncate a host file (argv[1]) without asking for write access:
 * O_RDONLY|O_TRUNC, truncate(2), and ftruncate on a read-only fd. */
#include "escape_common.h"
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    report("open_rdonly_trunc", open(argv[1], O_RDONLY | O_TRUNC));
    report("truncate", truncate(argv[1], 0));
    int fd = open(argv[1], O_RDONLY);
    report("ftruncate_ro_fd", ftruncate(fd, 0));
    report("fallocate_ro_fd", fallocate(fd, 0x02 | 0x01 /* PUNCH_HOLE|KEEP_SIZE */, 0, 4096));
    return 0;
}
