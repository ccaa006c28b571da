#include "util/common.h"
#include "cli/cli.h"
#include "wanctl/backup.h"
#include "wanctl/store.h"

#include <getopt.h>

const char help_backup[] =
	"usage: wanctl backup create [MODEL...] [--release ID] [--wait SECONDS]\n"
	"       wanctl backup list [--model MODEL]\n"
	"       wanctl backup verify [--model MODEL] [--quick]\n"
	"       wanctl backup restore MODEL --release ID [--to DIR] [--wait SECONDS]\n"
	"       wanctl backup prune [--dry-run] [--wait SECONDS]\n"
	"\n"
	"The backup repository at backup_path survives the loss of the store. Each\n"
	"distinct file is stored once (across releases and models), compressed with\n"
	"zstd at backup.compression_level in independent frames; the float tensors\n"
	"of safetensors files are stored as byte planes first, which compresses\n"
	"weights better. Every file is re-hashed (SHA-256) when it is verified or\n"
	"restored. With backup.before_deploy, deploy backs up the release it is\n"
	"about to replace; rollback restores missing or damaged store objects from\n"
	"here.\n"
	"\n"
	"Subcommands:\n"
	"  create    back up releases: the current release of each MODEL (default:\n"
	"            every deployed model); files already in the repository are not\n"
	"            written again\n"
	"  list      snapshots with their size, compressed size and shared objects\n"
	"  verify    decompress and re-hash every object of every snapshot; names\n"
	"            each damaged or missing object and the snapshots it breaks\n"
	"            (exit status 4 when something is damaged)\n"
	"  restore   put a release back into the store (so 'wanctl rollback --model\n"
	"            MODEL --to ID' can switch to it), or into a plain folder\n"
	"  prune     keep backup.keep snapshots per model and none older than\n"
	"            backup.max_age_days (the newest of each model and the snapshot\n"
	"            of a current release always stay), then remove objects no\n"
	"            snapshot references\n"
	"\n"
	"Options:\n"
	"  --release ID     the release to back up (create, one MODEL) or restore\n"
	"  --model MODEL    only this model's snapshots (list, verify)\n"
	"  --quick          verify presence, sizes and indexes only, no decompression\n"
	"  --to DIR         restore into DIR (new or empty) instead of the store\n"
	"  --dry-run        prune: list what would be removed, remove nothing\n"
	"  --wait SECONDS   wait for another wanctl to release the lock\n"
	"\n"
	"Examples:\n"
	"  wanctl backup create\n"
	"  wanctl backup create t2v-A14B --release 3f2a9c0d1e2b4a5f\n"
	"  wanctl --json backup list --model t2v-A14B\n"
	"  wanctl backup verify\n"
	"  wanctl backup restore t2v-A14B --release 3f2a9c0d1e2b4a5f\n"
	"  wanctl backup restore t2v-A14B --release 3f2a9c0d1e2b4a5f --to /tmp/t2v\n"
	"  wanctl backup prune --dry-run\n";


struct bopts {
	const char *release, *model, *to;
	bool quick, dry_run;
	double wait;
};

static int parse(struct cli *cli, int argc, char **argv, struct bopts *o, const char *allowed)
{
	static const struct option opts[] = {
		{ "release", required_argument, NULL, 'r' },
		{ "model", required_argument, NULL, 'm' },
		{ "to", required_argument, NULL, 't' },
		{ "quick", no_argument, NULL, 'q' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "wait", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == '?' || c == ':' || !strchr(allowed, c))
			return cli_usage(cli, "unknown option '%s' for 'backup %s'", argv[optind - 1],
					 argv[0]);
		switch (c) {
		case 'r': o->release = optarg; break;
		case 'm': o->model = optarg; break;
		case 't': o->to = optarg; break;
		case 'q': o->quick = true; break;
		case 'n': o->dry_run = true; break;
		case 'w':
			if (cli_parse_seconds(optarg, &o->wait) < 0)
				return cli_usage(cli, "--wait needs a number of seconds, got '%s'", optarg);
			break;
		default:
			break;
		}
	}
	return 0;
}

static int do_create(struct cli *cli, int argc, char **argv)
{
	struct wan_backup_create_opts co;
	struct wan_state *st = NULL;
	struct bopts o;
	json_t *out = NULL, *s;
	size_t i;
	int err;

	if ((err = parse(cli, argc, argv, &o, "rw")) != 0)
		return err;
	memset(&co, 0, sizeof(co));
	co.models = (const char *const *)argv + optind;
	co.nmodels = (size_t)(argc - optind);
	co.release = o.release;
	if (o.release && co.nmodels != 1)
		return cli_usage(cli, "--release needs exactly one MODEL");
	if ((err = cli_state_open(cli, WAN_STATE_LOCK, o.wait, &st)) < 0)
		return cli_fail(err);
	err = wan_backup_create(st, &co, &out);
	if (cli->json) {
		cli_print_json(json_incref(out));
	} else if (cli->verbosity >= 0) {
		json_array_foreach(json_object_get(out, "snapshots"), i, s) {
			const char *status = json_string_value(json_object_get(s, "status"));
			if (!strcmp(status, "exists")) {
				printf("%-14s %s already backed up\n",
				       json_string_value(json_object_get(s, "model")),
				       json_string_value(json_object_get(s, "release")));
				continue;
			}
			printf("%-14s %s backed up: %lld files, %s; wrote %lld new objects "
			       "(%s -> %s) in %.1fs\n",
			       json_string_value(json_object_get(s, "model")),
			       json_string_value(json_object_get(s, "release")),
			       (long long)json_integer_value(json_object_get(s, "files")),
			       cli_size((uint64_t)json_integer_value(json_object_get(s, "bytes"))),
			       (long long)json_integer_value(json_object_get(s, "objects_written")),
			       cli_size((uint64_t)json_integer_value(json_object_get(s, "bytes_read"))),
			       cli_size((uint64_t)json_integer_value(json_object_get(s, "stored_written"))),
			       json_real_value(json_object_get(s, "seconds")));
		}
	}
	json_decref(out);
	wan_state_close(st);
	return err < 0 ? cli_fail(err) : EXIT_OK;
}

static int do_list(struct cli *cli, int argc, char **argv)
{
	struct bopts o;
	json_t *out = NULL, *s, *t;
	size_t i;
	int err;

	if ((err = parse(cli, argc, argv, &o, "m")) != 0)
		return err;
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if ((err = wan_backup_list(cli_config(cli), o.model, &out)) < 0)
		return cli_fail(err);
	if (cli->json) {
		cli_print_json(out);
		return EXIT_OK;
	}
	if (!json_is_true(json_object_get(out, "exists"))) {
		printf("no backup repository at '%s' yet\n",
		       json_string_value(json_object_get(out, "repository")));
		json_decref(out);
		return EXIT_OK;
	}
	printf("%-12s %-16s %-16s %9s %9s %s\n", "MODEL", "RELEASE", "CREATED", "SIZE",
	       "STORED", "SHARED");
	json_array_foreach(json_object_get(out, "snapshots"), i, s) {
		const char *c = json_string_value(json_object_get(s, "created"));
		char when[17];
		/* "2026-11-29T00:25:33Z" -> "2026-11-29 00:25" */
		snprintf(when, sizeof(when), "%.10s %.5s", c, strlen(c) > 11 ? c + 11 : "");
		printf("%-12s %-16s %-16s %9s %9s %lld/%lld\n",
		       json_string_value(json_object_get(s, "model")),
		       json_string_value(json_object_get(s, "release")), when,
		       cli_size((uint64_t)json_integer_value(json_object_get(s, "bytes"))),
		       cli_size((uint64_t)json_integer_value(json_object_get(s, "stored"))),
		       (long long)json_integer_value(json_object_get(s, "shared_objects")),
		       (long long)json_integer_value(json_object_get(s, "objects")));
	}
	json_array_foreach(json_object_get(out, "bad_snapshots"), i, s)
		cli_warn("unreadable snapshot '%s': %s", json_string_value(json_object_get(s, "path")),
			 json_string_value(json_object_get(s, "problem")));
	t = json_object_get(out, "totals");
	printf("%lld snapshots, %lld distinct files, %s stored as %s (%.1f%%)\n",
	       (long long)json_integer_value(json_object_get(t, "snapshots")),
	       (long long)json_integer_value(json_object_get(t, "objects")),
	       cli_size((uint64_t)json_integer_value(json_object_get(t, "bytes"))),
	       cli_size((uint64_t)json_integer_value(json_object_get(t, "stored"))),
	       100.0 * json_real_value(json_object_get(t, "ratio")));
	json_decref(out);
	return EXIT_OK;
}

static int do_verify(struct cli *cli, int argc, char **argv)
{
	struct bopts o;
	json_t *out = NULL, *d, *s;
	size_t i, k;
	int err;

	if ((err = parse(cli, argc, argv, &o, "mq")) != 0)
		return err;
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	err = wan_backup_verify(cli_config(cli), o.model, o.quick, &out);
	if (!out)
		return cli_fail(err);
	if (cli->json) {
		cli_print_json(json_incref(out));
	} else {
		json_array_foreach(json_object_get(out, "damaged"), i, d) {
			printf("DAMAGED %s: %s\n", json_string_value(json_object_get(d, "path")),
			       json_string_value(json_object_get(d, "problem")));
			json_array_foreach(json_object_get(d, "files"), k, s)
				printf("        breaks %s\n", json_string_value(s));
		}
		json_array_foreach(json_object_get(out, "bad_snapshots"), i, d)
			printf("BAD SNAPSHOT %s: %s\n", json_string_value(json_object_get(d, "path")),
			       json_string_value(json_object_get(d, "problem")));
		if (cli->verbosity >= 0 && err == 0)
			printf("backup repository ok: %lld snapshots, %lld objects, %s %s\n",
			       (long long)json_integer_value(json_object_get(out, "snapshots")),
			       (long long)json_integer_value(json_object_get(out, "objects")),
			       cli_size((uint64_t)json_integer_value(json_object_get(out, "bytes"))),
			       o.quick ? "(quick: presence and sizes)" : "re-hashed");
	}
	json_decref(out);
	return err < 0 ? cli_fail(err) : EXIT_OK;
}

static int do_restore(struct cli *cli, int argc, char **argv)
{
	struct wan_state *st = NULL;
	struct bopts o;
	json_t *out = NULL;
	const char *model;
	int err;

	if ((err = parse(cli, argc, argv, &o, "rtw")) != 0)
		return err;
	if (argc - optind != 1)
		return cli_usage(cli, "give exactly one MODEL");
	model = argv[optind];
	if (!o.release)
		return cli_usage(cli, "--release ID is required (see 'wanctl backup list')");
	if (o.to) {
		err = wan_backup_restore_dir(cli_config(cli), model, o.release, o.to, &out);
	} else {
		if ((err = cli_state_open(cli, WAN_STATE_LOCK, o.wait, &st)) < 0)
			return cli_fail(err);
		err = wan_backup_restore(st, model, o.release, &out);
		wan_state_close(st);
	}
	if (err < 0)
		return cli_fail(err);
	if (cli->json) {
		cli_print_json(out);
		return EXIT_OK;
	}
	if (cli->verbosity >= 0) {
		printf("restored %s release %s %s%s: %lld files, %s (%lld objects restored)\n",
		       model, o.release, o.to ? "into " : "into the store",
		       o.to ? o.to : "",
		       (long long)json_integer_value(json_object_get(out, "files")),
		       cli_size((uint64_t)json_integer_value(json_object_get(out, "bytes"))),
		       (long long)json_integer_value(json_object_get(out, "objects_restored")));
		if (!o.to)
			printf("switch to it with: wanctl rollback --model %s --to %s\n", model,
			       o.release);
	}
	json_decref(out);
	return EXIT_OK;
}

static int do_prune(struct cli *cli, int argc, char **argv)
{
	struct wan_state *st = NULL;
	struct bopts o;
	json_t *out = NULL, *r;
	size_t i;
	int err;

	if ((err = parse(cli, argc, argv, &o, "nw")) != 0)
		return err;
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if ((err = cli_state_open(cli, WAN_STATE_LOCK, o.wait, &st)) < 0)
		return cli_fail(err);
	err = wan_backup_prune(st, o.dry_run, &out);
	wan_state_close(st);
	if (err < 0)
		return cli_fail(err);
	if (cli->json) {
		cli_print_json(out);
		return EXIT_OK;
	}
	json_array_foreach(json_object_get(out, "snapshots_removed"), i, r)
		printf("%s snapshot %s of %s (%s)\n", o.dry_run ? "would remove" : "removed",
		       json_string_value(json_object_get(r, "release")),
		       json_string_value(json_object_get(r, "model")),
		       json_string_value(json_object_get(r, "reason")));
	printf("%s %lld objects, %s; %lld snapshots kept\n", o.dry_run ? "would free" : "freed",
	       (long long)json_integer_value(json_object_get(out, "objects_removed")),
	       cli_size((uint64_t)json_integer_value(json_object_get(out, "bytes_freed"))),
	       (long long)json_integer_value(json_object_get(out, "snapshots_kept")));
	json_decref(out);
	return EXIT_OK;
}

int cmd_backup(struct cli *cli, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(struct cli *, int, char **);
	} subs[] = {
		{ "create", do_create }, { "list", do_list }, { "verify", do_verify },
		{ "restore", do_restore }, { "prune", do_prune },
	};

	if (argc < 2)
		return cli_usage(cli, "give a subcommand: create, list, verify, restore or prune");
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].fn(cli, argc - 1, argv + 1);
	return cli_usage(cli, "unknown subcommand '%s' (create, list, verify, restore, prune)",
			 argv[1]);
}
