/* Attacks on umlpy's scratch region.  The test's handler answers
 * openat(PROBE) by placing "umlpy-probe" in the region and returning its
 * address.  Every attempt to make the region writable, replace it or
 * discard it must fail; prints one "name=result" line per attempt, where
 * result is an errno name, "ok" (the call succeeded: a hole) or a value.
 * usage: inject_guard PROBE_PATH */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *probe;

static const char *res(long r) {
    if (r != -1) return "ok";
    switch (errno) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EINVAL: return "EINVAL";
    case ENOMEM: return "ENOMEM";
    case EEXIST: return "EEXIST";
    case ENOSYS: return "ENOSYS";
    default: return "other";
    }
}

static char *ask(void) { return (char *)syscall(SYS_openat, AT_FDCWD, probe, O_RDONLY); }

static void attacks(const char *who, char *page) {
    printf("%s.content=%s\n", who, strcmp(page, "umlpy-probe") == 0 ? "probe" : "changed");
    printf("%s.mprotect_rw=%s\n", who, res(mprotect(page, 4096, PROT_READ | PROT_WRITE)));
    printf("%s.mprotect_none=%s\n", who, res(mprotect(page, 4096, PROT_NONE)));
    printf("%s.pkey_mprotect=%s\n", who, res(syscall(SYS_pkey_mprotect, page, 4096, PROT_READ | PROT_WRITE, -1)));
    printf("%s.munmap=%s\n", who, res(munmap(page, 4096)));
    printf("%s.munmap_big=%s\n", who, res(munmap(page - 4096 * 64, 4096 * 256)));
    printf("%s.madv_dontneed=%s\n", who, res(madvise(page, 4096, MADV_DONTNEED)));
    printf("%s.madv_dontfork=%s\n", who, res(madvise(page, 4096, MADV_DONTFORK)));
    printf("%s.madv_wipeonfork=%s\n", who, res(madvise(page, 4096, MADV_WIPEONFORK)));
    void *m = mmap(page, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("%s.mmap_fixed=%s\n", who, res(m == MAP_FAILED ? -1 : 0));
    char *other = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("%s.mremap_grow=%s\n", who, res((long)mremap(page, 4096, 8192, MREMAP_MAYMOVE) == -1 ? -1 : 0));
    void *r = mremap(other, 4096, 4096, MREMAP_MAYMOVE | MREMAP_FIXED, page);
    printf("%s.mremap_onto=%s\n", who, res(r == MAP_FAILED ? -1 : 0));
    int id = shmget(IPC_PRIVATE, 4096, 0600 | IPC_CREAT);
    void *s = shmat(id, page, SHM_REMAP);
    printf("%s.shmat_remap=%s\n", who, res(s == (void *)-1 ? -1 : 0));
    shmctl(id, IPC_RMID, NULL);
    struct iovec local = {(void *)"EVIL", 5}, remote = {page, 5};
    printf("%s.vm_writev=%s\n", who, res(syscall(SYS_process_vm_writev, getpid(), &local, 1, &remote, 1, 0)));
    pid_t c = fork();
    if (c == 0) { page[0] = 'X'; _exit(0); }
    int st = 0;
    waitpid(c, &st, 0);
    printf("%s.store=%s\n", who, WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV ? "SIGSEGV" : "ok");
    printf("%s.after=%s\n", who, strcmp(page, "umlpy-probe") == 0 ? "probe" : "changed");
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    probe = argv[1];
    setvbuf(stdout, NULL, _IONBF, 0);
    char *page = ask();
    if ((long)page < 0) { printf("probe=failed %ld\n", (long)page); return 1; }
    attacks("parent", page);
    pid_t c = fork();
    if (c == 0) {
        char *again = ask();  /* the inherited region is reused: same address */
        printf("child.same_address=%s\n", again == page ? "yes" : "no");
        attacks("child", again);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    int fd = open("/proc/self/mem", O_RDWR);
    printf("proc_self_mem=%s\n", res(fd < 0 ? -1 : pwrite(fd, "EVIL", 5, (off_t)page)));
    return 0;
}
