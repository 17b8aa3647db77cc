/* A program without libc that prints a secret the test compiled into it
 * (-DSECRET=HEX): position-independent and self-contained, so it also runs
 * when the kernel loads it as another program's ELF interpreter. */
#define S2(x) #x
#define S(x) S2(x)
static const char msg[] = "secret=" S(SECRET) "\n";

void _start(void) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(1), "D"(1), "S"(msg), "d"(sizeof msg - 1) : "rcx", "r11", "memory");
    __asm__ volatile("syscall" : : "a"(60), "D"(0) : "rcx", "r11", "memory");
    for (;;) {
    }
}
