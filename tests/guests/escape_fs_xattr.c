/* Set/remove extended attributes on a host file (argv[1]). */
#include "escape_common.h"
#include <sys/xattr.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    report("setxattr_user", setxattr(argv[1], "user.pwned", "1", 1, 0));
    int fd = open(argv[1], O_RDONLY);
    report("fsetxattr_ro_fd", fsetxattr(fd, "user.pwned2", "1", 1, 0));
    report("setxattr_trusted", setxattr(argv[1], "trusted.pwned", "1", 1, 0));
    report("setxattr_security", setxattr(argv[1], "security.pwned", "1", 1, 0));
    return 0;
}
