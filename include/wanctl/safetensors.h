#ifndef WANCTL_SAFETENSORS_H
#define WANCTL_SAFETENSORS_H
/* safetensors dtypes (versioned allow-list, safetensors 24b0b28, 2026-05). */
#include <stdint.h>

struct wan_st_dtype {
	const char *name;   /* "BF16" */
	unsigned bits;      /* bit size of one element */
	int is_float;       /* 1 for floating-point kinds (finite scan) */
};

/* The dtype named name, or NULL. */
const struct wan_st_dtype *wan_st_dtype_find(const char *name);
/* Table terminated by name == NULL. */
const struct wan_st_dtype *wan_st_dtypes(void);

#endif
