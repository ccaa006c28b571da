/* Replays files and folders of inputs through one fuzz target in a normal
 * (non-libFuzzer) build, like SQLite's fuzzcheck: every committed seed and
 * every past crasher runs in CI. Usage: fuzz_replay_X PATH... */
#include "util/common.h"
#include "fuzz.h"

#include <dirent.h>
#include <sys/stat.h>

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b;
	long n;

	if (!f) {
		fprintf(stderr, "cannot open %s\n", path);
		return -1;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc(n > 0 ? (size_t)n : 1);
	if (!b || (n > 0 && fread(b, 1, (size_t)n, f) != (size_t)n)) {
		fclose(f);
		free(b);
		fprintf(stderr, "cannot read %s\n", path);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(b, (size_t)n);
	free(b);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long files = 0;
	int err = 0;

	for (int i = 1; i < argc; i++) {
		struct stat sb;
		DIR *d;
		struct dirent *de;
		char p[4096];

		if (stat(argv[i], &sb) < 0)
			continue;   /* an empty regression folder may be absent */
		if (!S_ISDIR(sb.st_mode)) {
			err |= replay_file(argv[i]);
			files++;
			continue;
		}
		d = opendir(argv[i]);
		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", argv[i], de->d_name);
			if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
				err |= replay_file(p);
				files++;
			}
		}
		if (d)
			closedir(d);
	}
	printf("replayed %lu inputs\n", files);
	return err ? 1 : 0;
}
