/* Shared helpers for the escape_*.c adversarial guests (tests/escapes/).
 *
 * Guests report what they tried on stdout ("name=ret errno=E"), but the
 * tests never trust that: each test checks an outside fact instead. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* An i386 system call through int $0x80 from 64-bit code. */
static inline long int80(long nr, long a, long b, long c, long d, long e) {
    long ret;
    register long rsi __asm__("rsi") = d;
    register long rdi __asm__("rdi") = e;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a), "c"(b), "d"(c), "r"(rsi), "r"(rdi)
                     : "memory", "r8", "r9", "r10", "r11");
    return ret;
}

/* A raw x86-64 syscall instruction with an arbitrary (e.g. x32) number. */
static inline long raw6(long nr, long a, long b, long c, long d, long e, long f) {
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

static inline void report(const char *what, long r) {
    printf("%s=%ld errno=%s\n", what, r, r < 0 ? strerrorname_np(errno) : "-");
    fflush(stdout);
}

static inline void report_raw(const char *what, long r) {
    printf("%s=%ld%s%s\n", what, r, r < 0 && r > -4096 ? " errno=" : "",
           r < 0 && r > -4096 ? strerrorname_np((int)-r) : "");
    fflush(stdout);
}

/* Wait for the test to say "go" on stdin (used by interactive tests). */
static inline void ready_and_wait(void) {
    printf("READY %d\n", getpid());
    fflush(stdout);
    char buf[16];
    while (read(0, buf, sizeof buf) > 0) {
    }
}

static inline long argl(char **argv, int i) { return strtol(argv[i], NULL, 0); }

/* Copy into memory below 4 GiB, so an i386 call sees the whole pointer. */
static inline void *low32(const void *src, size_t n) {
    static char *page;
    static size_t used;
    if (!page) page = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    char *p = page + used;
    used += (n + 15) & ~(size_t)15;
    memcpy(p, src, n);
    return p;
}
static inline long low32s(const char *s) { return (long)low32(s, strlen(s) + 1); }
