# Shared helpers of the core's shell tests (tests/cli/t_*.sh and
# tests/crash/t_*.sh). Source it after setting T=<test name>:
#
#   T=t_deploy; . "$(dirname "$0")/../crash/lib.sh"
#
# It sets W (the wanctl binary), MKF (the fixture writer), SCRATCH (a
# scratch folder removed on exit), the pass/fail counters and the helpers
# below; the script ends with `wt_done`.
set -eu

W=${WANCTL:-build/wanctl}
case $W in /*) ;; *) W=$PWD/$W ;; esac
WB=${WANCTL_BUILD:-$(dirname "$W")}
case $WB in /*) ;; *) WB=$PWD/$WB ;; esac
MKF=$WB/tests/mkfixture
WT_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/wanctl-$T.XXXXXX")
unset WANCTL_CONFIG WANCTL_FAULT
pass=0
failed=0
WT_CLEANUP=()

wt_finish() {
	local rc=$? c
	# Cleanups registered by the test (umount, background jobs) first.
	for c in "${WT_CLEANUP[@]+"${WT_CLEANUP[@]}"}"; do eval "$c" || true; done
	cd /
	if [ -n "${WT_KEEP:-}" ]; then
		echo "$T: scratch kept in $SCRATCH" >&2
	else
		chmod -R u+w "$SCRATCH" 2>/dev/null || true
		rm -rf "$SCRATCH"
	fi
	[ "$rc" -eq 0 ] || [ -n "${WT_DONE:-}" ] ||
		echo "$T: $pass passed, $failed failed (stopped early)"
	exit "$rc"
}
trap wt_finish EXIT

wt_done() {
	WT_DONE=1
	echo "$T: $pass passed, $failed failed"
	[ "$failed" -eq 0 ]
}

wt_skip() { # reason
	WT_DONE=1
	echo "$T: skipped: $*"
	echo "$T: $pass passed, $failed failed"
	exit 0
}

ok() { pass=$((pass + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
check() { # description, command...
	local what=$1; shift
	if "$@"; then ok; else bad "$what"; fi
}
# not cmd... : succeeds when cmd fails, quietly (for `check WHAT not ...`).
not() { ! "$@" 2>/dev/null; }
# run EXPECTED_STATUS cmd... : keeps stdout in $SCRATCH/out, stderr in
# $SCRATCH/err; counts one assertion (the exit status).
run() {
	local want=$1 rc=0; shift
	"$@" >"$SCRATCH/out" 2>"$SCRATCH/err" || rc=$?
	WT_RC=$rc
	if [ "$rc" -ne "$want" ]; then
		bad "'$*' exited $rc, expected $want: $(head -c 600 "$SCRATCH/err")"
		return 1
	fi
	ok
}
# run_in "S1 S2" cmd... : like run, accepting any of the statuses listed.
run_in() {
	local want=$1 rc=0; shift
	"$@" >"$SCRATCH/out" 2>"$SCRATCH/err" || rc=$?
	WT_RC=$rc
	case " $want " in
	*" $rc "*) ok ;;
	*) bad "'$*' exited $rc, expected one of $want: $(head -c 600 "$SCRATCH/err")"
	   return 1 ;;
	esac
}
err_has() {
	if grep -qiF -- "$1" "$SCRATCH/err"; then ok; else
		bad "stderr lacks '$1': $(head -c 600 "$SCRATCH/err")"; fi
}
out_has() {
	if grep -qF -- "$1" "$SCRATCH/out"; then ok; else
		bad "stdout lacks '$1': $(head -c 600 "$SCRATCH/out")"; fi
}
# jq_is FILTER EXPECTED : a jq filter over $SCRATCH/out gives EXPECTED.
jq_is() {
	local got
	got=$(jq -r "$1" "$SCRATCH/out" 2>&1) || true
	if [ "$got" = "$2" ]; then ok; else
		bad "jq '$1' gave '$got', expected '$2'"; fi
}

# wt_config DIR [JSON] : a wanctl.json in DIR with staging/production/
# backups under DIR, merged with the JSON object given (jq's '*').
wt_config() {
	local dir=$1 extra=${2:-'{}'}
	mkdir -p "$dir"
	jq -n --argjson x "$extra" \
		'{"source_models_path":"staging","target_models_path":"production",
		  "backup_path":"backups"} * $x' >"$dir/wanctl.json"
}

# tree_sums DIR : "sha256  path" of every file under DIR (following
# symlinks), sorted by path; the tree's identity for comparisons.
tree_sums() {
	(cd -P "$1" && find -L . -type f -print0 | LC_ALL=C sort -z |
		xargs -0 -r sha256sum)
}
# same_tree A B : the two trees hold the same paths with the same bytes.
same_tree() {
	local a b
	a=$(tree_sums "$1") || return 1
	b=$(tree_sums "$2") || return 1
	if [ -z "$a" ] || [ "$a" != "$b" ]; then
		diff <(echo "$a") <(echo "$b") | head -5 >&2
		return 1
	fi
}
# current TARGET MODEL : the release id production/<model> points at.
current() {
	local l
	l=$(readlink "$1/$2") || return 1
	basename "$l"
}
# mtree DIR : a snapshot of a whole folder (names, types, inodes, link
# targets) to show that a command changed nothing.
mtree() {
	(cd "$1" && find . \( -name 'state.db*' -o -path ./.wanctl/lock -o -path ./.wanctl/tmp \) \
		-prune -o -printf '%p %y %i %s %m %l\n' | LC_ALL=C sort)
}

# unchanged DIR BEFORE : mtree DIR is still BEFORE (prints the difference).
unchanged() {
	local now
	now=$(mtree "$1")
	[ "$now" = "$2" ] && return 0
	diff <(echo "$2") <(echo "$now") | head -8 >&2
	return 1
}

. "$WT_LIB_DIR/inv.sh"

# abc_base DIR: a workspace (DIR/wanctl.json, model m from staging A, no
# backup before deploy, no validation) and three staging versions of
# t2v-1.3B in $SCRATCH/staging: A, B (variant 1) and C (variant 2).
abc_base() {
	mkdir -p "$1"
	cat > "$1/wanctl.json" <<JSON
{"source_models_path":"$SCRATCH/staging","target_models_path":"production","backup_path":"backups",
 "backup":{"before_deploy":false},"validation":{"enabled":false},
 "models":{"m":{"source":"A"}}}
JSON
	"$MKF" "$SCRATCH/staging/A" t2v-1.3B >/dev/null
	"$MKF" "$SCRATCH/staging/B" t2v-1.3B --variant 1 >/dev/null
	"$MKF" "$SCRATCH/staging/C" t2v-1.3B --variant 2 >/dev/null
}

# abc_workspace : abc_base in $SCRATCH/w, which becomes the working folder;
# S the staging folder, P production, R its releases folder.
abc_workspace() {
	abc_base "$SCRATCH/w"
	cd "$SCRATCH/w" || exit 1
	S=$SCRATCH/staging
	P=$SCRATCH/w/production
	R=$P/.wanctl/releases
}
