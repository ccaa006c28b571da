/*
 * A stand-in for libnvidia-ml.so.1 exporting the NVML subset wanctl uses,
 * with values from the environment so tests can drive them:
 *
 *   FAKE_NVML_INIT=N          nvmlInit_v2's return code (default 0)
 *   FAKE_NVML_GPUS=N          device count (default 1)
 *   FAKE_NVML_DRIVER=S        driver version (default 550.54.15)
 *   FAKE_NVML_NAME[_i]=S      device name (default NVIDIA H100 80GB HBM3)
 *   FAKE_NVML_MEM_TOTAL[_i]   bytes (default 80 GiB)
 *   FAKE_NVML_MEM_USED[_i]    bytes (default 1 GiB)
 *   FAKE_NVML_UTIL[_i]        GPU utilisation percent (default 0)
 *   FAKE_NVML_TEMP[_i]        degrees C (default 40)
 *   FAKE_NVML_POWER_MW[_i]    milliwatts (default 70000)
 *   FAKE_NVML_ECC_CORRECTED[_i], FAKE_NVML_ECC_UNCORRECTED[_i]
 *                             counts (unset: NVML_ERROR_NOT_SUPPORTED)
 *   FAKE_NVML_EVENTS=0        device event registration not supported
 *   FAKE_NVML_XID[_i]=N       one XID critical error event with code N
 *                             for the device (delivered once per event set)
 *   FAKE_NVML_FILE=PATH       KEY=VALUE lines re-read on every call that
 *                             override the environment (a running
 *                             monitor sees changes)
 * The _i suffix sets device i only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
typedef struct nvml_device *nvmlDevice_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct nvml_event_set *nvmlEventSet_t;
typedef struct {
	nvmlDevice_t device;
	unsigned long long eventType, eventData;
	unsigned int gpuInstanceId, computeInstanceId;
} nvmlEventData_t;

#define EXPORT __attribute__((visibility("default")))
enum { OK = 0, E_UNINIT = 1, E_INVALID = 2, E_NOT_SUPPORTED = 3, E_SIZE = 7 };

EXPORT nvmlReturn_t nvmlInit_v2(void);
EXPORT nvmlReturn_t nvmlShutdown(void);
EXPORT const char *nvmlErrorString(nvmlReturn_t rc);
EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n);
EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d);
EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int len);
EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int len);
EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m);
EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u);
EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned int *t);
EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *p);
EXPORT nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t d, int type, int counter,
						unsigned long long *c);
EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *v, unsigned int len);
EXPORT nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set);
EXPORT nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t d, unsigned long long types,
					     nvmlEventSet_t set);
EXPORT nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data,
					unsigned int timeoutms);
EXPORT nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set);

static int inited;
static char filebuf[8192];

/* Value of KEY from FAKE_NVML_FILE, else the environment. */
static const char *fake_raw(const char *key)
{
	const char *path = getenv("FAKE_NVML_FILE");
	size_t klen = strlen(key);

	if (path) {
		FILE *f = fopen(path, "r");
		if (f) {
			char line[512];
			while (fgets(line, sizeof(line), f)) {
				line[strcspn(line, "\r\n")] = '\0';
				if (!strncmp(line, key, klen) && line[klen] == '=') {
					snprintf(filebuf, sizeof(filebuf), "%s", line + klen + 1);
					fclose(f);
					return filebuf;
				}
			}
			fclose(f);
		}
	}
	return getenv(key);
}

static const char *fake_get(const char *key, unsigned idx)
{
	char k[128];
	const char *v;

	snprintf(k, sizeof(k), "%s_%u", key, idx);
	v = fake_raw(k);
	return v ? v : fake_raw(key);
}

static unsigned long long fake_num(const char *key, unsigned idx,
				   unsigned long long def, int *set)
{
	const char *v = fake_get(key, idx);

	if (set)
		*set = v != NULL;
	return v ? strtoull(v, NULL, 10) : def;
}

static int fake_dev(nvmlDevice_t d, unsigned *idx)
{
	uintptr_t i = (uintptr_t)d;
	unsigned n = (unsigned)fake_num("FAKE_NVML_GPUS", 0, 1, NULL);

	if (!inited)
		return E_UNINIT;
	if (i == 0 || i > n)
		return E_INVALID;
	*idx = (unsigned)(i - 1);
	return OK;
}

nvmlReturn_t nvmlInit_v2(void)
{
	int rc = (int)fake_num("FAKE_NVML_INIT", 0, 0, NULL);

	if (rc == 0)
		inited = 1;
	return rc;
}

nvmlReturn_t nvmlShutdown(void)
{
	inited = 0;
	return OK;
}

const char *nvmlErrorString(nvmlReturn_t rc)
{
	switch (rc) {
	case 0: return "Success";
	case 1: return "Uninitialized";
	case 2: return "Invalid Argument";
	case 3: return "Not Supported";
	case 9: return "Driver Not Loaded";
	default: return "Unknown Error";
	}
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n)
{
	if (!inited)
		return E_UNINIT;
	*n = (unsigned)fake_num("FAKE_NVML_GPUS", 0, 1, NULL);
	return OK;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d)
{
	if (!inited)
		return E_UNINIT;
	if (i >= (unsigned)fake_num("FAKE_NVML_GPUS", 0, 1, NULL))
		return E_INVALID;
	*d = (nvmlDevice_t)(uintptr_t)(i + 1);
	return OK;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int len)
{
	unsigned i;
	const char *v;
	int rc = fake_dev(d, &i);

	if (rc)
		return rc;
	v = fake_get("FAKE_NVML_NAME", i);
	if (!v)
		v = "NVIDIA H100 80GB HBM3";
	if (strlen(v) + 1 > len)
		return E_SIZE;
	memcpy(name, v, strlen(v) + 1);
	return OK;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int len)
{
	unsigned i;
	int rc = fake_dev(d, &i);

	if (rc)
		return rc;
	if (snprintf(uuid, len, "GPU-fake0000-0000-0000-0000-%012u", i) >= (int)len)
		return E_SIZE;
	return OK;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m)
{
	unsigned i;
	int rc = fake_dev(d, &i);

	if (rc)
		return rc;
	m->total = fake_num("FAKE_NVML_MEM_TOTAL", i, 80ULL << 30, NULL);
	m->used = fake_num("FAKE_NVML_MEM_USED", i, 1ULL << 30, NULL);
	if (m->used > m->total)
		m->used = m->total;
	m->free = m->total - m->used;
	return OK;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u)
{
	unsigned i;
	int rc = fake_dev(d, &i);

	if (rc)
		return rc;
	u->gpu = (unsigned)fake_num("FAKE_NVML_UTIL", i, 0, NULL);
	u->memory = (unsigned)fake_num("FAKE_NVML_MEM_UTIL", i, 0, NULL);
	return OK;
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned int *t)
{
	unsigned i;
	int rc = fake_dev(d, &i);

	if (rc)
		return rc;
	if (sensor != 0)
		return E_INVALID;
	*t = (unsigned)fake_num("FAKE_NVML_TEMP", i, 40, NULL);
	return OK;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *p)
{
	unsigned i;
	int rc = fake_dev(d, &i);

	if (rc)
		return rc;
	*p = (unsigned)fake_num("FAKE_NVML_POWER_MW", i, 70000, NULL);
	return OK;
}

nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t d, int type, int counter,
					 unsigned long long *c)
{
	unsigned i;
	int set, rc = fake_dev(d, &i);

	(void)counter;
	if (rc)
		return rc;
	*c = fake_num(type == 0 ? "FAKE_NVML_ECC_CORRECTED" : "FAKE_NVML_ECC_UNCORRECTED",
		      i, 0, &set);
	return set ? OK : E_NOT_SUPPORTED;
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *v, unsigned int len)
{
	const char *s = fake_raw("FAKE_NVML_DRIVER");

	if (!inited)
		return E_UNINIT;
	if (!s)
		s = "550.54.15";
	if (strlen(s) + 1 > len)
		return E_SIZE;
	memcpy(v, s, strlen(s) + 1);
	return OK;
}

#define FAKE_MAX_DEV 64
static int ev_registered[FAKE_MAX_DEV], ev_delivered[FAKE_MAX_DEV];
static int ev_set_token;

nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set)
{
	if (!inited)
		return E_UNINIT;
	memset(ev_registered, 0, sizeof(ev_registered));
	memset(ev_delivered, 0, sizeof(ev_delivered));
	*set = (nvmlEventSet_t)&ev_set_token;
	return OK;
}

nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t d, unsigned long long types,
				      nvmlEventSet_t set)
{
	unsigned i;
	int rc = fake_dev(d, &i);
	const char *on = fake_raw("FAKE_NVML_EVENTS");

	if (rc)
		return rc;
	if (set != (nvmlEventSet_t)&ev_set_token || i >= FAKE_MAX_DEV)
		return E_INVALID;
	if (on && !strcmp(on, "0"))
		return E_NOT_SUPPORTED;
	if (types & 8ULL)
		ev_registered[i] = 1;
	return OK;
}

nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data,
				 unsigned int timeoutms)
{
	unsigned n = (unsigned)fake_num("FAKE_NVML_GPUS", 0, 1, NULL);

	(void)timeoutms;
	if (set != (nvmlEventSet_t)&ev_set_token)
		return E_INVALID;
	for (unsigned i = 0; i < n && i < FAKE_MAX_DEV; i++) {
		int set_xid;
		unsigned long long xid = fake_num("FAKE_NVML_XID", i, 0, &set_xid);
		if (!ev_registered[i] || ev_delivered[i] || !set_xid)
			continue;
		ev_delivered[i] = 1;
		memset(data, 0, sizeof(*data));
		data->device = (nvmlDevice_t)(uintptr_t)(i + 1);
		data->eventType = 8ULL;
		data->eventData = xid;
		return OK;
	}
	return 10;   /* NVML_ERROR_TIMEOUT */
}

nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
	return set == (nvmlEventSet_t)&ev_set_token ? OK : E_INVALID;
}
