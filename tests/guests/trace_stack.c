/* A known call chain for `umlpy trace -k`: main -> outer -> inner -> write(2).
 * Built with frame pointers so both umlpy's walk and strace's unwinder see
 * every frame; prints nothing else. */
#include <unistd.h>

__attribute__((noinline)) void inner(int n) {
    char c = (char)('0' + n);
    if (write(1, &c, 1) != 1)
        _exit(1);
}

__attribute__((noinline)) void outer(int n) {
    inner(n);
    __asm__ volatile("" ::: "memory"); /* keep outer's frame: no tail call */
}

int main(void) {
    outer(7);
    return 0;
}
