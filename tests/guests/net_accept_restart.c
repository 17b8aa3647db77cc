/* accept4() with an address, interrupted by a SA_RESTART signal and restarted
 * by the kernel: the restarted call must still fill in the peer address.
 *
 * Usage: net_accept_restart SERVER_PORT CLIENT_PORT.  Child 1 waits until the
 * parent sleeps in accept4, then exits (SIGCHLD, handled with SA_RESTART);
 * child 2 waits until child 1 is a zombie and the parent sleeps again (in the
 * restarted accept4), then connects from CLIENT_PORT.  Prints the peer port
 * accept4 wrote and the handler count.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t chld;
static void on_chld(int sig) { (void)sig; chld++; }

static char state(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p && p[1] ? p[2] : '?';
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    int sport = atoi(argv[1]), cport = atoi(argv[2]);
    struct sigaction sa = {.sa_handler = on_chld, .sa_flags = SA_RESTART};
    sigaction(SIGCHLD, &sa, NULL);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(sport)};
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 4) != 0) { perror("server"); return 1; }
    pid_t parent = getpid();
    pid_t c1 = fork();
    if (c1 == 0) {
        while (state(parent) != 'S') usleep(1000);
        _exit(0);
    }
    if (fork() == 0) {
        while (state(c1) != 'Z' || state(parent) != 'S') usleep(1000);
        int c = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(c, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = htons(cport)};
        if (bind(c, (struct sockaddr *)&b, sizeof b) != 0) { perror("bind client"); _exit(1); }
        b.sin_port = htons(sport);
        b.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(c, (struct sockaddr *)&b, sizeof b) != 0) { perror("connect"); _exit(1); }
        _exit(0);
    }
    struct sockaddr_in peer;
    memset(&peer, 0, sizeof peer);
    socklen_t len = sizeof peer;
    int x = accept4(s, (struct sockaddr *)&peer, &len, 0);
    if (x < 0) { perror("accept4"); return 1; }
    printf("peer %d len %u chld %d\n", ntohs(peer.sin_port), (unsigned)len, chld > 0);
    return 0;
}
