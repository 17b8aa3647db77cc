/* For `umlpy trace -e signal=`: catches SIGUSR1 and SIGUSR2, then dies of SIGTERM. */
#include <signal.h>
#include <unistd.h>

static void handler(int sig) { (void)sig; }

int main(void) {
    signal(SIGUSR1, handler);
    signal(SIGUSR2, handler);
    raise(SIGUSR1);
    raise(SIGUSR2);
    kill(getpid(), SIGTERM);
    return 0;
}
