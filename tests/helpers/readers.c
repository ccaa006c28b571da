/*
 * readers LINKDIR STOPFILE REFDIR...
 *
 * A production reader for tests/cli/t_readers.sh (reliability plan item
 * 12): until STOPFILE exists, open and read the head of every file of
 * LINKDIR (a production link <target>/<model>), the list of files taken
 * from the first REFDIR. Each head must equal the head of the same file in
 * one of the REFDIRs (the releases being flipped): never missing, never a
 * mix. Prints one line of counts:
 *   opens N enoent N eloop N eisdir N other N mixed N
 * and exits 0 when every count but opens is 0, 1 otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEAD 4096
#define MAX_FILES 256
#define MAX_REFS 4

struct entry {
	char rel[PATH_MAX];
	unsigned char head[MAX_REFS][HEAD];
	ssize_t len[MAX_REFS];
};

static struct entry files[MAX_FILES];
static int nfiles;

/* dst = a "/" b (b alone when a is empty); -1 when it does not fit. */
static int join(char *dst, size_t n, const char *a, const char *b)
{
	int w = *a ? snprintf(dst, n, "%s/%s", a, b) : snprintf(dst, n, "%s", b);

	return w < 0 || (size_t)w >= n ? -1 : 0;
}

static ssize_t read_head(const char *path, unsigned char *buf, int *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		*err = errno;
		return -1;
	}
	n = pread(fd, buf, HEAD, 0);
	if (n < 0)
		*err = errno;
	close(fd);
	return n;
}

static int list_files(const char *root, const char *rel)
{
	char p[PATH_MAX];
	DIR *d;
	struct dirent *de;

	if (join(p, sizeof(p), root, rel) < 0)
		return -1;
	d = opendir(p);
	if (!d) {
		perror(p);
		return -1;
	}
	while ((de = readdir(d))) {
		char r[PATH_MAX], full[PATH_MAX];
		struct stat sb;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (join(r, sizeof(r), rel, de->d_name) < 0 ||
		    join(full, sizeof(full), root, r) < 0 || stat(full, &sb) < 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			if (list_files(root, r) < 0) {
				closedir(d);
				return -1;
			}
		} else if (S_ISREG(sb.st_mode) && nfiles < MAX_FILES) {
			memcpy(files[nfiles++].rel, r, strlen(r) + 1);
		}
	}
	closedir(d);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long long opens = 0, enoent = 0, eloop = 0, eisdir = 0, other = 0,
			   mixed = 0;
	unsigned char buf[HEAD];
	int nrefs = argc - 3;

	if (argc < 4 || nrefs > MAX_REFS) {
		fprintf(stderr, "usage: readers LINKDIR STOPFILE REFDIR...\n");
		return 2;
	}
	if (list_files(argv[3], "") < 0 || nfiles == 0) {
		fprintf(stderr, "readers: no files under '%s'\n", argv[3]);
		return 2;
	}
	for (int i = 0; i < nfiles; i++) {
		for (int r = 0; r < nrefs; r++) {
			char p[PATH_MAX * 2];
			int err = 0;

			files[i].len[r] = join(p, sizeof(p), argv[3 + r], files[i].rel) < 0 ? -1 :
					  read_head(p, files[i].head[r], &err);
		}
	}
	while (access(argv[2], F_OK) != 0) {
		for (int i = 0; i < nfiles; i++) {
			char p[PATH_MAX * 2];
			int err = 0, match = 0;
			ssize_t n;

			if (join(p, sizeof(p), argv[1], files[i].rel) < 0)
				return 2;
			opens++;
			n = read_head(p, buf, &err);
			if (n < 0) {
				if (err == ENOENT)
					enoent++;
				else if (err == ELOOP)
					eloop++;
				else if (err == EISDIR)
					eisdir++;
				else
					other++;
				continue;
			}
			for (int r = 0; r < nrefs && !match; r++)
				match = files[i].len[r] == n && !memcmp(files[i].head[r], buf, (size_t)n);
			if (!match)
				mixed++;
		}
		usleep(100); /* leave the flipping command some CPU on small machines */
	}
	printf("opens %llu enoent %llu eloop %llu eisdir %llu other %llu mixed %llu\n",
	       opens, enoent, eloop, eisdir, other, mixed);
	return enoent || eloop || eisdir || other || mixed ? 1 : 0;
}
