/* Fuzz driver: reads records "nr a0 a1 a2 a3 a4 a5" (decimal/hex) from stdin
 * and issues each as a raw syscall, printing "nr ret errno" per line.
 * SIGALRM (no SA_RESTART) interrupts calls that would block. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>
static void on_alarm(int s) { (void)s; }
int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    char line[512];
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof line, stdin)) {
        unsigned long v[7] = {0};
        char *p = line;
        for (int i = 0; i < 7; i++) v[i] = strtoul(p, &p, 0);
        struct itimerval it = {{0, 0}, {0, 20000}};
        setitimer(ITIMER_REAL, &it, NULL);
        errno = 0;
        long r = syscall((long)v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
        int e = r == -1 ? errno : 0;
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &off, NULL);
        printf("%lu %ld %d\n", v[0], r, e);
    }
    return 0;
}
