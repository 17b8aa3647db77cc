/* io_uring_setup submits I/O the tracer never sees: must be refused. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
    char params[120];
    memset(params, 0, sizeof params);
    long r = syscall(425, 4, params);
    printf("io_uring_setup=%ld errno=%s\n", r, r < 0 ? strerror(errno) : "-");
    return 0;
}
