/* bpf(BPF_MAP_CREATE) and perf_event_open: kernel-side programs and
 * observability, refused outright. */
#include "escape_common.h"
#include <linux/bpf.h>
#include <linux/perf_event.h>
int main(void) {
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.map_type = BPF_MAP_TYPE_ARRAY;
    a.key_size = 4;
    a.value_size = 4;
    a.max_entries = 1;
    report("bpf_map_create", syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof a));
    struct perf_event_attr pe;
    memset(&pe, 0, sizeof pe);
    pe.type = PERF_TYPE_SOFTWARE;
    pe.size = sizeof pe;
    pe.config = PERF_COUNT_SW_CPU_CLOCK;
    report("perf_event_open", syscall(SYS_perf_event_open, &pe, -1, 0, -1, 0));
    report("perf_event_open_self", syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0));
    return 0;
}
