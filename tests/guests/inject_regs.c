/* The injected syscall must be invisible: after the tracer injects a call
 * into getcwd's seccomp stop and re-runs getcwd, every register the kernel
 * preserves across syscall is unchanged and getcwd's result is right.
 * Prints "pid=N cwd=... regs=ok|bad" and exits 0 when everything held. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(void) {
    char buf[512], want[512];
    if (!getcwd(want, sizeof want)) return 2;  /* libc's getcwd: the first trapped call */
    long rax;
    register long rdi asm("rdi") = (long)buf;
    register long rsi asm("rsi") = sizeof buf;
    register long rdx asm("rdx") = 0x2222;
    register long r10 asm("r10") = 0x1010;
    register long r8 asm("r8") = 0x0808;
    register long r9 asm("r9") = 0x0909;
    register long rbx asm("rbx") = 0x0b0b;
    asm volatile("syscall"
                 : "=a"(rax), "+r"(rdi), "+r"(rsi), "+r"(rdx), "+r"(r10), "+r"(r8), "+r"(r9), "+r"(rbx)
                 : "a"((long)SYS_getcwd)
                 : "rcx", "r11", "memory");
    int ok = rdi == (long)buf && rsi == (long)sizeof buf && rdx == 0x2222 && r10 == 0x1010 &&
             r8 == 0x0808 && r9 == 0x0909 && rbx == 0x0b0b && rax > 0 && strcmp(buf, want) == 0;
    printf("pid=%d cwd=%s regs=%s\n", getpid(), buf, ok ? "ok" : "bad");
    return ok ? 0 : 1;
}
