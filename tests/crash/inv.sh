# INV, the shared invariant checker of the reliability test plan
# (/work/shared/reference/reliability-test-plan.md), run after every
# injected fault once the next wanctl command has recovered:
#
#  (a) every production link <target>/<model> resolves to a release that
#      exists (releases/<model>/<id>/ and its manifest <id>.json), and
#      when MODEL=ID1,ID2 is given, to one of those ids ("none": no link);
#  (b) every file of the live release matches its manifest (sha256 and
#      size), and nothing is there that the manifest lacks;
#  (c) `PRAGMA integrity_check` is ok, `foreign_key_check` is empty, no
#      deployment is left pending/ingesting/switching/verifying, the
#      release is in the releases table, and the DB's view of the live
#      release (the last deployment that touched the model: completed ->
#      to_release, interrupted with "'<model>' stays on <to>:" in its
#      error (its previous release was gone, bug 35) -> to_release,
#      otherwise from_release) is the link's;
#  (e) no debris: no .<model>.wanctl-new/-old in the target, tmp/ empty,
#      no release tree without its manifest, objects named by 64 hex
#      digits and read-only.
#
# Usage (sourced, or run as a script):
#   inv_check TARGET [MODEL=ID[,ID...]]...      0 when INV holds
# The state folder is $INV_STATE, default TARGET/.wanctl. Messages go to
# stderr, prefixed "INV: ".

inv_fail() { echo "INV: $*" >&2; inv_bad=1; }

inv_check() {
	local target=$1; shift
	local state=${INV_STATE:-$target/.wanctl}
	local db=$state/state.db
	local -A allow=()
	local a m id link dir man ent want got
	inv_bad=0

	for a in "$@"; do allow[${a%%=*}]=${a#*=}; done
	[ -d "$target" ] || { inv_fail "no production folder '$target'"; return 1; }
	[ -f "$db" ] || { inv_fail "no state database '$db'"; return 1; }

	# (c) the database itself (one sqlite3 run: jq and sqlite3 start slowly
	# and INV runs after every injected fault).
	local dbout
	dbout=$(sqlite3 "$db" "SELECT 'I ' || integrity_check FROM pragma_integrity_check;
		SELECT 'F ' || \"table\" || ' ' || coalesce(rowid, '') || ' ' || parent
		  FROM pragma_foreign_key_check;
		SELECT 'U ' || id || ' ' || status FROM deployments WHERE status IN
		  ('pending','ingesting','switching','verifying');
		SELECT 'R ' || model || ' ' || id FROM releases;
		SELECT 'L ' || model || ' ' || live FROM (SELECT dm.model AS model,
		  CASE WHEN d.status = 'completed' OR (d.status = 'interrupted' AND
		    instr(d.error, '''' || dm.model || ''' stays on ' || dm.to_release || ':') > 0)
		  THEN coalesce(dm.to_release, 'none')
		  ELSE coalesce(dm.from_release, 'none') END AS live,
		  row_number() OVER (PARTITION BY dm.model
		    ORDER BY d.started DESC, d.rowid DESC) AS n
		  FROM deployment_models dm JOIN deployments d ON d.id = dm.deployment_id)
		  WHERE n = 1;" 2>&1)
	got=$(echo "$dbout" | sed -n 's/^I //p')
	[ "$got" = ok ] || inv_fail "integrity_check: $got ($(echo "$dbout" | grep -v '^[IFURL] ' | head -2))"
	got=$(echo "$dbout" | sed -n 's/^F //p')
	[ -z "$got" ] || inv_fail "foreign_key_check: $got"
	got=$(echo "$dbout" | sed -n 's/^U //p')
	[ -z "$got" ] || inv_fail "deployments left unfinished: $got"

	# (a)+(b)+(c) per model: every link in the target, and every model
	# named in the arguments.
	local -A models=()
	for ent in "$target"/*; do
		[ -L "$ent" ] || [ -e "$ent" ] || continue
		models[$(basename "$ent")]=1
	done
	for m in "${!allow[@]}"; do models[$m]=1; done

	for m in "${!models[@]}"; do
		link=$target/$m
		if [ ! -L "$link" ]; then
			if [ -e "$link" ]; then
				# An unmanaged folder is allowed only where the test
				# expects one.
				case ",${allow[$m]:-}," in
				*,unmanaged,*) ;;
				*) inv_fail "'$link' is not a release link" ;;
				esac
			else
				case ",${allow[$m]:-none}," in
				*,none,*) ;;
				*) inv_fail "'$link' is missing (expected ${allow[$m]})" ;;
				esac
			fi
			continue
		fi
		id=$(basename "$(readlink "$link")")
		if [ -n "${allow[$m]:-}" ]; then
			case ",${allow[$m]}," in
			*,"$id",*) ;;
			*) inv_fail "'$m' is on '$id', expected one of ${allow[$m]}" ;;
			esac
		fi
		dir=$state/releases/$m/$id
		man=$state/releases/$m/$id.json
		if [ ! -d "$link/" ] ||
		   [ "$(cd -P "$link" && pwd)" != "$(cd -P "$dir" 2>/dev/null && pwd)" ]; then
			inv_fail "'$link' -> '$(readlink "$link")' does not resolve to release '$dir'"
			continue
		fi
		if [ ! -f "$man" ]; then
			inv_fail "release '$m/$id' has no manifest '$man'"
			continue
		fi
		local mj
		mj=$(jq -r '"N \(.model) \(.release)", (.files[] |
			"S \(.sha256)  ./\(.path)", "Z \(.size) ./\(.path)")' "$man" 2>&1)
		got=$(echo "$mj" | sed -n 's/^N //p')
		[ "$got" = "$m $id" ] || inv_fail "manifest '$man' names '$got'"
		want=$(echo "$mj" | sed -n 's/^S //p' | LC_ALL=C sort -k2)
		got=$(cd "$dir" && find . -type f -print0 | xargs -0 -r sha256sum |
			LC_ALL=C sort -k2)
		if [ "$want" != "$got" ]; then
			inv_fail "release '$m/$id' differs from its manifest:"
			diff <(echo "$want") <(echo "$got") | head -6 >&2
		fi
		want=$(echo "$mj" | sed -n 's/^Z //p' | LC_ALL=C sort -k2)
		got=$(cd "$dir" && find . -type f -printf '%s %p\n' | LC_ALL=C sort -k2)
		[ "$want" = "$got" ] || inv_fail "release '$m/$id': sizes differ from the manifest"
		got=$(cd "$dir" && find . ! -type f ! -type d | head -3)
		[ -z "$got" ] || inv_fail "release '$m/$id' holds non-files: $got"
		echo "$dbout" | grep -qxF "R $m $id" ||
			inv_fail "release '$m/$id' is not in the releases table"
		got=$(echo "$dbout" | sed -n "s/^L $m //p")
		[ -z "$got" ] || [ "$got" = "$id" ] ||
			inv_fail "the database says '$m' runs '$got', the link says '$id'"
	done

	# (e) debris.
	got=$(find "$target" -maxdepth 1 -name '.*.wanctl-*' | head -3)
	[ -z "$got" ] || inv_fail "debris in the target: $got"
	if [ -d "$state/tmp" ]; then
		got=$(find "$state/tmp" -mindepth 1 | head -3)
		[ -z "$got" ] || inv_fail "tmp/ is not empty: $got"
	fi
	for dir in "$state"/releases/*/*/; do
		[ -d "$dir" ] || continue
		dir=${dir%/}
		[ -f "$dir.json" ] || inv_fail "release tree '$dir' has no manifest"
	done
	got=$(cd "$state/objects/sha256" 2>/dev/null &&
		find . -regextype posix-extended -type f ! -regex '\./[0-9a-f]{2}/[0-9a-f]{62}' | head -3)
	[ -z "$got" ] || inv_fail "stray files among the objects: $got"
	got=$(cd "$state/objects/sha256" 2>/dev/null && find . -type f -perm /0222 | head -3)
	[ -z "$got" ] || inv_fail "writable objects: $got"
	return $inv_bad
}

# Run as a script: inv.sh TARGET [MODEL=ID...]
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	inv_check "$@" && echo "INV: ok"
fi
