#ifndef WAN_CLI_H
#define WAN_CLI_H
/* The command-line layer: option parsing, output, exit statuses. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "wanctl/wanctl.h"

/* Exit statuses of SPEC.md. */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_LOCKED = 3,
	EXIT_CHECK = 4,
};

struct cli {
	const char *config_path;  /* --config */
	bool json;                /* --json */
	int verbosity;            /* -1 quiet, 0 normal, 1+ verbose */
	bool tty_err;             /* stderr is a terminal (progress) */
	bool color;               /* colour on stdout (tty and no NO_COLOR) */
	struct wan_config *cfg;   /* loaded on first cli_config() */
	const char *cmd;          /* the command's name */
};

typedef int (*cli_fn)(struct cli *cli, int argc, char **argv);

struct cli_command {
	const char *name;
	cli_fn fn;
	const char *summary;
	const char *help;         /* full text of `wanctl COMMAND --help` */
};

/* The sorted dispatch table (main.c). */
extern const struct cli_command cli_commands[];
extern const size_t cli_ncommands;

/* Load the configuration or exit 2 with its message. */
struct wan_config *cli_config(struct cli *cli);
/* Print an error "wanctl: <msg>" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Informational line on stderr unless -q. */
void cli_info(struct cli *cli, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Exit status for a library error code; prints wan_errmsg(). */
int cli_fail(int code);
int cli_exit_code(int code);
/* Print a JSON document on stdout (steals the reference). */
void cli_print_json(json_t *doc);
/* Usage error for the current command: message, hint, exit 2. */
int cli_usage(struct cli *cli, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Print help for a command; returns 0. */
int cli_help(const struct cli_command *c);
const struct cli_command *cli_find(const char *name);
/* If argv contains -h/--help, print the command's help and return 1. */
int cli_wants_help(struct cli *cli, int argc, char **argv);
/* Install log/progress sinks according to the flags. */
void cli_install_sinks(struct cli *cli);
/* Human-readable size into a static rotating buffer. */
const char *cli_size(uint64_t bytes);
/* Print the report as a table (people) or JSON; returns the exit status
 * (0, or 4 when a check failed). */
int cli_print_report(struct cli *cli, const struct wan_report *r);

/* Open the state folder of the configuration (lock when flags ask);
 * prints what recovery did. Returns 0 or a library error. */
struct wan_state;
int cli_state_open(struct cli *cli, unsigned flags, double wait,
		   struct wan_state **st);

/* Seconds from an option value (>= 0); -1 when it is not a number. */
int cli_parse_seconds(const char *s, double *out);
/* Write a JSON report to path atomically (temp, fsync, rename). */
int cli_write_report(const char *path, json_t *report);

/* Commands. */
int cmd_backup(struct cli *, int, char **);
int cmd_config(struct cli *, int, char **);
int cmd_demo(struct cli *, int, char **);
int cmd_deploy(struct cli *, int, char **);
int cmd_gc(struct cli *, int, char **);
int cmd_health(struct cli *, int, char **);
int cmd_inspect(struct cli *, int, char **);
int cmd_list(struct cli *, int, char **);
int cmd_models(struct cli *, int, char **);
int cmd_monitor(struct cli *, int, char **);
int cmd_releases(struct cli *, int, char **);
int cmd_rollback(struct cli *, int, char **);
int cmd_status(struct cli *, int, char **);
int cmd_validate(struct cli *, int, char **);
int cmd_verify(struct cli *, int, char **);

/* Help texts, one per command (help.c). */
extern const char help_backup[], help_config[], help_demo[], help_deploy[],
	help_gc[], help_health[], help_inspect[], help_list[], help_models[],
	help_monitor[], help_releases[], help_rollback[], help_status[],
	help_validate[], help_verify[];

#endif
