/* Push "input" into a terminal with TIOCSTI: argv[1] is a tty path, or "-"
 * for fd 0 (the controlling terminal umlpy shares with the guest).  Once
 * umlpy exits, the shell would read and run it. */
#include "escape_common.h"
#include <sys/ioctl.h>
#include <termios.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int fd = strcmp(argv[1], "-") ? open(argv[1], O_RDWR | O_NOCTTY) : 0;
    report("open_tty", fd);
    const char *cmd = "echo INJECTED\n";
    long ok = 0;
    for (const char *c = cmd; *c; c++) ok += ioctl(fd, TIOCSTI, c) == 0;
    printf("tiocsti_ok=%ld errno=%s\n", ok, strerrorname_np(errno));
    return 0;
}
