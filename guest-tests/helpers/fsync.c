/*
 * fsync: `fsync [-d] PATH...` opens each path read-only (a directory too) and
 * calls fsync(2), or fdatasync(2) with -d. The guest's busybox has no such
 * applet; the crash-sim scenario needs FSYNC and FSYNCDIR at chosen points.
 * Built on the host by guest-tests/crash-sim.sh and put into the initramfs.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int datasync = 0, status = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-d") == 0) {
            datasync = 1;
            continue;
        }
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0 || (datasync ? fdatasync(fd) : fsync(fd)) != 0) {
            perror(argv[i]);
            status = 1;
        }
        if (fd >= 0)
            close(fd);
    }
    return status;
}
