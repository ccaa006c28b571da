/*
 * libFuzzer target: release manifests (src/lib/manifest.c). Any input is
 * either rejected with WAN_ECORRUPT or accepted; an accepted manifest has
 * only confined, sorted, unique paths, and its release id, recomputed from
 * its files, is stable.
 */
#include "util/common.h"
#include "util/path.h"
#include "lib/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *m = NULL, *f;
	char id1[17], id2[17];
	size_t i;
	int err;

	err = manifest_parse((const char *)data, size, "fuzz.json", &m);
	if (err) {
		if (err != WAN_ECORRUPT || m)
			abort();
		return 0;
	}
	json_array_foreach(json_object_get(m, "files"), i, f)
		if (path_check_relative(json_string_value(json_object_get(f, "path"))) != 0)
			abort();
	if (manifest_release_id(json_object_get(m, "files"), id1) != 0 ||
	    manifest_release_id(json_object_get(m, "files"), id2) != 0 || strcmp(id1, id2))
		abort();
	json_decref(m);
	return 0;
}
