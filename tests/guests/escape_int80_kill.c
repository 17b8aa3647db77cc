/* i386 kill/tkill/tgkill of a host pid (argv[1]) through int $0x80. */
#include "escape_common.h"
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    long pid = argl(argv, 1);
    report_raw("i386_kill", int80(37, pid, SIGTERM, 0, 0, 0));
    report_raw("i386_tkill", int80(238, pid, SIGTERM, 0, 0, 0));
    report_raw("i386_tgkill", int80(270, pid, pid, SIGTERM, 0, 0));
    report_raw("i386_kill_all", int80(37, -1, SIGUSR2, 0, 0, 0));
    return 0;
}
