/* Races against the virtual filesystem's path translation.
 *
 *   flip SECRET_PATH N     a thread flips the path buffer between "mine"
 *                          and SECRET_PATH (hidden) while the main thread
 *                          opens and reads it: the kernel must only ever
 *                          see the tracer's copy.
 *   symlink HOST_DIR N     in the guest's copy-on-write layer, a thread
 *                          swaps directory "d" with a symlink whose text is
 *                          HOST_DIR (hidden) while the main thread reads
 *                          "d/secret": the host kernel must not follow a
 *                          symlink planted mid-call.
 * Prints "leaked=K of N" where K counts reads that returned TOPSECRET. */
#include "escape_common.h"
#include <pthread.h>
#include <sys/stat.h>
static char path[4096];
static char target[4096];
static volatile int stop;
static void *flipper(void *arg) {
    (void)arg;
    while (!stop) {
        strcpy(path, "mine");
        strcpy(path, target);
    }
    return NULL;
}
static void *swapper(void *arg) {
    (void)arg;
    while (!stop) {
        if (rename("d", "d.real") == 0) {
            if (symlink(target, "d") == 0) unlink("d");
            rename("d.real", "d");
        }
    }
    return NULL;
}
static int read_is_secret(const char *p) {
    char buf[64] = {0};
    int fd = open(p, O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 && strstr(buf, "TOPSECRET") != NULL;
}
int main(int argc, char **argv) {
    if (argc < 4) return 2;
    int sym = strcmp(argv[1], "symlink") == 0;
    strncpy(target, argv[2], sizeof target - 1);
    long iters = argl(argv, 3), leaked = 0;
    if (sym) {
        mkdir("d", 0755);
        int fd = open("d/secret", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, "mine\n", 5) != 5) return 3;
        close(fd);
    } else {
        int fd = open("mine", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, "mine\n", 5) != 5) return 3;
        close(fd);
        strcpy(path, "mine");
    }
    pthread_t t;
    pthread_create(&t, NULL, sym ? swapper : flipper, NULL);
    for (long i = 0; i < iters; i++)
        leaked += read_is_secret(sym ? "d/secret" : path);
    stop = 1;
    pthread_join(t, NULL);
    printf("leaked=%ld of %ld\n", leaked, iters);
    return 0;
}
