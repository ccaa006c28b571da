# The two commands of the README: `make demo` and `make check`.
# `make` alone builds build/wanctl.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
PREFIX     ?= /usr/local
DESTDIR    ?=

.PHONY: all build deps check check-long demo asan test clean install uninstall coverage fuzz bench

all: build

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@sh scripts/deps.sh

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DWAN_SANITIZE=ON >/dev/null

asan: $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		WANCTL_QUICK=1 ctest --output-on-failure -j $(JOBS) -LE crash

check: deps
	$(MAKE) build
	$(MAKE) test
	$(MAKE) asan
	@echo "make check: all tests passed (release and ASan+UBSan builds)"

# The whole sweeps take hours (t_seq alone about 2.5 h on 2 cores): the
# crash tests' ctest timeout is lifted for this run and put back after.
check-long: deps build
	cmake -S . -B $(BUILD) -DWAN_CRASH_TIMEOUT=0 >/dev/null
	cd $(BUILD) && WANCTL_LONG=1 ctest --output-on-failure -L crash; \
		rc=$$?; cmake -S .. -B . -DWAN_CRASH_TIMEOUT=900 >/dev/null; exit $$rc
	sh tests/fuzz/run.sh $(BUILD) 60

demo: deps
	$(MAKE) build
	$(BUILD)/wanctl demo

install: build
	DESTDIR=$(DESTDIR) PREFIX=$(PREFIX) sh scripts/install.sh $(BUILD)

uninstall:
	DESTDIR=$(DESTDIR) PREFIX=$(PREFIX) sh scripts/install.sh --uninstall $(BUILD)

# Branch coverage of the core (store, deploy, switch, recovery) driven by
# the whole suite, crash sweeps included; t_faults fails every xio point
# and t_faults_db 6 SQLite points per system call of every command with
# EIO, t_faults_cfg 4 xio points per operation of each configuration
# variant, t_faults_sys the last point of each call site of the core's
# direct system calls (stat, opendir, fchmod, ...), t_oom samples 40
# allocations per verb and mode and fails every allocation site of the
# core files in nine commands. Kill sweeps add nothing (SIGKILL loses
# gcov's counters). ALWAYS()/NEVER() are constants here (src/util/common.h).
coverage: deps
	cmake -S . -B build-cov -DCMAKE_BUILD_TYPE=Debug -DWAN_COVERAGE=ON >/dev/null
	cmake --build build-cov -j $(JOBS)
	lcov -q --zerocounters --directory build-cov
	cd build-cov && FAULT_SAMPLE=1000000 FAULT_DB_SAMPLE=6 FAULT_CFG_SAMPLE=4 FAULT_SYS_SAMPLE=1 \
		SAMPLE=40 SITE_SAMPLE=1000000 ctest -j $(JOBS) --output-on-failure || true
	lcov -q --capture --rc lcov_branch_coverage=1 --directory build-cov \
		--output-file build-cov/all.info
	lcov -q --rc lcov_branch_coverage=1 --extract build-cov/all.info \
		'*/src/lib/store.c' '*/src/lib/deploy.c' '*/src/lib/release.c' \
		'*/src/lib/state.c' '*/src/lib/ops.c' '*/src/lib/manifest.c' \
		--output-file build-cov/core.info
	lcov --rc lcov_branch_coverage=1 --list build-cov/core.info
	lcov --rc lcov_branch_coverage=1 --summary build-cov/core.info

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-cov build-fuzz
