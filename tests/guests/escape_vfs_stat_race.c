/* stat() of d/NAME while another thread exchanges d with a symlink to a
 * --hide'n host directory (both in the guest's copy-on-write layer).
 *
 *   escape_vfs_stat_race WORKDIR NAME HIDDEN_DIR ITERATIONS
 *
 * WORKDIR/d/NAME is the guest's own empty file; HIDDEN_DIR/NAME a hidden
 * file of a size the guest cannot know.  Prints every distinct size seen:
 * the test checks the hidden one never shows. */
#include "escape_common.h"
#include <pthread.h>
#include <sys/stat.h>

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
    long iters = argl(argv, 4);
    pthread_t t;
    pthread_create(&t, NULL, swapper, NULL);
    long long seen[16];
    int nseen = 0;
    for (long i = 0; i < iters; i++) {
        struct stat st;
        if (stat(file, &st) != 0) continue;
        int known = 0;
        for (int j = 0; j < nseen; j++) known |= seen[j] == st.st_size;
        if (!known && nseen < 16) {
            seen[nseen++] = st.st_size;
            printf("size=%lld\n", (long long)st.st_size);
            fflush(stdout);
        }
    }
    stop = 1;
    pthread_join(t, NULL);
    return 0;
}
