/* Calls umlpy has no implementation for, each refused with ENOSYS by the
 * dispatcher: an unknown x86-64 number (twice), an x32 getpid and an i386
 * getpid through int 0x80.  Prints "-ENOSYS" (38) for each. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>

static long int80(long nr) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr) : "memory");
    return ret;
}

int main(void) {
    long a = syscall(999) < 0 ? -errno : 0;
    long b = syscall(999) < 0 ? -errno : 0;
    long c = syscall(0x40000000L | SYS_getpid) < 0 ? -errno : 0;
    long d = int80(20); /* i386 getpid */
    printf("%ld %ld %ld %ld\n", a, b, c, d);
    return 0;
}
