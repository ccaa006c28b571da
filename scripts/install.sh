#!/bin/sh
# Install or uninstall wanctl (called by `make install` / `make uninstall`):
#
#   DESTDIR=... PREFIX=/usr/local sh scripts/install.sh BUILD
#   DESTDIR=... PREFIX=/usr/local sh scripts/install.sh --uninstall BUILD
#   sh scripts/install.sh --list BUILD        what would be installed
#
# BUILD is the CMake build folder holding wanctl, libwanctl.so* and
# libwanctl.a. The layout (each overridable from the environment):
#   BINDIR         $PREFIX/bin                     wanctl
#   LIBDIR         $PREFIX/lib                     libwanctl.so*, libwanctl.a
#   INCLUDEDIR     $PREFIX/include                 wanctl/*.h
#   PKGCONFIGDIR   $LIBDIR/pkgconfig               wanctl.pc
#   MANDIR         $PREFIX/share/man               man1/wanctl.1
#   BASHCOMPDIR    $PREFIX/share/bash-completion/completions   wanctl
#   ZSHCOMPDIR     $PREFIX/share/zsh/site-functions            _wanctl
#   SYSTEMDUNITDIR $PREFIX/lib/systemd/system      wanctl-monitor.service,
#                                                  wanctl-verify.{service,timer}
#   SYSUSERSDIR    $PREFIX/lib/sysusers.d          wanctl.conf (the user)
#   DOCDIR         $PREFIX/share/doc/wanctl        *.md, examples/config.json
#
# Every file is written to a temporary name in its folder and renamed into
# place (a running wanctl keeps its old binary; no half-written file is
# ever visible). The unit files name the binary as /usr/local/bin/wanctl;
# it is rewritten to $BINDIR/wanctl. The list of installed files and of
# the folders install created goes to $DOCDIR/installed-files, and
# --uninstall removes exactly those (then the list), and the folders it
# created if they are empty. Paths in wanctl.pc and the units never
# contain DESTDIR.
set -eu

usage() {
	echo "usage: [DESTDIR=D] [PREFIX=P] sh scripts/install.sh [--uninstall|--list] BUILD" >&2
	exit 2
}

MODE=install
case ${1:-} in
--uninstall) MODE=uninstall; shift ;;
--list) MODE=list; shift ;;
-*) usage ;;
esac
[ $# -eq 1 ] || usage
BUILD=$1

SRC=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
case $PREFIX in
/*) ;;
*) echo "install.sh: PREFIX must be an absolute path, not '$PREFIX'" >&2; exit 2 ;;
esac
PREFIX=${PREFIX%/}
[ -n "$PREFIX" ] || PREFIX=/
BINDIR=${BINDIR:-$PREFIX/bin}
LIBDIR=${LIBDIR:-$PREFIX/lib}
INCLUDEDIR=${INCLUDEDIR:-$PREFIX/include}
PKGCONFIGDIR=${PKGCONFIGDIR:-$LIBDIR/pkgconfig}
MANDIR=${MANDIR:-$PREFIX/share/man}
BASHCOMPDIR=${BASHCOMPDIR:-$PREFIX/share/bash-completion/completions}
ZSHCOMPDIR=${ZSHCOMPDIR:-$PREFIX/share/zsh/site-functions}
SYSTEMDUNITDIR=${SYSTEMDUNITDIR:-$PREFIX/lib/systemd/system}
SYSUSERSDIR=${SYSUSERSDIR:-$PREFIX/lib/sysusers.d}
DOCDIR=${DOCDIR:-$PREFIX/share/doc/wanctl}
RECORD=$DOCDIR/installed-files

say() {
	[ -n "${QUIET:-}" ] || printf '%s\n' "$*"
}

die() {
	echo "install.sh: $*" >&2
	exit 1
}

# ---- uninstall ---------------------------------------------------------

if [ "$MODE" = uninstall ]; then
	rec="$DESTDIR$RECORD"
	if [ ! -f "$rec" ]; then
		say "install.sh: nothing to uninstall: no '$rec' (was wanctl installed with this PREFIX and DESTDIR?)"
		exit 0
	fi
	# Files first, then the folders install created, deepest first, if
	# they are empty (a folder someone else also uses stays).
	record=$(cat "$rec")
	printf '%s\n' "$record" | grep '^f ' | cut -c3- | while IFS= read -r f; do
		if [ -L "$DESTDIR$f" ] || [ -f "$DESTDIR$f" ]; then
			rm -f "$DESTDIR$f"
			say "removed $DESTDIR$f"
		fi
	done
	printf '%s\n' "$record" | grep '^d ' | cut -c3- | sort -r | while IFS= read -r d; do
		if rmdir "$DESTDIR$d" 2>/dev/null; then
			say "removed $DESTDIR$d/"
		fi
	done
	rm -f "$rec"
	exit 0
fi

# ---- what to install -----------------------------------------------------

[ -x "$BUILD/wanctl" ] || die "no '$BUILD/wanctl': build first (make build)"
VERSION=$("$BUILD/wanctl" --version | sed -n '1s/^wanctl //p')
[ -n "$VERSION" ] || die "cannot read the version from '$BUILD/wanctl --version'"
SOFILE=libwanctl.so.$VERSION
[ -f "$BUILD/$SOFILE" ] || die "no '$BUILD/$SOFILE' (CMake target wanctl_shared)"
[ -f "$BUILD/libwanctl.a" ] || die "no '$BUILD/libwanctl.a' (CMake target wanctl_static)"
SOMAJOR=libwanctl.so.${VERSION%%.*}

# One line per item: KIND MODE SOURCE DEST, tab-separated (paths may hold
# spaces). KIND: file, link (SOURCE is the link's text), pc, unit.
item() {
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4"
}

plan() {
	item file 0755 "$BUILD/wanctl" "$BINDIR/wanctl"
	item file 0755 "$BUILD/$SOFILE" "$LIBDIR/$SOFILE"
	item link - "$SOFILE" "$LIBDIR/$SOMAJOR"
	item link - "$SOMAJOR" "$LIBDIR/libwanctl.so"
	item file 0644 "$BUILD/libwanctl.a" "$LIBDIR/libwanctl.a"
	for h in "$SRC"/include/wanctl/*.h; do
		item file 0644 "$h" "$INCLUDEDIR/wanctl/${h##*/}"
	done
	item pc 0644 "$SRC/contrib/wanctl.pc.in" "$PKGCONFIGDIR/wanctl.pc"
	item file 0644 "$SRC/docs/wanctl.1" "$MANDIR/man1/wanctl.1"
	item file 0644 "$SRC/contrib/wanctl.bash-completion" "$BASHCOMPDIR/wanctl"
	item file 0644 "$SRC/contrib/_wanctl" "$ZSHCOMPDIR/_wanctl"
	# wanctl-monitor.service comes from the monitor's side of the tree;
	# the verify units and the user from here.
	for u in wanctl-monitor.service wanctl-verify.service wanctl-verify.timer; do
		item unit 0644 "$SRC/contrib/$u" "$SYSTEMDUNITDIR/$u"
	done
	item file 0644 "$SRC/contrib/wanctl.sysusers" "$SYSUSERSDIR/wanctl.conf"
	for d in "$SRC"/docs/*.md; do
		if [ -e "$d" ]; then
			item file 0644 "$d" "$DOCDIR/${d##*/}"
		fi
	done
	item file 0644 "$SRC/contrib/wanctl.example.json" "$DOCDIR/examples/config.json"
	item file 0644 "$SRC/examples/deploy_rollback.c" "$DOCDIR/examples/deploy_rollback.c"
}

if [ "$MODE" = list ]; then
	plan | while IFS='	' read -r kind mode src dst; do
		echo "$dst"
	done
	echo "$RECORD"
	exit 0
fi

# ---- install -------------------------------------------------------------

# Temporary files to remove on exit: the plan, the file being installed,
# the new record.
PLAN="" TMP="" NEWREC=""
cleanup() {
	rm -f "$PLAN" "$TMP" "$NEWREC"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

PLAN=$(mktemp "${TMPDIR:-/tmp}/wanctl-install.XXXXXX")
plan > "$PLAN"

# Every source must exist before anything is written.
while IFS='	' read -r kind mode src dst; do
	[ "$kind" = link ] || [ -f "$src" ] || die "missing '$src'; nothing was installed"
done < "$PLAN"

if [ -n "$DESTDIR" ]; then
	mkdir -p "$DESTDIR"
fi

# Folders an earlier install created stay on the record.
OLDREC="$DESTDIR$RECORD"
DIRS=""
if [ -f "$OLDREC" ]; then
	DIRS=$(grep '^d ' "$OLDREC" || true)
fi

# mkdir -p that records the folders it creates.
mkdirs() {
	if [ "$1" != / ] && [ ! -d "$DESTDIR$1" ]; then
		mkdirs "$(dirname "$1")"
		mkdir "$DESTDIR$1"
		chmod 0755 "$DESTDIR$1"
		DIRS="$DIRS
d $1"
	fi
}

sed_escape() {
	printf '%s\n' "$1" | sed 's/[&|\\]/\\&/g'
}

if [ "$LIBDIR" = "$PREFIX/lib" ]; then
	PC_LIBDIR='${exec_prefix}/lib'
else
	PC_LIBDIR=$LIBDIR
fi
if [ "$INCLUDEDIR" = "$PREFIX/include" ]; then
	PC_INCLUDEDIR='${prefix}/include'
else
	PC_INCLUDEDIR=$INCLUDEDIR
fi

FILES=""
while IFS='	' read -r kind mode src dst; do
	dir=$(dirname "$dst")
	mkdirs "$dir"
	tmp="$DESTDIR$dir/.${dst##*/}.tmp.$$"
	TMP=$tmp
	rm -f "$tmp"
	case $kind in
	file)
		cp "$src" "$tmp" ;;
	link)
		ln -s "$src" "$tmp" ;;
	pc)
		sed -e "s|@PREFIX@|$(sed_escape "$PREFIX")|g" \
		    -e "s|@LIBDIR@|$(sed_escape "$PC_LIBDIR")|g" \
		    -e "s|@INCLUDEDIR@|$(sed_escape "$PC_INCLUDEDIR")|g" \
		    -e "s|@VERSION@|$(sed_escape "$VERSION")|g" "$src" > "$tmp" ;;
	unit)
		sed -e "s|/usr/local/bin/wanctl|$(sed_escape "$BINDIR/wanctl")|g" \
		    -e "s|file:///usr/local/share/doc/wanctl|file://$(sed_escape "$DOCDIR")|g" \
		    "$src" > "$tmp" ;;
	esac
	[ "$kind" = link ] || chmod "$mode" "$tmp"
	mv -f "$tmp" "$DESTDIR$dst"
	TMP=""
	FILES="$FILES
f $dst"
	say "installed $DESTDIR$dst"
done < "$PLAN"
mkdirs "$DOCDIR"
FILES="$FILES
f $RECORD"

# Files of an earlier install that this version no longer has.
if [ -f "$OLDREC" ]; then
	grep '^f ' "$OLDREC" | while IFS= read -r line; do
		if ! printf '%s\n' "$FILES" | grep -qxF "$line"; then
			rm -f "$DESTDIR${line#f }"
			say "removed $DESTDIR${line#f } (no longer installed)"
		fi
	done
fi

NEWREC="$DESTDIR$RECORD.tmp.$$"
printf '%s\n%s\n' "$FILES" "$DIRS" | grep -v '^$' > "$NEWREC"
chmod 0644 "$NEWREC"
mv -f "$NEWREC" "$OLDREC"
NEWREC=""

if [ -z "$DESTDIR" ] && [ -z "${QUIET:-}" ]; then
	echo ""
	echo "Next steps (docs/OPERATIONS.md, \"Installing\"):"
	echo "  systemd-sysusers                  # creates the user wanctl"
	echo "  wanctl config init /etc/wanctl/config.json"
	echo "  systemctl daemon-reload"
	echo "  systemctl enable --now wanctl-monitor.service wanctl-verify.timer"
fi
