/* Replace a host file (argv[1]) by renaming a file from the writable dir
 * over it: rename, renameat2(RENAME_EXCHANGE), and moving the canary out. */
#include "escape_common.h"
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int fd = open("evil", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (write(fd, "PWNED\n", 6) < 0) return 1;
    close(fd);
    report("rename_over", rename("evil", argv[1]));
    report("renameat2_exchange", syscall(SYS_renameat2, AT_FDCWD, "evil", AT_FDCWD, argv[1], 2 /* RENAME_EXCHANGE */));
    report("rename_out", rename(argv[1], "stolen"));
    report("renameat2_noreplace_out", syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, "stolen2", 1));
    return 0;
}
