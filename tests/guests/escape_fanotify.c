/* As root: a fanotify permission mark on the host filesystem holding a file
 * (argv[1]); every open of it by any host process is answered FAN_DENY for
 * argv[2] seconds. */
#include "escape_common.h"
#include <poll.h>
#include <sys/fanotify.h>
#include <time.h>
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int fan = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_CLOEXEC);
    report("fanotify_init", fan);
    if (fan < 0) { ready_and_wait(); return 0; }
    report("fanotify_mark", fanotify_mark(fan, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, argv[1]));
    printf("READY %d\n", getpid());
    fflush(stdout);
    time_t end = time(NULL) + argl(argv, 2);
    char buf[4096];
    while (time(NULL) < end) {
        struct pollfd pfd = {fan, POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0) continue;
        ssize_t n = read(fan, buf, sizeof buf);
        for (struct fanotify_event_metadata *m = (void *)buf; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
            struct fanotify_response r = {m->fd, FAN_DENY};
            if (write(fan, &r, sizeof r) < 0) {
            }
            close(m->fd);
        }
    }
    return 0;
}
