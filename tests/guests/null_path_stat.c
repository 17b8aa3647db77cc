/* newfstatat(fd, NULL, AT_EMPTY_PATH): Linux >= 6.11 accepts a NULL path there. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
    int fd = open("/etc/passwd", O_RDONLY);
    struct stat st;
    long r = syscall(SYS_newfstatat, fd, NULL, &st, AT_EMPTY_PATH);
    printf("r=%ld size>0=%d\n", r, st.st_size > 0);
    return 0;
}
