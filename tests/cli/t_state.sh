#!/bin/bash
# The state folder's layouts and refusals (src/lib/state.c): a state_path
# outside the production folder (the release links climb out with "../"),
# on another filesystem (refused: the switch must be one rename), a file
# where the folder should be, a sticky world-writable folder (accepted) and
# a plain world-writable one (refused), a read-only open before anything
# exists, the lock: the holder named, an empty lock file, --wait; a
# workspace 4,010 bytes deep, and a state_path over WAN_STATE_PATH_MAX.
T=t_state; . "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1

"$MKF" "$SCRATCH/staging/A" t2v-1.3B >/dev/null
cd "$SCRATCH"

# 1. state_path beside production, deeper: links are relative and climb out.
wt_config "$SCRATCH/s1" "{\"state_path\":\"$SCRATCH/s1/var/lib/wanctl/state\",
	\"target_models_path\":\"$SCRATCH/s1/srv/models\",\"source_models_path\":\"$SCRATCH/staging\",
	\"backup\":{\"before_deploy\":false},\"validation\":{\"enabled\":false},\"models\":{\"m\":{\"source\":\"A\"}}}"
cd "$SCRATCH/s1"
run 0 "$W" deploy m
l=$(readlink "$SCRATCH/s1/srv/models/m")
case $l in ../../var/lib/wanctl/state/releases/m/*) ok ;; *) bad "link text '$l'" ;; esac
check "the link resolves" test -f "$SCRATCH/s1/srv/models/m/$(cd "$SCRATCH/staging/A" && find . -type f | head -1)"
check "INV with the state elsewhere" env INV_STATE="$SCRATCH/s1/var/lib/wanctl/state" \
	bash "$WT_LIB_DIR/inv.sh" "$SCRATCH/s1/srv/models" >/dev/null
run 0 "$W" verify m
cd "$SCRATCH"

# 1b. state_path an ancestor of production (the state folder holds the
# models folder): the links climb out of it and back down.
wt_config "$SCRATCH/s3" "{\"state_path\":\"$SCRATCH/s3/srv\",
	\"target_models_path\":\"$SCRATCH/s3/srv/models\",\"source_models_path\":\"$SCRATCH/staging\",
	\"backup\":{\"before_deploy\":false},\"validation\":{\"enabled\":false},\"models\":{\"m\":{\"source\":\"A\"}}}"
cd "$SCRATCH/s3"
run 0 "$W" deploy m
l=$(readlink "$SCRATCH/s3/srv/models/m")
case $l in ../releases/m/*) ok ;; *) bad "link text '$l' (state an ancestor)" ;; esac
check "the link resolves (state an ancestor)" same_tree "$SCRATCH/s3/srv/models/m" "$SCRATCH/staging/A"
run 0 "$W" verify m
# A state folder inside production (production/state, not .wanctl): the
# links go down into it.
wt_config "$SCRATCH/s4" "{\"state_path\":\"$SCRATCH/s4/models/st\",
	\"target_models_path\":\"$SCRATCH/s4/models\",\"source_models_path\":\"$SCRATCH/staging\",
	\"backup\":{\"before_deploy\":false},\"validation\":{\"enabled\":false},\"models\":{\"m\":{\"source\":\"A\"}}}"
cd "$SCRATCH/s4"
run 0 "$W" deploy m
l=$(readlink "$SCRATCH/s4/models/m")
case $l in st/releases/m/*) ok ;; *) bad "link text '$l' (state inside)" ;; esac
check "the link resolves (state inside)" same_tree "$SCRATCH/s4/models/m" "$SCRATCH/staging/A"
cd "$SCRATCH"

# 2. The state on another filesystem than production: refused, untouched.
other=""
for d in /dev/shm /run /var/tmp; do
	if [ -d "$d" ] && [ -w "$d" ] && [ "$(stat -c %d "$d")" != "$(stat -c %d "$SCRATCH")" ]; then
		other=$(mktemp -d "$d/wanctl-t_state.XXXXXX"); break
	fi
done
if [ -n "$other" ]; then
	WT_CLEANUP+=("rm -rf '$other'")
	wt_config "$SCRATCH/s2" "{\"state_path\":\"$other/state\",\"source_models_path\":\"$SCRATCH/staging\",
		\"target_models_path\":\"$SCRATCH/s2/production\",\"models\":{\"m\":{\"source\":\"A\"}}}"
	(cd "$SCRATCH/s2" && run_in "1 2" "$W" deploy m)
	err_has "different filesystems"
	check "nothing deployed" not test -e "$SCRATCH/s2/production/m"
else
	echo "t_state: no second filesystem; case 2 skipped"
fi

# 3. A file where the state folder should be; a world-writable folder with
# and without the sticky bit.
wt_config "$SCRATCH/s3" "{\"source_models_path\":\"$SCRATCH/staging\",
	\"backup\":{\"before_deploy\":false},\"validation\":{\"enabled\":false},\"models\":{\"m\":{\"source\":\"A\"}}}"
cd "$SCRATCH/s3"
mkdir -p production
echo x > production/.wanctl
run_in "1 2" "$W" deploy m
err_has "not a directory"
rm production/.wanctl
mkdir production/.wanctl
chmod 0777 production/.wanctl
run_in "1 2" "$W" deploy m
err_has "writable by group or others"
chmod 1777 production/.wanctl
run 0 "$W" deploy m
check "INV (sticky state folder)" inv_check "$SCRATCH/s3/production"
chmod 0755 production/.wanctl

# 4. The lock: the holder is named; an empty lock file says "unknown
# holder"; --wait gives up after its time.
if command -v flock >/dev/null; then
	printf 'pid 4242, command %s, since then  \n\n' "'wanctl deploy'" > production/.wanctl/lock
	flock production/.wanctl/lock sleep 4 &
	WT_CLEANUP+=("kill $! 2>/dev/null")
	sleep 0.5
	run 3 "$W" deploy m --source "$SCRATCH/staging/A"
	err_has "pid 4242, command 'wanctl deploy', since then)"
	wait
	: > production/.wanctl/lock
	flock production/.wanctl/lock sleep 4 &
	WT_CLEANUP+=("kill $! 2>/dev/null")
	sleep 0.5
	run 3 "$W" rollback --model m --wait 0.3
	err_has "unknown holder"
	err_has "gave up waiting"
	wait
fi
cd "$SCRATCH"

# 5. `validate post` opens the state read-only: before anything exists it
# reports the model as not deployed and creates nothing.
wt_config "$SCRATCH/s5" "{\"source_models_path\":\"$SCRATCH/staging\",\"models\":{\"m\":{\"source\":\"A\"}}}"
cd "$SCRATCH/s5"
run 4 "$W" validate post m
out_has "is not deployed: no state folder"
check "validate post created no state folder" not test -e production/.wanctl
cd "$SCRATCH"

# 6. A workspace 4,010 bytes deep (state folder 4,029 bytes, under
# the 4,032 allowed): deploy, verify, rollback and gc work; the names of
# objects in messages (4,100+ bytes) are cut short, not an error (bug 33:
# "string too long" and production untouched). A state_path over the
# limit is refused by name, before anything is created.
c=$(printf 'd%.0s' $(seq 200))
deep=$SCRATCH/s6
while [ $(( 4010 - ${#deep} )) -gt 201 ]; do deep=$deep/$c; done
deep=$deep/$(printf 'e%.0s' $(seq $(( 4010 - ${#deep} - 1 ))))
check "the workspace is 4,010 bytes deep (${#deep})" test ${#deep} -eq 4010
mkdir -p "$deep/staging/A" "$deep/staging/B"
head -c 70000 /dev/urandom > "$deep/staging/A/w.bin"
echo '{"dim": 1}' > "$deep/staging/A/config.json"
cp "$deep/staging/A/config.json" "$deep/staging/B/"
head -c 70000 /dev/urandom > "$deep/staging/B/w.bin"
wt_config "$deep" '{"backup":{"before_deploy":false},"validation":{"enabled":false},
	"models":{"m":{"source":"A"}}}'
cd "$deep"
run 0 "$W" deploy m
A6=$(current production m)
run 0 "$W" deploy m --source "$deep/staging/B"
run 0 "$W" verify m
run 0 "$W" rollback --model m
check "rolled back to the first release" test "$(current production m)" = "$A6"
check "the files are the first staging's" cmp production/m/w.bin staging/A/w.bin
run 0 "$W" gc
run 0 "$W" verify m
jq --arg s "$deep/$(printf 'x%.0s' $(seq 60))" '.state_path = $s' wanctl.json > long.json
run 1 "$W" --config long.json status
err_has "state folder's path is 4071 bytes long, over the 4032 allowed"
check "nothing made for the refused state folder" not test -e "$deep/xxxxxxxxxx"*
cd "$SCRATCH"
wt_done
