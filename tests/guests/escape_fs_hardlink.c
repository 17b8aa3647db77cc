/* Hard-link a host file (argv[1]) into the writable dir (cwd), then write
 * through the link; also linkat through /proc/self/fd with AT_SYMLINK_FOLLOW. */
#include "escape_common.h"
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    report("link", link(argv[1], "hl"));
    int fd = open("hl", O_WRONLY | O_TRUNC);
    report("open_hardlink", fd);
    if (fd >= 0) report("write", write(fd, "PWNED\n", 6));
    int ro = open(argv[1], O_RDONLY);
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", ro);
    report("linkat_proc_fd", linkat(AT_FDCWD, p, AT_FDCWD, "hl2", AT_SYMLINK_FOLLOW));
    fd = open("hl2", O_WRONLY | O_TRUNC);
    report("open_hardlink2", fd);
    if (fd >= 0) report("write", write(fd, "PWNED\n", 6));
    return 0;
}
