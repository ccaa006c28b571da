#include "util/common.h"
#include "util/path.h"
#include "util/xio.h"
#include "cli/cli.h"
#include "wanctl/monitor.h"
#include "lib/db.h"

#include <getopt.h>
#include <math.h>
#include <unistd.h>

const char help_health[] =
	"usage: wanctl health [--models M[,M...]] [--hours H] [--output-report FILE]\n"
	"\n"
	"One health report of this server: the system (CPU, load, memory, swap, disk\n"
	"free of the model, state, staging and backup folders), the GPUs (through\n"
	"NVML; \"no GPU visible\" when there is none), each model (current release,\n"
	"available, the integrity scrub's last verdict, probe latency), the firing\n"
	"alerts, and trends over the recorded samples of the monitor: the slope per\n"
	"hour of disk free bytes, memory use and probe latency by least squares, and\n"
	"for a shrinking disk the hours until it is full at that rate (free bytes of\n"
	"the last sample divided by the rate of loss).\n"
	"\n"
	"The status is \"ok\", \"degraded\" (an alert fires) or \"failed\" (a model is\n"
	"unavailable or failed the integrity scrub, or a critical alert fires).\n"
	"\n"
	"Options:\n"
	"  --models M[,M...]     report on these models (default: every configured or\n"
	"                        deployed model; repeatable)\n"
	"  --hours H             the trend window, in hours (default 24)\n"
	"  --output-report FILE  also write the report as JSON to FILE\n"
	"  --json                print the report as JSON\n"
	"\n"
	"Exit status: 0 ok or degraded, 4 failed, 1 the report could not be made.\n"
	"\n"
	"Examples:\n"
	"  wanctl health\n"
	"  wanctl health --models t2v-A14B --hours 168 --output-report /tmp/health.json\n";

static const char *fmt_rate(char *b, size_t n, json_t *v, const char *unit, double scale)
{
	if (!json_is_number(v))
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%+.4g %s/h", json_number_value(v) / scale, unit);
	return b;
}

static void print_health(json_t *r)
{
	json_t *sys = json_object_get(r, "system"), *x, *t = json_object_get(r, "trends");
	json_t *mem = json_object_get(sys, "memory"), *g = json_object_get(r, "gpus");
	size_t i;
	char b1[64];

	printf("status: %s (%s)\n\n", json_string_value(json_object_get(r, "status")),
	       json_string_value(json_object_get(r, "generated")));
	printf("system\n");
	if (json_is_number(json_object_get(sys, "cpu_usage_ratio")))
		printf("  cpu      %.1f%% busy, load %.2f\n",
		       100 * json_number_value(json_object_get(sys, "cpu_usage_ratio")),
		       json_number_value(json_array_get(json_object_get(sys, "load"), 0)));
	if (mem)
		printf("  memory   %s used of %s (%.1f%%), swap %s used\n",
		       cli_size((uint64_t)json_integer_value(json_object_get(mem, "used_bytes"))),
		       cli_size((uint64_t)json_integer_value(json_object_get(mem, "total_bytes"))),
		       100 * json_number_value(json_object_get(mem, "used_ratio")),
		       cli_size((uint64_t)json_integer_value(json_object_get(mem, "swap_used_bytes"))));
	json_array_foreach(json_object_get(sys, "disks"), i, x)
		printf("  disk     %s free of %s (%.1f%%)  %s\n",
		       cli_size((uint64_t)json_integer_value(json_object_get(x, "free_bytes"))),
		       cli_size((uint64_t)json_integer_value(json_object_get(x, "total_bytes"))),
		       100 * json_number_value(json_object_get(x, "free_ratio")),
		       json_string_value(json_object_get(x, "path")));
	printf("\ngpus\n");
	if (!json_integer_value(json_object_get(g, "count")))
		printf("  %s\n", json_string_value(json_object_get(g, "reason")));
	json_array_foreach(json_object_get(g, "devices"), i, x)
		printf("  %lld  %s  %s / %s used\n",
		       (long long)json_integer_value(json_object_get(x, "index")),
		       json_string_value(json_object_get(x, "name")),
		       cli_size((uint64_t)json_integer_value(json_object_get(x, "memory_used_bytes"))),
		       cli_size((uint64_t)json_integer_value(json_object_get(x, "memory_total_bytes"))));
	printf("\nmodels\n");
	if (!json_array_size(json_object_get(r, "models")))
		printf("  (none configured or deployed)\n");
	json_array_foreach(json_object_get(r, "models"), i, x) {
		json_t *integ = json_object_get(x, "integrity_ok");
		const char *rel = json_string_value(json_object_get(x, "release"));
		printf("  %-20s %-18s %-12s integrity %s\n",
		       json_string_value(json_object_get(x, "model")), rel ? rel : "-",
		       json_is_true(json_object_get(x, "available")) ? "available" : "UNAVAILABLE",
		       json_is_null(integ) ? "not scrubbed yet" : json_is_true(integ) ? "ok" : "MISMATCH");
		if (!json_is_true(json_object_get(x, "available")))
			printf("    %s\n", json_string_value(json_object_get(x, "reason")));
	}
	printf("\nalerts firing: %zu\n", json_array_size(json_object_get(r, "alerts")));
	json_array_foreach(json_object_get(r, "alerts"), i, x)
		printf("  %-24s %-9s %s\n", json_string_value(json_object_get(x, "name")),
		       json_string_value(json_object_get(x, "severity")),
		       json_string_value(json_object_get(x, "summary")));
	printf("\ntrends (last %.3g h)\n", json_number_value(json_object_get(t, "window_hours")));
	json_array_foreach(json_object_get(t, "disk"), i, x) {
		json_t *h = json_object_get(x, "hours_until_full");
		printf("  disk free %-40s %s  (%lld samples)%s", json_string_value(json_object_get(x, "path")),
		       fmt_rate(b1, sizeof(b1), json_object_get(x, "slope_bytes_per_hour"), "MiB", 1048576.0),
		       (long long)json_integer_value(json_object_get(x, "samples")),
		       json_is_number(h) ? "" : "\n");
		if (json_is_number(h))
			printf(", full in %.1f h\n", json_number_value(h));
	}
	x = json_object_get(t, "memory");
	if (json_is_object(x))
		printf("  memory used %s\n", fmt_rate(b1, sizeof(b1),
		       json_object_get(x, "slope_ratio_per_hour"), "%", 0.01));
	json_array_foreach(json_object_get(t, "probe"), i, x)
		printf("  probe %-20s %s\n", json_string_value(json_object_get(x, "model")),
		       fmt_rate(b1, sizeof(b1), json_object_get(x, "slope_seconds_per_hour"), "s", 1));
	if (!json_array_size(json_object_get(t, "disk")) && !json_is_object(x))
		printf("  no samples recorded (run 'wanctl monitor run' to record some)\n");
}

int cmd_health(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "models", required_argument, NULL, 'm' },
		{ "hours", required_argument, NULL, 'H' },
		{ "output-report", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char **models = NULL, *report = NULL;
	size_t nmodels = 0;
	double hours = 24;
	struct wan_config *cfg;
	struct wan_db *db = NULL;
	char state[4096];
	json_t *r = NULL;
	int c, err, rc;
	char *end;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm': {
			char *save = NULL;
			for (char *tok = strtok_r(optarg, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				const char **nv;
				if (path_check_relative(tok) < 0 || strchr(tok, '/')) {
					free(models);
					return cli_usage(cli, "bad model name '%s'", tok);
				}
				nv = realloc(models, (nmodels + 1) * sizeof(*nv));
				if (!nv) {
					free(models);
					return cli_fail(WAN_ENOMEM);
				}
				models = nv;
				models[nmodels++] = tok;
			}
			break;
		}
		case 'H':
			hours = strtod(optarg, &end);
			if (*end || !(hours > 0)) {
				free(models);
				return cli_usage(cli, "--hours wants a positive number, not '%s'", optarg);
			}
			break;
		case 'o':
			report = optarg;
			break;
		default:
			free(models);
			return cli_usage(cli, "unknown option '%s'", argv[optind - 1]);
		}
	}
	/* Models may also be given as arguments. */
	for (; optind < argc; optind++) {
		const char **nv = realloc(models, (nmodels + 1) * sizeof(*nv));
		if (!nv) {
			free(models);
			return cli_fail(WAN_ENOMEM);
		}
		models = nv;
		models[nmodels++] = argv[optind];
	}
	cfg = cli_config(cli);
	if ((err = wan_monitor_state_path(cfg, state, sizeof(state))) < 0 ||
	    (err = path_mkdirs(state, 0755)) < 0 ||
	    (err = wan_db_open(&db, state)) < 0) {
		free(models);
		return cli_fail(err);
	}
	err = wan_health_report(cfg, db, models, nmodels, hours, &r);
	wan_db_close(db);
	free(models);
	if (err < 0)
		return cli_fail(err);
	if (report && (err = cli_write_report(report, r)) < 0) {
		json_decref(r);
		return cli_fail(err);
	}
	rc = !strcmp(json_string_value(json_object_get(r, "status")), "failed") ?
	     EXIT_CHECK : EXIT_OK;
	if (cli->json)
		cli_print_json(json_incref(r));
	else
		print_health(r);
	json_decref(r);
	return rc;
}
