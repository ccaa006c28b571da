#!/bin/sh
# The example configuration installed as share/doc/wanctl/examples/
# config.json (contrib/wanctl.example.json): the template of `wanctl config
# init` (every key with its default) with the paths of a server and two
# models, so it can be copied to /etc/wanctl/config.json as it is.
#   sh scripts/gen-example-config.sh build/wanctl > contrib/wanctl.example.json
set -eu
W=${1:?usage: gen-example-config.sh PATH/TO/wanctl}
T=$(mktemp -d "${TMPDIR:-/tmp}/wanctl-example.XXXXXX")
trap 'rm -rf "$T"' EXIT
"$W" config init "$T/config.json" >/dev/null 2>&1 ||
	{ echo "gen-example-config.sh: '$W config init' failed" >&2; exit 1; }
jq --indent 2 '
	.source_models_path = "/srv/models/staging" |
	.target_models_path = "/srv/models/production" |
	.backup_path = "/srv/backups/models" |
	.models = {
		"t2v-A14B": {"spec": "t2v-A14B", "source": "Wan2.2-T2V-A14B"},
		"ti2v-5B": {"spec": "ti2v-5B", "source": "Wan2.2-TI2V-5B"}
	}' "$T/config.json"
