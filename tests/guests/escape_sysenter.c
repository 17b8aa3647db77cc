/* i386 calls through sysenter (Intel: i386 ABI; AMD: #UD in long mode).
 * Each attempt runs in a child so a SIGILL/SIGSEGV does not stop the rest.
 * argv[1]: host pid to kill; argv[2]: host file to truncate. */
#include "escape_common.h"
static long sysenter(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile("push %%rbp\n\tmov %%rsp, %%rbp\n\tsysenter\n\tpop %%rbp"
                     : "=a"(ret), "+b"(a), "+c"(b), "+d"(c) : "a"(nr) : "memory", "r11");
    return ret;
}
static void attempt(const char *what, long nr, long a, long b, long c) {
    pid_t p = fork();
    if (p == 0) {
        report_raw(what, sysenter(nr, a, b, c));
        _exit(0);
    }
    int st;
    waitpid(p, &st, 0);
    printf("%s child status=%#x\n", what, st);
    fflush(stdout);
}
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    attempt("sysenter_kill", 37, argl(argv, 1), SIGTERM, 0);
    attempt("sysenter_truncate", 92, low32s(argv[2]), 0, 0);
    return 0;
}
