#ifndef WANCTL_VALIDATE_H
#define WANCTL_VALIDATE_H
/*
 * Pre- and post-deployment checks (SPEC.md "Checks"). Each function adds
 * checks to a report; the return value is 0 unless the checks could not be
 * run at all (a failed check is a "fail" entry, not an error).
 */
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "wanctl/config.h"
#include "wanctl/report.h"

struct wan_state;

/* Flags of the _ex functions. */
enum wan_validate_flags {
	/* Read the data too: tensors.finite on staging, CRC-32 of every .pth
	 * entry, full re-hash of production files (validate post). */
	WAN_VALIDATE_FULL = 1 << 0,
	/* validate post: re-scan production tensors (tensors.finite). */
	WAN_VALIDATE_SCAN = 1 << 1,
};

/*
 * Staging checks of one model: staging.exists, staging.layout (against the
 * spec), staging.lfs_pointer, staging.placeholder, staging.safetensors,
 * staging.index, staging.architecture, staging.pth.
 * spec: catalog spec name (may be NULL: detect/generic; the model's own
 * name unknown to the catalog: detect/generic too; any other unknown name
 * fails staging.layout). staging: folder (or hub cache repo/snapshot).
 * Only headers are read. staging.exists "pass" is not added again when
 * the report already holds a staging.exists entry for this model.
 */
int wan_validate_staging(const struct wan_config *cfg, const char *model,
			 const char *spec, const char *staging,
			 struct wan_report *rep);
/* The same with flags (WAN_VALIDATE_FULL adds tensors.finite on staging
 * and .pth CRCs); *bytes (may be NULL) receives the staging size. */
int wan_validate_staging_ex(const struct wan_config *cfg, const char *model,
			    const char *spec, const char *staging, unsigned flags,
			    struct wan_report *rep, uint64_t *bytes);

/*
 * Machine checks for a deployment of n models: system.disk (bytes_to_copy
 * after deduplication plus disk_margin_percent, on the store's
 * filesystem), system.memory, system.gpu (NVML), system.filesystem (store
 * and production on one filesystem), system.dependencies.
 * specs[i] may be NULL. st may be NULL (then state_path of cfg is used).
 */
int wan_validate_system(const struct wan_config *cfg, struct wan_state *st,
			const char *const *specs, size_t n,
			uint64_t bytes_to_copy, struct wan_report *rep);

struct wan_post_ctx {
	const char *model;
	const char *spec;             /* may be NULL */
	const char *release;          /* the release now live */
	const char *ckpt_dir;         /* <target>/<model> */
	double prev_smoke_seconds;    /* previous release's smoke time, <= 0 unknown */
	bool scan_tensors;            /* re-run tensors.finite on production */
};

/*
 * Post checks that need more than the store: tensors.finite (when
 * scan_tensors), inference.smoke (validation.inference_command with
 * {model} {ckpt_dir} {output} {size}; exit 0, non-empty output, within
 * max_inference_seconds and the regression margin), service.ready
 * (validation.readiness_url answers 2xx within its timeout).
 * *smoke_seconds (may be NULL) receives the smoke time, or -1.
 */
int wan_validate_post(const struct wan_config *cfg, const struct wan_post_ctx *c,
		      struct wan_report *rep, double *smoke_seconds);

/*
 * Fill a smoke command template: {model} {ckpt_dir} {output} {size} are
 * replaced by the values, each shell-quoted ('...') unless it holds only
 * letters, digits and _ . / , : = @ % + -. *out is malloc'd.
 */
int wan_validate_fill_template(const char *tpl, const char *model,
			       const char *ckpt_dir, const char *output,
			       const char *size, char **out);

/*
 * `wanctl validate pre`: staging checks of each model (its spec and staging
 * folder from the configuration, or source for a single model), then the
 * system checks once for all of them (bytes to copy: the staging bytes not
 * already in the store by the stat cache when a state folder exists, else
 * all of them). A tensors.finite "skip" is added per model unless
 * WAN_VALIDATE_FULL. Returns 0, or an error when a model name is unusable
 * (WAN_EINVAL) or out of memory.
 */
int wan_validate_pre(const struct wan_config *cfg, const char *const *models,
		     size_t n, const char *source, unsigned flags,
		     struct wan_report *rep);

/*
 * `wanctl validate post` for one deployed model: release.link (the
 * production link resolves into <state>/releases/<model>/<id> and the
 * manifest exists), release.files (wan_verify: sizes and store inodes;
 * full re-hash with WAN_VALIDATE_FULL or deployment.verify "full"), then
 * wan_validate_post (tensors.finite when WAN_VALIDATE_SCAN or _FULL; the
 * previous smoke time from the releases table).
 */
int wan_validate_deployed(struct wan_state *st, const char *model,
			  unsigned flags, struct wan_report *rep);
/* `wanctl validate health --model M`: release.link, release.files (quick),
 * system.gpu against the model's spec, service.ready. */
int wan_validate_health(struct wan_state *st, const char *model,
			struct wan_report *rep);
/* The models deployed under target_models_path (links into the store and
 * unmanaged folders of configured models), sorted; *names malloc'd array
 * of malloc'd strings. */
int wan_validate_deployed_models(const struct wan_config *cfg, char ***names,
				 size_t *n);

#endif
