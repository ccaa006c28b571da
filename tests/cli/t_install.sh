#!/bin/bash
# `make install` / `make uninstall` (scripts/install.sh):
#  1. into a temporary DESTDIR with PREFIX=/usr/local: every file of the
#     layout present with its mode, the library links, no DESTDIR leaking
#     into wanctl.pc or the units, the binary runs --version, pkg-config
#     --cflags --libs wanctl works from there, the example configuration
#     loads; installing twice is the same tree; uninstall leaves DESTDIR
#     empty;
#  2. into a real PREFIX (no DESTDIR): the example program compiles with
#     `pkg-config --cflags --libs wanctl` against the installed header and
#     library and runs; systemd-analyze verify accepts the installed units
#     (skipped when systemd-analyze is missing); the unit files name the
#     installed binary; uninstall removes exactly what install put;
#  3. paths with spaces; a missing source file installs nothing.
T=t_install
. "$(dirname "$0")/../crash/lib.sh"
SRC=${WANCTL_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
INSTALL="$SRC/scripts/install.sh"
export QUIET=1

D=$SCRATCH/dest
run 0 env DESTDIR="$D" PREFIX=/usr/local sh "$INSTALL" "$WB"
U=$D/usr/local
ver=$("$W" --version | sed -n 's/^wanctl //p')
expect=(
	"bin/wanctl 755"
	"lib/libwanctl.so.$ver 755"
	"lib/libwanctl.a 644"
	"lib/pkgconfig/wanctl.pc 644"
	"share/man/man1/wanctl.1 644"
	"share/bash-completion/completions/wanctl 644"
	"share/zsh/site-functions/_wanctl 644"
	"lib/systemd/system/wanctl-monitor.service 644"
	"lib/systemd/system/wanctl-verify.service 644"
	"lib/systemd/system/wanctl-verify.timer 644"
	"lib/sysusers.d/wanctl.conf 644"
	"share/doc/wanctl/examples/config.json 644"
	"share/doc/wanctl/examples/deploy_rollback.c 644"
	"share/doc/wanctl/installed-files 644"
)
for h in "$SRC"/include/wanctl/*.h; do
	expect+=("include/wanctl/${h##*/} 644")
done
for d in "$SRC"/docs/*.md; do
	expect+=("share/doc/wanctl/${d##*/} 644")
done
for e in "${expect[@]}"; do
	f=${e% *}
	m=${e#* }
	check "installed $f" test -f "$U/$f" -a ! -L "$U/$f"
	check "mode of $f is $m" test "$(stat -c %a "$U/$f" 2>/dev/null)" = "$m"
done
check "libwanctl.so.0 -> libwanctl.so.$ver" test "$(readlink "$U/lib/libwanctl.so.0")" = "libwanctl.so.$ver"
check "libwanctl.so -> libwanctl.so.0" test "$(readlink "$U/lib/libwanctl.so")" = "libwanctl.so.0"
check "the installed header set is the tree's" \
	test "$(ls "$U/include/wanctl")" = "$(ls "$SRC/include/wanctl")"
check "installed files are byte copies (man page)" cmp -s "$U/share/man/man1/wanctl.1" "$SRC/docs/wanctl.1"
check "installed files are byte copies (library)" cmp -s "$U/lib/libwanctl.a" "$WB/libwanctl.a"
n_files=$(find "$D" \( -type f -o -type l \) | wc -l)
check "nothing else installed (${#expect[@]} files + 2 links = $n_files)" \
	test "$n_files" -eq $((${#expect[@]} + 2))
check "no temporary files left" test -z "$(find "$D" -name '.*.tmp.*')"
check "DESTDIR does not leak into any installed file" not grep -rlF -- "$D" "$U"
run 0 "$U/bin/wanctl" --version
out_has "wanctl $ver"
run 0 "$U/bin/wanctl" --help
out_has "usage: wanctl"

# pkg-config from the DESTDIR tree.
if command -v pkg-config >/dev/null; then
	run 0 env PKG_CONFIG_PATH="$U/lib/pkgconfig" pkg-config --modversion wanctl
	out_has "$ver"
	run 0 env PKG_CONFIG_PATH="$U/lib/pkgconfig" pkg-config --cflags --libs wanctl
	out_has "-I/usr/local/include"
	out_has "-L/usr/local/lib -lwanctl"
	out_has "-ljansson"
	run 0 env PKG_CONFIG_PATH="$U/lib/pkgconfig" pkg-config --static --libs wanctl
	out_has "-lsqlite3"
else
	echo "t_install: pkg-config missing: pkg-config checks skipped" >&2
fi

# The unit files name the installed binary.
check "verify unit runs /usr/local/bin/wanctl" \
	grep -q '^ExecStart=/usr/local/bin/wanctl .*verify' "$U/lib/systemd/system/wanctl-verify.service"

# The example configuration: valid, every key of the template.
run 0 "$W" --config "$U/share/doc/wanctl/examples/config.json" --json config show
jq_is .target_models_path /srv/models/production
"$W" config init "$SCRATCH/template.json" >/dev/null 2>&1
check "example config has the template's keys" test \
	"$(jq -c '[paths(type != "object")] | map(map(tostring) | join(".")) | map(select(startswith("models.") | not)) | sort' "$U/share/doc/wanctl/examples/config.json")" = \
	"$(jq -c '[paths(type != "object")] | map(map(tostring) | join(".")) | map(select(startswith("models.") | not)) | sort' "$SCRATCH/template.json")"

# Installing again gives the same tree (and the same record).
snap() { (cd "$1" && find . -printf '%p %y %m %s %l\n' | LC_ALL=C sort); }
before=$(snap "$D")
run 0 env DESTDIR="$D" PREFIX=/usr/local sh "$INSTALL" "$WB"
check "second install: same tree" test "$before" = "$(snap "$D")"

# A file an older version installed, that this one no longer has, goes.
echo old >"$U/share/doc/wanctl/OLD.md"
echo "f /usr/local/share/doc/wanctl/OLD.md" >>"$U/share/doc/wanctl/installed-files"
run 0 env DESTDIR="$D" PREFIX=/usr/local sh "$INSTALL" "$WB"
check "reinstall removes a file the new version does not install" test ! -e "$U/share/doc/wanctl/OLD.md"
check "reinstall: same tree as before" test "$before" = "$(snap "$D")"

# The list mode names the same files.
run 0 env DESTDIR="$D" PREFIX=/usr/local sh "$INSTALL" --list "$WB"
check "--list names every installed file" test \
	"$(LC_ALL=C sort "$SCRATCH/out")" = \
	"$(cd "$D" && find . \( -type f -o -type l \) | sed 's|^\.||' | LC_ALL=C sort)"

# make uninstall: nothing of ours left; DESTDIR itself is empty.
run 0 env DESTDIR="$D" PREFIX=/usr/local sh "$INSTALL" --uninstall "$WB"
check "uninstall: DESTDIR is empty" test -z "$(ls -A "$D")"
run 0 env DESTDIR="$D" PREFIX=/usr/local sh "$INSTALL" --uninstall "$WB"

# An uninstall leaves a folder someone else also uses.
mkdir -p "$D/usr/local/bin"
touch "$D/usr/local/bin/other-tool"
run 0 env DESTDIR="$D" PREFIX=/usr/local sh "$INSTALL" "$WB"
run 0 env DESTDIR="$D" PREFIX=/usr/local sh "$INSTALL" --uninstall "$WB"
check "uninstall keeps other files" test -f "$D/usr/local/bin/other-tool"
check "uninstall removes only ours" test "$(cd "$D" && find . -mindepth 1 | LC_ALL=C sort | tr '\n' ' ')" = \
	"./usr ./usr/local ./usr/local/bin ./usr/local/bin/other-tool "
rm -rf "$D"

# 2. A real PREFIX: build against it and run.
P=$SCRATCH/prefix
run 0 env PREFIX="$P" sh "$INSTALL" "$WB"
check "pc file names the prefix" grep -qx "prefix=$P" "$P/lib/pkgconfig/wanctl.pc"
check "units name the installed binary" \
	grep -q "^ExecStart=$P/bin/wanctl " "$P/lib/systemd/system/wanctl-verify.service"
if command -v pkg-config >/dev/null && command -v cc >/dev/null; then
	flags=$(PKG_CONFIG_PATH="$P/lib/pkgconfig" pkg-config --cflags --libs wanctl)
	# A sanitizer build's library needs its runtime first in the program.
	if ldd "$P/lib/libwanctl.so" | grep -q libasan; then
		flags="-fsanitize=address,undefined $flags"
	fi
	# shellcheck disable=SC2086
	run 0 cc -std=c17 -Wall -Wextra -Werror -o "$SCRATCH/example" \
		"$P/share/doc/wanctl/examples/deploy_rollback.c" $flags
	run 2 env LD_LIBRARY_PATH="$P/lib" "$SCRATCH/example"
	err_has "usage: deploy_rollback MODEL"
	check "the example uses the installed libwanctl.so" \
		sh -c "LD_LIBRARY_PATH='$P/lib' ldd '$SCRATCH/example' | grep -q '$P/lib/libwanctl.so.0'"
	# A round trip on a fixture, through the installed shared library.
	mkdir -p "$SCRATCH/run/models/staging" "$SCRATCH/run/models/production"
	"$MKF" "$SCRATCH/run/models/staging/t2v-1.3B" t2v-1.3B --variant 1 >/dev/null
	"$MKF" "$SCRATCH/run/models/production/t2v-1.3B" t2v-1.3B >/dev/null
	(cd "$SCRATCH/run" && WANCTL_NO_FSYNC=1 LD_LIBRARY_PATH="$P/lib" "$SCRATCH/example" t2v-1.3B) \
		>"$SCRATCH/out" 2>"$SCRATCH/err" && ok || bad "example through the installed library: $(cat "$SCRATCH/err")"
	out_has "rollback dep-"
else
	echo "t_install: pkg-config or cc missing: compile check skipped" >&2
fi
if command -v systemd-analyze >/dev/null; then
	run 0 systemd-analyze verify --man=no \
		"$P/lib/systemd/system/wanctl-verify.service" \
		"$P/lib/systemd/system/wanctl-verify.timer" \
		"$P/lib/systemd/system/wanctl-monitor.service"
	check "systemd-analyze verify: no warnings" test ! -s "$SCRATCH/err"
	[ -s "$SCRATCH/err" ] && cat "$SCRATCH/err" >&2
else
	echo "t_install: systemd-analyze missing: unit checks skipped" >&2
fi
run 0 env PREFIX="$P" sh "$INSTALL" --uninstall "$WB"
check "uninstall of a real prefix: empty" test -z "$(ls -A "$P" 2>/dev/null)"

# Paths with spaces.
SP="$SCRATCH/with space/pre fix"
run 0 env DESTDIR="$SCRATCH/dest dir" PREFIX="$SP" sh "$INSTALL" "$WB"
check "spaces: binary installed" test -x "$SCRATCH/dest dir$SP/bin/wanctl"
check "spaces: pc prefix" grep -qxF "prefix=$SP" "$SCRATCH/dest dir$SP/lib/pkgconfig/wanctl.pc"
run 0 env DESTDIR="$SCRATCH/dest dir" PREFIX="$SP" sh "$INSTALL" --uninstall "$WB"
check "spaces: uninstall leaves it empty" test -z "$(ls -A "$SCRATCH/dest dir")"

# 3. A missing source: nothing installed.
run 1 env DESTDIR="$SCRATCH/d3" PREFIX=/usr sh "$INSTALL" "$SCRATCH/no-build"
err_has "no '$SCRATCH/no-build/wanctl'"
check "nothing installed without a build" test ! -e "$SCRATCH/d3"
run 2 sh "$INSTALL"
run 2 env PREFIX=relative sh "$INSTALL" "$WB"

wt_done
