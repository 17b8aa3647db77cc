/* A child that exited and is not reaped yet must still be in /proc for its parent. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    pid_t c = fork();
    if (c == 0) _exit(7);
    usleep(200000);  /* the child is a zombie now */
    char p[64]; snprintf(p, sizeof p, "/proc/%d/stat", c);
    FILE *f = fopen(p, "r");
    printf("zombie visible=%d\n", f != NULL);
    int st; waitpid(c, &st, 0);
    printf("status=%d\n", WEXITSTATUS(st));
    return 0;
}
