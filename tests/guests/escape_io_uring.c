/* io_uring: set up a ring and, if that worked, queue a write to a host file
 * (argv[1]) that the tracer would never see. */
#include "escape_common.h"
#include <linux/io_uring.h>
#include <sys/mman.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    long ring = syscall(SYS_io_uring_setup, 4, &p);
    report("io_uring_setup", ring);
    report("io_uring_setup_hi", syscall(SYS_io_uring_setup, (1L << 32) | 4, &p));
    report("io_uring_enter", syscall(SYS_io_uring_enter, 0, 1, 0, 0, NULL, 0));
    report("io_uring_register", syscall(SYS_io_uring_register, 0, 0, NULL, 0));
    if (ring < 0) return 0;
    /* A real ring: IORING_OP_OPENAT on the canary with O_TRUNC. */
    int fd = (int)ring;
    size_t sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    char *sq = mmap(NULL, sq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof *sqes, PROT_READ | PROT_WRITE,
                                     MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    unsigned *tail = (unsigned *)(sq + p.sq_off.tail), *array = (unsigned *)(sq + p.sq_off.array);
    memset(&sqes[0], 0, sizeof sqes[0]);
    sqes[0].opcode = IORING_OP_OPENAT;
    sqes[0].fd = AT_FDCWD;
    sqes[0].addr = (unsigned long)argv[1];
    sqes[0].open_flags = O_WRONLY | O_TRUNC;
    array[0] = 0;
    __atomic_store_n(tail, 1, __ATOMIC_RELEASE);
    report("io_uring_enter_openat", syscall(SYS_io_uring_enter, fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0));
    return 0;
}
