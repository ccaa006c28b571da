#!/bin/sh
# Regenerate every file derived from the binary's help texts and template:
#   docs/wanctl.1                    scripts/gen-man.sh
#   contrib/wanctl.bash-completion   scripts/gen-completion.sh ... bash
#   contrib/_wanctl                  scripts/gen-completion.sh ... zsh
#   contrib/wanctl.example.json      `wanctl config init` with server paths
#
#   sh scripts/gen-docs.sh build            rewrite them
#   sh scripts/gen-docs.sh build --check    say which are stale (exit 1)
#
# Run it after changing a command's --help text or a configuration key;
# tests/cli/t_man.sh, t_completion.sh and t_install.sh fail until then.
set -eu

BUILD=${1:?usage: gen-docs.sh BUILD [--check]}
CHECK=${2:-}
SRC=$(cd "$(dirname "$0")/.." && pwd)
W=$BUILD/wanctl
case $W in /*) ;; *) W=$PWD/$W ;; esac
[ -x "$W" ] || { echo "gen-docs.sh: no '$W': build first" >&2; exit 2; }
T=$(mktemp -d "${TMPDIR:-/tmp}/wanctl-gen.XXXXXX")
trap 'rm -rf "$T"' EXIT

sh "$SRC/scripts/gen-man.sh" "$W" > "$T/wanctl.1"
sh "$SRC/scripts/gen-completion.sh" "$W" bash > "$T/wanctl.bash-completion"
sh "$SRC/scripts/gen-completion.sh" "$W" zsh > "$T/_wanctl"
sh "$SRC/scripts/gen-example-config.sh" "$W" > "$T/wanctl.example.json"

stale=0
for pair in wanctl.1:docs/wanctl.1 wanctl.bash-completion:contrib/wanctl.bash-completion \
	    _wanctl:contrib/_wanctl wanctl.example.json:contrib/wanctl.example.json; do
	new=$T/${pair%%:*}
	old=$SRC/${pair#*:}
	if [ -n "$CHECK" ]; then
		if ! cmp -s "$new" "$old"; then
			echo "gen-docs.sh: '${pair#*:}' is stale; run: sh scripts/gen-docs.sh $BUILD" >&2
			stale=1
		fi
	elif ! cmp -s "$new" "$old"; then
		cp "$new" "$old"
		echo "updated ${pair#*:}"
	fi
done
exit $stale
