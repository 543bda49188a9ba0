/*
 * manyfiles: create, stat or remove NDIRS x PERDIR small files under DIR,
 * one syscall loop, for the manyfiles guest scenario (a busybox loop would
 * spend its time in fork/exec under TCG, not in the filesystem).
 *
 *   manyfiles create|stat|remove DIR NDIRS PERDIR
 *
 * Layout: DIR/dNNN/fNNNNN, each file holding its own name (7 bytes).
 * Prints one line:
 *   OP ok=N errors=N emfile=N enfile=N other=N seconds=S first_error="..."
 * and exits 0 if there were no errors, 1 otherwise (2 on bad usage).
 * Compiled static by manyfiles.host-setup.sh.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct counts {
	long ok, emfile, enfile, other;
	char first[160];
};

static void record(struct counts *c, const char *what, const char *path)
{
	int e = errno;
	if (e == EMFILE)
		c->emfile++;
	else if (e == ENFILE)
		c->enfile++;
	else
		c->other++;
	if (!c->first[0])
		snprintf(c->first, sizeof c->first, "%s %s: %s", what, path, strerror(e));
}

static int one(const char *op, const char *path, const char *name, struct counts *c)
{
	struct stat st;
	int fd;

	if (!strcmp(op, "create")) {
		fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		if (fd < 0) {
			record(c, "open", path);
			return -1;
		}
		if (write(fd, name, strlen(name)) != (ssize_t)strlen(name)) {
			record(c, "write", path);
			close(fd);
			return -1;
		}
		if (close(fd)) {
			record(c, "close", path);
			return -1;
		}
	} else if (!strcmp(op, "stat")) {
		if (stat(path, &st)) {
			record(c, "stat", path);
			return -1;
		}
		if (!S_ISREG(st.st_mode) || st.st_size != (off_t)strlen(name)) {
			errno = EINVAL;
			record(c, "stat-size", path);
			return -1;
		}
	} else {
		if (unlink(path)) {
			record(c, "unlink", path);
			return -1;
		}
	}
	c->ok++;
	return 0;
}

int main(int argc, char **argv)
{
	struct counts c = { 0 };
	struct timespec t0, t1;
	char dir[4096], path[4096], name[16];
	long ndirs, perdir, d, f;
	const char *op;

	if (argc != 5 || (strcmp(argv[1], "create") && strcmp(argv[1], "stat") &&
			  strcmp(argv[1], "remove"))) {
		fprintf(stderr, "usage: manyfiles create|stat|remove DIR NDIRS PERDIR\n");
		return 2;
	}
	op = argv[1];
	ndirs = atol(argv[3]);
	perdir = atol(argv[4]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (d = 0; d < ndirs; d++) {
		snprintf(dir, sizeof dir, "%s/d%03ld", argv[2], d);
		if (!strcmp(op, "create") && mkdir(dir, 0755) && errno != EEXIST)
			record(&c, "mkdir", dir);
		for (f = 0; f < perdir; f++) {
			snprintf(name, sizeof name, "f%05ld", f);
			snprintf(path, sizeof path, "%s/%s", dir, name);
			one(op, path, name, &c);
		}
		if (!strcmp(op, "remove") && rmdir(dir))
			record(&c, "rmdir", dir);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%s ok=%ld errors=%ld emfile=%ld enfile=%ld other=%ld seconds=%.1f first_error=\"%s\"\n",
	       op, c.ok, c.emfile + c.enfile + c.other, c.emfile, c.enfile, c.other,
	       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, c.first);
	return c.emfile + c.enfile + c.other ? 1 : 0;
}
