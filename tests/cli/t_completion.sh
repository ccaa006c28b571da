#!/bin/bash
# Shell completion (contrib/wanctl.bash-completion, contrib/_wanctl):
#  - both files are what scripts/gen-completion.sh makes of today's help
#    texts (they cannot drift), and parse (bash -n, zsh -n);
#  - bash: sourced in a subshell, COMPREPLY for commands (`wanctl dep`),
#    options (`wanctl deploy --dr`), catalog model names (`wanctl deploy
#    t2v`), configured models (--config and $WANCTL_CONFIG), subcommands,
#    option values (--transfer), files for --config/--output-report,
#    release ids for `rollback --model M --to`, deployment ids, the jq-less
#    fallback, and a binary that fails: nothing offered, nothing printed;
#  - zsh (when installed): the same through stubbed compadd/_files.
T=t_completion
. "$(dirname "$0")/../crash/lib.sh"
SRC=${WANCTL_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
export WANCTL_NO_FSYNC=1
BC=$SRC/contrib/wanctl.bash-completion
ZC=$SRC/contrib/_wanctl

for k in bash zsh; do
	f=$BC
	[ $k = zsh ] && f=$ZC
	run 0 sh "$SRC/scripts/gen-completion.sh" "$W" $k
	if cmp -s "$SCRATCH/out" "$f"; then ok; else
		bad "${f#"$SRC"/} is stale (a --help text changed); run: sh scripts/gen-docs.sh build"
		diff -u "$f" "$SCRATCH/out" | head -20 >&2
	fi
done
run 0 bash -n "$BC"

# comp WORDS... : COMPREPLY (sorted, one line) for the last word, in a
# fresh bash that sourced the completion; stderr kept in $SCRATCH/cerr.
comp() {
	"$BASH" -c '
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_wanctl
		printf "%s\n" "${COMPREPLY[@]}" | LC_ALL=C sort | tr "\n" " " | sed "s/ $//"
	' comp "$BC" "$@" 2>"$SCRATCH/cerr"
}
# is "EXPECTED" WORDS... : COMPREPLY is exactly EXPECTED.
is() {
	local want=$1 got; shift
	got=$(comp "$@")
	if [ "$got" = "$want" ]; then ok; else bad "complete '$*': got '$got', expected '$want'"; fi
}
# has "WORD" WORDS... : COMPREPLY contains WORD.
has() {
	local want=$1 got; shift
	got=$(comp "$@")
	case " $got " in
	*" $want "*) ok ;;
	*) bad "complete '$*': '$want' not in '$got'" ;;
	esac
}

D=$SCRATCH/d
mkdir -p "$D"
cd "$D"
is "deploy" "$W" dep
is "--dry-run" "$W" deploy --dr
is "t2v-1.3B t2v-14B t2v-A14B" "$W" deploy t2v
is "t2v-1.3B t2v-14B t2v-A14B" "$W" deploy --dry-run t2v
is "i2v-14B i2v-A14B" "$W" validate pre i2v
is "ti2v-5B" "$W" --json verify ti2
is "ti2v-5B" "$W" releases ti2
is "ti2v-5B" "$W" rollback --model ti2
is "auto copy hardlink reflink" "$W" deploy --transfer ""
is "init show" "$W" config ""
is "post pre" "$W" validate p
is "releases rollback" "$W" r
is "--json" "$W" --js
is "--quiet" "$W" deploy --qu
has "--output-report" "$W" deploy --out
has "--deployment-id" "$W" rollback --dep
check "no error output from completion" test ! -s "$SCRATCH/cerr"
# Every command of `wanctl --help` completes from the empty word.
cmds=$("$W" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')
is "$cmds" "$W" ""

# Every option a command's help lists (an independent reading of the help
# text: indented lines starting with options) is offered after "--".
for c in $cmds; do
	got=" $(comp "$W" "$c" --) "
	for o in $("$W" "$c" --help | grep -oE '^  (-[a-zA-Z], )?--[a-z][a-z0-9-]*' | grep -oE -- '--[a-z][a-z0-9-]*'); do
		case $got in
		*" $o "*) ok ;;
		*) bad "complete 'wanctl $c --': '$o' (in its help) not offered" ;;
		esac
	done
done

# Files where a FILE is expected.
touch site.json site-2.json
is "site-2.json site.json" "$W" --config si
is "site-2.json site.json" "$W" deploy --output-report si
mkdir stage-dir
is "stage-dir" "$W" deploy --source stage

# Configured models: --config FILE and $WANCTL_CONFIG.
jq -n '{source_models_path: "staging", target_models_path: "production",
	backup_path: "backups", models: {"my-t2v": {spec: "t2v-1.3B", source: "t2v-1.3B"}}}' >site.json
is "my-t2v" "$W" --config site.json deploy my
is "my-t2v" "$W" --config = site.json deploy my
is "my-t2v" "$W" --config=site.json deploy my
is "deploy" "$W" --config = site.json dep
is "deploy" "$W" help dep
is "my-t2v" "$W" --config site.json deploy --models x my
is "" "$W" deploy my
check "WANCTL_CONFIG names the configured models" \
	test "$(WANCTL_CONFIG=$D/site.json comp "$W" deploy my)" = "my-t2v"
# Release and deployment ids from the state.
mkdir -p staging
"$MKF" staging/t2v-1.3B t2v-1.3B >/dev/null
run 0 "$W" --config site.json -q --json deploy my-t2v
rel=$(jq -r '.models[0].to_release' "$SCRATCH/out")
dep=$(jq -r '.id' "$SCRATCH/out")
is "$rel" "$W" --config site.json rollback --model my-t2v --to ""
is "$dep" "$W" --config site.json rollback --deployment-id ""

# Without jq: the catalog from the `wanctl models` table.
mkdir "$SCRATCH/nojq"
for t in sort awk timeout tr sed; do
	p=$(command -v $t) && ln -s "$p" "$SCRATCH/nojq/$t"
done
got=$(PATH=$SCRATCH/nojq comp "$W" deploy t2v)
check "without jq: catalog names from the table ('$got')" test "$got" = "t2v-1.3B t2v-14B t2v-A14B"

# A binary that fails or hangs: nothing offered, nothing printed.
printf '#!/bin/sh\necho "broken" >&2\nexit 1\n' >"$SCRATCH/broken"
chmod +x "$SCRATCH/broken"
is "" "$SCRATCH/broken" deploy t2v
check "failing binary: no error output" test ! -s "$SCRATCH/cerr"
is "--dry-run" "$SCRATCH/broken" deploy --dr
printf '#!/bin/sh\nsleep 30\n' >"$SCRATCH/slow"
chmod +x "$SCRATCH/slow"
start=$SECONDS
is "" "$SCRATCH/slow" deploy t2v
check "hanging binary: gives up within 3 s" test $((SECONDS - start)) -le 3

# zsh: the same answers through stubs of compadd and _files.
if command -v zsh >/dev/null; then
	run 0 zsh -n "$ZC"
	zcomp() {
		zsh -f -c '
			zc=$1; shift
			typeset -ga reply
			compadd() {
				local arrays=0 a
				while [[ $1 == -* ]]; do
					[[ $1 == -- ]] && { shift; break; }
					[[ $1 == -a ]] && arrays=1
					shift
				done
				if (( arrays )); then
					for a in "$@"; do reply+=(${(P)a}); done
				else
					reply+=("$@")
				fi
			}
			_files() { reply+=(FILES "$@"); }
			words=("$@"); CURRENT=$#
			source $zc
			print -r -- ${(j: :)${(on)reply}}
		' zcomp "$ZC" "$@" 2>"$SCRATCH/cerr"
	}
	zis() {
		local want=$1 got; shift
		got=$(zcomp "$@")
		if [ "$got" = "$want" ]; then ok; else bad "zsh complete '$*': got '$got', expected '$want'"; fi
	}
	zis "$(echo "$cmds")" "$W" ""
	zis "--config --dry-run --help --json --models --no-backup --output-report --quiet --rehash --source --transfer --verbose --version --wait -h -q -v" "$W" deploy -
	zis "auto copy hardlink reflink" "$W" deploy --transfer ""
	zis "init show" "$W" config ""
	zis "$(echo "$cmds")" "$W" help ""
	has_t2v=$(zcomp "$W" deploy t2v)
	case " $has_t2v " in *" t2v-A14B "*) ok ;; *) bad "zsh: models: '$has_t2v'" ;; esac
	zis "FILES" "$W" --config ""
	zis "-/ FILES" "$W" deploy --source ""
	# (zsh filters by the prefix itself: the stub sees every name.)
	got=$(zcomp "$W" --config site.json deploy "")
	case " $got " in *" my-t2v "*" t2v-A14B "*) ok ;; *) bad "zsh: configured models: '$got'" ;; esac
	check "zsh: no error output" test ! -s "$SCRATCH/cerr"
else
	echo "t_completion: zsh missing: zsh checks skipped" >&2
fi

wt_done
