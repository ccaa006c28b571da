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

/*
 * Staging checks of one model: staging.exists, staging.layout (against the
 * spec), staging.lfs_pointer, staging.placeholder, staging.safetensors,
 * staging.index, staging.architecture, staging.pth.
 * spec: catalog spec name (may be NULL: detect/generic). staging: folder.
 */
int wan_validate_staging(const struct wan_config *cfg, const char *model,
			 const char *spec, const char *staging,
			 struct wan_report *rep);

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

#endif
