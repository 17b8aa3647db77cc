/* A host process the guests attack.  Not run under umlpy.
 *
 * Prints "PID ADDR" (ADDR: a secret buffer) and then, until killed, logs to
 * argv[1] every catchable signal it receives ("SIG n") and any change to
 * the secret ("MEM").  The tests read the log: it must stay empty. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile char secret[64] = "CANARY-SECRET-0123456789";
static int logfd = -1;

static void on_signal(int sig) {
    char buf[32];
    int n = snprintf(buf, sizeof buf, "SIG %d\n", sig);
    if (write(logfd, buf, n) < 0) {
    }
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    logfd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (logfd < 0) return 2;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    for (int s = 1; s < 65; s++)
        if (s != SIGKILL && s != SIGSTOP) sigaction(s, &sa, NULL);
    printf("%d %p\n", getpid(), (void *)secret);
    fflush(stdout);
    struct timespec ts = {0, 20 * 1000 * 1000};
    int reported = 0;
    for (;;) {
        nanosleep(&ts, NULL);
        if (!reported && strcmp((const char *)secret, "CANARY-SECRET-0123456789") != 0) {
            if (write(logfd, "MEM\n", 4) < 0) {
            }
            reported = 1;
        }
    }
}
