/* accept4() with an address pointer whose low 32 bits are zero (0x100000000).
 *
 * A filter that tested only the low half of the pointer would let the call run
 * natively, and the host kernel would write the host's view of the peer there.
 * Usage: net_accept_high SERVER_PORT CLIENT_PORT; the client binds
 * CLIENT_PORT first, so under --publish HOST:CLIENT_PORT the host's peer port
 * differs from the guest's.  Prints the peer port found at 0x100000000 and the
 * one accept4() wrote through an ordinary pointer.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static int client(int sport, int cport) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(c, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(cport)};
    if (bind(c, (struct sockaddr *)&a, sizeof a) != 0) { perror("bind client"); exit(1); }
    a.sin_port = htons(sport);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); exit(1); }
    return c;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    int sport = atoi(argv[1]), cport = atoi(argv[2]);
    void *high = mmap((void *)0x100000000UL, 4096, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (high != (void *)0x100000000UL) { perror("mmap"); return 1; }
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(sport)};
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 4) != 0) { perror("server"); return 1; }

    int c1 = client(sport, cport);
    socklen_t len = sizeof(struct sockaddr_in);
    int a1 = accept4(s, (struct sockaddr *)high, &len, 0);
    if (a1 < 0) { perror("accept4 high"); return 1; }
    printf("high %d len %u\n", ntohs(((struct sockaddr_in *)high)->sin_port), (unsigned)len);
    close(c1);
    close(a1);

    int c2 = client(sport, cport + 1);
    struct sockaddr_in peer;
    len = sizeof peer;
    int a2 = accept4(s, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
    if (a2 < 0) { perror("accept4"); return 1; }
    printf("low %d\n", ntohs(peer.sin_port));
    close(c2);
    return 0;
}
