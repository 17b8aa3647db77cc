/* Per-call cost of the socket calls the virtual network stops for.
 * Prints "name usec_per_call" lines; run natively and under umlpy
 * (benchmarks/net_calls.py does both). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 4096) || getsockname(s, (struct sockaddr *)&a, &len)) {
        perror("server");
        return 1;
    }
    int c0 = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c0, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return 1; }
    struct sockaddr_in b;
    double t0 = now();
    pid_t me = getpid();
    for (int i = 0; i < n; i++) kill(me, 0);  /* a plain checked stop, for reference */
    printf("kill-reference %.2f\n", (now() - t0) / n);
    t0 = now();
    for (int i = 0; i < n; i++) { len = sizeof b; getsockname(c0, (struct sockaddr *)&b, &len); }
    printf("getsockname %.2f\n", (now() - t0) / n);
    t0 = now();
    for (int i = 0; i < n; i++) { len = sizeof b; getpeername(c0, (struct sockaddr *)&b, &len); }
    printf("getpeername %.2f\n", (now() - t0) / n);

    double tc = 0, tnull = 0, taddr = 0;
    for (int i = 0; i < 2 * n; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        double t = now();
        if (connect(c, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return 1; }
        tc += now() - t;
        len = sizeof b;
        t = now();
        int x = (i & 1) ? accept4(s, (struct sockaddr *)&b, &len, 0) : accept4(s, NULL, NULL, 0);
        if (x < 0) { perror("accept4"); return 1; }
        if (i & 1) taddr += now() - t; else tnull += now() - t;
        close(x);
        close(c);
    }
    printf("connect %.2f\n", tc / (2 * n));
    printf("accept4-null %.2f\n", tnull / n);
    printf("accept4-addr %.2f\n", taddr / n);
    return 0;
}
