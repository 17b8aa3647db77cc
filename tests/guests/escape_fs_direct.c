/* Write a host file (argv[1]) directly: open O_WRONLY, O_RDWR|O_APPEND, creat. */
#include "escape_common.h"
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int fd = open(argv[1], O_WRONLY);
    report("open_wronly", fd);
    if (fd >= 0) report("write", write(fd, "PWNED\n", 6));
    fd = open(argv[1], O_RDWR | O_APPEND);
    report("open_rdwr_append", fd);
    if (fd >= 0) report("write", write(fd, "PWNED\n", 6));
    report("creat", creat(argv[1], 0644));
    report("unlink", unlink(argv[1]));
    return 0;
}
