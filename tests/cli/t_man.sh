#!/bin/bash
# The man page cannot drift from the help texts: docs/wanctl.1 is what
# scripts/gen-man.sh makes of `wanctl --help` and every `wanctl COMMAND
# --help` today. Also: a section per command that `wanctl --help` lists,
# each command's usage line and every option of its help in the page, the
# fixed sections present, and groff renders it without a warning (man -l
# too, when man-db is installed) within 80 columns.
T=t_man
. "$(dirname "$0")/../crash/lib.sh"
SRC=${WANCTL_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PAGE=$SRC/docs/wanctl.1

run 0 sh "$SRC/scripts/gen-man.sh" "$W"
cp "$SCRATCH/out" "$SCRATCH/wanctl.1"
if cmp -s "$SCRATCH/wanctl.1" "$PAGE"; then
	ok
else
	bad "docs/wanctl.1 is stale (a --help text changed); run: sh scripts/gen-docs.sh build"
	diff -u "$PAGE" "$SCRATCH/wanctl.1" | head -40 >&2
fi

# Structure, from the page as generated now.
commands=$("$W" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p')
check "wanctl --help lists commands" test -n "$commands"
for s in NAME SYNOPSIS DESCRIPTION COMMANDS "EXIT STATUS" ENVIRONMENT FILES "SEE ALSO"; do
	check "section $s" grep -qx ".SH $s" "$SCRATCH/wanctl.1"
done
for v in WANCTL_CONFIG NO_COLOR WANCTL_NVML_LIB; do
	check "ENVIRONMENT names $v" grep -qx ".B $v" "$SCRATCH/wanctl.1"
done
for c in $commands; do
	check "section for '$c'" grep -qx ".SS \"wanctl $c\"" "$SCRATCH/wanctl.1"
done
check "one section per command, no other" test \
	"$(grep -c '^\.SS "wanctl ' "$SCRATCH/wanctl.1")" = "$(echo "$commands" | wc -w)"

# The rendered page holds every option of every command's help.
if command -v groff >/dev/null; then
	LC_ALL=C.UTF-8 groff -man -Tutf8 -rLL=78n -P-c -P-b -P-u "$SCRATCH/wanctl.1" \
		>"$SCRATCH/page.txt" 2>"$SCRATCH/warn" || bad "groff failed"
	check "groff renders without a warning" test ! -s "$SCRATCH/warn"
	[ -s "$SCRATCH/warn" ] && head -5 "$SCRATCH/warn" >&2
	LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$SCRATCH/wanctl.1" 2>"$SCRATCH/warn" || true
	check "groff -ww: no warning" test ! -s "$SCRATCH/warn"
	[ -s "$SCRATCH/warn" ] && head -5 "$SCRATCH/warn" >&2
	for c in $commands; do
		for o in $("$W" "$c" --help | grep -oE '(^|[ [])--[a-z][a-z0-9-]*' | tr -d ' [' | sort -u); do
			check "page mentions '$c' option $o" grep -qF -- "$o" "$SCRATCH/page.txt"
		done
	done
	# Lines longer than 80 columns may only be verbatim copies of a help
	# line (an example command too long to break).
	{ "$W" --help; for c in $commands; do "$W" "$c" --help; done; } |
		sed 's/^ *//' >"$SCRATCH/helplines"
	long=$(awk 'length > 80' "$SCRATCH/page.txt" | sed 's/^ *//' |
		grep -vxF -f "$SCRATCH/helplines" | head -3 || true)
	check "rendered page fits 80 columns (but for verbatim help lines)" test -z "$long"
	[ -n "$long" ] && echo "$long" >&2
else
	echo "t_man: groff missing (Debian package groff-base): render checks skipped" >&2
fi
if command -v man >/dev/null; then
	LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$SCRATCH/wanctl.1" \
		>"$SCRATCH/man.txt" 2>"$SCRATCH/warn" || bad "man -l failed: $(head -3 "$SCRATCH/warn")"
	check "man -l renders without a warning" test ! -s "$SCRATCH/warn"
	check "man -l output names the commands" grep -q "wanctl deploy" "$SCRATCH/man.txt"
else
	echo "t_man: man-db missing: man -l check skipped" >&2
fi

# The generator fails loudly on a binary without commands.
printf '#!/bin/sh\necho usage: nothing\n' >"$SCRATCH/fake"
chmod +x "$SCRATCH/fake"
run 1 sh "$SRC/scripts/gen-man.sh" "$SCRATCH/fake"
err_has "no commands"

wt_done
