/* execve from a secondary thread: the thread takes over the leader's pid. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static void *run(void *arg) {
    (void)arg;
    char *argv[] = {"/bin/echo", "exec from thread ok", NULL};
    execv(argv[0], argv);
    perror("execv");
    return NULL;
}
int main(void) {
    pthread_t t;
    pthread_create(&t, NULL, run, NULL);
    pthread_join(t, NULL);
    return 1;
}
