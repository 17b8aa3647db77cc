/* Namespace changes raced against a symlink swap in the guest's own layer.
 *
 *   escape_vfs_ns_race HOSTDIR N
 *
 * A thread keeps exchanging directory "d" with symlink "s" -> HOSTDIR
 * (renameat2 RENAME_EXCHANGE) while the main thread creates, links,
 * renames and removes entries under "d/".  Each call is checked in the
 * guest's view, where "d" is its own directory; a host kernel handed the
 * path later would follow "s" into HOSTDIR on the host. */
#include "escape_common.h"
#include <pthread.h>
#include <sys/stat.h>
static volatile int stop;
static void *swapper(void *arg) {
    (void)arg;
    while (!stop) syscall(SYS_renameat2, AT_FDCWD, "d", AT_FDCWD, "s", 2 /* RENAME_EXCHANGE */);
    return NULL;
}
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    long n = argl(argv, 2), ok = 0;
    mkdir("d", 0755);
    if (symlink(argv[1], "s") != 0) return 3;
    pthread_t t;
    pthread_create(&t, NULL, swapper, NULL);
    char a[64], b[64];
    for (long i = 0; i < n; i++) {
        snprintf(a, sizeof a, "d/m%ld", i);
        snprintf(b, sizeof b, "d/r%ld", i);
        ok += mkdir(a, 0755) == 0;
        ok += rename(a, b) == 0;
        ok += symlink("x", a) == 0;
        ok += mknod(b, S_IFIFO | 0644, 0) == 0;
        ok += rmdir(b) == 0;
        ok += unlink(a) == 0;
    }
    stop = 1;
    pthread_join(t, NULL);
    printf("ok=%ld of %ld\n", ok, 6 * n);
    return 0;
}
