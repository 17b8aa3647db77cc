/* A thread flips connect(2)'s sockaddr between the guest's own loopback
 * server (allowed under --net none) and a host loopback port (denied), while
 * the main thread connects in a loop.  Prints "own=N refused=M other=K".
 * argv: denied_port iterations */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in target;
static volatile int stop;
static unsigned short own_port, denied_port;
static int srv;

static void *flip(void *arg) {
    (void)arg;
    volatile unsigned short *port = (volatile unsigned short *)&target.sin_port;
    while (!stop) {
        *port = htons(own_port);
        *port = htons(denied_port);
    }
    return NULL;
}

static void *acceptor(void *arg) {
    (void)arg;
    for (;;) {
        int c = accept(srv, NULL, NULL);
        if (c >= 0) close(c);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    denied_port = (unsigned short)atoi(argv[1]);
    int iterations = atoi(argv[2]);
    srv = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(srv, (struct sockaddr *)&a, sizeof a) || listen(srv, 128)) { perror("server"); return 2; }
    socklen_t len = sizeof a;
    getsockname(srv, (struct sockaddr *)&a, &len);
    own_port = ntohs(a.sin_port);
    target = a;
    pthread_t t1, t2;
    pthread_create(&t2, NULL, acceptor, NULL);
    pthread_create(&t1, NULL, flip, NULL);
    int own = 0, refused = 0, other = 0;
    for (int i = 0; i < iterations; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(s, (struct sockaddr *)&target, sizeof target) == 0) {
            struct sockaddr_in peer;
            socklen_t pl = sizeof peer;
            getpeername(s, (struct sockaddr *)&peer, &pl);
            if (ntohs(peer.sin_port) == own_port) own++; else other++;
        } else if (errno == ECONNREFUSED) {
            refused++;
        } else {
            other++;
        }
        close(s);
    }
    stop = 1;
    pthread_join(t1, NULL);
    printf("own=%d refused=%d other=%d\n", own, refused, other);
    return 0;
}
