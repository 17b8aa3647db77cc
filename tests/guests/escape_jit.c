/* A syscall instruction in a freshly mmap'd (then made RX) page:
 * kill(argv[1], SIGTERM) and open(argv[2], O_WRONLY|O_TRUNC). */
#include "escape_common.h"
#include <sys/mman.h>
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    /* mov rax, rdi; mov rdi, rsi; mov rsi, rdx; mov rdx, rcx; syscall; ret */
    static const unsigned char code[] = {0x48, 0x89, 0xf8, 0x48, 0x89, 0xf7, 0x48, 0x89,
                                         0xd6, 0x48, 0x89, 0xca, 0x0f, 0x05, 0xc3};
    unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        memcpy(page, code, sizeof code);
        mprotect(page, 4096, PROT_READ | PROT_EXEC);
    } else {
        memcpy(page, code, sizeof code);
    }
    long (*jit)(long, long, long, long) = (long (*)(long, long, long, long))page;
    report_raw("jit_kill", jit(SYS_kill, argl(argv, 1), SIGTERM, 0));
    report_raw("jit_open", jit(SYS_open, (long)argv[2], O_WRONLY | O_TRUNC, 0));
    report_raw("jit_tgkill", jit(SYS_tgkill, argl(argv, 1), argl(argv, 1), SIGTERM));
    return 0;
}
