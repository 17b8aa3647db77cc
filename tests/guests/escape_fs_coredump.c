/* Make the kernel write a core file into a host directory (argv[1]):
 * chdir there, raise RLIMIT_CORE and crash.  No syscall writes the file. */
#include "escape_common.h"
#include <sys/resource.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
    setrlimit(RLIMIT_CORE, &rl);
    pid_t c = fork();
    if (c == 0) {
        if (chdir(argv[1])) _exit(3);
        abort();
    }
    int st;
    waitpid(c, &st, 0);
    printf("child status=%#x core=%d\n", st, WCOREDUMP(st) ? 1 : 0);
    return 0;
}
