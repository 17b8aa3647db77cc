/* Exec a copy of a program that is executable but not readable (mode 0111):
 * the kernel makes the new image non-dumpable, whatever prctl umlpy emulates.
 * argv[1]: program to copy, argv[2]: where to put the copy. */
#include "escape_common.h"
#include <sys/stat.h>
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int in = open(argv[1], O_RDONLY), out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0700);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, n) != n) return 1;
    close(in);
    close(out);
    chmod(argv[2], 0111);
    char *av[] = {argv[2], NULL};
    execv(argv[2], av);
    report("execv", -1);
    return 1;
}
