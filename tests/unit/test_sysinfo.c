/* System facts (/proc parsers, statvfs) and NVML through the fake library. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "util/common.h"
#include "wanctl/monitor.h"
#include "wanctl/nvml.h"

static void test_sysinfo_parse_stat(void **st)
{
	struct wan_cpu_times a, b;

	(void)st;
	assert_int_equal(wan_sys_parse_stat("intr 1 2\ncpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n", &a), 0);
	assert_int_equal(a.busy, 150);
	assert_int_equal(a.total, 1000);
	assert_int_equal(wan_sys_parse_stat("cpu  250 0 100 1500 50 0 0 0 0 0\n", &b), 0);
	/* 200 more busy jiffies out of 900 more in all. */
	assert_true(fabs(wan_sys_cpu_usage(&a, &b) - 200.0 / 900.0) < 1e-12);
	assert_true(isnan(wan_sys_cpu_usage(&b, &b)));
	assert_int_equal(wan_sys_parse_stat("cpu0 1 2 3 4\n", &a), WAN_EINVAL);
	assert_int_equal(wan_sys_parse_stat("cpu  1 2\n", &a), WAN_EINVAL);
	assert_int_equal(wan_sys_cpu_times(&a), 0);
	assert_true(a.total > 0);
}

static void test_sysinfo_parse_meminfo(void **st)
{
	struct wan_meminfo m;

	(void)st;
	assert_int_equal(wan_sys_parse_meminfo(
		"MemTotal:       16000000 kB\nMemFree:  1000 kB\n"
		"MemAvailable:   4000000 kB\nSwapTotal: 2000 kB\nSwapFree: 500 kB\n", &m), 0);
	assert_int_equal(m.total, 16000000ULL * 1024);
	assert_int_equal(m.available, 4000000ULL * 1024);
	assert_int_equal(m.used, 12000000ULL * 1024);
	assert_int_equal(m.swap_total, 2000 * 1024);
	assert_int_equal(m.swap_free, 500 * 1024);
	/* Old kernels: no MemAvailable. */
	assert_int_equal(wan_sys_parse_meminfo(
		"MemTotal: 100 kB\nMemFree: 10 kB\nBuffers: 5 kB\nCached: 5 kB\n", &m), 0);
	assert_int_equal(m.available, 20 * 1024);
	assert_int_equal(wan_sys_parse_meminfo("MemFree: 10 kB\n", &m), WAN_EINVAL);
	assert_int_equal(wan_sys_parse_meminfo("MemTotal: 99999999999999999999 kB\n", &m),
			 WAN_EINVAL);
	assert_int_equal(wan_sys_meminfo(&m), 0);
	assert_true(m.total > 0 && m.used <= m.total);
}

static void test_sysinfo_disk_and_load(void **st)
{
	struct wan_diskinfo d;
	double load[3];

	(void)st;
	assert_int_equal(wan_sys_disk("/tmp", &d), 0);
	assert_true(d.total > 0 && d.avail <= d.total);
	assert_true(d.free_ratio >= 0 && d.free_ratio <= 1);
	assert_int_equal(wan_sys_disk("/nonexistent/wanctl", &d), WAN_ENOTFOUND);
	assert_int_equal(wan_sys_loadavg(load), 0);
	assert_true(load[0] >= 0);
}

static void test_sysinfo_nvml_absent(void **st)
{
	struct wan_gpu_info *g = (void *)1;
	size_t n = 99;
	char drv[128];

	(void)st;
	wan_nvml_shutdown();
	setenv("WANCTL_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
	assert_int_equal(wan_nvml_query(&g, &n, drv, sizeof(drv)), 0);
	assert_int_equal(n, 0);
	assert_null(g);
	assert_string_equal(drv, "no GPU visible: /nonexistent/libnvidia-ml.so.1 not found");
	assert_string_equal(wan_nvml_reason(), drv);
	wan_nvml_shutdown();
}

static void test_sysinfo_nvml_fake(void **st)
{
	struct wan_gpu_info *g;
	size_t n;
	char drv[128];

	(void)st;
	wan_nvml_shutdown();
	setenv("WANCTL_NVML_LIB", WAN_FAKE_NVML, 1);
	setenv("FAKE_NVML_GPUS", "2", 1);
	setenv("FAKE_NVML_MEM_TOTAL", "85899345920", 1);
	setenv("FAKE_NVML_MEM_USED_1", "42949672960", 1);
	setenv("FAKE_NVML_TEMP_1", "91", 1);
	setenv("FAKE_NVML_UTIL", "75", 1);
	setenv("FAKE_NVML_ECC_UNCORRECTED", "3", 1);
	setenv("FAKE_NVML_DRIVER", "550.54.15", 1);
	assert_int_equal(wan_nvml_query(&g, &n, drv, sizeof(drv)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(drv, "550.54.15");
	assert_string_equal(g[0].name, "NVIDIA H100 80GB HBM3");
	assert_int_equal(g[0].mem_total, 85899345920ULL);
	assert_int_equal(g[0].mem_used, 1ULL << 30);
	assert_int_equal(g[1].mem_used, 42949672960ULL);
	assert_int_equal(g[1].mem_free, 85899345920ULL - 42949672960ULL);
	assert_true(g[0].temperature_c == 40 && g[1].temperature_c == 91);
	assert_true(fabs(g[0].util_gpu - 0.75) < 1e-9);
	assert_true(fabs(g[0].power_w - 70) < 1e-9);
	assert_int_equal(g[0].ecc_corrected, -1);   /* not supported */
	assert_int_equal(g[0].ecc_uncorrected, 3);
	assert_int_equal(g[1].index, 1);
	/* Events registered; no XID yet. */
	assert_int_equal(g[0].xid_errors, 0);
	assert_int_equal(g[1].xid_errors, 0);
	free(g);
	/* An XID on GPU 1 is counted once, with its code. */
	setenv("FAKE_NVML_XID_1", "79", 1);
	assert_int_equal(wan_nvml_query(&g, &n, drv, sizeof(drv)), 0);
	assert_int_equal(g[0].xid_errors, 0);
	assert_int_equal(g[1].xid_errors, 1);
	assert_int_equal(g[1].last_xid, 79);
	free(g);
	assert_int_equal(wan_nvml_query(&g, &n, drv, sizeof(drv)), 0);
	assert_int_equal(g[1].xid_errors, 1);
	free(g);
	unsetenv("FAKE_NVML_XID_1");
	wan_nvml_shutdown();

	/* Without event support the count is unknown (-1). */
	setenv("FAKE_NVML_EVENTS", "0", 1);
	assert_int_equal(wan_nvml_query(&g, &n, drv, sizeof(drv)), 0);
	assert_int_equal(g[0].xid_errors, -1);
	free(g);
	unsetenv("FAKE_NVML_EVENTS");
	wan_nvml_shutdown();

	/* nvmlInit failing (driver not loaded) is "no GPU", not an error. */
	setenv("FAKE_NVML_INIT", "9", 1);
	assert_int_equal(wan_nvml_query(&g, &n, drv, sizeof(drv)), 0);
	assert_int_equal(n, 0);
	assert_string_equal(drv, "no GPU visible: nvmlInit failed: Driver Not Loaded");
	unsetenv("FAKE_NVML_INIT");
	wan_nvml_shutdown();

	setenv("FAKE_NVML_GPUS", "0", 1);
	assert_int_equal(wan_nvml_query(&g, &n, drv, sizeof(drv)), 0);
	assert_int_equal(n, 0);
	assert_string_equal(drv, "no GPU visible: the driver reports 0 devices");
	wan_nvml_shutdown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sysinfo_parse_stat),
		cmocka_unit_test(test_sysinfo_parse_meminfo),
		cmocka_unit_test(test_sysinfo_disk_and_load),
		cmocka_unit_test(test_sysinfo_nvml_absent),
		cmocka_unit_test(test_sysinfo_nvml_fake),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
