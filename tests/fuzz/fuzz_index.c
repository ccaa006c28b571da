/* libFuzzer target: a <stem>.safetensors.index.json document -> the index
 * parser (duplicate keys, shard names, total_size). */
#include "util/common.h"
#include "wanctl/formats.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wan_st_index *ix = NULL;

	if (wan_st_index_parse(&ix, data, size, "fuzz.index.json") == 0) {
		for (size_t i = 1; i < ix->nshards; i++)
			if (strcmp(ix->shards[i - 1], ix->shards[i]) >= 0)
				WAN_BUG("shards not sorted and distinct");
		wan_st_index_free(ix);
	}
	return 0;
}
