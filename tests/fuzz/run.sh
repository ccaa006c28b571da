#!/bin/sh
# Build every libFuzzer target tests/fuzz/fuzz_<name>.c with clang
# (-fsanitize=fuzzer,address,undefined) in build-fuzz/ and run each for
# SECONDS. Usage: tests/fuzz/run.sh [BUILD] [SECONDS] [NAME...]
#   BUILD    the normal build folder (unused but accepted: `make check-long`
#            passes it); the fuzz build always goes to build-fuzz/
#   SECONDS  per target (default 30)
#   NAME     only these targets (e.g. st_header pth)
# Seeds: tests/corpus/<name>/, tests/fuzz/corpus/<name>/ (written by
# mk_seeds.sh), tests/fuzz/corpus-min/<name>/ (inputs found by earlier runs,
# minimised with -merge=1, files over 32 KiB dropped), past crashers in
# tests/fuzz/regress/<name>/ (the safetensors targets also get
# tests/corpus/safetensors/{accept,reject}/). The working corpus grows in
# build-fuzz/corpus/<name>/; crashes land in build-fuzz/artifacts/<name>/
# and make the script fail: copy each into tests/fuzz/regress/<name>/ once
# fixed (the ctest fuzz/<name> replays them in every build).
set -eu
cd "$(dirname "$0")/../.."
[ $# -gt 0 ] && shift
SECS=${1:-30}
[ $# -gt 0 ] && shift
ONLY="$*"
OUT=build-fuzz
CC=${FUZZ_CC:-clang}
JOBS=$(nproc 2>/dev/null || echo 2)
mkdir -p "$OUT/obj" "$OUT/bin"

FLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined \
 -std=gnu17 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -DWAN_TEST_HOOKS=1 -DWANCTL_VERSION=\"fuzz\" -Iinclude -Isrc"
LIBS=$(pkg-config --libs sqlite3 libcrypto libzstd jansson libmicrohttpd libcurl)
CFL=$(pkg-config --cflags sqlite3 libcrypto libzstd jansson libmicrohttpd libcurl)

# The library, instrumented for coverage (fuzzer-no-link); rebuilt when a
# source is newer than its object.
objs=""
: >"$OUT/todo"
for src in src/util/*.c src/lib/*.c src/daemon/*.c; do
	[ -e "$src" ] || continue
	o="$OUT/obj/$(echo "$src" | tr '/' '_').o"
	if [ ! -e "$o" ] || [ "$src" -nt "$o" ] || [ -n "$(find include src -name '*.h' -newer "$o" | head -1)" ]; then
		echo "$src $o" >>"$OUT/todo"
	fi
	objs="$objs $o"
done
export CC FLAGS CFL
# shellcheck disable=SC2016
xargs -r -P "$JOBS" -L 1 sh -c 'echo "cc $0"; $CC $FLAGS -fsanitize=fuzzer-no-link $CFL -c "$0" -o "$1"' <"$OUT/todo"
rm -f "$OUT/libwanfuzz.a"
ar rcs "$OUT/libwanfuzz.a" $objs

fails=0
for t in tests/fuzz/fuzz_*.c; do
	name=$(basename "$t" .c | sed 's/^fuzz_//')
	if [ -n "$ONLY" ] && ! echo " $ONLY " | grep -q " $name "; then
		continue
	fi
	bin="$OUT/bin/fuzz_$name"
	echo "== $name: build"
	$CC $FLAGS -fsanitize=fuzzer $CFL "$t" "$OUT/libwanfuzz.a" $LIBS -lm -lpthread -ldl -o "$bin"
	corpus="$OUT/corpus/$name"
	art="$OUT/artifacts/$name"
	mkdir -p "$corpus" "$art"
	seeds=""
	for d in "tests/corpus/$name" "tests/fuzz/corpus/$name" "tests/fuzz/corpus-min/$name" "tests/fuzz/regress/$name"; do
		[ -d "$d" ] && seeds="$seeds $d"
	done
	case $name in
	st_header) seeds="$seeds tests/corpus/safetensors/accept tests/corpus/safetensors/reject" ;;
	esac
	dict=""
	case $name in
	st_header | st_declared) dict="-dict=tests/fuzz/safetensors.dict" ;;
	pth) dict="-dict=tests/fuzz/pth.dict" ;;
	index) dict="-dict=tests/fuzz/index.dict" ;;
	esac
	echo "== $name: run ${SECS}s (seeds:$seeds)"
	rc=0
	# shellcheck disable=SC2086
	ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	"$bin" $dict -max_total_time="$SECS" -max_len=1048576 -timeout=5 \
		-rss_limit_mb=1024 -malloc_limit_mb=256 -print_final_stats=1 \
		-artifact_prefix="$art/" "$corpus" $seeds >"$OUT/$name.log" 2>&1 || rc=$?
	tail -n 12 "$OUT/$name.log" | grep -E "stat::number_of_executed_units|stat::new_units_added|cov:|ERROR|SUMMARY" | tail -4 || true
	if [ "$rc" != 0 ] || [ -n "$(ls "$art")" ]; then
		echo "== $name: FAILED (exit $rc), see $OUT/$name.log and $art/"
		fails=$((fails + 1))
	else
		echo "== $name: ok"
	fi
done
[ "$fails" = 0 ] || { echo "fuzz: $fails target(s) failed"; exit 1; }
echo "fuzz: all targets ran clean"
