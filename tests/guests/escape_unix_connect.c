/* Connect to a unix socket the test listens on outside the sandbox:
 * argv[1] "abstract" (name without the NUL), "dgram" (abstract datagram) or
 * "path" (a pathname socket); argv[2] the name/path.  Sends a token. */
#include "escape_common.h"
#include <sys/socket.h>
#include <sys/un.h>
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    socklen_t len;
    size_t n = strlen(argv[2]);
    if (!strcmp(argv[1], "path")) {
        memcpy(sa.sun_path, argv[2], n);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    } else {
        memcpy(sa.sun_path + 1, argv[2], n);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
    }
    int dgram = !strcmp(argv[1], "dgram");
    int s = socket(AF_UNIX, dgram ? SOCK_DGRAM : SOCK_STREAM, 0);
    if (dgram) {
        report("sendto", sendto(s, "ESCAPED", 7, 0, (struct sockaddr *)&sa, len));
    } else {
        report("connect", connect(s, (struct sockaddr *)&sa, len));
        report("send", send(s, "ESCAPED", 7, MSG_NOSIGNAL));
    }
    return 0;
}
