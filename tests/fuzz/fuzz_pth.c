/* libFuzzer target: a .pth (zip) file in memory -> the zip directory and
 * PyTorch layout checks, with the CRC pass. */
#include "util/common.h"
#include "wanctl/formats.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *s = NULL;

	if (wan_pth_check_buf(data, size, 1, "fuzz.pth", &s) == 0)
		json_decref(s);
	return 0;
}
