/* Threads doing work and syscalls concurrently; output is deterministic. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#define N 8
static long sums[N];
static void *work(void *arg) {
    long i = (long)arg, s = 0;
    for (long k = 0; k < 100000; k++) s += k % (i + 1);
    for (int k = 0; k < 50; k++) getppid();
    sums[i] = s;
    return NULL;
}
int main(void) {
    pthread_t t[N];
    for (long i = 0; i < N; i++) pthread_create(&t[i], NULL, work, (void *)i);
    for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++) printf("%d %ld\n", i, sums[i]);
    return 0;
}
