/* libFuzzer target: a whole safetensors file in memory -> header parser;
 * when it is valid, the tensor scan runs over the same bytes in odd-sized
 * chunks (so the data path is fuzzed too). The git-lfs pointer parser gets
 * the same input. */
#include "util/common.h"
#include "wanctl/formats.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wan_st_header *h = NULL;
	struct wan_tscan *ts = NULL;
	char oid[65];
	uint64_t lsize;

	wan_lfs_pointer_parse(data, size < WAN_LFS_POINTER_MAX ? size : WAN_LFS_POINTER_MAX,
			      oid, &lsize);
	if (wan_st_parse_buf(&h, data, size, "fuzz.safetensors") != 0)
		return 0;
	/* invariants of a valid header */
	if (h->data_start != 8 + h->header_len || h->data_start > size)
		WAN_BUG("data_start");
	for (size_t i = 0; i < h->ntensors; i++) {
		if (h->tensors[i].end < h->tensors[i].begin ||
		    h->data_start + h->tensors[i].end > size ||
		    (i && h->tensors[i].begin != h->tensors[i - 1].end))
			WAN_BUG("tensor offsets");
	}
	if (wan_tscan_new(&ts, h, "fuzz") == 0) {
		json_t *st = NULL;
		size_t chunk = 1 + (size % 13);
		for (size_t o = 0; o < size; o += chunk)
			wan_tscan_feed(ts, data + o, size - o < chunk ? size - o : chunk);
		wan_tscan_finish(ts, &st);
		json_decref(st);
		wan_tscan_free(ts);
	}
	wan_st_header_free(h);
	return 0;
}
