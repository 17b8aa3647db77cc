/* x32 syscall numbers (nr | 0x40000000): open/truncate a host file,
 * kill a host pid, and the x32-only numbers 512..547. */
#include "escape_common.h"
#define X32 0x40000000L
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    long pid = argl(argv, 1);
    report_raw("x32_kill", raw6(X32 | 62, pid, SIGTERM, 0, 0, 0, 0));
    report_raw("x32_tgkill", raw6(X32 | 234, pid, pid, SIGTERM, 0, 0, 0));
    report_raw("x32_open", raw6(X32 | 2, (long)argv[2], O_WRONLY | O_TRUNC, 0, 0, 0, 0));
    report_raw("x32_truncate", raw6(X32 | 76, (long)argv[2], 0, 0, 0, 0, 0));
    int refused = 0;
    for (long nr = 512; nr <= 547; nr++)
        if (raw6(X32 | nr, pid, SIGTERM, 0, 0, 0, 0) == -ENOSYS) refused++;
    printf("x32_special_enosys=%d\n", refused);
    /* Upper bits above the x32 bit: the kernel reads nr as an int. */
    report_raw("hi_kill", raw6(0x100000000L | 62, pid, SIGTERM, 0, 0, 0, 0));
    return 0;
}
