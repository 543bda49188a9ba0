/*
 * sleep: a single-purpose static `sleep SECONDS` for the pjdfstest scenario.
 *
 * pjdfstest's ETXTBSY cases (open::etxtbsy, truncate::etxtbsy) copy the file
 * `which sleep` names into the share, start the copy with argument 10 and
 * expect a write open or truncate of it to fail while it runs. The guest's
 * sleep is busybox, a multi-call binary that picks the applet from argv[0]:
 * started under the copy's random name it prints "applet not found" and exits
 * at once, so the case only measured whether the test won a race against that
 * exit. This program sleeps whatever it is called, so the file really is
 * being executed while the test looks. Built on the host by
 * scenarios/pjdfstest.host-setup.sh.
 */
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
    struct timespec left = { .tv_sec = argc > 1 ? atol(argv[1]) : 1, .tv_nsec = 0 };

    while (nanosleep(&left, &left) != 0)
        ;
    return 0;
}
