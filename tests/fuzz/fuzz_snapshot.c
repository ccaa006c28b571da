/*
 * libFuzzer target: backup snapshots (src/lib/backup_repo.c), untrusted
 * files of a backup repository. Any input is rejected with WAN_ECORRUPT or
 * accepted; an accepted snapshot has a valid model name and release id, a
 * manifest whose paths are confined, and exactly one object entry per
 * distinct file hash with the file's size.
 */
#include "util/common.h"
#include "util/path.h"
#include "wanctl/backup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *s = NULL, *f, *objs;
	size_t i;
	int err;

	err = wan_backup_snapshot_parse((const char *)data, size, "fuzz.json", &s);
	if (err) {
		if (err != WAN_ECORRUPT || s)
			abort();
		return 0;
	}
	objs = json_object_get(s, "objects");
	json_array_foreach(json_object_get(json_object_get(s, "manifest"), "files"), i, f) {
		json_t *o = json_object_get(objs, json_string_value(json_object_get(f, "sha256")));
		if (path_check_relative(json_string_value(json_object_get(f, "path"))) != 0 || !o ||
		    json_integer_value(json_object_get(o, "size")) !=
		    json_integer_value(json_object_get(f, "size")))
			abort();
	}
	if (strchr(json_string_value(json_object_get(s, "model")), '/') ||
	    strlen(json_string_value(json_object_get(s, "release"))) != 16)
		abort();
	json_decref(s);
	return 0;
}
