/* Change a host file's owner (argv[1]) to argv[2]:argv[3]. */
#include "escape_common.h"
int main(int argc, char **argv) {
    if (argc < 4) return 2;
    uid_t u = (uid_t)argl(argv, 2);
    gid_t g = (gid_t)argl(argv, 3);
    report("chown", chown(argv[1], u, g));
    int fd = open(argv[1], O_RDONLY);
    report("fchown_ro_fd", fchown(fd, u, g));
    report("lchown", lchown(argv[1], u, g));
    return 0;
}
