#include "util/common.h"
#include "wanctl/safetensors.h"

static const struct wan_st_dtype dtypes[] = {
	{ "BOOL", 8, 0 }, { "F4", 4, 1 }, { "F6_E2M3", 6, 1 }, { "F6_E3M2", 6, 1 },
	{ "U8", 8, 0 }, { "I8", 8, 0 }, { "F8_E5M2", 8, 1 }, { "F8_E4M3", 8, 1 },
	{ "F8_E8M0", 8, 1 }, { "F8_E4M3FNUZ", 8, 1 }, { "F8_E5M2FNUZ", 8, 1 },
	{ "I16", 16, 0 }, { "U16", 16, 0 }, { "F16", 16, 1 }, { "BF16", 16, 1 },
	{ "I32", 32, 0 }, { "U32", 32, 0 }, { "F32", 32, 1 }, { "C64", 64, 0 },
	{ "F64", 64, 1 }, { "I64", 64, 0 }, { "U64", 64, 0 },
	{ NULL, 0, 0 },
};

const struct wan_st_dtype *wan_st_dtype_find(const char *name)
{
	for (const struct wan_st_dtype *d = dtypes; d->name; d++)
		if (!strcmp(d->name, name))
			return d;
	return NULL;
}

const struct wan_st_dtype *wan_st_dtypes(void)
{
	return dtypes;
}
