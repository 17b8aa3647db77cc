/* i386 socketcall(SOCKET, CONNECT) and the direct socket/connect numbers
 * to an abstract unix socket (argv[1], without the leading NUL). */
#include "escape_common.h"
#include <sys/socket.h>
#include <sys/un.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    struct sockaddr_un *sap = low32(&(struct sockaddr_un){0}, sizeof(struct sockaddr_un)), sa = {0};
    sa.sun_family = AF_UNIX;
    size_t n = strlen(argv[1]);
    memcpy(sa.sun_path + 1, argv[1], n);
    int len = (int)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
    *sap = sa;
    int *sargs = low32((int[3]){AF_UNIX, SOCK_STREAM, 0}, 12);
    long fd = int80(102, 1, (long)sargs, 0, 0, 0); /* socketcall(SYS_SOCKET) */
    report_raw("i386_socketcall_socket", fd);
    int *cargs = low32((int[3]){(int)fd, (int)(long)sap, len}, 12);
    if (fd >= 0) report_raw("i386_socketcall_connect", int80(102, 3, (long)cargs, 0, 0, 0));
    long fd2 = int80(359, AF_UNIX, SOCK_STREAM, 0, 0, 0); /* socket */
    report_raw("i386_socket", fd2);
    if (fd2 >= 0) report_raw("i386_connect", int80(362, fd2, (long)sap, len, 0, 0));
    /* The same through a native socket and an i386 connect. */
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    report_raw("i386_connect_native_fd", int80(362, s, (long)sap, len, 0, 0));
    return 0;
}
