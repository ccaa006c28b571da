/*
 * libFuzzer target: the configuration parser (src/lib/config.c).
 * Any input loads or fails with WAN_ECONFIG; a loaded configuration emits
 * as JSON and that JSON loads back to the same document.
 */
#include "util/common.h"
#include "wanctl/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wan_config *cfg = NULL, *again = NULL;
	json_t *a, *b;
	char *text, *shown;
	int err;

	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	err = wan_config_load_string(&cfg, text, "fuzz.json", "/srv");
	free(text);
	if (err) {
		if (err != WAN_ECONFIG && err != WAN_ENOMEM)
			abort();
		if (cfg)
			abort();
		return 0;
	}
	a = wan_config_to_json(cfg);
	shown = json_dumps(a, JSON_REAL_PRECISION(17));
	if (!shown || wan_config_load_string(&again, shown, "shown.json", "/srv"))
		abort();
	b = wan_config_to_json(again);
	if (!json_equal(a, b))
		abort();
	free(shown);
	json_decref(a);
	json_decref(b);
	wan_config_free(again);
	wan_config_free(cfg);
	return 0;
}
