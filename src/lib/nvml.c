/*
 * NVML through dlopen. The types and constants below are the subset of
 * NVIDIA's nvml.h that wanctl uses (the ABI is stable: the _v2 entry
 * points exist since driver 325). We never link against libnvidia-ml.
 */
#include "util/common.h"
#include "wanctl/nvml.h"

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>

typedef int nvmlReturn_t;              /* NVML_SUCCESS == 0 */
typedef struct nvml_device *nvmlDevice_t;
typedef struct {
	unsigned long long total, free, used;
} nvmlMemory_t;
typedef struct {
	unsigned int gpu, memory;      /* percent */
} nvmlUtilization_t;
typedef struct nvml_event_set *nvmlEventSet_t;
typedef struct {                   /* nvmlEventData_t (v2 layout; v1 lacks */
	nvmlDevice_t device;       /* the two instance ids at the end) */
	unsigned long long eventType;
	unsigned long long eventData;
	unsigned int gpuInstanceId;
	unsigned int computeInstanceId;
} nvmlEventData_t;

enum {
	NVML_SUCCESS = 0,
	NVML_TEMPERATURE_GPU = 0,
	NVML_MEMORY_ERROR_TYPE_CORRECTED = 0,
	NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1,
	NVML_VOLATILE_ECC = 0,
	NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE = 80,
};
#define NVML_EVENT_XID_CRITICAL 0x0000000000000008ULL   /* nvmlEventTypeXidCriticalError */
#define NVML_MAX_EVENT_DEVICES 64
#define NVML_MAX_EVENTS_PER_QUERY 1024

struct nvml_api {
	void *dl;
	nvmlReturn_t (*init)(void);
	nvmlReturn_t (*shutdown)(void);
	const char *(*error_string)(nvmlReturn_t);
	nvmlReturn_t (*count)(unsigned int *);
	nvmlReturn_t (*handle)(unsigned int, nvmlDevice_t *);
	nvmlReturn_t (*name)(nvmlDevice_t, char *, unsigned int);
	nvmlReturn_t (*uuid)(nvmlDevice_t, char *, unsigned int);
	nvmlReturn_t (*memory)(nvmlDevice_t, nvmlMemory_t *);
	nvmlReturn_t (*util)(nvmlDevice_t, nvmlUtilization_t *);
	nvmlReturn_t (*temp)(nvmlDevice_t, int, unsigned int *);
	nvmlReturn_t (*power)(nvmlDevice_t, unsigned int *);
	nvmlReturn_t (*ecc)(nvmlDevice_t, int, int, unsigned long long *);
	nvmlReturn_t (*driver)(char *, unsigned int);
	nvmlReturn_t (*ev_create)(nvmlEventSet_t *);
	nvmlReturn_t (*ev_register)(nvmlDevice_t, unsigned long long, nvmlEventSet_t);
	nvmlReturn_t (*ev_wait)(nvmlEventSet_t, nvmlEventData_t *, unsigned int);
	nvmlReturn_t (*ev_free)(nvmlEventSet_t);
};

/* XID events: one set for every device, drained at each query. */
static nvmlEventSet_t ev_set;
static nvmlDevice_t ev_dev[NVML_MAX_EVENT_DEVICES];
static bool ev_on[NVML_MAX_EVENT_DEVICES];
static int64_t ev_count[NVML_MAX_EVENT_DEVICES];
static unsigned long long ev_last[NVML_MAX_EVENT_DEVICES];

static pthread_mutex_t nvml_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nvml_api api;
static int nvml_state;                 /* 0 not tried, 1 ready, -1 absent */
static char nvml_absent[256];          /* why, when nvml_state == -1 */
static _Thread_local char nvml_last_reason[256];

static const char *nvml_errstr(nvmlReturn_t rc)
{
	static _Thread_local char b[32];

	if (api.error_string)
		return api.error_string(rc);
	snprintf(b, sizeof(b), "NVML error %d", rc);
	return b;
}

static void *nvml_sym(const char *name)
{
	return dlsym(api.dl, name);
}

/* Register every device for XID critical errors (locked). Boards or
 * drivers without events simply stay unregistered. */
static void nvml_events_register(void)
{
	unsigned int n = 0;

	memset(ev_on, 0, sizeof(ev_on));
	memset(ev_count, 0, sizeof(ev_count));
	memset(ev_last, 0, sizeof(ev_last));
	ev_set = NULL;
	if (!api.ev_create || !api.ev_register || !api.ev_wait ||
	    api.ev_create(&ev_set) != NVML_SUCCESS) {
		ev_set = NULL;
		return;
	}
	if (api.count(&n) != NVML_SUCCESS)
		n = 0;
	for (unsigned i = 0; i < n && i < NVML_MAX_EVENT_DEVICES; i++) {
		if (api.handle(i, &ev_dev[i]) != NVML_SUCCESS)
			continue;
		ev_on[i] = api.ev_register(ev_dev[i], NVML_EVENT_XID_CRITICAL, ev_set) ==
			   NVML_SUCCESS;
	}
}

/* Count the XID events delivered since the last query (locked). */
static void nvml_events_drain(void)
{
	nvmlEventData_t ev;

	if (!ev_set)
		return;
	for (int k = 0; k < NVML_MAX_EVENTS_PER_QUERY; k++) {
		memset(&ev, 0, sizeof(ev));
		if (api.ev_wait(ev_set, &ev, 0) != NVML_SUCCESS)
			break;
		if (!(ev.eventType & NVML_EVENT_XID_CRITICAL))
			continue;
		for (unsigned i = 0; i < NVML_MAX_EVENT_DEVICES; i++)
			if (ev_on[i] && ev_dev[i] == ev.device) {
				ev_count[i]++;
				ev_last[i] = ev.eventData;
				break;
			}
	}
}

/* Called with nvml_lock held. */
static void nvml_load(void)
{
	const char *lib = getenv("WANCTL_NVML_LIB");
	nvmlReturn_t rc;

	if (!lib || !*lib)
		lib = "libnvidia-ml.so.1";
	memset(&api, 0, sizeof(api));
	api.dl = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!api.dl) {
		snprintf(nvml_absent, sizeof(nvml_absent),
			 "no GPU visible: %s not found", lib);
		nvml_state = -1;
		return;
	}
	api.init = (nvmlReturn_t (*)(void))nvml_sym("nvmlInit_v2");
	api.shutdown = (nvmlReturn_t (*)(void))nvml_sym("nvmlShutdown");
	api.error_string = (const char *(*)(nvmlReturn_t))nvml_sym("nvmlErrorString");
	api.count = (nvmlReturn_t (*)(unsigned int *))nvml_sym("nvmlDeviceGetCount_v2");
	api.handle = (nvmlReturn_t (*)(unsigned int, nvmlDevice_t *))
		nvml_sym("nvmlDeviceGetHandleByIndex_v2");
	api.name = (nvmlReturn_t (*)(nvmlDevice_t, char *, unsigned int))
		nvml_sym("nvmlDeviceGetName");
	api.uuid = (nvmlReturn_t (*)(nvmlDevice_t, char *, unsigned int))
		nvml_sym("nvmlDeviceGetUUID");
	api.memory = (nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_t *))
		nvml_sym("nvmlDeviceGetMemoryInfo");
	api.util = (nvmlReturn_t (*)(nvmlDevice_t, nvmlUtilization_t *))
		nvml_sym("nvmlDeviceGetUtilizationRates");
	api.temp = (nvmlReturn_t (*)(nvmlDevice_t, int, unsigned int *))
		nvml_sym("nvmlDeviceGetTemperature");
	api.power = (nvmlReturn_t (*)(nvmlDevice_t, unsigned int *))
		nvml_sym("nvmlDeviceGetPowerUsage");
	api.ecc = (nvmlReturn_t (*)(nvmlDevice_t, int, int, unsigned long long *))
		nvml_sym("nvmlDeviceGetTotalEccErrors");
	api.driver = (nvmlReturn_t (*)(char *, unsigned int))
		nvml_sym("nvmlSystemGetDriverVersion");
	api.ev_create = (nvmlReturn_t (*)(nvmlEventSet_t *))nvml_sym("nvmlEventSetCreate");
	api.ev_register = (nvmlReturn_t (*)(nvmlDevice_t, unsigned long long, nvmlEventSet_t))
		nvml_sym("nvmlDeviceRegisterEvents");
	api.ev_wait = (nvmlReturn_t (*)(nvmlEventSet_t, nvmlEventData_t *, unsigned int))
		nvml_sym("nvmlEventSetWait_v2");
	if (!api.ev_wait)
		api.ev_wait = (nvmlReturn_t (*)(nvmlEventSet_t, nvmlEventData_t *, unsigned int))
			nvml_sym("nvmlEventSetWait");
	api.ev_free = (nvmlReturn_t (*)(nvmlEventSet_t))nvml_sym("nvmlEventSetFree");
	if (!api.init || !api.count || !api.handle) {
		snprintf(nvml_absent, sizeof(nvml_absent),
			 "no GPU visible: %s lacks nvmlInit_v2/nvmlDeviceGetCount_v2", lib);
		dlclose(api.dl);
		memset(&api, 0, sizeof(api));
		nvml_state = -1;
		return;
	}
	rc = api.init();
	if (rc != NVML_SUCCESS) {
		snprintf(nvml_absent, sizeof(nvml_absent),
			 "no GPU visible: nvmlInit failed: %s", nvml_errstr(rc));
		dlclose(api.dl);
		memset(&api, 0, sizeof(api));
		nvml_state = -1;
		return;
	}
	nvml_state = 1;
	nvml_events_register();
}

static void nvml_device(unsigned i, struct wan_gpu_info *g)
{
	nvmlDevice_t dev = NULL;
	nvmlMemory_t mem;
	nvmlUtilization_t u;
	unsigned int v;
	unsigned long long e;

	memset(g, 0, sizeof(*g));
	g->index = i;
	g->util_gpu = g->util_mem = g->temperature_c = g->power_w = NAN;
	g->ecc_corrected = g->ecc_uncorrected = -1;
	g->xid_errors = -1;
	if (i < NVML_MAX_EVENT_DEVICES && ev_on[i]) {
		g->xid_errors = ev_count[i];
		g->last_xid = ev_last[i];
	}
	if (api.handle(i, &dev) != NVML_SUCCESS) {
		snprintf(g->name, sizeof(g->name), "GPU %u (unreachable)", i);
		return;
	}
	if (!api.name || api.name(dev, g->name, sizeof(g->name)) != NVML_SUCCESS)
		snprintf(g->name, sizeof(g->name), "GPU %u", i);
	g->name[sizeof(g->name) - 1] = '\0';
	if (api.uuid && api.uuid(dev, g->uuid, sizeof(g->uuid)) == NVML_SUCCESS)
		g->uuid[sizeof(g->uuid) - 1] = '\0';
	else
		g->uuid[0] = '\0';
	if (api.memory && api.memory(dev, &mem) == NVML_SUCCESS) {
		g->mem_total = mem.total;
		g->mem_free = mem.free;
		g->mem_used = mem.used;
	}
	if (api.util && api.util(dev, &u) == NVML_SUCCESS) {
		g->util_gpu = u.gpu / 100.0;
		g->util_mem = u.memory / 100.0;
	}
	if (api.temp && api.temp(dev, NVML_TEMPERATURE_GPU, &v) == NVML_SUCCESS)
		g->temperature_c = v;
	if (api.power && api.power(dev, &v) == NVML_SUCCESS)
		g->power_w = v / 1000.0;   /* milliwatts */
	/* ECC counters exist only on ECC-enabled boards (NOT_SUPPORTED else). */
	if (api.ecc && api.ecc(dev, NVML_MEMORY_ERROR_TYPE_CORRECTED,
			       NVML_VOLATILE_ECC, &e) == NVML_SUCCESS)
		g->ecc_corrected = e > INT64_MAX ? INT64_MAX : (int64_t)e;
	if (api.ecc && api.ecc(dev, NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
			       NVML_VOLATILE_ECC, &e) == NVML_SUCCESS)
		g->ecc_uncorrected = e > INT64_MAX ? INT64_MAX : (int64_t)e;
}

static void nvml_none(char *driver, size_t dsz, const char *why)
{
	snprintf(nvml_last_reason, sizeof(nvml_last_reason), "%s", why);
	if (driver && dsz)
		snprintf(driver, dsz, "%s", why);
}

int wan_nvml_query(struct wan_gpu_info **out, size_t *n, char *driver,
		   size_t dsz)
{
	unsigned int count = 0;
	nvmlReturn_t rc;
	struct wan_gpu_info *g;
	char why[256];

	*out = NULL;
	*n = 0;
	nvml_last_reason[0] = '\0';
	pthread_mutex_lock(&nvml_lock);
	if (nvml_state == 0)
		nvml_load();
	if (nvml_state < 0) {
		snprintf(why, sizeof(why), "%s", nvml_absent);
		pthread_mutex_unlock(&nvml_lock);
		nvml_none(driver, dsz, why);
		return 0;
	}
	rc = api.count(&count);
	if (rc != NVML_SUCCESS || count == 0) {
		if (rc != NVML_SUCCESS)
			snprintf(why, sizeof(why), "no GPU visible: nvmlDeviceGetCount failed: %s",
				 nvml_errstr(rc));
		else
			snprintf(why, sizeof(why), "no GPU visible: the driver reports 0 devices");
		pthread_mutex_unlock(&nvml_lock);
		nvml_none(driver, dsz, why);
		return 0;
	}
	if (count > 1024)
		count = 1024;
	g = calloc(count, sizeof(*g));
	if (!g) {
		pthread_mutex_unlock(&nvml_lock);
		return wan_err(WAN_ENOMEM, "out of memory for %u GPUs", count);
	}
	nvml_events_drain();
	for (unsigned i = 0; i < count; i++)
		nvml_device(i, &g[i]);
	if (driver && dsz) {
		char v[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE] = "";
		if (!api.driver || api.driver(v, sizeof(v)) != NVML_SUCCESS)
			snprintf(v, sizeof(v), "unknown");
		v[sizeof(v) - 1] = '\0';
		snprintf(driver, dsz, "%s", v);
	}
	pthread_mutex_unlock(&nvml_lock);
	*out = g;
	*n = count;
	return 0;
}

const char *wan_nvml_reason(void)
{
	return nvml_last_reason;
}

void wan_nvml_shutdown(void)
{
	pthread_mutex_lock(&nvml_lock);
	if (nvml_state == 1) {
		if (ev_set && api.ev_free)
			api.ev_free(ev_set);
		ev_set = NULL;
		if (api.shutdown)
			api.shutdown();
		dlclose(api.dl);
	}
	memset(&api, 0, sizeof(api));
	nvml_state = 0;
	pthread_mutex_unlock(&nvml_lock);
}
