/* prctl(PR_SET_DUMPABLE, 0): an unprivileged tracer could then no longer read
 * the guest's memory.  Prints READY and waits; the test checks from outside
 * that the guest is still dumpable and still traced. */
#include "escape_common.h"
#include <sys/prctl.h>
int main(void) {
    report("set_dumpable0", prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
    report("get_dumpable", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
    ready_and_wait();
    return 0;
}
