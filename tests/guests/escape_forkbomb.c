/* Fork bomb: every process forks as fast as it can for argv[1] seconds; the
 * children keep forking too.  EAGAIN (the task limit) is expected. */
#include "escape_common.h"
#include <time.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    time_t end = time(NULL) + argl(argv, 1);
    long eagain = 0;
    while (time(NULL) < end) {
        pid_t p = fork();
        if (p < 0) {
            if (errno == EAGAIN) eagain++;
            usleep(1000);
        }
    }
    if (eagain) {
    }
    pause();
    return 0;
}
