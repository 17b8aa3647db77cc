/* Memory bomb: argv[1] "anon" touches anonymous memory, "memfd" writes to a
 * memfd that is never mapped (page cache, not any process's RSS), "shm"
 * writes a /dev/shm file.  argv[2] MiB in total; then sleeps. */
#include "escape_common.h"
#include <sys/mman.h>
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    long mib = argl(argv, 2);
    static char chunk[1 << 20];
    memset(chunk, 'x', sizeof chunk);
    if (!strcmp(argv[1], "anon")) {
        for (long i = 0; i < mib; i++) {
            char *p = malloc(1 << 20);
            if (!p) break;
            memset(p, 'x', 1 << 20);
        }
    } else {
        int fd = !strcmp(argv[1], "memfd") ? memfd_create("bomb", 0) : shm_open(argv[3], O_RDWR | O_CREAT, 0600);
        for (long i = 0; i < mib; i++)
            if (write(fd, chunk, sizeof chunk) != sizeof chunk) break;
    }
    printf("allocated %ld MiB\n", mib);
    fflush(stdout);
    sleep(3);
    return 0;
}
