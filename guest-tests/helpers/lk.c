/*
 * lk: takes, tests and holds file locks for the `locks` guest scenario.
 * Built static on the host by scenarios/locks.host-setup.sh; each call is
 * one guest process, so two calls are two processes contending for a lock.
 *
 *   lk hold MODE FILE START LEN TYPE READY RELEASE
 *        lock (blocking), create READY, wait until RELEASE exists, exit
 *   lk try MODE FILE START LEN TYPE      exit 0 locked, 1 conflict, 2 error
 *   lk wait MODE FILE START LEN TYPE     blocking lock, then exit 0
 *   lk getlk FILE START LEN TYPE         print "none" or "R|W START LEN PID"
 *   lk closeother FILE                   POSIX lock dies with any close
 *   lk deadlock FILE                     two processes: one gets EDEADLK
 *   lk eintr FILE                        blocked F_SETLKW returns EINTR
 *
 * MODE: posix (F_SETLK), ofd (F_OFD_SETLK), flock (flock(2); START/LEN
 * ignored). TYPE: r or w.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int open_file(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT, 0666);
	if (fd < 0) {
		fprintf(stderr, "open %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return fd;
}

static struct flock range(long start, long len, char type)
{
	struct flock fl;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = type == 'r' ? F_RDLCK : type == 'w' ? F_WRLCK : F_UNLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = start;
	fl.l_len = len;
	return fl;
}

/* One lock attempt; returns 0 or an errno. */
static int lock(int fd, const char *mode, long start, long len, char type, int wait)
{
	int rc;
	if (strcmp(mode, "flock") == 0) {
		int op = type == 'r' ? LOCK_SH : LOCK_EX;
		rc = flock(fd, op | (wait ? 0 : LOCK_NB));
	} else {
		struct flock fl = range(start, len, type);
		int ofd = strcmp(mode, "ofd") == 0;
		int cmd = ofd ? (wait ? F_OFD_SETLKW : F_OFD_SETLK) : (wait ? F_SETLKW : F_SETLK);
		rc = fcntl(fd, cmd, &fl);
	}
	return rc == 0 ? 0 : errno;
}

static int is_conflict(int err)
{
	return err == EAGAIN || err == EACCES || err == EWOULDBLOCK;
}

static void touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	if (fd >= 0)
		close(fd);
}

static int cmd_hold(char **a)
{
	int fd = open_file(a[1]);
	int err = lock(fd, a[0], atol(a[2]), atol(a[3]), a[4][0], 1);
	if (err) {
		fprintf(stderr, "hold: %s\n", strerror(err));
		return 2;
	}
	touch(a[5]);
	while (access(a[6], F_OK) != 0)
		usleep(20000);
	return 0;
}

static int cmd_try(char **a, int wait)
{
	int fd = open_file(a[1]);
	int err = lock(fd, a[0], atol(a[2]), atol(a[3]), a[4][0], wait);
	if (err == 0)
		return 0;
	if (is_conflict(err))
		return 1;
	fprintf(stderr, "lock: %s\n", strerror(err));
	return 2;
}

static int cmd_getlk(char **a)
{
	int fd = open_file(a[0]);
	struct flock fl = range(atol(a[1]), atol(a[2]), a[3][0]);
	if (fcntl(fd, F_GETLK, &fl) != 0) {
		fprintf(stderr, "F_GETLK: %s\n", strerror(errno));
		return 2;
	}
	if (fl.l_type == F_UNLCK)
		printf("none\n");
	else
		printf("%s %ld %ld %d\n", fl.l_type == F_RDLCK ? "R" : "W",
		       (long)fl.l_start, (long)fl.l_len, (int)fl.l_pid);
	return 0;
}

/* Exit status of a child that tries a write lock on the whole file. */
static int child_try(const char *path)
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open_file(path);
		int err = lock(fd, "posix", 0, 0, 'w', 0);
		_exit(err == 0 ? 0 : is_conflict(err) ? 1 : 2);
	}
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 3;
}

static int cmd_closeother(char **a)
{
	int fd = open_file(a[0]);
	if (lock(fd, "posix", 0, 0, 'w', 0) != 0)
		return 2;
	int held = child_try(a[0]);
	close(open_file(a[0]));
	int after = child_try(a[0]);
	printf("held=%d after_close=%d\n", held, after);
	return held == 1 && after == 0 ? 0 : 1;
}

static int cmd_deadlock(char **a)
{
	int fd = open_file(a[0]);
	int go[2], back[2];
	if (pipe(go) || pipe(back) || lock(fd, "posix", 0, 1, 'w', 0))
		return 2;
	pid_t pid = fork();
	if (pid == 0) {
		int cfd = open_file(a[0]);
		char c;
		if (lock(cfd, "posix", 1, 1, 'w', 0))
			_exit(2);
		write(back[1], "x", 1);
		read(go[0], &c, 1);
		/* Blocks on the parent's byte 0 until the parent gives up. */
		int err = lock(cfd, "posix", 0, 1, 'w', 1);
		_exit(err == 0 ? 0 : err == EDEADLK ? 4 : 2);
	}
	char c;
	read(back[0], &c, 1);
	write(go[1], "x", 1);
	usleep(300000); /* let the child block on byte 0 */
	int err = lock(fd, "posix", 1, 1, 'w', 1);
	int child_status = -1;
	if (err == EDEADLK) {
		struct flock un = range(0, 0, 'u');
		fcntl(fd, F_SETLK, &un);
	}
	int status;
	waitpid(pid, &status, 0);
	child_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	printf("parent=%s child=%d\n", err == EDEADLK ? "EDEADLK" : strerror(err), child_status);
	/* Whichever process closed the cycle gets EDEADLK; the other one then
	 * gets its lock. */
	if (err == EDEADLK)
		return child_status == 0 ? 0 : 1;
	return err == 0 && child_status == 4 ? 0 : 1;
}

static void on_alarm(int sig)
{
	(void)sig;
}

static int cmd_eintr(char **a)
{
	int ready[2];
	char c;
	if (pipe(ready))
		return 2;
	pid_t pid = fork();
	if (pid < 0)
		return 2;
	if (pid == 0) {
		int fd = open_file(a[0]);
		lock(fd, "posix", 0, 0, 'w', 0);
		write(ready[1], "x", 1);
		pause();
		_exit(0);
	}
	read(ready[0], &c, 1);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART */
	sigaction(SIGALRM, &sa, NULL);
	int fd = open_file(a[0]);
	alarm(1);
	int err = lock(fd, "posix", 0, 0, 'w', 1);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	printf("setlkw=%s\n", err == 0 ? "acquired" : strerror(err));
	return err == EINTR ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 9 && strcmp(argv[1], "hold") == 0)
		return cmd_hold(argv + 2);
	if (argc >= 7 && strcmp(argv[1], "try") == 0)
		return cmd_try(argv + 2, 0);
	if (argc >= 7 && strcmp(argv[1], "wait") == 0)
		return cmd_try(argv + 2, 1);
	if (argc >= 6 && strcmp(argv[1], "getlk") == 0)
		return cmd_getlk(argv + 2);
	if (argc >= 3 && strcmp(argv[1], "closeother") == 0)
		return cmd_closeother(argv + 2);
	if (argc >= 3 && strcmp(argv[1], "deadlock") == 0)
		return cmd_deadlock(argv + 2);
	if (argc >= 3 && strcmp(argv[1], "eintr") == 0)
		return cmd_eintr(argv + 2);
	fprintf(stderr, "usage: see the comment at the top of lk.c\n");
	return 2;
}
