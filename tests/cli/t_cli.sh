#!/bin/bash
# The CLI skeleton (issue 2): help for the tool and every command, version,
# unknown commands and options with a hint, exit statuses, stdout checked.
T=t_cli; . "$(dirname "$0")/../crash/lib.sh"
cd "$SCRATCH"

cmds="backup config demo deploy gc health inspect list models monitor releases rollback status validate verify"
out=$("$W" --help)
for c in $cmds; do
	case $out in *"  $c "*) ok ;; *) bad "--help does not list '$c'" ;; esac
	if h=$("$W" "$c" --help) && case $h in usage:*"wanctl $c"*) true ;; *) false ;; esac; then
		ok
	else
		bad "'$c --help' does not print its usage"
	fi
	"$W" help "$c" | grep -q "wanctl $c" && ok || bad "'help $c' does not work"
done
# Every command of SPEC.md's table and nothing unknown.
n=$(printf '%s\n' "$out" | awk '/^Commands:/{f=1;next} /^$/{f=0} f&&NF{print $1}' | wc -l)
[ "$n" -eq 15 ] && ok || bad "--help lists $n commands, expected 15"

"$W" --version | grep -Eq '^wanctl [0-9]+\.[0-9]+\.[0-9]+$' && ok || bad "--version"

set +e
"$W" rolback >/dev/null 2>"$SCRATCH/err"; rc=$?
set -e
[ $rc -eq 2 ] && ok || bad "unknown command exit $rc, expected 2"
grep -q "did you mean 'rollback'" "$SCRATCH/err" && ok || bad "no did-you-mean hint: $(cat "$SCRATCH/err")"
[ "$(grep -c '^wanctl:' "$SCRATCH/err")" -eq 1 ] && ok || bad "more than one error line"

set +e
"$W" --frobnicate list >/dev/null 2>"$SCRATCH/err"; rc=$?
set -e
[ $rc -eq 2 ] && ok || bad "unknown global option exit $rc"
grep -q "unknown option '--frobnicate'" "$SCRATCH/err" && ok || bad "unknown option message"

set +e
"$W" list --frobnicate >/dev/null 2>"$SCRATCH/err"; rc=$?
set -e
[ $rc -eq 2 ] && ok || bad "unknown command option exit $rc"
grep -q "hint: run 'wanctl list --help'" "$SCRATCH/err" && ok || bad "no hint for a command option"

set +e
"$W" >/dev/null 2>&1; rc=$?
set -e
[ $rc -eq 2 ] && ok || bad "no command: exit $rc"

# A write error on stdout is exit 1 with a message.
if [ -w /dev/full ]; then
	set +e
	"$W" --help >/dev/full 2>"$SCRATCH/err"; rc=$?
	set -e
	[ $rc -eq 1 ] && ok || bad "write error on stdout: exit $rc"
	grep -q "write error" "$SCRATCH/err" && ok || bad "write error message"
fi

# Global options after the command.
mkdir -p staging production
printf '{"source_models_path":"staging","target_models_path":"production","backup_path":"b"}\n' >w.json
"$W" list --json --config w.json | jq -e '.deployments == []' >/dev/null && ok || bad "options after the command"
wt_done
