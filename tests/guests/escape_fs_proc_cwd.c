/* chdir into the host directory (argv[1]), then write its file (argv[2])
 * through /proc/self/cwd and relative paths. */
#include "escape_common.h"
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    report("chdir", chdir(argv[1]));
    char p[4096];
    snprintf(p, sizeof p, "/proc/self/cwd/%s", argv[2]);
    int fd = open(p, O_WRONLY | O_TRUNC);
    report("open_proc_cwd", fd);
    if (fd >= 0) report("write", write(fd, "PWNED\n", 6));
    fd = open(argv[2], O_WRONLY | O_TRUNC);
    report("open_relative", fd);
    if (fd >= 0) report("write", write(fd, "PWNED\n", 6));
    report("create_in_host_dir", open("new-file", O_WRONLY | O_CREAT, 0644));
    return 0;
}
