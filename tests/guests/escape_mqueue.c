/* Send into a host POSIX message queue (argv[1], e.g. "/name"). */
#include "escape_common.h"
#include <mqueue.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    mqd_t q = mq_open(argv[1], O_WRONLY);
    report("mq_open", (long)q);
    if (q != (mqd_t)-1) report("mq_send", mq_send(q, "PWNED", 5, 0));
    return 0;
}
