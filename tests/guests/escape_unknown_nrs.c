/* Every unassigned x86-64 number (336..423, 470..1023) and a few huge ones,
 * each called as if it were kill(argv[1], SIGTERM) and truncate(argv[2]). */
#include "escape_common.h"
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    long pid = argl(argv, 1);
    int calls = 0, enosys = 0;
    long ranges[][2] = {{336, 423}, {470, 1023}};
    for (int r = 0; r < 2; r++)
        for (long nr = ranges[r][0]; nr <= ranges[r][1]; nr++) {
            long a = raw6(nr, pid, SIGTERM, pid, SIGTERM, 0, 0);
            long b = raw6(nr, (long)argv[2], 0, 0, 0, 0, 0);
            calls += 2;
            enosys += (a == -ENOSYS) + (b == -ENOSYS);
        }
    long huge[] = {0x3fffffff, 0x7fffffff, 0x80000000L, 0xffffffffL, -2};
    for (int i = 0; i < 5; i++) {
        calls++;
        enosys += raw6(huge[i], pid, SIGTERM, 0, 0, 0, 0) == -ENOSYS;
    }
    printf("calls=%d enosys=%d\n", calls, enosys);
    return 0;
}
