/* A 64-bit program making i386 syscalls through int 0x80: write(1) and getpid.
 * umlpy refuses the i386 ABI: each must fail with -ENOSYS and write nothing. */
#include <stdio.h>
static long int80(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return ret;
}
static char msg[] = "LEAKED\n";
int main(void) {
    long w = int80(4, 1, (long)msg, 7);   /* i386 write */
    long p = int80(20, 0, 0, 0);          /* i386 getpid */
    printf("write=%ld getpid=%ld\n", w, p);
    return 0;
}
