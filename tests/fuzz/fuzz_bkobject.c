/*
 * libFuzzer target: backup object files (src/lib/backup_codec.c), untrusted
 * files of a backup repository: the trailing index and the zstd frames.
 * Any input is rejected (WAN_ECORRUPT, never a crash, never memory beyond
 * the limits) or decodes to content whose SHA-256 is the one its index
 * records.
 */
#include "util/common.h"
#include "util/xio.h"
#include "lib/backup_internal.h"

#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bk_index ix;
	int fd = memfd_create("bkobject", MFD_CLOEXEC), err;

	if (fd < 0)
		return 0;
	if (size && xwrite(fd, data, size) < 0) {
		close(fd);
		return 0;
	}
	err = bk_index_read(&ix, fd, size, "fuzz.zst");
	if (err == 0) {
		err = bk_decode(fd, &ix, "fuzz.zst", -1, 1 + (unsigned)(size % 2), NULL);
		bk_index_release(&ix);
		if (err && err != WAN_ECORRUPT && err != WAN_ENOMEM)
			abort();
	} else if (err != WAN_ECORRUPT && err != WAN_ENOMEM) {
		abort();
	}
	close(fd);
	return 0;
}
