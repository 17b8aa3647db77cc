/* Thread storm: create detached threads that sleep, until creation fails
 * or argv[1] threads exist; report how many were made. */
#include "escape_common.h"
#include <pthread.h>
static void *sleeper(void *a) {
    (void)a;
    for (;;) pause();
    return NULL;
}
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    long want = argl(argv, 1), made = 0;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 64 * 1024);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    for (; made < want; made++) {
        pthread_t t;
        int e = pthread_create(&t, &at, sleeper, NULL);
        if (e) {
            printf("pthread_create failed after %ld: %s\n", made, strerrorname_np(e));
            break;
        }
    }
    printf("made=%ld\n", made);
    fflush(stdout);
    return 0;
}
