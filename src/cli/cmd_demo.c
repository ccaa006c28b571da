/*
 * wanctl demo [DIR]: miniature Wan models in a scratch folder and the whole
 * life cycle, each step run by re-executing this binary (/proc/self/exe)
 * with --config DIR/wanctl.json, so the demo exercises the real commands.
 */
#include "util/common.h"
#include "util/path.h"
#include "util/xio.h"
#include "cli/cli.h"
#include "wanctl/fixture.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char help_demo[] =
	"usage: wanctl demo [DIR] [--keep] [--size BYTES]\n"
	"\n"
	"Builds miniature Wan-layout models and walks the life cycle in seconds,\n"
	"one line per step with the command you would type:\n"
	"  a configuration (DIR/wanctl.json: staging, production, backups),\n"
	"  staging copies of t2v-1.3B and ti2v-5B written by the fixture generator\n"
	"  (real folder layout, shards, index, .pth zips; tiny dims), inspect,\n"
	"  validate pre, deploy, status, a second release deployed, releases,\n"
	"  list, a corrupted production byte caught by verify, rollback, verify\n"
	"  again, backup, one monitor sample, health and gc --dry-run.\n"
	"Each step runs this binary with --config DIR/wanctl.json in DIR; a step\n"
	"whose command is not built yet is shown as \"(not built yet)\".\n"
	"\n"
	"DIR must be empty or absent; it is kept. Without DIR a new temporary\n"
	"folder is made (its name is printed) and removed at the end unless --keep.\n"
	"\n"
	"Options:\n"
	"  --keep          keep the temporary folder\n"
	"  --size BYTES    approximate bytes per DiT shard of the staging models\n"
	"                  (default: a few hundred KiB per model); suffixes K, M, G\n"
	"  -v              show each step's output\n"
	"  --json          print {\"dir\", \"steps\": [{\"step\", \"command\",\n"
	"                  \"status\", \"exit\"}], \"failed\"} instead of the lines\n"
	"  -h, --help      this help\n"
	"\n"
	"Examples:\n"
	"  wanctl demo\n"
	"  wanctl demo /tmp/wanctl-demo --size 64M\n"
	"  cd /tmp/wanctl-demo && wanctl status\n"
	"\n"
	"Exit status: 0 every built step did what it should, 1 a step failed,\n"
	"2 usage error (or DIR not empty).\n";

#define DEMO_OUT_MAX (64u << 10)
_Static_assert(DEMO_OUT_MAX > 4096 * 2, "demo output buffer");

struct demo {
	struct cli *cli;
	char dir[WAN_PATH_MAX];
	char cfg[WAN_PATH_MAX];
	char self[WAN_PATH_MAX];
	uint64_t size;
	int n, ok, not_built, failed;
	json_t *steps;
};

enum { EXPECT_OK = 0, EXPECT_CHECK = -1 /* non-zero, not usage */ };

static void step_line(struct demo *d, const char *what, const char *status,
		      int code, const char *cmd)
{
	d->n++;
	if (d->steps) {
		json_array_append_new(d->steps,
			json_pack("{s:s, s:s, s:s, s:i}", "step", what, "command", cmd,
				  "status", status, "exit", code));
		return;
	}
	printf("%2d. %-44s %-15s %s\n", d->n, what, status, cmd);
	fflush(stdout);
}

static void show_output(const struct demo *d, const char *out, bool force)
{
	const char *p = out;

	if (d->steps || (!force && d->cli->verbosity < 1) || !*out)
		return;
	while (*p) {
		size_t l = strcspn(p, "\n");

		printf("      | %.*s\n", (int)l, p);
		p += l;
		if (*p)
			p++;
	}
}

/* Run "wanctl --config CFG args..." in DIR; capture its output (tail). */
static int run_self(struct demo *d, const char *const *args, char *out,
		    size_t outsz, int *code)
{
	const char *argv[32];
	size_t n = 0, len = 0;
	int pfd[2], st;
	pid_t pid;

	argv[n++] = "wanctl";
	argv[n++] = "--config";
	argv[n++] = d->cfg;
	for (size_t i = 0; args[i] && n < ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return wan_err_sys(0, "cannot create a pipe");
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return wan_err_sys(0, "cannot fork");
	}
	if (pid == 0) {
		if (dup2(pfd[1], 1) < 0 || dup2(pfd[1], 2) < 0 || chdir(d->dir) < 0)
			_exit(127);
		execv(d->self, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	out[0] = '\0';
	for (;;) {
		char buf[4096];
		ssize_t r = xread(pfd[0], buf, sizeof(buf));

		if (r <= 0)
			break;
		/* keep the tail (outsz is far larger than one read) */
		if (len + (size_t)r > outsz - 1) {
			size_t drop = len + (size_t)r - (outsz - 1);

			memmove(out, out + drop, len - drop);
			len -= drop;
		}
		memcpy(out + len, buf, (size_t)r);
		len += (size_t)r;
		out[len] = '\0';
	}
	close(pfd[0]);
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return wan_err_sys(0, "cannot wait for pid %d", (int)pid);
	}
	*code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 0;
}

static void cmdline(char *dst, size_t size, const char *const *args)
{
	size_t o = (size_t)snprintf(dst, size, "wanctl");

	for (size_t i = 0; args[i] && o < size; i++) {
		bool quote = !*args[i] || strpbrk(args[i], " \"'$*") != NULL;

		o += (size_t)snprintf(dst + o, size - o, quote ? " '%s'" : " %s", args[i]);
	}
}

/* One step that runs a command. expect: EXPECT_OK or EXPECT_CHECK. */
static void step(struct demo *d, const char *what, int expect, const char *const *args)
{
	static char out[DEMO_OUT_MAX];
	char cmd[1024], status[32];
	int code = -1;
	bool good;

	cmdline(cmd, sizeof(cmd), args);
	if (run_self(d, args, out, sizeof(out), &code) < 0) {
		d->failed++;
		step_line(d, what, "FAILED", -1, cmd);
		if (!d->steps)
			printf("      | %s\n", wan_errmsg());
		return;
	}
	if (code == EXIT_USAGE && strstr(out, "not built yet")) {
		d->not_built++;
		step_line(d, what, "(not built yet)", code, cmd);
		return;
	}
	good = expect == EXPECT_OK ? code == 0 :
		(code != 0 && code != EXIT_USAGE && code < 64);
	if (good) {
		d->ok++;
		if (expect == EXPECT_CHECK)
			snprintf(status, sizeof(status), "caught (exit %d)", code);
		else
			snprintf(status, sizeof(status), "ok");
	} else {
		d->failed++;
		snprintf(status, sizeof(status), "FAILED (exit %d)", code);
	}
	step_line(d, what, status, code, cmd);
	if (!good && d->steps)
		json_object_set_new(json_array_get(d->steps, json_array_size(d->steps) - 1),
				    "output", json_string(out));
	show_output(d, out, !good);
}

static void lib_step(struct demo *d, const char *what, int err, const char *cmd)
{
	if (err < 0) {
		d->failed++;
		step_line(d, what, "FAILED", 1, cmd);
		if (!d->steps)
			printf("      | %s\n", wan_errmsg());
		return;
	}
	d->ok++;
	step_line(d, what, "ok", 0, cmd);
}

static int write_config(const struct demo *d)
{
	static const char text[] =
		"{\n"
		"  \"source_models_path\": \"staging\",\n"
		"  \"target_models_path\": \"production\",\n"
		"  \"backup_path\": \"backups\",\n"
		"  \"validation\": { \"min_ram_gb\": 0 }\n"
		"}\n";
	int fd = xopen(d->cfg, O_WRONLY | O_CREAT | O_EXCL, 0644);

	if (fd < 0)
		return wan_err_sys(0, "cannot create '%s'", d->cfg);
	if (xwrite(fd, text, sizeof(text) - 1) < 0) {
		int err = wan_err_sys(0, "cannot write '%s'", d->cfg);

		xclose(fd);
		return err;
	}
	if (xclose(fd) < 0)
		return wan_err_sys(0, "cannot close '%s'", d->cfg);
	return 0;
}

static int write_staging(const struct demo *d, const char *model, uint32_t variant,
			 uint64_t *bytes)
{
	struct wan_fixture_opts o = { .seed = 2026, .variant = variant,
				      .shard_bytes = d->size };
	struct wan_fixture_result r;
	char p[WAN_PATH_MAX], rel[256];
	int err;

	snprintf(rel, sizeof(rel), "staging/%s", model);
	if ((err = path_join(p, sizeof(p), d->dir, rel)) < 0)
		return err;
	err = wan_fixture_write(p, model, &o, &r);
	*bytes += r.bytes;
	return err;
}

/* Flip one byte near the end of a deployed file (simulated bit rot). */
static int corrupt(const struct demo *d, const char *rel)
{
	char p[WAN_PATH_MAX], real[PATH_MAX];
	unsigned char c;
	struct stat st;
	int fd, err = 0;

	if ((err = path_join(p, sizeof(p), d->dir, rel)) < 0)
		return err;
	if (!realpath(p, real))
		return wan_err_sys(0, "cannot resolve '%s'", p);
	if (stat(real, &st) < 0)
		return wan_err_sys(0, "cannot stat '%s'", real);
	if (st.st_size < 2)
		return wan_err(WAN_EINVAL, "'%s' is too small to corrupt", real);
	if (chmod(real, st.st_mode | S_IWUSR) < 0)
		return wan_err_sys(0, "cannot make '%s' writable", real);
	fd = xopen(real, O_RDWR, 0);
	if (fd < 0) {
		err = wan_err_sys(0, "cannot open '%s'", real);
	} else {
		if (xpread(fd, &c, 1, st.st_size - 2) != 1) {
			err = wan_err_sys(0, "cannot read '%s'", real);
		} else {
			c ^= 0x01;
			if (xpwrite(fd, &c, 1, st.st_size - 2) < 0)
				err = wan_err_sys(0, "cannot write '%s'", real);
		}
		xclose(fd);
	}
	chmod(real, st.st_mode & 07777);
	return err;
}

static bool is_empty_dir(const char *p)
{
	DIR *dir = opendir(p);
	struct dirent *de;
	bool empty = true;

	if (!dir)
		return false;
	while ((de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = false;
	closedir(dir);
	return empty;
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	if (*end == 'K' || *end == 'k')
		mul = 1024;
	else if (*end == 'M' || *end == 'm')
		mul = 1024 * 1024;
	else if (*end == 'G' || *end == 'g')
		mul = 1024ull * 1024 * 1024;
	else if (*end)
		return -1;
	if (mul > 1 && end[1])
		return -1;
	if (__builtin_mul_overflow((uint64_t)v, mul, out) || *out == 0)
		return -1;
	return 0;
}

int cmd_demo(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "keep", no_argument, NULL, 'k' },
		{ "size", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct demo d;
	bool temp = false, keep = false;
	uint64_t bytes = 0;
	double t0 = wan_now_mono();
	ssize_t n;
	int c, err;

	memset(&d, 0, sizeof(d));
	d.cli = cli;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			keep = true;
			break;
		case 's':
			if (parse_size(optarg, &d.size) < 0)
				return cli_usage(cli, "demo: --size: '%s' is not a size in bytes (e.g. 65536, 64M, 1G)",
						 optarg);
			break;
		case 'j':
			cli->json = true;
			break;
		case 'v':
			cli->verbosity++;
			break;
		default:
			return cli_usage(cli, "demo: unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind > 1)
		return cli_usage(cli, "demo: unexpected argument '%s'", argv[optind + 1]);
	n = readlink("/proc/self/exe", d.self, sizeof(d.self) - 1);
	if (n <= 0 || (size_t)n >= sizeof(d.self) - 1) {
		cli_error("cannot find this program's path (/proc/self/exe)");
		return EXIT_FAIL;
	}
	d.self[n] = '\0';
	if (optind < argc) {
		struct stat st;

		if (path_absolute(d.dir, sizeof(d.dir), NULL, argv[optind]) < 0)
			return cli_fail(WAN_EINVAL);
		if (stat(d.dir, &st) == 0 && !is_empty_dir(d.dir)) {
			cli_error("demo folder '%s' is not empty (or not a folder)", d.dir);
			return EXIT_USAGE;
		}
		if ((err = path_mkdirs(d.dir, 0755)) < 0)
			return cli_fail(err);
	} else {
		const char *tmp = getenv("TMPDIR");

		if (wan_snprintf(d.dir, sizeof(d.dir), "%s/wanctl-demo-XXXXXX",
				 tmp && *tmp ? tmp : "/tmp") < 0)
			return cli_fail(WAN_EINVAL);
		if (!mkdtemp(d.dir)) {
			cli_error("cannot create a temporary folder in '%s': %s",
				  tmp && *tmp ? tmp : "/tmp", strerror(errno));
			return EXIT_FAIL;
		}
		temp = true;
	}
	if ((err = path_join(d.cfg, sizeof(d.cfg), d.dir, "wanctl.json")) < 0)
		return cli_fail(err);
	if (cli->json)
		d.steps = json_array();
	else
		printf("wanctl demo in %s%s\n(to repeat a step yourself: cd %s, then the command shown)\n",
		       d.dir, temp && !keep ? " (removed at the end; --keep keeps it)" : "", d.dir);

	lib_step(&d, "write a configuration", write_config(&d),
		 "wanctl config init wanctl.json (then edit)");
	err = write_staging(&d, "t2v-1.3B", 0, &bytes);
	if (!err)
		err = write_staging(&d, "ti2v-5B", 0, &bytes);
	lib_step(&d, "write miniature staging models", err,
		 "(t2v-1.3B and ti2v-5B in staging/, as a hub download would)");
	if (err)
		goto done;
	{
		const char *const a_models[] = { "models", "ti2v-5B", NULL };
		const char *const a_inspect[] = { "inspect",
			"staging/ti2v-5B/diffusion_pytorch_model-00001-of-00003.safetensors",
			"staging/ti2v-5B/Wan2.2_VAE.pth", NULL };
		const char *const a_pre[] = { "validate", "pre", "t2v-1.3B", "ti2v-5B", NULL };
		const char *const a_deploy[] = { "deploy", "t2v-1.3B", "ti2v-5B", NULL };
		const char *const a_status[] = { "status", NULL };
		const char *const a_deploy2[] = { "deploy", "t2v-1.3B", NULL };
		const char *const a_releases[] = { "releases", "t2v-1.3B", NULL };
		const char *const a_list[] = { "list", NULL };
		const char *const a_verify[] = { "verify", "t2v-1.3B", NULL };
		const char *const a_rollback[] = { "rollback", "--model", "t2v-1.3B", NULL };
		const char *const a_backup[] = { "backup", "create", NULL };
		const char *const a_monitor[] = { "monitor", "run", "--once", "--listen", "", NULL };
		const char *const a_health[] = { "health", NULL };
		const char *const a_gc[] = { "gc", "--dry-run", NULL };
		char link[WAN_PATH_MAX];
		struct stat st;

		step(&d, "what ti2v-5B needs", EXPECT_OK, a_models);
		step(&d, "inspect a shard and a .pth", EXPECT_OK, a_inspect);
		step(&d, "validate the staging copies", EXPECT_OK, a_pre);
		step(&d, "deploy both models", EXPECT_OK, a_deploy);
		step(&d, "status", EXPECT_OK, a_status);
		bytes = 0;
		lib_step(&d, "a second t2v-1.3B release arrives",
			 write_staging(&d, "t2v-1.3B", 1, &bytes),
			 "(new DiT weights in staging/t2v-1.3B)");
		step(&d, "deploy the second release", EXPECT_OK, a_deploy2);
		step(&d, "releases kept", EXPECT_OK, a_releases);
		step(&d, "deployment history", EXPECT_OK, a_list);
		if (path_join(link, sizeof(link), d.dir, "production/t2v-1.3B") == 0 &&
		    lstat(link, &st) == 0) {
			lib_step(&d, "a disk flips one byte in production",
				 corrupt(&d, "production/t2v-1.3B/diffusion_pytorch_model.safetensors"),
				 "(simulated bit rot)");
			step(&d, "verify catches it", EXPECT_CHECK, a_verify);
		} else {
			d.n++;
			if (!d.steps)
				printf("%2d. %-44s %-15s %s\n", d.n, "a disk flips one byte in production",
				       "(skipped)", "(nothing deployed)");
		}
		step(&d, "roll back to the first release", EXPECT_OK, a_rollback);
		step(&d, "verify again", EXPECT_OK, a_verify);
		step(&d, "back up the store", EXPECT_OK, a_backup);
		step(&d, "one monitor sample", EXPECT_OK, a_monitor);
		step(&d, "health report", EXPECT_OK, a_health);
		step(&d, "what gc would drop", EXPECT_OK, a_gc);
	}
done:
	if (d.steps) {
		cli_print_json(json_pack("{s:s, s:o, s:i, s:i, s:i, s:b}", "dir", d.dir,
					 "steps", d.steps, "ok", d.ok,
					 "not_built", d.not_built, "failed", d.failed,
					 "kept", !temp || keep));
	} else {
		printf("demo %s in %.1f s: %d steps ok, %d not built yet, %d failed\n",
		       d.failed ? "FAILED" : "finished", wan_now_mono() - t0, d.ok,
		       d.not_built, d.failed);
		if (!temp || keep)
			printf("everything is in %s (cd there and try: wanctl status)\n", d.dir);
	}
	if (temp && !keep && path_remove_tree(d.dir) < 0)
		cli_warn("cannot remove '%s': %s", d.dir, wan_errmsg());
	return d.failed ? EXIT_FAIL : EXIT_OK;
}
