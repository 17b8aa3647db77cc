/* A program kept in a --hide'n directory: it prints a secret the test
 * compiled into it, so its output proves it ran. */
#include <stdio.h>
int main(void) {
    printf("secret=%llx\n", (unsigned long long)SECRET);
    return 0;
}
