/* 8 threads hammer trapped syscalls (kill(getpid(), 0), tgkill(self, 0),
 * prlimit64(getpid())), argv[1] iterations each. */
#include "escape_common.h"
#include <pthread.h>
#include <sys/resource.h>
static long iters;
static void *hammer(void *a) {
    (void)a;
    struct rlimit rl;
    for (long i = 0; i < iters; i++) {
        kill(getpid(), 0);
        syscall(SYS_tgkill, getpid(), gettid(), 0);
        syscall(SYS_prlimit64, getpid(), RLIMIT_NOFILE, NULL, &rl);  /* an explicit pid stops; 0 would not */
    }
    return NULL;
}
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    iters = argl(argv, 1);
    pthread_t t[8];
    for (int i = 0; i < 8; i++) pthread_create(&t[i], NULL, hammer, NULL);
    for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
    printf("done\n");
    return 0;
}
