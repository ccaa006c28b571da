#ifndef WANCTL_NVML_H
#define WANCTL_NVML_H
/*
 * GPU facts through NVIDIA's NVML, loaded at run time with dlopen(3) so
 * that wanctl runs (and builds) on machines without a GPU. Production
 * loads "libnvidia-ml.so.1"; tests point WANCTL_NVML_LIB at a small
 * library with NVML's ABI (tests/helpers/fake_nvml.c).
 *
 * "No GPU" is a state, not an error: with no library, a failing
 * nvmlInit or zero devices, wan_nvml_query() returns 0 with *n == 0 and a
 * reason ("no GPU visible: libnvidia-ml.so.1 not found").
 */
#include <stddef.h>
#include <stdint.h>

#define WAN_GPU_NAME_MAX 96

struct wan_gpu_info {
	unsigned index;
	char name[WAN_GPU_NAME_MAX];     /* "NVIDIA H100 80GB HBM3" */
	char uuid[WAN_GPU_NAME_MAX];     /* "GPU-..." or "" */
	/* Memory in bytes; all 0 when the driver did not answer. */
	uint64_t mem_total, mem_free, mem_used;
	/* Values the driver may not report are NAN (doubles) or -1. */
	double util_gpu;                 /* 0..1 */
	double util_mem;                 /* 0..1 */
	double temperature_c;
	double power_w;
	int64_t ecc_corrected;           /* volatile totals since boot */
	int64_t ecc_uncorrected;
	/* XID critical errors seen since this process loaded NVML (events are
	 * only delivered after registration); -1: events not supported. */
	int64_t xid_errors;
	unsigned long long last_xid;     /* the last XID code, 0: none */
};

/*
 * Query every GPU. On success *out is a malloc'ed array of *n entries
 * (free() it; NULL when *n == 0). When *n > 0, driver (of dsz bytes, may
 * be NULL) receives the driver version ("550.54.15"); when *n == 0 it
 * receives the reason no GPU is visible (also wan_nvml_reason()).
 * Returns 0, or WAN_ENOMEM. Thread-safe: the library is loaded and
 * initialised once per process.
 */
int wan_nvml_query(struct wan_gpu_info **out, size_t *n, char *driver,
		   size_t dsz);
/* The reason of this thread's last query that found no GPU ("" else). */
const char *wan_nvml_reason(void);
/* nvmlShutdown and dlclose (at exit; the next query loads again). */
void wan_nvml_shutdown(void);

#endif
