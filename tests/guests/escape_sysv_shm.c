/* Attach a host SysV shared-memory segment (argv[1] = shmid) and write into
 * it; SysV IPC objects live in the host's IPC namespace. */
#include "escape_common.h"
#include <sys/shm.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int id = (int)argl(argv, 1);
    char *p = shmat(id, NULL, 0);
    report("shmat", p == (void *)-1 ? -1 : 0);
    if (p != (void *)-1) memcpy(p, "PWNED", 5);
    return 0;
}
