/* An O_PATH fd to a host file (argv[1]) re-opened for writing through
 * /proc/self/fd/N, and openat2 with RESOLVE flags. */
#include "escape_common.h"
#include <linux/openat2.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int o = open(argv[1], O_PATH);
    report("open_opath", o);
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", o);
    int fd = open(p, O_WRONLY | O_TRUNC);
    report("reopen_wronly", fd);
    if (fd >= 0) report("write", write(fd, "PWNED\n", 6));
    struct open_how how = {.flags = O_WRONLY | O_TRUNC, .resolve = RESOLVE_NO_MAGICLINKS};
    report("openat2", syscall(SYS_openat2, AT_FDCWD, argv[1], &how, sizeof how));
    return 0;
}
